"""Every mutant of the catalogue loses points, with a hint that names its mistake.

Each mutant is graded in sandbox mode by the tests of the module it changes (``test_<module>.py``
when the step has one, else the whole step). Every third mutant is also graded in-process, and
the two modes must agree test by test; ``MUTANTS_ALL_MODES=1`` checks the agreement for all of
them (it doubles the time of this file, the longest of ``make test``).
"""

import os

import pytest

from helpers import REPO, STEPS, copy_solutions, passed_tests, run_suite
from mutants import MUTANTS

ALL_MODES = os.environ.get("MUTANTS_ALL_MODES") == "1"


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

    own_tests = REPO / "exercises" / mutant.step / f"test_{mutant.module}"
    target = f"{mutant.step}/{own_tests.name}" if own_tests.is_file() else mutant.step
    modes = {"sandbox": ()}
    if ALL_MODES or MUTANTS.index(mutant) % 3 == 0:
        modes["in-process"] = ("--in-process",)
    scores = {}
    for mode, options in modes.items():
        score, output, _ = run_suite(target, "--student-root", str(root), *options)
        assert score, output
        assert score["points"] < score["max_points"], f"mutant {mutant.id} survived in {mode} mode"
        hints = [test["hint"] for test in score["tests"] if not test["passed"]]
        assert any(mutant.hint in h for h in hints), f"{mode}: no hint mentions {mutant.hint!r}: {hints}"
        scores[mode] = passed_tests(score)
    if "in-process" in scores:
        assert scores["sandbox"] == scores["in-process"], "the two modes disagree on this mutant"


def test_readme_states_the_catalogue_size():
    from helpers import REPO

    assert f"{len(MUTANTS)} plausible student mistakes" in (REPO / "README.md").read_text()
