"""Grading suite for step 09, part 1: the cross-entropy loss (``loss.py``).

``F.cross_entropy`` is the oracle: your function must give its values and its gradients,
and keep giving them when the logits are in the thousands, where the formula written
naively overflows.
"""

import math

import torch
import torch.nn.functional as F

from grader import hint, points
from grader.checks import expect_close
from grader.probes import operations_of, tensors_after_the_call, torch_functions_of

N, V = 12, 7
B, T = 3, 5


def loss_mistakes(logits, targets) -> dict:
    """What common wrong versions of the loss give on these inputs, with the hint that names each."""
    flat, flat_targets = logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)
    right = F.cross_entropy(flat, flat_targets)
    largest = flat.max(dim=-1).values
    return {
        "the loss is summed over positions: take the mean": F.cross_entropy(flat, flat_targets, reduction="sum"),
        "the sign is flipped: the loss is MINUS the log-probability of the target": -right,
        "the largest logit m is subtracted inside the log-sum-exp but not from z[y] (or never added back): "
        "log(sum_j exp(z_j)) - z_y = log(sum_j exp(z_j - m)) - (z_y - m)": right - largest.mean(),
        "the log-sum-exp runs over the wrong dimension: sum over the vocabulary, the last dim":
            (flat.exp().sum(dim=0).log()[flat_targets] - flat[torch.arange(len(flat_targets)), flat_targets]).mean(),
    }


@points(3, hint="loss = mean over positions of [log(sum_j exp(z_j)) - z_y]: check which dimension you sum over "
                "and that you average, for (N, V) and (B, T, V) logits alike")
def test_matches_torch_cross_entropy(student, generator):
    for shape in [(N, V), (B, T, V), (1, V)]:
        logits = 2 * torch.randn(shape, generator=generator)
        targets = torch.randint(0, V, shape[:-1], generator=generator)
        loss = student.loss.cross_entropy(logits, targets)
        expect_close(loss, F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1)),
                     name=f"the loss for logits of shape {shape}", mistakes=loss_mistakes(logits, targets))
        with hint("the caller's logits were changed: subtract the maximum into a new tensor, not in place (-=)"):
            before = logits.clone()  # our own copy, whatever the call does
            after, _ = student.probe(tensors_after_the_call, student.loss.cross_entropy, logits, targets)
            assert torch.equal(after, before), "cross_entropy changed the logits it was given"
    with hint("targets whose shape is not logits.shape[:-1] must raise ValueError (the stub's check does this: "
              "keep it at the top)"):
        try:
            student.loss.cross_entropy(torch.zeros(N, V), torch.zeros(N + 1, dtype=torch.long))
        except ValueError:
            pass
        else:
            raise AssertionError("cross_entropy accepted targets of shape (N + 1,) for logits of shape (N, V)")


@points(2, hint="the gradient must flow back to the logits: no .item(), .detach(), .data or torch.no_grad on the "
                "way (only the shift by the max may be detached; it cancels out)",
        builds_on={"cross_entropy": "test_matches_torch_cross_entropy"})
def test_gradient_matches_torch(student, generator):
    logits = 2 * torch.randn(B, T, V, generator=generator)
    targets = torch.randint(0, V, (B, T), generator=generator)
    gradient = student.probe(gradient_of_loss, student.loss.cross_entropy, logits, targets)
    reference = logits.clone().requires_grad_(True)
    F.cross_entropy(reference.reshape(-1, V), targets.reshape(-1)).backward()
    # The gradient is (softmax(z) - onehot(y)) / (number of positions): a mean, not a sum.
    expect_close(gradient, reference.grad, name="d loss / d logits", mistakes={
        "the gradient is B * T times too large: the loss is summed, take the mean": reference.grad * B * T,
    })


@points(2, hint="large logits break the naive formula: exp(z) overflows to inf above ~88 in float32, and "
                "log(softmax(z)[y]) underflows to log(0) = -inf for an unlikely target. Subtract each row's largest "
                "logit m, then loss = log(sum_j exp(z_j - m)) - (z_y - m): never take the log of a probability",
        builds_on={"cross_entropy": "test_matches_torch_cross_entropy"})
def test_stable_for_large_logits(student, generator):
    logits = 1000 * torch.randn(N, V, generator=generator)  # logits in the thousands
    targets = torch.randint(0, V, (N,), generator=generator)
    loss = student.loss.cross_entropy(logits, targets)
    expected = F.cross_entropy(logits.double(), targets).float()  # computed in float64: the true value
    assert bool(torch.isfinite(torch.as_tensor(loss))), f"the loss of logits ~1000 is {loss}, not a finite number"
    expect_close(loss, expected, name="the loss of logits ~1000", rtol=1e-5)
    # Logits that are all huge and equal: every token has probability 1/V.
    same = torch.full((2, V), 5000.0)
    expect_close(student.loss.cross_entropy(same, torch.tensor([0, V - 1])), torch.tensor(math.log(V)),
                 name=f"the loss of equal logits of 5000 (uniform: ln {V})")


@points(1, hint="write the loss yourself from max, exp, sum, log and indexing: F.cross_entropy, F.log_softmax, "
                "F.nll_loss and torch.logsumexp do the step's work for you",
        builds_on={"cross_entropy": "test_matches_torch_cross_entropy"})
def test_loss_is_written_by_hand(student, generator):
    targets = torch.randint(0, V, (N,), generator=generator)
    # Ordinary logits and huge ones: a fallback to a library loss for large logits shows too.
    for scale in (1.0, 1000.0):
        logits = scale * torch.randn(N, V, generator=generator)
        expected = F.cross_entropy(logits.double(), targets).float()
        # Seen twice: the torch functions called from Python (any alias or module), and the operators
        # that ran at the dispatcher, below Python, however they were reached.
        functions = student.probe(torch_functions_of, student.loss.cross_entropy, logits, targets)
        operators = student.probe(operations_of, student.loss.cross_entropy, logits, targets)
        expect_close(functions["output"], expected, name="the loss", rtol=1e-4)
        used = sorted(name for name in functions["functions"] + operators["operators"]
                      if any(part in name for part in ("cross_entropy", "log_softmax", "nll_loss", "logsumexp")))
        assert not used, f"cross_entropy calls {used}"


# --- probes: run next to your code, return plain data ------------------------------------------

def gradient_of_loss(cross_entropy, logits, targets):
    """d(cross_entropy(logits, targets)) / d logits."""
    logits = logits.clone().requires_grad_(True)
    loss = cross_entropy(logits, targets)
    if not isinstance(loss, torch.Tensor) or loss.grad_fn is None:
        raise AssertionError("the loss is not connected to the logits by autograd (it has no grad_fn)")
    loss.backward()
    return logits.grad
