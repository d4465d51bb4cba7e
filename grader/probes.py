"""Trusted helpers that several suites run next to the student's objects (as probes).

A probe runs in the worker, beside the student's model, and returns plain data. The ones
here are shared so that every step trains and inspects models the same way; each suite's
own probes stay at the bottom of its test file.
"""

from __future__ import annotations

import importlib

import torch


def adam_steps(model, x: torch.Tensor, y: torch.Tensor, steps: int, lr: float) -> list[float]:
    """Train ``model`` on the fixed batch ``(x, y)`` with Adam; return the loss of every step.

    The model's ``forward(x, y)`` must return ``(logits, loss)``. The Adam update is written
    out (the same as torch.optim.Adam with its defaults): the first use of torch.optim imports
    torch's compiler stack, which takes longer than a whole suite.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    mean = [torch.zeros_like(p) for p in params]  # running mean of the gradient
    square = [torch.zeros_like(p) for p in params]  # running mean of its square
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    losses = []
    for step in range(1, steps + 1):
        _, loss = model(x, y)
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g, m, v in zip(params, grads, mean, square):
                m.mul_(beta1).add_(g, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                p -= lr * (m / (1 - beta1**step)) / ((v / (1 - beta2**step)).sqrt() + eps)
        losses.append(loss.item())
    return losses


def student_class(obj, step: str, module: str, name: str) -> type:
    """The class ``name`` of the student's ``step/module.py``, from the package ``obj`` came from."""
    root = type(obj).__module__.split(".")[0]
    return getattr(importlib.import_module(f"{root}.{step}.{module}"), name)


def submodules_of_class(model, step: str, module: str, name: str) -> list:
    """Every submodule of ``model`` (itself included) that is an instance of the student's class."""
    cls = student_class(model, step, module, name)
    return [m for m in model.modules() if isinstance(m, cls)]


def parameter_shapes(module) -> list[tuple[int, ...]]:
    """The shapes of ``module``'s parameters (a tensor shared by two layers counts once)."""
    return [tuple(p.shape) for p in module.parameters()]


def buffer_shapes(module) -> list[tuple[int, ...]]:
    """The shapes of ``module``'s registered buffers."""
    return [tuple(b.shape) for b in module.buffers()]


def operations_of(function, *args) -> list[str]:
    """The names of every torch operator that ``function(*args)`` runs, recorded at the dispatcher.

    Recording below Python sees every path to an operator: a call under another name, an
    alias imported at the top of a file, or a method of a tensor. Composite functions are
    seen as the operators they are made of (``F.scaled_dot_product_attention`` shows up as
    ``bmm`` and a softmax): use ``torch_functions_of`` to see those.
    """
    return sorted(operation_counts(function, *args))


def operation_counts(function, *args) -> dict[str, int]:
    """How many times ``function(*args)`` runs each torch operator (see ``operations_of``).

    Counting tells a Python loop from a batched computation: a loop over n items runs its
    operators n times, one batched call runs them once whatever n is.
    """
    from collections import Counter

    from torch.utils._python_dispatch import TorchDispatchMode

    class Recorder(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.counts = Counter()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.counts[func.overloadpacket.__name__] += 1
            return func(*args, **(kwargs or {}))

    with Recorder() as recorder:
        function(*args)
    return dict(recorder.counts)


def torch_functions_of(function, *args) -> list[str]:
    """The torch functions that ``function(*args)`` calls, recorded where torch's Python API
    hands them over (so an alias such as ``from torch.nn.functional import ... as f`` is seen too)."""
    from torch.overrides import TorchFunctionMode

    class Recorder(TorchFunctionMode):
        def __init__(self):
            super().__init__()
            self.names = set()

        def __torch_function__(self, func, types, args=(), kwargs=None):
            self.names.add(getattr(func, "__name__", str(func)))
            return func(*args, **(kwargs or {}))

    with Recorder() as recorder:
        function(*args)
    return sorted(recorder.names)


def named_parameter_shapes(module) -> dict[str, tuple[int, ...]]:
    """The shapes of ``module``'s parameters by name ("blocks.0.attn.query.weight": (C, C), ...)."""
    return {name: tuple(p.shape) for name, p in module.named_parameters()}


def parameters_by_name(module) -> dict[str, torch.Tensor]:
    """A detached copy of ``module``'s parameters by name, for recomputing its output in the test."""
    return {name: p.detach().clone() for name, p in module.named_parameters()}


def load_parameters(module, weights: dict[str, torch.Tensor]) -> None:
    """Copy ``weights`` into ``module``'s parameters by their documented names.

    Buffers (a causal mask) are left as the module built them. A name the module does not
    have, or a parameter the weights do not cover, is an error that lists both.
    """
    missing, unexpected = module.load_state_dict(weights, strict=False)
    parameters = dict(module.named_parameters())
    missing = [name for name in missing if name in parameters]
    if missing or unexpected:
        raise AssertionError(f"the parameter names differ from the documented ones: missing {missing}, "
                             f"unexpected {list(unexpected)}")


def count_calls(code, function, *args) -> int:
    """How many times running ``function(*args)`` enters the function whose code object is ``code``.

    Counting by code object finds the function under any name a student calls it by (an
    alias, a method, an import under another name).
    """
    import sys

    calls = 0

    def profile(frame, event, arg):
        nonlocal calls
        if event == "call" and frame.f_code is code:
            calls += 1

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        function(*args)
    finally:
        sys.setprofile(previous)
    return calls
