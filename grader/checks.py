"""Comparisons for grading suites that explain a mismatch instead of only reporting it.

``expect_close(actual, expected, name=..., mistakes={...})`` checks the type and shape
first, then the values. When the values are wrong it looks for the student's result
among ``mistakes`` (what a known wrong computation gives, with the hint that names it)
and fails with that hint; otherwise the message says where and by how much the values
differ. The mistakes only sharpen the message: a result that matches none still fails.

``expect_gradients(student, module, weights, definitions, x, upstream, name=...)`` grades
backpropagation through the student's module against the same formula computed here.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import torch

from grader import hint as hint_block


def _as_tensor(value: Any) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor):
        return value
    try:
        return torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError):
        return None


def _close(actual: torch.Tensor, expected: torch.Tensor, atol: float, rtol: float, equal_nan: bool = False) -> bool:
    if actual.shape != expected.shape:
        return False
    if actual.dtype.is_floating_point or expected.dtype.is_floating_point or actual.is_complex():
        return bool(torch.allclose(actual.double(), expected.double(), atol=atol, rtol=rtol, equal_nan=equal_nan))
    return bool(torch.equal(actual.long(), expected.long()))


def describe_difference(actual: torch.Tensor, expected: torch.Tensor) -> str:
    """'max abs difference 0.31 at index (1, 2): got 0.5, expected 0.19' (or the first differing index)."""
    got_all, want_all = actual.double(), expected.double()
    # Equal values differ by nothing, infinities included (-inf - -inf is nan); any other nan is as far off as can be.
    same = (got_all == want_all) | (torch.isnan(got_all) & torch.isnan(want_all))
    difference = (got_all - want_all).abs()
    difference = torch.where(torch.isnan(difference), torch.full_like(difference, float("inf")), difference)
    difference = torch.where(same, torch.zeros_like(difference), difference)
    flat = int(difference.argmax())
    index = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), actual.shape)) if actual.dim() else ()
    got, want = actual.double()[index].item(), expected.double()[index].item()
    shown = index if len(index) != 1 else index[0]
    return f"max abs difference {difference.max().item():.4g} at index {shown}: got {got:.6g}, expected {want:.6g}"


def expect_close(actual: Any, expected: torch.Tensor, *, name: str = "the result", atol: float = 1e-5,
                 rtol: float = 1e-4, mistakes: Mapping[str, torch.Tensor] | None = None) -> None:
    """Fail unless ``actual`` is a tensor of ``expected``'s shape whose values are close to it.

    ``mistakes`` maps a hint to the value a known mistake produces; if ``actual`` matches
    one of them, the failure carries that hint.
    """
    __tracebackhide__ = True  # pytest shows the test's line, not this helper's
    expected = torch.as_tensor(expected)
    tensor = _as_tensor(actual)
    if tensor is None:
        raise AssertionError(f"{name} should be a tensor of shape {tuple(expected.shape)}, got {type(actual).__name__}")
    wrong_shape = tuple(tensor.shape) != tuple(expected.shape)
    if not wrong_shape and _close(tensor, expected, atol, rtol):
        return
    # A mistake may change the shape too (step 11's cache holding n_head heads instead of n_kv_head),
    # so the known mistakes are tried before a shape difference is reported.
    name_a_known_mistake(tensor, expected, name=name, atol=atol, rtol=rtol, mistakes=mistakes)
    if wrong_shape:
        raise AssertionError(f"{name} should have shape {tuple(expected.shape)}, got {tuple(tensor.shape)}")
    raise AssertionError(f"{name} is wrong: {describe_difference(tensor, expected)}")


def name_a_known_mistake(actual: Any, expected: torch.Tensor, *, name: str = "the result", atol: float = 1e-5,
                         rtol: float = 1e-4, mistakes: Mapping[str, torch.Tensor] | None = None) -> None:
    """Fail with a mistake's hint if ``actual`` is what that mistake computes; else do nothing.

    For a check made before the one that decides (expect_close): e.g. an input where a mistake
    still gives an answer, tried before the input where it would crash.
    """
    __tracebackhide__ = True  # pytest shows the test's line, not this helper's
    tensor = _as_tensor(actual)
    if tensor is None:
        return
    expected = torch.as_tensor(expected)
    for message, wrong in (mistakes or {}).items():
        wrong = torch.as_tensor(wrong)
        # A mistake may give NaN (a softmax over a row of -inf): NaN in the same places still matches.
        if _close(tensor, wrong, atol, rtol, equal_nan=True) and not _close(wrong, expected, atol, rtol):
            with hint_block(message):
                raise AssertionError(f"{name} matches a known mistake: {message}")


def gradients_by_definition(definition: Callable, x: torch.Tensor, weights: Mapping[str, torch.Tensor],
                            upstream: torch.Tensor) -> tuple:
    """``definition(x, weights)`` and the gradients of ``(output * upstream).sum()`` at x and at every weight,
    by autograd through the test's own (trusted) code: ``(output, grad at x, {name: grad})``."""
    x = x.clone().requires_grad_()
    leaves = {name: w.clone().requires_grad_() for name, w in weights.items()}
    out = definition(x, leaves)
    grads = torch.autograd.grad((out * upstream).sum(), [x, *leaves.values()], allow_unused=True)
    return out.detach(), grads[0], dict(zip(leaves, grads[1:]))


