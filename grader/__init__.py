"""The course grader: points and hints for the test suites, and the ``course`` command.

A graded test looks like this::

    from grader import points, hint

    @points(2, hint="rows of the count table are the *current* token")
    def test_counts(student):
        counts = student.bigram.bigram_counts(torch.tensor([0, 1, 1]), vocab_size=2)
        with hint("the last token has no successor, so it starts no pair"):
            assert counts.sum() == 2

``points`` says what the test is worth and the hint shown when it fails; ``hint`` gives a
more precise hint for one part of a test. ``student`` is the seam to the code under test
(see ``grader.seam``).
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import pytest

__all__ = ["points", "hint"]


def points(value: int, hint: str, timeout: float | None = None, builds_on: dict[str, str] | None = None):
    """Mark a test as worth ``value`` points; ``hint`` names the likely mistake when it fails.

    ``timeout`` (seconds) raises the time limit for slow calls such as training.
    ``builds_on`` maps the student functions this test relies on to the tests that grade
    them, e.g. ``{"merge_pair": "test_merge_pair"}``: when one of those tests fails too,
    this test's hint says to fix that function first. A test of an earlier step is named
    with its file, ``{"step03 Embedding": "step03/test_embedding.py::test_lookup"}``: when
    this test fails, that one is run against the same code, and if it fails as well the
    hint sends the student back to the earlier step.
    """
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"points must be a positive integer, got {value!r}")
    return pytest.mark.points(value, hint=hint, timeout=timeout, builds_on=dict(builds_on or {}))


@contextlib.contextmanager
def hint(message: str) -> Iterator[None]:
    """Attach ``message`` as the hint of any failure inside the ``with`` block.

    The innermost ``hint`` wins, so a general hint can wrap more specific ones.
    """
    try:
        yield
    except BaseException as exc:
        if getattr(exc, "__grader_hint__", None) is None:
            try:
                exc.__grader_hint__ = message
            except AttributeError:  # an exception type without a __dict__
                pass
        raise
