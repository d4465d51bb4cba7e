"""The grading plugin on a tiny course of its own: markers, hints, deselection, JSON."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from grader import points
from helpers import REPO

MODULE = "def add(a, b):\n    return a + b\n\ndef sub(a, b):\n    return a + b  # wrong on purpose\n"

SUITE = '''
from grader import hint, points

@points(2, hint="add adds")
def test_add(student):
    assert student.mod.add(2, 3) == 5

@points(3, hint="sub subtracts")
def test_sub(student):
    with hint("sub(5, 3) is 2"):
        assert student.mod.sub(5, 3) == 2
'''


def make_course(tmp_path, suite=SUITE, steps=("step98",)):
    (tmp_path / "pyproject.toml").write_text('[tool.pytest.ini_options]\naddopts = ["-p", "grader.plugin"]\n')
    (tmp_path / "exercises").mkdir()
    (tmp_path / "exercises" / "__init__.py").write_text("")
    for step in steps:
        folder = tmp_path / "exercises" / step
        folder.mkdir()
        (folder / "__init__.py").write_text("")
        (folder / "mod.py").write_text(MODULE)
        (folder / "test_mod.py").write_text(textwrap.dedent(suite))
    return tmp_path


def run(course, *args):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
                            cwd=course, capture_output=True, text=True, env=env)
    return result.stdout + result.stderr, result.returncode


def test_points_hints_and_the_innermost_hint(tmp_path):
    course = make_course(tmp_path)
    output, code = run(course, "exercises/step98", "--score-json", "score.json")
    score = json.loads((course / "score.json").read_text())
    assert code == 1
    assert (score["points"], score["max_points"]) == (2, 5)
    failed = [t for t in score["tests"] if not t["passed"]]
    assert [t["name"] for t in failed] == ["test_mod.py::test_sub"]
    assert failed[0]["hint"] == "sub(5, 3) is 2"  # the `with hint(...)` block wins over the marker's hint
    assert "step98: 2/5 points" in output


def test_deselected_tests_are_not_counted(tmp_path):
    course = make_course(tmp_path)
    _, code = run(course, "exercises/step98", "-k", "add", "--score-json", "score.json")
    score = json.loads((course / "score.json").read_text())
    assert code == 0 and (score["points"], score["max_points"]) == (2, 2)


def test_several_steps_make_one_json_with_a_list(tmp_path):
    course = make_course(tmp_path, steps=("step97", "step98"))
    output, _ = run(course, "exercises", "--score-json", "scores.json")
    document = json.loads((course / "scores.json").read_text())
    assert [s["step"] for s in document["steps"]] == ["step97", "step98"]
    assert "step97: 2/5 points" in output and "step98: 2/5 points" in output


def test_a_graded_test_without_points_is_a_usage_error(tmp_path):
    course = make_course(tmp_path, suite="def test_unmarked(student):\n    pass\n")
    output, code = run(course, "exercises/step98")
    assert code == 4
    assert "has no @points(...) marker" in output


def test_points_must_be_a_positive_integer():
    with pytest.raises(ValueError):
        points(0, hint="x")
    with pytest.raises(ValueError):
        points(1.5, hint="x")


def test_student_root_must_be_a_package(tmp_path):
    course = make_course(tmp_path)
    output, code = run(course, "exercises/step98", "--student-root", str(tmp_path / "nowhere"))
    assert code == 4 and "is not a package folder" in output


RANDOM_SUITE = '''
import json
import os

import torch

from grader import points


def drawn(student, name):
    # What the student's code draws from torch's global generator, in the sandbox or here,
    # and what the test draws itself.
    record = {"student": student.mod.draw(), "test": torch.rand(2).tolist()}
    with open(os.environ["DRAWS"], "a") as out:
        out.write(json.dumps({name: record}) + "\\n")


@points(1, hint="-")
def test_first(student):
    torch.rand(5)  # draws that a later test must not feel
    drawn(student, "first")
    student.mod.draw()


@points(1, hint="-")
def test_second(student):
    drawn(student, "second")
'''


def test_every_test_starts_from_its_own_seed_in_both_modes(tmp_path, monkeypatch):
    course = make_course(tmp_path, suite=RANDOM_SUITE)
    (course / "exercises" / "step98" / "mod.py").write_text(
        "import torch\n\ndef draw():\n    return torch.rand(3).tolist()\n")
    draws = course / "draws.jsonl"
    monkeypatch.setenv("DRAWS", str(draws))
    for options in ((), ("-k", "second"), ("--in-process",), ("--grading-seed", "7")):
        output, code = run(course, "exercises/step98", *options)
        assert code == 0, output
    records = [json.loads(line) for line in draws.read_text().splitlines()]
    seconds = [record["second"] for record in records if "second" in record]
    assert len(seconds) == 4
    # Alone or after test_first, in the sandbox or in-process: the student's code draws the same numbers.
    assert seconds[0]["student"] == seconds[1]["student"] == seconds[2]["student"]
    assert seconds[0]["test"] == seconds[1]["test"]
    assert seconds[0]["student"][:2] == seconds[0]["test"]  # one seed, here and in the worker
    assert records[0]["first"] != seconds[0], "each test has a seed of its own"
    assert seconds[3] != seconds[0], "--grading-seed changes the seeds"


STATE_SUITE = '''
from grader import points


@points(1, hint="-")
def test_first(student):
    assert student.mod.Store().add(1) == [1]


@points(1, hint="-")
def test_second(student):
    assert student.mod.Store().add(2) == [2]
'''


def test_state_a_module_keeps_does_not_reach_the_next_test(tmp_path):
    # A list in a class body is shared by every instance: a mistake, which must cost only the tests
    # that meet it, not every later test that imports the same module.
    course = make_course(tmp_path, suite=STATE_SUITE)
    (course / "exercises" / "step98" / "mod.py").write_text(
        "class Store:\n    items = []\n\n    def add(self, item):\n        self.items.append(item)\n"
        "        return self.items\n")
    for options in ((), ("--in-process",)):
        output, code = run(course, "exercises/step98", *options)
        assert code == 0 and "2/2 points" in output, output


MESSAGE_SUITE = '''
from grader import points


@points(1, hint="-")
def test_with_a_message(student):
    assert all(value > 9 for value in [student.mod.add(1, 2)]), "the sum is small"


@points(1, hint="-")
def test_without_a_message(student):
    assert student.mod.add(1, 2) == 4
'''


def test_an_assert_with_a_message_shows_the_message_alone(tmp_path):
    output, code = run(make_course(tmp_path, suite=MESSAGE_SUITE), "exercises/step98")
    assert code == 1 and "AssertionError: the sum is small" in output
    assert "<generator object" not in output and "where False = all" not in output
    assert "assert 3 == 4" in output  # an assert without a message keeps pytest's account of it


BUILDS_ON_SUITE = '''
from grader import points

@points(2, hint="sub subtracts")
def test_sub(student):
    assert student.mod.sub(5, 3) == 2

@points(3, hint="the distance is the absolute difference", builds_on={"sub": "test_sub"})
def test_distance(student):
    assert abs(student.mod.sub(3, 5)) == 2

@points(1, hint="add adds", builds_on={"sub": "test_sub"})
def test_add_then_sub(student):
    assert student.mod.add(1, 1) == 2

@points(1, hint="the negation is 0 - x", builds_on={"sub": "step98/test_mod.py::test_sub"})
def test_negation(student):
    assert student.mod.sub(0, 4) == -4
'''


def test_a_test_that_builds_on_a_failing_function_says_to_fix_that_first(tmp_path):
    course = make_course(tmp_path, suite=BUILDS_ON_SUITE)
    run(course, "exercises/step98", "--score-json", "score.json")
    hints = {t["name"].split("::")[1]: t["hint"] for t in json.loads((course / "score.json").read_text())["tests"]}
    assert hints["test_sub"] == "sub subtracts"
    assert hints["test_distance"] == "fix `sub` first: this test builds on it, and its own test fails (test_sub)"
    assert hints["test_add_then_sub"] is None  # it passed: what it builds on does not matter
    # The same step's test, named the way an earlier step's would be, still counts as a foundation.
    assert hints["test_negation"] == ("fix `sub` first: this test builds on it, and its own test fails "
                                      "(step98/test_mod.py::test_sub)")
