"""Grading suite for step 09, part 2: clipping, the schedule, the optimiser (``optimization.py``).

``torch.nn.utils.clip_grad_norm_`` is the oracle for clipping. The schedule is checked
value by value against its definition in the docstring. The optimiser is checked by what
it holds (which parameters are in which group, with which settings) and by what it does: two
steps with known gradients, against AdamW's update written out in this file.
"""

import math

import pytest
import torch
import torch._dynamo  # noqa: F401  (see below)
import torch.nn as nn

from grader import hint, points
from grader.checks import expect_close
from grader.probes import parameters_by_name

# A torch.optim optimiser imports torch's compiler stack the first time one is made (about 2 s).
# Importing it here, once, in the grading process, spares every test worker that wait.

SHAPES = [(4, 3), (3,), (2, 2, 2), (5,)]


def gradients(generator, scale: float) -> list[torch.Tensor]:
    return [scale * torch.randn(shape, generator=generator) for shape in SHAPES]


def schedule(step, max_lr, min_lr, warmup_steps, total_steps, *, warmup_from_zero=False, decay_over_total=False,
             linear=False, no_floor=False):
    """The documented schedule; the keyword switches compute what a common mistake gives instead."""
    if step < warmup_steps:
        return max_lr * (step if warmup_from_zero else step + 1) / warmup_steps
    if step >= total_steps:
        return min_lr
    span = total_steps if decay_over_total else total_steps - warmup_steps
    progress = (step - warmup_steps) / span
    floor = 0.0 if no_floor else min_lr
    shape = 1 - progress if linear else 0.5 * (1 + math.cos(math.pi * progress))
    return floor + (max_lr - floor) * shape


# --- the global gradient norm and clipping -------------------------------------------------

@points(2, hint="the global norm is ONE norm over all gradients together: sqrt(sum over every tensor of "
                "sum(g ** 2)), skipping parameters whose .grad is None, not a sum or mean of per-tensor norms")
def test_global_grad_norm(student, generator):
    grads = gradients(generator, 1.0)
    module = student.probe(module_with_gradients, grads)
    norm = student.optimization.global_grad_norm(module.parameters())
    expected = torch.cat([g.flatten() for g in grads]).norm()
    expect_close(torch.tensor(float(norm)), expected, name="the global gradient norm", mistakes={
        "the per-tensor norms are added up: square them, add, then take ONE square root":
            sum(g.norm() for g in grads),
        "the square root is missing: the norm is sqrt(sum of squares)": expected ** 2,
        "the largest per-tensor norm is not the global norm: all tensors count together":
            max(g.norm() for g in grads),
    })
    empty = student.probe(module_with_gradients, [])
    assert float(student.optimization.global_grad_norm(empty.parameters())) == 0.0, \
        "with no gradients at all (only frozen parameters) the norm is 0.0"


@points(3, hint="scale EVERY gradient by the same factor max_norm / (total + 1e-6), where total is the global norm "
                "of all of them; return total as it was before clipping",
        builds_on={"global_grad_norm": "test_global_grad_norm"})
def test_clipping_matches_torch(student, generator):
    for max_norm in (1.0, 0.3):
        grads = gradients(generator, 2.0)  # global norm ~ 8: clipping is active
        module = student.probe(module_with_gradients, grads)
        returned = student.optimization.clip_grad_norm(module.parameters(), max_norm)
        clipped = student.probe(gradients_of, module)
        reference = module_with_gradients(grads)
        total = torch.nn.utils.clip_grad_norm_(reference.parameters(), max_norm)
        expected = gradients_of(reference)
        with hint("return the global norm from BEFORE clipping: it tells how large the gradients really were"):
            expect_close(torch.tensor(float(returned)), total, name="the returned norm", mistakes={
                "the norm returned is the one after clipping (max_norm): return the norm from BEFORE clipping":
                    torch.tensor(max_norm)})
        for index, (got, want) in enumerate(zip(clipped, expected)):
            own = grads[index] * min(1.0, max_norm / (grads[index].norm().item() + 1e-6))
            expect_close(got, want, name=f"gradient {index} after clipping to {max_norm}", mistakes={
                "each tensor is clipped on its own: compute ONE global norm over all gradients and scale them all "
                "by the same factor": own,
                "the gradients are not changed: clip in place (p.grad.mul_(factor)), the optimiser reads p.grad; "
                "and read the parameters into a list first: model.parameters() is a generator, empty the second "
                "time you loop over it": grads[index],
            })
    with hint("max_norm <= 0 must raise ValueError (the stub's check does this: keep it at the top)"):
        with pytest.raises(ValueError):
            student.optimization.clip_grad_norm(student.probe(module_with_gradients, grads).parameters(), 0.0)


@points(1, hint="clip only when the global norm is ABOVE max_norm: gradients already within it must stay exactly as "
                "they are (the factor is 1, never > 1)",
        builds_on={"global_grad_norm": "test_global_grad_norm"})
