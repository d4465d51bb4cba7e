"""The ``course`` commands that train and sample, on tiny settings.

They run the reference here (``--solutions``); a student's copy runs the same code on their
own modules. Bad input must end in one clear line on stderr and exit code 2, never a
traceback.
"""

import csv
import os
import subprocess
import sys

import pytest
import torch

from helpers import REPO

pytestmark = pytest.mark.xdist_group("cli")  # the shared tiny run is trained once, in one test process


def course(*args, env=None, timeout=300):
    result = subprocess.run([sys.executable, "-m", "course.cli", *args], cwd=REPO, capture_output=True, text=True,
                            timeout=timeout, env=env)
    return result.returncode, result.stdout, result.stderr


def clean_failure(code, stderr, *words):
    assert code == 2, stderr
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny transformer run on the abab pattern, shared by the tests below."""
    out = tmp_path_factory.mktemp("run")
    code, stdout, stderr = course("train", "--model", "transformer", "--data", "abab", "--preset", "tiny",
                                  "--solutions", "--quiet", "--out", str(out))
    assert code == 0, stderr
    return out, stdout


def test_train_writes_checkpoint_metrics_and_plot(trained):
    out, stdout = trained
    assert (out / "checkpoint.pt").is_file() and (out / "loss.png").stat().st_size > 1000
    with (out / "metrics.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert [int(row["step"]) for row in rows] == list(range(40))
    assert [row["step"] for row in rows if row["val_loss"]] == ["19", "39"]
    checkpoint = torch.load(out / "checkpoint.pt", weights_only=True)
    assert checkpoint["step"] == 40 and checkpoint["extra"]["tokenizer"]["characters"] == "ab"
    # The pattern is learned: the loss of a perfect predictor is 0, of a uniform one ln(3).
    assert float(rows[-1]["val_loss"]) < 0.2
    assert "val loss" in stdout and "perplexity" in stdout and "bits per character" in stdout


def test_sample_is_reproducible_and_continues_the_prompt(trained):
    out, _ = trained
    args = ["sample", "--checkpoint", str(out / "checkpoint.pt"), "--prompt", "ab", "--max-new-tokens", "30",
            "--solutions", "--seed", "3"]
    first, second = course(*args), course(*args)
    assert first[0] == 0, first[2]
    assert first[1] == second[1]
    text = first[1].strip()
    assert text.startswith("ab") and len(text.replace("[UNK]", "?")) == 32  # id 0, [UNK], may be sampled too
    code, greedy, stderr = course(*args[:-2], "--temperature", "0")
    assert code == 0, stderr
    assert greedy.strip() == "ab" * 16  # the learned pattern, followed exactly


def test_one_seed_gives_one_run_on_two_threads(tmp_path):
    # Two threads sum an embedding's gradient in the order they finish unless torch's deterministic
    # kernels are on: the losses of two runs then differ in their last digits.
    env = dict(os.environ, OMP_NUM_THREADS="2")
    runs = []
    for name in ("first", "second"):
        # Ten steps are enough: the gradient norm of the very first step differed without them.
        code, _, stderr = course("train", "--model", "transformer", "--data", "abab", "--preset", "tiny",
                                 "--n-embd", "64", "--n-head", "4", "--block-size", "64", "--batch-size", "16",
                                 "--steps", "10", "--solutions", "--quiet", "--sample-chars", "0",
                                 "--out", str(tmp_path / name), env=env)
        assert code == 0, stderr
        runs.append((tmp_path / name / "metrics.csv").read_text())
    assert runs[0] == runs[1], "two runs with one seed wrote different metrics"


def test_resume_finishes_the_run(tmp_path):
    args = ["train", "--model", "bigram", "--data", "abab", "--preset", "tiny", "--solutions", "--quiet",
            "--out", str(tmp_path), "--sample-chars", "0"]
    code, _, stderr = course(*args, "--steps", "20")
    assert code == 0, stderr
    code, _, stderr = course(*args, "--steps", "20", "--resume")
    assert code == 0, stderr
    checkpoint = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert checkpoint["step"] == 20
    with (tmp_path / "metrics.csv").open() as file:
        assert [int(row["step"]) for row in csv.DictReader(file)] == list(range(20))


@pytest.mark.parametrize("args, words", [
    (["sample", "--checkpoint", "no/such/checkpoint.pt", "--solutions"], ["no checkpoint at"]),
    (["train", "--preset", "enormous", "--solutions", "--data", "abab"], ["unknown preset", "tiny"]),
    (["train", "--preset", "tiny", "--solutions", "--data", "no/such/file.txt"], ["no such file"]),
    (["train", "--preset", "tiny", "--solutions", "--data", "abab", "--steps", "0"], ["steps must be"]),
])
def test_bad_input_is_one_clear_line(args, words):
    clean_failure(*course(*args)[::2], *words)


def test_empty_data_and_foreign_prompt_and_other_vocabulary(trained, tmp_path):
    out, _ = trained
    empty = tmp_path / "empty.txt"
    empty.write_text("   \n")
    clean_failure(*course("train", "--preset", "tiny", "--solutions", "--data", str(empty))[::2], "empty")
    clean_failure(*course("sample", "--checkpoint", str(out / "checkpoint.pt"), "--prompt", "abc",
                          "--solutions")[::2], "never saw", "'c'")
    other = tmp_path / "other.txt"
    other.write_text("the quick brown fox jumps over the lazy dog\n" * 40)
    copy = tmp_path / "run"
    copy.mkdir()
    (copy / "checkpoint.pt").write_bytes((out / "checkpoint.pt").read_bytes())
    clean_failure(*course("train", "--preset", "tiny", "--solutions", "--data", str(other), "--out", str(copy),
                          "--resume")[::2], "another vocabulary")
    not_a_checkpoint = tmp_path / "notes.pt"
    not_a_checkpoint.write_text("hello")
    clean_failure(*course("sample", "--checkpoint", str(not_a_checkpoint), "--solutions")[::2], "not a readable")


def test_an_unfinished_step_is_named(tmp_path):
    """Without --solutions the commands run exercises/: here, the stubs, so step 01 is the first to finish."""
    env = dict(os.environ, COURSE_STATUS_CACHE=str(tmp_path / "status.json"))
    code, _, stderr = course("train", "--model", "bigram", "--data", "abab", "--preset", "tiny", env=env)
    clean_failure(code, stderr, "course train needs step00", "0/", "finish it first")


def test_attention_grid_is_causal_and_trace_shows_every_stage(trained):
    out, _ = trained
    png = out / "grid.png"
    code, stdout, stderr = course("attention", "--checkpoint", str(out / "checkpoint.pt"), "--text", "abababab",
                                  "--solutions", "--out", str(png))
    assert code == 0, stderr
    assert png.stat().st_size > 1000
    assert "1 layers x 2 heads, 8 x 8" in stdout and "above the diagonal: 0.0e+00" in stdout
    code, stdout, stderr = course("trace", "--checkpoint", str(out / "checkpoint.pt"), "--text", "ababa",
                                  "--solutions")
    assert code == 0, stderr
    for stage in ["ids       [1, 2, 1, 2, 1]", "token vectors     shape (1, 5, 16)", "+ position vectors",
                  "block 0", "head 0:", "head 1:", "MLP        out shape (1, 5, 16)", "final norm",
                  "logits            shape (1, 5, 3)", "next character after 'ababa', top 3:"]:
        assert stage in stdout, stage
    top = stdout.strip().splitlines()[-3]
    assert top.split()[0] == "'b'", "after 'ababa' the trained model predicts 'b'"


def test_compare_and_experiment_write_tables_and_plots(tmp_path):
    code, stdout, stderr = course("compare", "--data", "abab", "--preset", "tiny", "--steps", "10", "--solutions",
                                  "--quiet", "--out", str(tmp_path / "compare"), "--prompt", "ab",
                                  "--max-new-tokens", "20", "--width", "30")
    assert code == 0, stderr
    assert "| mlp |" in stdout and "| transformer |" in stdout
    header = next(line for line in stdout.splitlines() if line.startswith("mlp "))
    assert header.split() == ["mlp", "|", "transformer"], "the two samples stand in columns, side by side"
    assert (tmp_path / "compare" / "compare.png").is_file()
    code, stdout, stderr = course("experiment", "gelu", "--data", "abab", "--preset", "tiny", "--steps", "10",
                                  "--solutions", "--quiet", "--out", str(tmp_path / "experiment"))
    assert code == 0, stderr
    assert "| relu |" in stdout and "| gelu |" in stdout
    assert (tmp_path / "experiment" / "gelu.png").is_file()
    relu, gelu = (torch.load(tmp_path / "experiment" / name / "checkpoint.pt", weights_only=True)
                  for name in ("relu", "gelu"))
    assert relu["extra"]["model"]["settings"]["activation"] == "relu"
    assert not torch.equal(relu["model"]["blocks.0.mlp.fc.weight"], gelu["model"]["blocks.0.mlp.fc.weight"])


def test_trace_and_attention_refuse_what_they_cannot_show(tmp_path):
    code, _, stderr = course("train", "--model", "mlp", "--data", "abab", "--preset", "tiny", "--steps", "5",
                             "--solutions", "--quiet", "--out", str(tmp_path), "--sample-chars", "0")
    assert code == 0, stderr
    clean_failure(*course("attention", "--checkpoint", str(tmp_path / "checkpoint.pt"), "--text", "ab",
                          "--solutions")[::2], "no attention layers")
    code, stdout, stderr = course("trace", "--checkpoint", str(tmp_path / "checkpoint.pt"), "--text", "ab",
                                  "--solutions")
    assert code == 0, stderr
    assert "no stage of this model looks at earlier positions" in stdout
