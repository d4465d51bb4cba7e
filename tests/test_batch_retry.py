"""A grading run that fails for the grader's own reasons is run once more, and only then.

``course grade`` runs one pytest process per student. When that process is killed (a machine
short of memory), exits with an internal error or writes no score, the student's code is not
the likely cause: the batch grades them a second time and notes it. A run that used its whole
time limit, or a submission that cannot be read, is reported at once. These tests replace the
run itself (``grade_one``) with scripted outcomes; ``test_batch.py`` grades real submissions.
"""

from __future__ import annotations

import dataclasses
import zipfile
from pathlib import Path

import pytest

from grader import batch
from helpers import REPO

OPTIONS = batch.Options(suites=Path("exercises"), steps=["step00"], seed=1)
GRADED = {"step00": {"points": 26, "max_points": 26, "tests": []}}


def scripted(monkeypatch, *outcomes):
    """Make ``grade_one`` return (or raise) each outcome in turn; return the list of calls."""
    calls = []

    def fake_grade_one(student, entry, options):
        outcome = outcomes[len(calls)]
        calls.append(student)
        if isinstance(outcome, Exception):
            raise outcome
        status = outcome
        return batch.Result(student, status, options.seed, list(options.steps),
                            steps=dict(GRADED) if status == "graded" else {}, seconds=2.5)

    monkeypatch.setattr(batch, "grade_one", fake_grade_one)
    return calls


@pytest.mark.parametrize("failure", [
    "grading failed: the grading process was killed by signal 9",
    "grading failed: pytest exited with code 3 (INTERNAL ERROR)",
    "grading failed: no score file was written",
    "grading failed: malformed score file (step00: 30 of 26 points)",
])
def test_a_failed_run_is_graded_again_and_noted(monkeypatch, failure):
    calls = scripted(monkeypatch, failure, "graded")
    result = batch.grade_with_retry("ada", Path("ada"), OPTIONS)
    assert calls == ["ada", "ada"]
    assert result.status == "graded" and result.points == 26 and result.seconds == 5.0  # both runs
    reason = failure.split(": ", 1)[1].split(" (")[0]  # without what pytest printed last
    assert result.notes == [f"graded on a second run: the first one failed ({reason})"]


def test_an_error_of_the_grader_itself_is_graded_again(monkeypatch):
    calls = scripted(monkeypatch, EOFError("unexpected EOF"), "graded")
    result = batch.grade_with_retry("ada", Path("ada"), OPTIONS)
    assert len(calls) == 2 and result.status == "graded"
    assert "EOFError: unexpected EOF" in result.notes[0]


def test_a_second_run_that_raises_is_reported_with_the_first_failure(monkeypatch):
    scripted(monkeypatch, "grading failed: no score file was written", OSError("no space left on device"))
    result = batch.grade_with_retry("ada", Path("ada"), OPTIONS)
    assert result.status == "grading failed: OSError: no space left on device"
    assert "no score file" in result.notes[0]


def test_a_zip_with_an_encrypted_module_is_unreadable_not_retried(tmp_path):
    archive = tmp_path / "ada.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("exercises/step00/bigram.py", "x = 1\n")
    data = bytearray(archive.read_bytes())
    for header in (b"PK\x03\x04", b"PK\x01\x02"):  # mark the file encrypted in both headers
        at = data.index(header) + (6 if header == b"PK\x03\x04" else 8)
        data[at] |= 1
    archive.write_bytes(bytes(data))
    result = batch.grade_with_retry("ada", archive, dataclasses.replace(OPTIONS, suites=REPO / "exercises"))
    assert result.status.startswith("grading failed: ada.zip: exercises/step00/bigram.py cannot be read ("), \
        result.status
    assert result.notes == []


def test_a_second_failure_is_reported(monkeypatch):
    calls = scripted(monkeypatch, "grading failed: no score file was written",
                     "grading failed: the grading process was killed by signal 9")
    result = batch.grade_with_retry("ada", Path("ada"), OPTIONS)
    assert len(calls) == 2
    assert result.status == "grading failed: the grading process was killed by signal 9"
    assert result.points == 0 and "no score file" in result.notes[0]


@pytest.mark.parametrize("outcome", [
    "graded",
    "grading failed: the run took longer than 600 s and was stopped",
    "grading failed: ada.zip is not a readable zip file (File is not a zip file)",
])
def test_a_graded_run_a_timeout_or_an_unreadable_submission_runs_once(monkeypatch, outcome):
    calls = scripted(monkeypatch, outcome, "graded")
    result = batch.grade_with_retry("ada", Path("ada"), OPTIONS)
    assert calls == ["ada"] and result.status == outcome and result.notes == []


def test_a_real_run_out_of_time_is_not_repeated(tmp_path):
    # The real grade_one: half a second is less than pytest needs to start, so the run is stopped.
    (tmp_path / "ada" / "exercises" / "step00").mkdir(parents=True)
    options = batch.Options(suites=REPO / "exercises", steps=["step00"], seed=1, timeout_s=0.5, isolate=False,
                            fork_server=False)
    result = batch.grade_with_retry("ada", tmp_path / "ada", options)
    assert result.status == "grading failed: the run took longer than 0.5 s and was stopped"
    assert result.notes == ["step00/bigram.py is missing from the submission: graded as the empty stub"]


def test_the_summary_lists_the_failures_and_where_their_output_is(tmp_path):
    results = [batch.Result("alan.turing", "graded", 1, ["step00"], steps=dict(GRADED)),
               batch.Result("grace.hopper", "grading failed: no score file was written", 1, ["step00"],
                            output_tail="INTERNAL ERROR")]
    batch.write_gradebook(results, tmp_path, ["step00"])
    failures = (tmp_path / "summary.md").read_text().split("## Grading failures")[1]
    assert "grace.hopper" in failures and "alan.turing" not in failures and "output_tail" in failures
