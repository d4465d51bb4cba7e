"""Comparisons for grading suites that explain a mismatch instead of only reporting it.

``expect_close(actual, expected, name=..., mistakes={...})`` checks the type and shape
first, then the values. When the values are wrong it looks for the student's result
among ``mistakes`` (what a known wrong computation gives, with the hint that names it)
and fails with that hint; otherwise the message says where and by how much the values
differ. The mistakes only sharpen the message: a result that matches none still fails.
"""

from __future__ import annotations

from typing import Any, Mapping

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
    difference = (actual.double() - expected.double()).abs()
    difference = torch.where(torch.isnan(difference), torch.full_like(difference, float("inf")), difference)
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
    expected = torch.as_tensor(expected)
    tensor = _as_tensor(actual)
    if tensor is None:
        raise AssertionError(f"{name} should be a tensor of shape {tuple(expected.shape)}, got {type(actual).__name__}")
    wrong_shape = tuple(tensor.shape) != tuple(expected.shape)
    if not wrong_shape and _close(tensor, expected, atol, rtol):
        return
    # A mistake may change the shape too (step 11's cache holding n_head heads instead of n_kv_head),
    # so the known mistakes are tried before a shape difference is reported.
    for message, wrong in (mistakes or {}).items():
        wrong = torch.as_tensor(wrong)
        # A mistake may give NaN (a softmax over a row of -inf): NaN in the same places still matches.
        if _close(tensor, wrong, atol, rtol, equal_nan=True) and not _close(wrong, expected, atol, rtol):
            with hint_block(message):
                raise AssertionError(f"{name} matches a known mistake: {message}")
    if wrong_shape:
        raise AssertionError(f"{name} should have shape {tuple(expected.shape)}, got {tuple(tensor.shape)}")
    raise AssertionError(f"{name} is wrong: {describe_difference(tensor, expected)}")
