"""Grading suite for step 00: the bigram model.

Run it with ``pytest exercises/step00``. Every test is worth the points in its
``@points`` marker; a failing test prints a hint that names the likely mistake.

How these tests reach your code: ``student.bigram`` is your ``bigram.py``. By default it
runs in a separate worker process, so a test only gets *data* back (tensors, numbers);
your ``BigramLM`` object stays in the worker and the test talks to it through calls. A
few checks need your model in place (to train it, or to set its table); they are small
"probe" functions at the bottom of this file that run next to your code.
"""


import torch
import torch.nn.functional as F

from grader import hint, points
from grader.checks import expect_close
from grader.probes import adam_steps
from grader.synthetic import conditional_entropy, markov_chain

V = 5  # a small vocabulary keeps every table readable when a test fails


def reference_counts(ids: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """The definition, one pair at a time: slow, but obviously right."""
    counts = torch.zeros(vocab_size, vocab_size, dtype=torch.long)
    for current, following in zip(ids[:-1].tolist(), ids[1:].tolist()):
        counts[current, following] += 1
    return counts


# --- counting ------------------------------------------------------------------

@points(1, hint="counts[i, j] counts token i followed by token j")
def test_counts_of_abab(student):
    # "abababababab" with a=0, b=1: 'a' is followed by 'b' six times, 'b' by 'a' five times.
    ids = torch.tensor([0, 1] * 6)
    counts = student.bigram.bigram_counts(ids, 2)
    assert counts.tolist() == [[0, 6], [5, 0]]


@points(3, hint="counts[i, j] counts token i followed by token j: rows are the current token, columns the next")
def test_counts_match_definition(student, generator):
    ids = torch.randint(0, V, (200,), generator=generator)
    counts = student.bigram.bigram_counts(ids, V)
    with hint("the table has one row and one column per token: shape (vocab_size, vocab_size)"):
        assert tuple(counts.shape) == (V, V)
    expected = reference_counts(ids, V)
    expect_close(counts, expected, name="counts", mistakes={
        "`counts[ids[:-1], ids[1:]] += 1` adds 1 only once per distinct pair: with repeated index pairs, "
        "advanced-index += does not accumulate. Use counts.index_put_(..., accumulate=True) or a loop":
            (expected > 0).long(),
        "counts are transposed: rows are the current token, columns the next": expected.T,
        "N tokens hold N - 1 (current, next) pairs: pair ids[t] with ids[t + 1], not with itself":
            torch.diag(torch.bincount(ids[:-1], minlength=V)),
    })


# --- probabilities ---------------------------------------------------------------

@points(2, hint="probabilities not normalised: divide each row by its own total so every row sums to 1")
def test_probs_rows_sum_to_one(student, generator):
    counts = reference_counts(torch.randint(0, V, (100,), generator=generator), V)
    probs = student.bigram.bigram_probs(counts, k=1.0)
    assert tuple(probs.shape) == (V, V)
    assert probs.dtype.is_floating_point
    expect_close(probs.sum(dim=1), torch.ones(V), name="the row sums of probs", atol=1e-5, rtol=0)


@points(2, hint="add-k smoothing adds k to every cell, so a row's total grows by k * V")
def test_probs_add_k_smoothing(student, generator):
    counts = reference_counts(torch.randint(0, V, (60,), generator=generator), V)
    for k in (0.5, 1.0, 3.0):
        probs = student.bigram.bigram_probs(counts, k=k)
        expected = (counts + k) / (counts.sum(dim=1, keepdim=True) + k * V)
        expect_close(probs, expected, name=f"probs with k = {k}", atol=1e-6, rtol=0)


@points(1, hint="with k = 0, probs[i, j] is simply counts[i, j] / (row total)")
def test_probs_without_smoothing(student):
    counts = torch.tensor([[0, 6], [5, 0]])
    probs = student.bigram.bigram_probs(counts, k=0.0)
    expect_close(probs, torch.tensor([[0.0, 1.0], [1.0, 0.0]]), name="probs with k = 0")


# --- the learned bigram model ------------------------------------------------------

@points(2, hint="forward returns (logits, loss): logits (B, T, V), and loss None without targets")
def test_forward_shapes(student, generator):
    model = student.bigram.BigramLM(V)
    idx = torch.randint(0, V, (3, 7), generator=generator)
    logits, loss = model(idx)
    assert tuple(logits.shape) == (3, 7, V)
    assert loss is None


@points(1, hint="start the table at zeros (torch.zeros), so that a new model predicts a uniform distribution")
def test_new_model_predicts_uniformly(student, generator):
    model = student.bigram.BigramLM(V)
    logits, _ = model(torch.randint(0, V, (2, 4), generator=generator))
    expect_close(logits, torch.zeros(2, 4, V), name="the logits of a new model", atol=0)


@points(2, hint="a bigram model looks at the current token only: the logits at position t depend on idx[:, t] alone")
def test_logits_ignore_earlier_tokens(student, generator):
    model = student.bigram.BigramLM(V)
    student.probe(set_table, model, torch.randn(V, V, generator=generator))
    idx = torch.randint(0, V, (2, 6), generator=generator)
    logits, _ = model(idx)
    for t in range(6):
        alone, _ = model(idx[:, t:t + 1])  # the same token with no history before it
        expect_close(logits[:, t], alone[:, 0], name=f"the logits at position {t}")


@points(2, hint="loss is the mean cross-entropy over all B * T positions: flatten logits to (B*T, V) "
                "and targets to (B*T,) in the same order")
def test_loss_is_cross_entropy(student, generator):
    model = student.bigram.BigramLM(V)
    student.probe(set_table, model, torch.randn(V, V, generator=generator))
    idx = torch.randint(0, V, (4, 5), generator=generator)
    targets = torch.randint(0, V, (4, 5), generator=generator)
    logits, loss = model(idx, targets)
    flat_logits, flat_targets = logits.reshape(-1, V), targets.reshape(-1)
    assert loss.dim() == 0, "the loss is one number: average over the batch and the positions"
    expect_close(loss, F.cross_entropy(flat_logits, flat_targets), name="the loss", mistakes={
        "softmax applied before cross_entropy: F.cross_entropy takes the raw logits and applies log-softmax "
        "itself, so pass it logits, not probabilities": F.cross_entropy(F.softmax(flat_logits, dim=-1), flat_targets),
        "the loss is summed, not averaged: use the mean over all B * T positions":
            F.cross_entropy(flat_logits, flat_targets, reduction="sum"),
    })


@points(3, hint="training should drive the loss down to the data's conditional entropy H(next | current); "
                "check that the loss is the cross-entropy of the raw logits", timeout=30,
        builds_on={"BigramLM.forward": "test_loss_is_cross_entropy"})
def test_training_reaches_conditional_entropy(student, generator):
    # Skewed transitions: a model whose loss is not the cross-entropy of its logits stops near
    # ln V, far above the best any bigram model can do here, the entropy of next given current.
    ids = markov_chain(generator, V, 600)
    entropy = conditional_entropy(ids, V)

    model = student.bigram.BigramLM(V)
    losses = student.probe(train_full_batch, model, ids, steps=300, lr=0.3)
    assert losses[-1] < losses[0], "training did not lower the loss at all"
    # Judge the trained model by the cross-entropy computed here, not by the loss it reports.
    logits, _ = model(ids[:-1].unsqueeze(0))
    reached = float(F.cross_entropy(logits[0].detach().double(), ids[1:]))
    assert abs(reached - entropy) < 0.02, f"cross-entropy after training {reached:.4f}, conditional entropy {entropy:.4f}"


# --- generation ----------------------------------------------------------------------

@points(2, hint="generate returns the prompt followed by max_new_tokens new tokens: shape (B, T + max_new_tokens)",
        builds_on={"BigramLM.forward": "test_forward_shapes"})
def test_generate_keeps_prompt(student, generator):
    model = student.bigram.BigramLM(V)
    prompt = torch.randint(0, V, (3, 4), generator=generator)
    out = model.generate(prompt, 6, generator=generator)
    assert tuple(out.shape) == (3, 10)
    assert torch.equal(out[:, :4], prompt)
    assert int(out.min()) >= 0 and int(out.max()) < V


@points(2, hint="generate must continue from the logits at the LAST position (logits[:, -1]), appending one token at a time",
        timeout=30,
        builds_on={"BigramLM.forward": "test_loss_is_cross_entropy"})
def test_trained_on_abab_it_alternates(student, generator):
    # The step's experiment: train on "abababababab" (a=0, b=1), then start from "b".
    model = student.bigram.BigramLM(2)
    student.probe(train_full_batch, model, torch.tensor([0, 1] * 6), steps=200, lr=0.5)
    out = model.generate(torch.tensor([[1]]), 9, generator=generator)
    assert out[0].tolist() == [1, 0, 1, 0, 1, 0, 1, 0, 1, 0]
    out = model.generate(torch.tensor([[0, 0, 0, 1, 1, 0]]), 4, generator=generator)
    assert out[0, 6:].tolist() == [1, 0, 1, 0]


@points(2, hint="generate must sample with torch.multinomial from softmax(logits), not take the argmax",
        builds_on={"BigramLM.forward": "test_forward_shapes"})
def test_generate_samples_from_softmax(student, generator):
    model = student.bigram.BigramLM(3)
    table = torch.tensor([[0.0, 1.0, 2.0], [2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    student.probe(set_table, model, table)
    out = model.generate(torch.zeros(20_000, 1, dtype=torch.long), 1, generator=generator)
    frequencies = torch.bincount(out[:, 1], minlength=3).float() / 20_000
    expect_close(frequencies, F.softmax(table[0], dim=0), name="the sampled frequencies", atol=0.03, rtol=0)


@points(1, hint="pass the generator to torch.multinomial(..., generator=generator): the same seed must give "
                "the same sample")
def test_generate_is_reproducible(student, seed):
    model = student.bigram.BigramLM(V)
    prompt = torch.zeros(2, 1, dtype=torch.long)
    first = model.generate(prompt, 30, generator=torch.Generator().manual_seed(seed))
    again = model.generate(prompt, 30, generator=torch.Generator().manual_seed(seed))
    other = model.generate(prompt, 30, generator=torch.Generator().manual_seed(seed + 1))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


# --- probes: trusted helpers that run next to your code ------------------------------

def set_table(model, table):
    """Copy ``table`` into the model's (V, V) parameter, whatever you named it."""
    tables = [p for p in model.parameters() if tuple(p.shape) == tuple(table.shape)]
    assert len(tables) == 1, "BigramLM should have exactly one parameter: the (V, V) table of logits"
    with torch.no_grad():
        tables[0].copy_(table)


def train_full_batch(model, ids, steps, lr):
    """Train on every (current, next) pair of ``ids`` at once with Adam; return the losses."""
    return adam_steps(model, ids[:-1].unsqueeze(0), ids[1:].unsqueeze(0), steps, lr)
