"""Trusted helpers that several suites run next to the student's objects (as probes).

A probe runs in the worker, beside the student's code, and returns plain data. Because it
runs there, student code can replace it: what it returns is as untrusted as the student's
own answers. So a probe never returns a verdict (True/False, "the loss went down", "the
expected logits"). It returns data from which the test, in the grading process, decides:

* outputs and parameters (tensors), which the test recomputes or checks against values it
  computes itself from inputs it chose;
* observations of how the code ran (the operators it ran, how often it called a function),
  which cannot be recomputed outside the worker. Those come back *with the output of the
  same run* (``{"output": ..., "operators": [...]}``), and the test checks that output too:
  faking the observation then earns nothing unless the code also computes the right answer.

The ones here are shared so that every step trains and inspects models the same way; each
suite's own probes stay at the bottom of its test file. ``grader/README.md`` says more.
"""

from __future__ import annotations

import importlib

import torch


def adam_steps(model, x: torch.Tensor, y: torch.Tensor, steps: int, lr: float) -> list[float]:
    """Train ``model`` on the fixed batch ``(x, y)`` with Adam; return the loss of every step.

    The model's ``forward(x, y)`` must return ``(logits, loss)``. The losses are the model's
    own report, and a probe's: judge the trained model in the test, by its logits (asked for
    through the seam) and a cross-entropy computed there. The Adam update is written
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


def linear_shapes(module, names) -> dict[str, tuple]:
    """``{name: (weight shape, bias shape or None)}`` for each of ``names`` that is an ``nn.Linear`` of ``module``."""
    shapes = {}
    for name in names:
        layer = getattr(module, name, None)
        if isinstance(layer, torch.nn.Linear):
            shapes[name] = (tuple(layer.weight.shape), None if layer.bias is None else tuple(layer.bias.shape))
    return shapes


def arguments_after_the_call(function, *args, **kwargs) -> list:
    """Call ``function(*args, **kwargs)``; return ``args`` as they are after the call.

    In the sandbox the arguments are the worker's own copies, so a function that writes into its
    input changes nothing the test holds: this probe brings those copies back for the test to
    compare with its own (in-process it hands back the test's own objects: compare with a copy
    made before the call). An error the call raises (other than "not implemented yet") does not
    count here: other tests grade what the function computes, this one only whether it edits its inputs.
    """
    try:
        function(*args, **kwargs)
    except NotImplementedError:
        raise
    except Exception:
        pass
    return list(args)


def tensors_after_the_call(function, *args, **kwargs) -> list[torch.Tensor]:
    """``arguments_after_the_call``, the tensors among the arguments only."""
    return [a for a in arguments_after_the_call(function, *args, **kwargs) if isinstance(a, torch.Tensor)]


def gradients_of(module, x: torch.Tensor, upstream: torch.Tensor) -> dict:
    """Backpropagate ``(module(x) * upstream).sum()`` through the student's own forward.

    Returns ``{"output": module(x), "input": the gradient at x (None if none reached it),
    "parameters": {name: the gradient at that parameter, or None}}``. The test recomputes
    the same sum from the module's weights with trusted code and compares gradients: a
    ``.detach()``, a ``torch.no_grad()`` or a weight that is not a trainable parameter gives
    the right output and the wrong (or no) gradient, which no comparison of outputs can see.
    A ``(logits, loss)`` pair counts by its logits.
    """
    x = x.detach().clone().requires_grad_()
    for parameter in module.parameters():
        parameter.grad = None
    with torch.enable_grad():
        output = module(x)
        if isinstance(output, tuple):
            output = output[0]
        if isinstance(output, torch.Tensor) and output.requires_grad:
            (output * upstream).sum().backward()
    return {"output": output.detach() if isinstance(output, torch.Tensor) else output,
            "input": None if x.grad is None else x.grad.clone(),
            "parameters": {name: None if p.grad is None else p.grad.clone() for name, p in module.named_parameters()}}


def buffer_shapes(module) -> list[tuple[int, ...]]:
    """The shapes of ``module``'s registered buffers."""
    return [tuple(b.shape) for b in module.buffers()]


def named_buffer(module, name: str) -> torch.Tensor | None:
    """``module``'s registered buffer called ``name`` (a copy leaves the worker), or None."""
    return dict(module.named_buffers()).get(name)


def operations_of(function, *args) -> dict:
    """Run ``function(*args)``: ``{"output": what it returned, "operators": the torch operators it ran}``.

    The operators are recorded at the dispatcher, below Python, so every path to one is
    seen: a call under another name, an alias imported at the top of a file, a method of a
    tensor. Composite functions show up as the operators they are made of
    (``F.scaled_dot_product_attention`` as ``bmm`` and a softmax): ``torch_functions_of``
    sees those. Check the output as well as the operators (see the module's docstring).
    """
    observed = operation_counts(function, *args)
    return {"output": observed["output"], "operators": sorted(observed["counts"])}


def operation_counts(function, *args) -> dict:
    """Run ``function(*args)``: ``{"output": ..., "counts": {operator: how many times it ran}}``.

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
        output = function(*args)
    return {"output": output, "counts": dict(recorder.counts)}


def enter_a_dispatch_mode() -> None:
    """Enter a do-nothing ``TorchDispatchMode`` once.

    The first one a process enters imports ``torch._dynamo``: about a second on an idle machine,
    ten on a busy one, time that must not count against the student's call. The seam runs this
    before the first timed call of a probe that names it as its ``warm_up``.
    """
    from torch.utils._python_dispatch import TorchDispatchMode

    class Nothing(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            return func(*args, **(kwargs or {}))

    with Nothing():
        torch.zeros(1).add(1)


operation_counts.warm_up = enter_a_dispatch_mode
operations_of.warm_up = enter_a_dispatch_mode


def torch_functions_of(function, *args) -> dict:
    """Run ``function(*args)``: ``{"output": ..., "functions": the torch functions it called}``.

    Recorded where torch's Python API hands a call over, so an alias such as ``from
    torch.nn.functional import ... as f`` is seen too.
    """
    from torch.overrides import TorchFunctionMode

    class Recorder(TorchFunctionMode):
        def __init__(self):
            super().__init__()
            self.names = set()

        def __torch_function__(self, func, types, args=(), kwargs=None):
            self.names.add(getattr(func, "__name__", str(func)))
            return func(*args, **(kwargs or {}))

    with Recorder() as recorder:
        output = function(*args)
    return {"output": output, "functions": sorted(recorder.names)}


def named_parameter_shapes(module) -> dict[str, tuple[int, ...]]:
    """The shapes of ``module``'s parameters by name ("blocks.0.attn.query.weight": (C, C), ...)."""
    return {name: tuple(p.shape) for name, p in module.named_parameters()}


def named_buffer_shapes(module) -> dict[str, tuple[int, ...]]:
    """The shapes of ``module``'s buffers by name ("blocks.0.attn.mask": (T, T), ...)."""
    return {name: tuple(b.shape) for name, b in module.named_buffers()}


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


def count_calls(code, function, *args) -> dict:
    """Run ``function(*args)``: ``{"output": ..., "calls": how often it entered the function of ``code``}``.

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
        output = function(*args)
    finally:
        sys.setprofile(previous)
    return {"output": output, "calls": calls}