def test_small_gradients_are_left_alone(student, generator):
    grads = gradients(generator, 0.05)  # global norm ~ 0.2
    module = student.probe(module_with_gradients, grads)
    returned = student.optimization.clip_grad_norm(module.parameters(), 1.0)
    total = torch.cat([g.flatten() for g in grads]).norm()
    expect_close(torch.tensor(float(returned)), total, name="the returned norm")
    for index, (got, want) in enumerate(zip(student.probe(gradients_of, module), grads)):
        expect_close(got, want, name=f"gradient {index}", atol=1e-7, mistakes={
            "small gradients are scaled UP to max_norm: clipping only ever shrinks them": want * 1.0 / total,
        })


# --- the learning-rate schedule ---------------------------------------------------------------

SCHEDULES = [dict(max_lr=1e-3, min_lr=1e-4, warmup_steps=10, total_steps=100),
             dict(max_lr=0.5, min_lr=0.0, warmup_steps=0, total_steps=40),
             dict(max_lr=3e-4, min_lr=3e-5, warmup_steps=7, total_steps=7)]


@points(3, hint="warmup: max_lr * (step + 1) / warmup_steps; then min_lr + (max_lr - min_lr) * 0.5 * (1 + cos(pi * "
                "progress)) with progress = (step - warmup_steps) / (total_steps - warmup_steps); min_lr from "
                "total_steps on")
def test_schedule_values(student, generator):
    for settings in SCHEDULES:
        warmup, total = settings["warmup_steps"], settings["total_steps"]
        steps = sorted({0, 1, max(warmup - 1, 0), warmup, warmup + 1, (warmup + total) // 2, total - 1, total,
                        total + 5, int(torch.randint(0, total + 10, (), generator=generator))})
        got = torch.tensor([float(student.optimization.lr_at(s, **settings)) for s in steps], dtype=torch.float64)
        expected = torch.tensor([schedule(s, **settings) for s in steps], dtype=torch.float64)

        def variant(**mistake):
            return torch.tensor([schedule(s, **settings, **mistake) for s in steps], dtype=torch.float64)

        expect_close(got, expected, name=f"the rates at steps {steps} for {settings}", atol=1e-12, rtol=1e-9,
                     mistakes={
                         "the warmup starts at 0: step 0 must already get max_lr / warmup_steps (use step + 1), so "
                         "no step is wasted at lr 0": variant(warmup_from_zero=True),
                         "the cosine runs over all total_steps: it starts after the warmup, progress = (step - "
                         "warmup_steps) / (total_steps - warmup_steps)": variant(decay_over_total=True),
                         "the decay is linear: it follows half a cosine, 0.5 * (1 + cos(pi * progress))":
                             variant(linear=True),
                         "the rate decays to 0: it must end at min_lr (min_lr + (max_lr - min_lr) * ...)":
                             variant(no_floor=True),
                     })
    with hint("invalid settings must raise ValueError (the stub's checks do this: keep them at the top)"):
        for bad in [dict(SCHEDULES[0], warmup_steps=200), dict(SCHEDULES[0], min_lr=1.0)]:
            with pytest.raises(ValueError):
                student.optimization.lr_at(0, **bad)


# --- the optimiser -----------------------------------------------------------------------------

@points(2, hint="two groups: every trainable parameter with p.dim() >= 2 (weights, tables) decayed, every 1-D one "
                "(biases, norm scales) with weight_decay 0; frozen parameters left out; a tied tensor only once")
def test_optimizer_groups(student):
    model = student.probe(small_model)
    optimizer = student.optimization.configure_optimizer(model, 3e-3, 0.1, (0.8, 0.95))
    found = student.probe(describe_optimizer, model, optimizer)
    assert found["type"] == "AdamW", f"configure_optimizer returns a {found['type']}, expected torch.optim.AdamW"
    groups = found["groups"]
    assert len(groups) == 2, f"expected 2 parameter groups (decayed, not decayed), got {len(groups)}"
    decayed, plain = groups
    all_names = sorted(decayed["names"] + plain["names"])
    if "frozen.weight" in all_names:
        with hint("frozen parameters (requires_grad=False) do not belong in the optimiser: leave them out"):
            raise AssertionError("frozen.weight is in the optimiser")
    with hint("the tied weight is one tensor: list parameters once (model.parameters() does), not per module"):
        assert len(all_names) == len(set(all_names)), f"a parameter appears twice: {all_names}"
    if sorted(decayed["names"]) == PLAIN:
        with hint("the groups are swapped: group 0 is the decayed one (the 2-D weights), group 1 the 1-D ones"):
            raise AssertionError(f"group 0 holds {decayed['names']}")
    if "norm.weight" in decayed["names"]:
        with hint("the norm's scale is decayed: choose by p.dim() (2 or more dims are decayed), not by the name "
                  "'bias'"):
            raise AssertionError(f"decayed: {decayed['names']}")
    if "mix.weight" not in decayed["names"]:
        with hint("the 3-D weight is not decayed: every parameter with 2 OR MORE dims is (p.dim() >= 2, not == 2)"):
            raise AssertionError(f"not decayed: {plain['names']}")
    assert sorted(decayed["names"]) == DECAYED, \
        f"the decayed group holds {sorted(decayed['names'])}, expected the 2-D weights"
    assert sorted(plain["names"]) == PLAIN, \
        f"the group without decay holds {sorted(plain['names'])}, expected the 1-D parameters"
    assert decayed["weight_decay"] == pytest.approx(0.1) and plain["weight_decay"] == 0.0, \
        f"weight decay per group: {decayed['weight_decay']} and {plain['weight_decay']}, expected 0.1 and 0"
    for group in groups:
        assert group["lr"] == pytest.approx(3e-3) and tuple(group["betas"]) == pytest.approx((0.8, 0.95)), \
            f"lr and betas must be the ones given, got {group['lr']} and {group['betas']}"
    # What it holds must also be what it does: two steps with known gradients, checked against AdamW's
    # update computed here from the parameters before them.
    before = student.probe(parameters_by_name, model)
    generator = torch.Generator().manual_seed(1)
    steps = [{name: torch.randn(p.shape, generator=generator) for name, p in before.items() if name != "frozen.weight"}
             for _ in range(2)]
    after = student.probe(take_steps, model, optimizer, steps)
    expected = adamw_by_hand(before, steps, lr=3e-3, betas=(0.8, 0.95), decayed=set(DECAYED),
                             weight_decay=0.1)
    for name, value in expected.items():
        expect_close(after[name], value, name=f"{name} after two optimiser steps", rtol=1e-4, atol=1e-6)


