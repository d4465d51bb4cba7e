"""Every mutant of the catalogue loses points, with a hint that names its mistake, in both modes."""

import pytest

from helpers import STEPS, copy_solutions, passed_tests, run_suite
from mutants import MUTANTS


def test_catalogue_covers_every_step_with_six_mutants():
    for step in STEPS:
        assert sum(m.step == step for m in MUTANTS) >= 6, f"{step} needs at least 6 mutants"


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.id)
def test_mutant_loses_points_with_its_hint(mutant, tmp_path):
    root = copy_solutions(tmp_path)
    module = root / mutant.step / mutant.module
    source = module.read_text()
    for old, new in mutant.edits:
        assert source.count(old) == 1, f"mutant {mutant.id}: the text to replace must occur once in {module.name}"
        source = source.replace(old, new)
    module.write_text(source)

    scores = {}
    for mode, options in {"sandbox": (), "in-process": ("--in-process",)}.items():
        score, output, _ = run_suite(mutant.step, "--student-root", str(root), *options)
        assert score, output
        assert score["points"] < score["max_points"], f"mutant {mutant.id} survived in {mode} mode"
        hints = [test["hint"] for test in score["tests"] if not test["passed"]]
        assert any(mutant.hint in h for h in hints), f"{mode}: no hint mentions {mutant.hint!r}: {hints}"
        scores[mode] = passed_tests(score)
    assert scores["sandbox"] == scores["in-process"], "the two modes disagree on this mutant"


def test_readme_states_the_catalogue_size():
    from helpers import REPO

    assert f"{len(MUTANTS)} plausible student mistakes" in (REPO / "README.md").read_text()
