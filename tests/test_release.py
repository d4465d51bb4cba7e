"""`course release` writes a student copy with no solution code, in which grading still works."""

import subprocess
import sys

import pytest

from grader.release import leaked_solution_code
from helpers import REPO, run_suite

pytestmark = pytest.mark.xdist_group("release")  # the release is written once, in one test process


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    out = tmp_path_factory.mktemp("release") / "course"
    result = subprocess.run([sys.executable, "-m", "course.cli", "release", "--out", str(out)],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "no solutions/" in result.stdout
    return out


def test_release_holds_what_students_need_and_nothing_more(release):
    present = {p.name for p in release.iterdir()}
    assert {"README.md", "pyproject.toml", "Makefile", "scripts", "grader", "course", "exercises"} <= present
    assert not {"solutions", "tests", "bench", ".ci", ".git", ".venv"} & present
    assert not list(release.rglob("__pycache__"))
    for step in ("step00", "step01", "step02"):
        assert (release / "exercises" / step / "README.md").is_file()


def test_student_readme_leaves_out_the_instructor_sections(release):
    readme = (release / "README.md").read_text()
    assert readme.startswith("# Build a GPT from scratch")
    assert "## For students" in readme and "## The steps" in readme
    assert "## For instructors" not in readme and "instructor-only" not in readme
    assert "bench:bpe" not in readme


def test_release_contains_no_solution_code(release):
    assert leaked_solution_code(release) == []
    stub = (release / "exercises" / "step00" / "bigram.py").read_text()
    assert 'raise NotImplementedError("not implemented yet")' in stub
    assert "index_put_" not in stub


def test_release_holds_the_student_notebooks_and_not_their_sources(release):
    from course.notebooks import NAMES

    folder = release / "course" / "notebooks"
    assert sorted(p.stem for p in folder.glob("*.ipynb")) == sorted(NAMES)
    assert not {"source", "content", "build.py", "nbgrader_config.py"} & {p.name for p in folder.iterdir()}
    for notebook in folder.glob("*.ipynb"):
        text = notebook.read_text()
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text, notebook.name
        assert "YOUR ANSWER HERE" in text, notebook.name


def test_the_leak_check_catches_a_model_answer(release, tmp_path):
    from course.cli import notebook_release

    notebooks = notebook_release()
    copy = tmp_path / "copy"
    (copy / "course").mkdir(parents=True)
    source = notebooks.source / "step05" / "step05.ipynb"
    (copy / "course" / "step05.ipynb").write_text(source.read_text())
    leaks = leaked_solution_code(copy, notebooks)
    assert leaks and all("the notebook step05" in leak for leak in leaks)


def test_student_copy_cannot_rebuild_the_notebooks(release):
    result = subprocess.run([sys.executable, "-m", "course.cli", "notebooks"], cwd=release, capture_output=True,
                            text=True)
    assert result.returncode == 2 and "instructor copy" in result.stderr


def test_the_leak_check_catches_a_solution_file(tmp_path):
    (tmp_path / "exercises").mkdir()
    (tmp_path / "exercises" / "bigram.py").write_text((REPO / "solutions" / "step00" / "bigram.py").read_text())
    assert leaked_solution_code(tmp_path)


def test_students_grade_in_the_release(release):
    score, output, code = run_suite("step00", cwd=release)
    assert code == 1 and score["points"] == 0, output
    assert "not implemented yet" in output


def test_solutions_flag_fails_with_one_clear_line_in_the_release(release):
    result = subprocess.run([sys.executable, "-m", "pytest", "exercises/step00", "--solutions"],
                            cwd=release, capture_output=True, text=True)
    assert result.returncode != 0
    errors = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert errors == ["ERROR: --solutions grades the hidden reference solutions, which are not part of the "
                      "student copy of the course"]


def test_release_refuses_to_overwrite(tmp_path, release):
    result = subprocess.run([sys.executable, "-m", "course.cli", "release", "--out", str(release)],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 2
    assert "is not empty" in result.stderr and "--force" in result.stderr
    result = subprocess.run([sys.executable, "-m", "course.cli", "release", "--out", str(REPO / "exercises")],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 2 and "refusing" in result.stderr
