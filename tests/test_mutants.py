"""Every mutant of the catalogue loses points, with a hint that names its mistake.

Each mutant is graded in sandbox mode by the tests of the module it changes (``test_<module>.py``
when the step has one, else the whole step). Every third mutant is also graded in-process, and
the two modes must agree test by test; ``MUTANTS_ALL_MODES=1`` checks the agreement for all of
them (it doubles the time of this file, the longest of ``make test``). The others end their run at
the first failure whose hint names the mistake: the rest of the suite could not give the points back.
"""

import os
import tempfile
from pathlib import Path

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
    if ALL_MODES or MUTANTS.index(mutant) % 3 == 0:
        # Both modes run the whole suite, and must agree test by test.
        scores = {mode: graded(target, root, mutant, *options)
                  for mode, options in (("sandbox", ()), ("in-process", ("--in-process",)))}
        assert scores["sandbox"] == scores["in-process"], "the two modes disagree on this mutant"
    else:
        # The run ends at the first failure that names the mistake (tests/stop_at_hint.py).
        graded(target, root, mutant, stop_at_hint=True)


def graded(target: str, root: Path, mutant, *options: str, stop_at_hint: bool = False) -> dict[str, bool]:
    """Grade the mutated ``root``; check that it loses points with the mutant's hint; return each test's pass."""
    mode = "in-process" if "--in-process" in options else "sandbox"
    with tempfile.TemporaryDirectory() as scratch:
        found = Path(scratch) / "found"
        if stop_at_hint:
            options += ("-p", "stop_at_hint", "--stop-at-hint", mutant.hint, "--hint-found", str(found))
        score, output, _ = run_suite(target, "--student-root", str(root), *options)
        named = found.read_text() if found.exists() else None
    assert score, output
    assert score["points"] < score["max_points"], f"mutant {mutant.id} survived in {mode} mode"
    failed = {test["name"]: test["hint"] for test in score["tests"] if not test["passed"]}
    if named is None:  # the whole suite ran
        assert any(mutant.hint in hint for hint in failed.values()), \
            f"{mode}: no hint mentions {mutant.hint!r}: {list(failed.values())}"
    else:
        assert mutant.hint in failed[named], (named, failed[named])
    return passed_tests(score)


def test_readme_states_the_catalogue_size():
    from helpers import REPO

    assert f"{len(MUTANTS)} plausible student mistakes" in (REPO / "README.md").read_text()