def expect_gradients(student, module, weights: Mapping[str, torch.Tensor], definitions: Sequence[Callable],
                     x: torch.Tensor, upstream: torch.Tensor, *, name: str, atol: float = 1e-4) -> None:
    """Backpropagate through the student's ``module`` loaded with ``weights``; compare with the definition.

    The module runs in the worker (``grader.probes.gradients_of``); its output and the gradients at x
    and at every weight must equal those of ``definitions[0](x, weights)``, computed here. Further
    definitions are accepted variants (GELU's tanh approximation), picked by the output the module gave.
    A forward that runs under ``torch.no_grad()``, detaches a tensor or uses a weight that is not a
    trained parameter gives the right output and the wrong gradient: each gets a hint that names it.
    """
    __tracebackhide__ = True  # pytest shows the test's line, not this helper's
    from grader.probes import gradients_of, load_parameters

    with hint_block("the module's parameters must be exactly the documented ones, under their names (a mask is a "
                    "buffer, register_buffer, not an nn.Parameter)"):
        student.probe(load_parameters, module, dict(weights))
    observed = student.probe(gradients_of, module, x, upstream)
    candidates = [gradients_by_definition(definition, x, weights, upstream) for definition in definitions]
    given = _as_tensor(observed["output"])
    matching = [c for c in candidates
                if given is not None and given.shape == c[0].shape and _close(given, c[0], atol, 1e-4)]
    output, at_input, at_weights = (matching or candidates)[0]
    expect_close(observed["output"], output, name=f"the output of {name}", atol=atol)
    with hint_block(f"no gradient reaches the input of your {name}: its forward runs under torch.no_grad() or "
                    "cuts the graph (.detach(), .data, .item(), a tensor rebuilt with torch.tensor(...)), so "
                    "training could not change anything before it"):
        assert observed["input"] is not None, f"{name}: after backward, x.grad is None"
    parameters = observed["parameters"]
    with hint_block("every weight is an nn.Parameter, so that model.parameters() (the optimiser) finds it: a buffer "
                    "or a plain tensor attribute is never trained"):
        missing = sorted(set(weights) - set(parameters))
        assert not missing, f"{name}: these weights are not parameters: {missing}"
    with hint_block("these parameters get no gradient: each must require grad (no requires_grad=False), and "
                    "forward must use it as it is (not weight.data or weight.detach()), with nothing between it "
                    "and the output detached or run under torch.no_grad() (the detached copy of the attention "
                    "weights kept in last_attention is for looking at: make the output from the weights "
                    "themselves)"):
        untouched = sorted(key for key in weights if parameters[key] is None)
        assert not untouched, f"{name}: no gradient at {untouched}"
    with hint_block("the output is right but its gradient is not: part of the computation is cut from the graph "
                    "(a .detach() on a statistic such as the mean or the variance, on the attention weights, on a "
                    "branch or on the residual x) or done outside autograd"):
        expect_close(observed["input"], at_input, name=f"the gradient at the input of {name}", atol=atol)
        for key, expected in at_weights.items():
            expect_close(parameters[key], expected, name=f"the gradient at {key} of {name}", atol=atol)


# What building a layer runs: the random initial weights of nn.Linear and of a table.
INITIALISERS = {"uniform_", "normal_", "kaiming_uniform_", "xavier_uniform_", "trunc_normal_", "randn", "rand"}


def expect_a_formula(functions: Sequence[str], name: str, sizes: str) -> None:
    """Fail unless a parameter count was worked out as a formula: ``functions`` are the torch
    functions its call ran (``grader.probes.torch_functions_of``), and a model built to be
    counted initialises its layers."""
    __tracebackhide__ = True  # pytest shows the test's line, not this helper's
    initialised = sorted(INITIALISERS & set(functions))
    with hint_block(f"{name} builds a model and counts its parameters: derive the number by hand from the "
                    f"architecture instead, as a formula in {sizes}"):
        assert not initialised, f"{name} ran {initialised}: it initialised layers"
