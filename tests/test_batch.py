"""`course grade` on a class that includes hostile submissions, and the Gradescope bundle.

One batch grades step00 for: an honest correct submission (a folder and a zip), an honest stub,
and every attack of ``tests/hostile.py``. Each hostile submission must score 0, the honest ones
exactly what they deserve, and nothing outside the batch's own output may change.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

import hostile
from grader.isolation import unavailable_reason
from helpers import REPO, run_suite

pytestmark = [pytest.mark.skipif(unavailable_reason() is not None,
                                 reason=f"bubblewrap cannot run here: {unavailable_reason()}"),
              pytest.mark.xdist_group("batch")]  # one test process grades the batch, once

SEED = 424242
STUB = (REPO / "exercises" / "step00" / "bigram.py").read_text()
SOLUTION = (REPO / "solutions" / "step00" / "bigram.py").read_text()
FULL = 26


def digest(*folders: Path) -> dict[str, str]:
    """Every file under the folders, with a hash of its content (caches left out)."""
    files = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                files[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files


def write_submission(folder: Path, module: str, extra: dict[str, str] | None = None) -> None:
    (folder / "exercises" / "step00").mkdir(parents=True)
    (folder / "exercises" / "step00" / "bigram.py").write_text(module)
    for name, text in (extra or {}).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)


class Listener:
    """A TCP server on the host's loopback that records every connection (there must be none)."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            connection.close()


def grade(submissions: Path, out: Path, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "course.cli", "grade", str(submissions), "--out", str(out),
                           "--steps", "step00", "--jobs", "2", "--call-timeout", "3", "--timeout", "180",
                           "--seed", str(SEED), *extra],
                          cwd=REPO, capture_output=True, text=True, timeout=900, env=env)


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    base = tmp_path_factory.mktemp("batch")
    submissions, out, evidence = base / "submissions", base / "out", base / "evidence"
    listener = Listener()
    stamp = f"hostile-{os.getpid()}-{id(base)}"
    places = dict(evidence=str(evidence), repo=str(REPO), venv=sys.prefix, out=str(out),
                  submissions=str(submissions), port=str(listener.port), stamp=stamp)
    write_submission(submissions / "honest-correct", SOLUTION)
    write_submission(submissions / "honest-stub", STUB)
    with zipfile.ZipFile(submissions / "honest-zip.zip", "w") as archive:
        archive.writestr("my-course/exercises/step00/bigram.py", SOLUTION)
        archive.writestr("my-course/exercises/step00/test_bigram.py", "def test_free():\n    pass\n")
    for name, attack in hostile.ATTACKS.items():
        write_submission(submissions / f"hostile-{name}", hostile.module_source(STUB, SOLUTION, attack, **places))
    for name, files in hostile.EXTRA_FILES.items():
        write_submission(submissions / f"hostile-{name}", STUB,
                         {path: text.format(**places) for path, text in files.items()})
    watched = [REPO / "exercises", REPO / "grader", REPO / "solutions", Path(sys.prefix) / "lib"]
    before, submitted = digest(*watched), digest(submissions)
    env = {**os.environ, "COURSE_TEST_SECRET": "s3cret"}
    result = grade(submissions, out, env=env)
    survivors = []
    for pid in os.listdir("/proc"):
        try:
            if pid.isdigit() and stamp.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                survivors.append(pid)
        except OSError:
            pass
    return dict(result=result, out=out, evidence=evidence, listener=listener, before=before,
                after=digest(*watched), submitted=submitted, submissions=submissions, survivors=survivors)


def rows(out: Path) -> dict[str, dict]:
    return {row["student"]: row for row in csv.DictReader((out / "grades.csv").open())}


def test_the_batch_finishes_and_writes_the_gradebook(batch):
    assert batch["result"].returncode == 0, batch["result"].stderr[-3000:]
    grades = rows(batch["out"])
    assert len(grades) == 3 + len(hostile.ATTACKS) + len(hostile.EXTRA_FILES)
    assert (batch["out"] / "summary.md").is_file()
    assert all((batch["out"] / "feedback" / f"{student}.md").is_file() for student in grades)
    assert json.loads((batch["out"] / "batch.json").read_text())["seed"] == SEED


def test_honest_submissions_get_exactly_their_points(batch):
    grades = rows(batch["out"])
    for student, points in (("honest-correct", str(FULL)), ("honest-zip", str(FULL)), ("honest-stub", "0")):
        assert (grades[student]["step00"], grades[student]["status"]) == (points, "graded"), \
            (batch["out"] / "results" / f"{student}.json").read_text()[:3000]


