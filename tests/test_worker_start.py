"""A worker that does not start is the machine's fault, never the student's.

The sandbox's worker says "ready" before it imports any graded module, so a worker that dies
or hangs before that has run no student code: the seam starts it once more, and when that
fails too the run gives no score (pytest's internal-error exit code) instead of a zero.
"""

from __future__ import annotations

import pytest
import torch

from broken_worker import a_worker_that_dies_at_once
from grader.seam import GraderFault, Sandbox, StudentError
from helpers import REPO, run_suite


def starting_with(monkeypatch, failures: int) -> list[str]:
    """Make the first ``failures`` workers die at once; return a list that records each start."""
    starts = []
    for name in ("_fork", "_spawn"):
        real = getattr(Sandbox, name)

        def start(self, *ends, real=real):
            starts.append("dead" if len(starts) < failures else "real")
            return a_worker_that_dies_at_once(self) if starts[-1] == "dead" else real(self, *ends)

        monkeypatch.setattr(Sandbox, name, start)
    return starts


def test_a_worker_that_dies_before_it_is_ready_is_started_once_more(monkeypatch):
    starts = starting_with(monkeypatch, failures=1)
    seam = Sandbox(REPO / "solutions", timeout_s=30.0)
    try:
        counts = seam.module("step00", "bigram").bigram_counts(torch.tensor([0, 1, 0]), 2)
        assert counts.tolist() == [[0, 1], [1, 0]]
    finally:
        seam.stop()
    assert starts == ["dead", "real"]


def test_two_failed_starts_are_a_grader_fault_not_a_students_error(monkeypatch):
    starts = starting_with(monkeypatch, failures=2)
    seam = Sandbox(REPO / "solutions", timeout_s=30.0)
    with pytest.raises(GraderFault, match="could not start, twice") as caught:
        seam.module("step00", "bigram")
    assert not isinstance(caught.value, StudentError)
    with pytest.raises(GraderFault, match="could not start, twice"):  # at once: no third start
        seam.module("step00", "bigram")
    assert starts == ["dead", "dead"]


def test_a_worker_that_cannot_even_be_created_is_tried_again(monkeypatch):
    # Out of processes, fork itself fails in the grading process: the same second try.
    starts = starting_with(monkeypatch, failures=0)
    real_start = Sandbox.start
    calls = []

    def start(self):
        calls.append(1)
        if len(calls) == 1:
            raise BlockingIOError(11, "Resource temporarily unavailable")
        real_start(self)

    monkeypatch.setattr(Sandbox, "start", start)
    seam = Sandbox(REPO / "solutions", timeout_s=30.0)
    try:
        assert seam.module("step00", "bigram").bigram_counts(torch.tensor([1, 1]), 2).tolist() == [[0, 0], [0, 1]]
    finally:
        seam.stop()
    assert len(calls) == 2 and starts == ["real"]


def test_a_run_whose_worker_never_starts_gives_no_score():
    score, output, code = run_suite("step00", "-p", "broken_worker", "--student-root", str(REPO / "solutions"))
    assert code == pytest.ExitCode.INTERNAL_ERROR, output
    assert score == {}, "a score was written for a run in which no graded code ran"
    assert output.count("could not start, twice") >= 14  # each of the 14 tests says why it failed
    grade = output.rsplit("- grade -", 1)[1]
    assert "could not start, twice" in grade and "rather than a wrong score this run gives none" in grade
    assert "hint:" not in output


def test_a_fault_after_tests_that_passed_still_gives_no_score(tmp_path):
    # The first worker grades the first test and is then killed; no later one starts. The tests
    # that passed do not make a score of their own, and the score file of an earlier run goes.
    earlier = tmp_path / "score.json"
    earlier.write_text('{"step": "step00", "points": 26, "max_points": 26, "tests": []}')
    _, output, code = run_suite("step00", "-p", "broken_worker", "--workers-that-start", "1",
                                "--student-root", str(REPO / "solutions"), "--score-json", str(earlier))
    assert code == pytest.ExitCode.INTERNAL_ERROR, output
    assert "1 passed" in output.splitlines()[-1], output.splitlines()[-1]
    assert not earlier.exists(), "a run that gave no score left an earlier run's score in place"
