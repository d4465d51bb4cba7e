"""The course notebooks: current, valid nbgrader sources that run, grade and release cleanly.

* the committed source notebooks and README blocks are what ``course notebooks`` builds;
* nbgrader accepts their metadata, and every graded cell has points, ids are unique, tests locked;
* every question of the course plan has its graded cell;
* each notebook runs top to bottom against the reference within its time budget;
* the nbgrader round trip works headless: generate_assignment, autograde of a complete and of
  an empty submission, export to CSV.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from course.lab import pipeline_report
from course.notebooks import NAMES, build
from helpers import REPO

NOTEBOOKS = {name: build.source_path(name) for name in NAMES}
BUDGET_SECONDS = 120  # the limit per notebook against the solutions; they take a few seconds
NBGRADER = [sys.executable, "-m", "nbgrader"]


def cells(name: str) -> list:
    return nbformat.read(NOTEBOOKS[name], as_version=4).cells


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def test_committed_notebooks_and_readme_blocks_are_current():
    assert build.stale() == [], "run `course notebooks` and commit the result"


@pytest.mark.parametrize("name", NAMES)
def test_nbgrader_metadata_is_valid(name):
    from nbgrader.nbgraderformat import reads

    reads(NOTEBOOKS[name].read_text(), as_version=4)  # nbgrader's own schema 3 validation
    ids = [nbgrader_meta(c)["grade_id"] for c in cells(name) if nbgrader_meta(c)]
    assert len(ids) == len(set(ids)), f"duplicate grade_id in {name}"
    graded = [c for c in cells(name) if nbgrader_meta(c).get("grade")]
    assert graded, f"{name} has no graded cell"
    for cell in graded:
        meta = nbgrader_meta(cell)
        assert meta["schema_version"] == 3 and meta["points"] > 0, meta
        if cell.cell_type == "code":  # an autograder test: students must not be able to change it
            assert meta["locked"] and not meta["solution"], meta
        else:  # a written answer: the student's to write, graded by hand
            assert meta["solution"] and not meta["locked"], meta
    for cell in cells(name):
        if nbgrader_meta(cell).get("solution") and cell.cell_type == "code":
            assert "### BEGIN SOLUTION" in cell.source, f"{name}: a solution cell without a solution region"


# Every question of the course plan (../shared/course-plan) and the graded cell that asks it.
PLAN = {
    "step00": ["step00-alternate", "step00-aba"],  # why alternate, start from b; can it learn aba
    "step01": ["step01-single-split", "step01-unk"],  # single tokens / split; why [UNK]
    "step02": ["step02-labels", "step02-how-many"],  # where labels come from; how many examples
    "step03": ["step03-magnitude", "step03-no-positions"],  # id magnitude; removing positions
    "step04": ["step04-deeper", "step04-copy"],  # deeper always better; why no copying
    "step05": ["step05-row", "step05-no-softmax", "step05-sqrt", "step05-parallel", "step05-length",
               "step05-flash"],  # one row; no softmax; self-check sqrt(d_k) and masking; scaling; FlashAttention
    "step06": ["step06-divisible", "step06-heads", "step06-wo", "step06-parameters"],  # self-check: heads, W_O, count
    "step07": ["step07-breaks", "step07-prenorm"],  # what breaks; why LayerNorm first
    "step08": ["step08-depth", "step08-families", "step08-why-attention"],  # depth; architecture families + MoE
    "step09": ["step09-divergence", "step09-clipping", "step09-overfitting"],  # divergence; clipping; fitting
    "step10": ["step10-diversity", "step10-temperature"],
    "step11": ["step11-kv-cache", "step11-gqa"],  # rung 11: what the KV cache and GQA do
    "meta": ["meta-drawing", "meta-text"],  # draw the pipeline: a picture and text arrows
}


@pytest.mark.parametrize("name", NAMES)
def test_every_question_of_the_plan_has_a_graded_cell(name):
    graded = {nbgrader_meta(c)["grade_id"] for c in cells(name) if nbgrader_meta(c).get("grade")}
    graded |= {gid.removesuffix("-check") for gid in graded}
    assert set(PLAN[name]) <= graded, set(PLAN[name]) - graded


def test_each_step_readme_lists_its_notebook_questions():
    for name in NAMES:
        readme = build.readme_path(name)
        if readme is None:
            continue
        text = readme.read_text()
        for question in build.content(name).questions():
            assert " ".join(build._clean(question.prompt).split()) in text, (name, question.id)


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_against_the_solutions(name, monkeypatch, tmp_path):
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    monkeypatch.setenv("COURSE_SOLUTIONS", "1")
    # One thread per kernel: the tests run two at a time on two cores, and torch's threads spin-wait.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    notebook = nbformat.read(NOTEBOOKS[name], as_version=4)
    start = time.perf_counter()
    # IPC sockets, not TCP ports: two test workers starting kernels at once cannot pick the same port.
    kernel = KernelManager(kernel_name="python3", transport="ipc", ip=str(tmp_path / "kernel"))
    NotebookClient(notebook, km=kernel, timeout=BUDGET_SECONDS,
                   resources={"metadata": {"path": str(NOTEBOOKS[name].parent)}}).execute()
    seconds = time.perf_counter() - start
    assert seconds < BUDGET_SECONDS, f"{name} took {seconds:.0f} s"
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            assert output.output_type != "error", f"{name}: {output.ename}: {output.evalue}\n{cell.source}"
            if nbgrader_meta(cell).get("grade"):
                # nbgrader gives 0 points to a test cell that writes to stderr, even when it passes
                assert not (output.output_type == "stream" and output.name == "stderr"), (name, output.text)
        if nbgrader_meta(cell).get("grade_id") == "meta-text-check":
            assert cell.outputs[-1]["data"]["text/plain"] == "6.0", "the reference diagram must earn full points"


# -- the meta-task's check on its own ---------------------------------------------------------------

FULL_TRAINING = ("text -> tokenizer -> token ids -> batches (x, y) -> token + position embeddings -> "
                 "N x blocks (attention + MLP) -> logits -> cross-entropy loss -> backward -> AdamW step")
FULL_GENERATION = "prompt -> ids -> model -> logits of the last position -> sample -> append, repeat"


def test_pipeline_check_gives_full_points_to_a_complete_diagram():
    assert pipeline_report(FULL_TRAINING, FULL_GENERATION).fraction() == 1.0


def test_pipeline_check_takes_points_for_missing_and_misplaced_stages():
    without_loss = FULL_TRAINING.replace("cross-entropy loss -> ", "")
    report = pipeline_report(without_loss, FULL_GENERATION)
    assert report.missing["training"] == ["loss"] and report.fraction() == 15 / 16
    swapped = FULL_TRAINING.replace("logits -> cross-entropy loss", "cross-entropy loss -> logits")
    assert pipeline_report(swapped, FULL_GENERATION).fraction() == 15 / 16
    backwards = " -> ".join(reversed(FULL_TRAINING.split(" -> ")))
    assert pipeline_report(backwards, FULL_GENERATION).fraction() < 0.5
    assert pipeline_report("", "").fraction() == 0.0
    no_loop = FULL_GENERATION.replace(" -> append, repeat", " -> next token")
    assert pipeline_report(FULL_TRAINING, no_loop).missing["generation"] == ["next token appended, repeat"]
    no_update = FULL_TRAINING.replace(" -> AdamW step", "")
    assert pipeline_report(no_update, FULL_GENERATION).missing["training"] == ["optimizer step"]


def test_pipeline_check_reads_other_words_and_other_arrows():
    own_words = ("raw dataset -> tokenize into ids -> inputs and targets shifted by one -> token + pos embeddings "
                 "-> 4 decoder layers -> linear head -> negative log-likelihood -> backprop -> Adam step")
    vertical = "prompt\n↓\nencode\n↓\nGPT\n↓\nprobabilities at the last position\n↓\nmultinomial draw\n↓\nadd to the ids, again"
    assert pipeline_report(own_words, vertical).fraction() == 1.0
    one_box = FULL_TRAINING.replace("tokenizer -> token ids", "tokenizer turns it into token ids")
    assert pipeline_report(one_box, FULL_GENERATION).fraction() == 1.0
    with pytest.raises(TypeError):
        pipeline_report(None, FULL_GENERATION)


# -- the nbgrader round trip ------------------------------------------------------------------------

ROUND_TRIP = ["step05", "meta"]


def automatic_points(name: str) -> float:
    return float(sum(nbgrader_meta(c)["points"] for c in cells(name)
                     if nbgrader_meta(c).get("grade") and c.cell_type == "code"))


@pytest.fixture(scope="module")
def course_dir(tmp_path_factory):
    """A scratch nbgrader course: two assignments released, a complete and an empty submission
    of each autograded, the grades exported."""
    root = tmp_path_factory.mktemp("nbgrader")
    shutil.copy(REPO / "course" / "notebooks" / "nbgrader_config.py", root)
    # nbgrader runs `alembic` from the PATH: the venv's bin/ must be on it even when it is not activated.
    env = {**os.environ, "COURSE_SOLUTIONS": "1", "OMP_NUM_THREADS": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}

    def nbgrader(*args):
        result = subprocess.run([*NBGRADER, *args, "--CourseDirectory.root=" + str(root)], cwd=root, env=env,
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    for name in ROUND_TRIP:
        shutil.copytree(NOTEBOOKS[name].parent, root / "source" / name)
        nbgrader("generate_assignment", name, "--force")
        # "complete" hands in the reference answers; "empty" hands in the released notebook unchanged.
        for student, notebook in (("complete", NOTEBOOKS[name]), ("empty", root / "release" / name / f"{name}.ipynb")):
            (root / "submitted" / student / name).mkdir(parents=True)
            shutil.copy(notebook, root / "submitted" / student / name / f"{name}.ipynb")
        nbgrader("autograde", name, "--force")
    nbgrader("export", "--to", str(root / "grades.csv"))
    return root


@pytest.mark.xdist_group("nbgrader")  # the scratch course is built once, in one test process
def test_round_trip_grades_complete_and_empty_submissions(course_dir):
    rows = list(csv.DictReader((course_dir / "grades.csv").open()))
    scores = {(row["student_id"], row["assignment"]): float(row["raw_score"]) for row in rows}
    for name in ROUND_TRIP:
        assert scores[("complete", name)] == automatic_points(name) > 0
        assert scores[("empty", name)] == 0.0
    assert {row["max_score"] for row in rows if row["assignment"] == "meta"} == {"13.0"}


@pytest.mark.xdist_group("nbgrader")
def test_released_notebooks_hide_solutions_and_hidden_tests(course_dir):
    from grader.notebooks import notebook_secrets, notebook_text

    for name in ROUND_TRIP:
        released = course_dir / "release" / name / f"{name}.ipynb"
        text = notebook_text(released)
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
        assert "YOUR ANSWER HERE" in text and "raise NotImplementedError()" in text
        for secret in notebook_secrets(NOTEBOOKS[name]):
            assert secret.strip() not in text, secret
        # The tests students see still check the form of their answers.
        assert json.loads(released.read_text())["cells"]
