"""`course status` prints a table of every step's points."""

import json
import os
import subprocess
import sys

from helpers import REPO, STEPS, readme_points


def status(*options, cache):
    """`course status OPTIONS` with its saved grades at ``cache`` (never the checkout's own)."""
    env = dict(os.environ, COURSE_STATUS_CACHE=str(cache))
    result = subprocess.run([sys.executable, "-m", "course.cli", "status", *options],
                            cwd=REPO, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def row(output, name):
    return next(line.split() for line in output.splitlines() if line.startswith(name))


def test_status_on_stubs_shows_zero_everywhere_and_fresh_ignores_saved_grades(tmp_path):
    # Saved grades that fit the files as they are and claim full points: --fresh must not reuse them.
    from grader.status import step_fingerprint

    cache = tmp_path / "status.json"
    cache.write_text(json.dumps({step: {"key": step_fingerprint(step, []), "score": {
        "step": step, "points": readme_points(step), "max_points": readme_points(step), "tests": []}}
        for step in STEPS}))
    output = status("--fresh", cache=cache)
    assert "reused" not in output
    for step in STEPS:
        points = row(output, step)[-1]
        assert points.startswith("0/") and int(points[2:]) > 0
    assert row(output, "total")[-1].startswith("0/")


def test_status_with_solutions_shows_full_points_and_reuses_the_grades_of_unchanged_steps_only(tmp_path):
    cache = tmp_path / "status.json"
    first = status("--solutions", cache=cache)
    assert "reused" not in first
    # Each step's own suite gives the points of the README's table (tests/test_suites.py checks that).
    total = sum(readme_points(step) for step in STEPS)
    for step in STEPS:
        assert row(first, step)[-1] == f"{readme_points(step)}/{readme_points(step)}"
    assert row(first, "total")[-1] == f"{total}/{total}"
    saved = json.loads(cache.read_text())
    assert sorted(saved) == STEPS
    # Tamper with the saved grades: a reused grade shows the tampered value, a regraded one the truth.
    saved["step00"]["score"]["points"] = 1
    saved["step01"]["score"]["points"] = 2
    saved["step01"]["key"] = "a fingerprint of other files"
    cache.write_text(json.dumps(saved))
    second = status("--solutions", cache=cache)
    assert row(second, "step00")[-1].startswith("1/")
    assert row(second, "step01")[-1] == row(first, "step01")[-1]
    assert f"grades of {', '.join(s for s in STEPS if s != 'step01')} reused" in second