@pytest.mark.parametrize("name", [*hostile.ATTACKS, *hostile.EXTRA_FILES])
def test_a_hostile_submission_scores_nothing(batch, name):
    row = rows(batch["out"])[f"hostile-{name}"]
    assert row["step00"] in ("0", ""), f"{name} scored {row['step00']}: {row['status']}"
    feedback = (batch["out"] / "feedback" / f"hostile-{name}.md").read_text()
    assert f"hostile-{name}" in feedback


def test_code_that_reaches_past_its_task_is_listed_for_the_instructor(batch):
    grades = rows(batch["out"])
    assert grades["honest-correct"]["review"] == grades["honest-stub"]["review"] == ""
    for name in ("import-solutions", "patch-torch-testing", "patch-pytest", "fork-bomb"):
        assert grades[f"hostile-{name}"]["review"], name
    summary = (batch["out"] / "summary.md").read_text()
    assert "## Code to read" in summary and "hostile-import-solutions" in summary.split("## Code to read")[1]
    assert "honest-correct" not in summary.split("## Code to read")[1]


def test_memorised_answers_pass_only_under_the_seed_students_see(batch, tmp_path):
    # The batch grades with its own seed (0 points above); the default seed, the one students run
    # their suites with, is what the answers were memorised for.
    root = tmp_path / "exercises"
    shutil.copytree(batch["submissions"] / "hostile-hard-coded-answers" / "exercises", root)
    for folder in (root, root / "step00"):
        (folder / "__init__.py").touch()
    score, output, _ = run_suite("step00", "--student-root", str(root), "-k", "counts_match_definition")
    assert score["points"] == score["max_points"] > 0, output


def test_no_attack_left_evidence_or_changed_a_file(batch):
    assert not batch["evidence"].exists() or not list(batch["evidence"].iterdir())
    assert batch["after"] == batch["before"], "the batch changed files of the instructor's copy or the venv"
    assert digest(batch["submissions"]) == batch["submitted"], "a submission was changed during the batch"
    assert batch["listener"].connections == 0, "a worker reached the host's loopback"
    assert batch["survivors"] == [], "processes started by student code outlived the batch"


def test_an_import_that_never_ends_costs_one_timeout(batch):
    result = json.loads((batch["out"] / "results" / "hostile-import-loop.json").read_text())
    assert result["seconds"] < 30, result["seconds"]
    feedback = (batch["out"] / "feedback" / "hostile-import-loop.md").read_text()
    assert "does not import" in feedback


def test_a_rerun_skips_graded_students_and_force_regrades(batch, tmp_path):
    # The batch above graded both honest students; here it is as if it had stopped after the first.
    out = tmp_path / "out"
    submissions = tmp_path / "submissions"
    for student in ("honest-correct", "honest-stub"):
        shutil.copytree(batch["submissions"] / student, submissions / student)
    (out / "results").mkdir(parents=True)
    shutil.copy2(batch["out"] / "results" / "honest-correct.json", out / "results")
    graded = (out / "results" / "honest-correct.json").stat().st_mtime_ns
    second = grade(submissions, out)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "1 students were graded by an earlier run" in second.stdout
    assert (out / "results" / "honest-correct.json").stat().st_mtime_ns == graded
    assert rows(out)["honest-stub"]["step00"] == "0" and rows(out)["honest-correct"]["step00"] == str(FULL)
    third = grade(submissions, out, "--force")
    assert "earlier run" not in third.stdout
    assert (out / "results" / "honest-correct.json").stat().st_mtime_ns != graded


def test_nbgrader_scores_join_the_gradebook(batch, tmp_path):
    export = tmp_path / "nbgrader.csv"
    export.write_text("assignment,duedate,timestamp,student_id,last_name,first_name,email,raw_score,"
                      "late_submission_penalty,score,max_score\n"
                      "step05,,,honest-correct,,,,2.0,0.0,2.0,7.0\nmeta,,,honest-stub,,,,4.5,0.0,4.5,13.0\n")
    out = tmp_path / "out"
    shutil.copytree(batch["out"] / "results", out / "results")  # graded already: nothing to grade again
    (out / "batch.json").write_text((batch["out"] / "batch.json").read_text())
    result = grade(batch["submissions"], out, "--nbgrader-csv", str(export))
    assert result.returncode == 0, result.stderr[-2000:]
    grades = rows(out)
    assert grades["honest-correct"]["notebook:step05"] == "2" and grades["honest-correct"]["notebook:meta"] == ""
    assert grades["honest-stub"]["notebook:meta"] == "4.5"