def adamw_by_hand(parameters: dict, steps: list[dict], lr: float, betas: tuple, decayed: set, weight_decay: float,
                  eps: float = 1e-8) -> dict:
    """AdamW's updates written out (decoupled decay first, then Adam's bias-corrected step)."""
    beta1, beta2 = betas
    result = {}
    for name, p in parameters.items():
        if name not in steps[0]:  # frozen: never updated
            result[name] = p
            continue
        p, m, v = p.clone(), torch.zeros_like(p), torch.zeros_like(p)
        for t, grads in enumerate(steps, start=1):
            g = grads[name]
            p = p * (1 - lr * (weight_decay if name in decayed else 0.0))
            m = beta1 * m + (1 - beta1) * g
            v = beta2 * v + (1 - beta2) * g * g
            p = p - lr * (m / (1 - beta1**t)) / ((v / (1 - beta2**t)).sqrt() + eps)
        result[name] = p
    return result


# --- probes and helpers: they run next to your code and return plain data ---------------------

def module_with_gradients(grads: list) -> nn.Module:
    """A module with one parameter per gradient (holding it as .grad), plus a frozen one without any."""
    module = nn.Module()
    module.params = nn.ParameterList([nn.Parameter(torch.zeros_like(g)) for g in grads])
    for parameter, grad in zip(module.params, grads):
        parameter.grad = grad.clone()
    module.frozen = nn.Parameter(torch.ones(3), requires_grad=False)  # .grad is None
    return module


def gradients_of(module: nn.Module) -> list:
    return [p.grad.clone() for p in module.params]


class SmallModel(nn.Module):
    """An embedding tied to an output layer, a hidden layer, a convolution (its weight has 3 dims),
    a LayerNorm, and a frozen layer."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, 6)
        self.hidden = nn.Linear(6, 6)
        self.mix = nn.Conv1d(6, 6, kernel_size=3)
        self.norm = nn.LayerNorm(6)
        self.head = nn.Linear(6, 10, bias=False)
        self.head.weight = self.embed.weight  # tied: one tensor, two modules
        self.frozen = nn.Linear(6, 6, bias=False)
        self.frozen.weight.requires_grad_(False)


# SmallModel's parameters by group: 2 or more dims decayed, 1 dim not (the frozen weight in neither).
DECAYED = ["embed.weight", "hidden.weight", "mix.weight"]
PLAIN = ["hidden.bias", "mix.bias", "norm.bias", "norm.weight"]


def small_model() -> nn.Module:
    torch.manual_seed(0)
    return SmallModel()


def take_steps(model, optimizer, steps: list) -> dict:
    """For each dict of gradients (by parameter name): set them as .grad and take one optimiser step.
    Returns the parameters after the last step."""
    parameters = dict(model.named_parameters())
    for grads in steps:
        for name, grad in grads.items():
            parameters[name].grad = grad.clone()
        optimizer.step()
    return parameters_by_name(model)


def describe_optimizer(model, optimizer) -> dict:
    names = {id(p): name for name, p in model.named_parameters(remove_duplicate=False)}
    first = {}
    for name, p in model.named_parameters():  # the first name of a shared tensor
        first.setdefault(id(p), name)
    return {"type": type(optimizer).__name__, "groups": [
        {"names": [first.get(id(p), names.get(id(p), "?")) for p in group["params"]],
         "weight_decay": float(group.get("weight_decay", 0.0)), "lr": float(group["lr"]),
         "betas": tuple(float(b) for b in group["betas"])} for group in optimizer.param_groups]}
