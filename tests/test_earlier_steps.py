"""A later step builds on the student's own earlier code: its failures must name that code."""

import shutil

import pytest

from grader.isolation import unavailable_reason
from helpers import REPO, copy_solutions, run_suite


def with_stub_step03(tmp_path):
    """The reference solutions, except step03, which is the untouched student stub."""
    root = copy_solutions(tmp_path)
    shutil.rmtree(root / "step03")
    shutil.copytree(REPO / "exercises" / "step03", root / "step03", ignore=shutil.ignore_patterns("test_*", "README*"))
    return root


@pytest.mark.parametrize("mode", [(), ("--in-process",)], ids=["sandbox", "in-process"])
def test_an_unfinished_step03_is_named_under_a_finished_step04(tmp_path, mode):
    score, output, _ = run_suite("step04", "--student-root", str(with_stub_step03(tmp_path)), *mode)
    failed = [test for test in score["tests"] if not test["passed"]]
    assert failed, "step04 cannot pass while the Embedding it builds on is a stub"
    for test in failed:
        assert test["hint"].startswith("step04 builds on your step03 `Embedding."), test
        assert "which is not implemented yet" in test["hint"] and "finish step03 first" in test["hint"], test
    # The grade says it once, with what it costs, instead of once per test.
    grade = output.split(" grade ")[1]
    assert grade.count("builds on your step03") == 1, grade
    assert f"{len(failed)} tests ({sum(t['max_points'] for t in failed)} points) wait on it" in grade


def test_a_wrong_step03_is_named_when_a_step04_test_fails_because_of_it(tmp_path):
    root = copy_solutions(tmp_path)
    module = root / "step03" / "embedding.py"
    right = "return self.weight[idx]  # (..., C): one row per id"
    module.write_text(module.read_text().replace(right, "return self.weight[(idx + 1) % self.num_embeddings]"))
    score, _, _ = run_suite("step04", "--student-root", str(root))
    failed = [test for test in score["tests"] if not test["passed"]]
    assert failed, "logits computed from the wrong rows must cost points"
    for test in failed:
        assert test["hint"].startswith("step04 builds on your step03 `Embedding`, which fails its own test "
                                       "(step03/test_embedding.py::"), test
        assert test["hint"].endswith("finish step03 first (pytest exercises/step03)"), test


def test_a_step04_mistake_is_not_blamed_on_a_correct_step03(tmp_path):
    root = copy_solutions(tmp_path)
    module = root / "step04" / "mlp_lm.py"
    module.write_text(module.read_text().replace("layers += [nn.Linear(hidden, hidden), nn.ReLU()]",
                                                 "layers += [nn.Linear(hidden, hidden)]"))
    score, _, _ = run_suite("step04", "--student-root", str(root))
    hints = [test["hint"] for test in score["tests"] if not test["passed"]]
    assert hints and not any("step03" in hint for hint in hints), hints



@pytest.mark.skipif(unavailable_reason() is not None, reason=f"bubblewrap cannot run here: {unavailable_reason()}")
def test_the_earlier_steps_run_is_confined_as_the_run_that_started_it(tmp_path):
    # A wrong step03 that also tries, at import, to write beside the graded copy. Graded with
    # --isolate, the step04 run asks a second run for step03's own tests: that one imports the
    # same code, and bubblewrap must confine it too.
    root = copy_solutions(tmp_path)
    escaped = tmp_path / "escaped"
    module = root / "step03" / "embedding.py"
    right = "return self.weight[idx]  # (..., C): one row per id"
    module.write_text(module.read_text().replace(right, "return self.weight[(idx + 1) % self.num_embeddings]")
                      + f"\ntry:\n    open({str(escaped)!r}, 'w').write('out')\nexcept OSError:\n    pass\n")
    score, output, _ = run_suite("step04", "--student-root", str(root), "--isolate")
    hints = [test["hint"] for test in score["tests"] if not test["passed"]]
    assert hints and all("which fails its own test (step03/" in hint for hint in hints), output
    assert not escaped.exists(), "a run for the earlier step ran the graded code outside the sandbox"