def test_bad_input_is_one_clear_line(tmp_path):
    missing = grade(tmp_path / "nowhere", tmp_path / "out")
    assert missing.returncode == 2 and "is not a folder of submissions" in missing.stderr
    assert "Traceback" not in missing.stderr
    (tmp_path / "empty").mkdir()
    empty = grade(tmp_path / "empty", tmp_path / "out")
    assert empty.returncode == 2 and "holds no submission" in empty.stderr
    steps = subprocess.run([sys.executable, "-m", "course.cli", "grade", str(tmp_path / "empty"), "--out",
                            str(tmp_path / "out"), "--steps", "step99"], cwd=REPO, capture_output=True, text=True)
    assert steps.returncode == 2 and "--steps" in steps.stderr


def test_without_bubblewrap_grading_refuses_unless_told(monkeypatch, tmp_path, capsys):
    from course import cli
    from grader import isolation

    monkeypatch.setattr(isolation, "unavailable_reason", lambda: "bwrap was not found on the PATH")
    assert cli.main(["grade", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert "bwrap was not found" in error and "--no-isolation" in error


# -- Gradescope ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def autograder(tmp_path_factory):
    base = tmp_path_factory.mktemp("gradescope")
    bundle = base / "autograder.zip"
    result = subprocess.run([sys.executable, "-m", "course.cli", "gradescope-bundle", "--out", str(bundle),
                             "--steps", "step00", "--seed", "7"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return bundle


def run_autograder(bundle: Path, root: Path, module: str) -> dict:
    """Gradescope's layout, faked: the bundle unpacked in source/, the submission in submission/."""
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(root / "source")
    (root / "submission" / "step00").mkdir(parents=True)
    (root / "submission" / "step00" / "bigram.py").write_text(module)
    script = root / "source" / "run_autograder"
    subprocess.run(["bash", str(script)], env={**os.environ, "AUTOGRADER_ROOT": str(root), "PYTHON": sys.executable},
                   capture_output=True, text=True, timeout=300, check=True)
    return json.loads((root / "results" / "results.json").read_text())


def test_bundle_holds_the_suites_and_no_solutions(autograder):
    names = zipfile.ZipFile(autograder).namelist()
    assert {"setup.sh", "run_autograder", "autograder.json", "exercises/step00/test_bigram.py",
            "grader/plugin.py"} <= set(names)
    assert not [n for n in names if n.startswith(("solutions/", "tests/")) or "/notebooks/" in n]


def test_gradescope_run_writes_results_in_its_schema(autograder, tmp_path):
    results = run_autograder(autograder, tmp_path / "full", SOLUTION)
    assert results["score"] == FULL
    assert isinstance(results["execution_time"], (int, float)) and isinstance(results["output"], str)
    assert len(results["tests"]) == 14
    for test in results["tests"]:
        assert set(test) == {"name", "score", "max_score", "output", "visibility"}
        assert test["score"] == test["max_score"] and test["visibility"] == "visible"
    empty = run_autograder(autograder, tmp_path / "stub", STUB)
    assert empty["score"] == 0 and all(t["score"] == 0 and t["output"].startswith("hint:") for t in empty["tests"])


def test_a_folder_bound_from_under_tmp_gets_no_writable_neighbours(tmp_path):
    # A checkout under /tmp (a CI clone, say): bwrap makes its parent folders inside the sandbox's
    # private /tmp, and code must not plant files there beside the folders it is shown.
    from grader.isolation import Isolation

    shown = tmp_path / "checkout" / "exercises"
    shown.mkdir(parents=True)
    code = ("import os\n"
            f"for target in [{str(tmp_path / 'checkout' / 'conftest.py')!r}, {str(shown / 'conftest.py')!r}]:\n"
            "    try:\n"
            "        open(target, 'w').close()\n"
            "        print('planted', target)\n"
            "    except OSError:\n"
            "        print('refused')\n"
            "open(os.path.join(os.environ['TMPDIR'], 'scratch.txt'), 'w').write('ok')\n"
            "print('scratch ok')\n")
    result = subprocess.run(Isolation(readable=[shown]).command([sys.executable, "-c", code]),
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["refused", "refused", "scratch", "ok"], result.stdout + result.stderr
