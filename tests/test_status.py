"""`course status` prints a table of every step's points."""

import subprocess
import sys

from helpers import REPO, STEPS, run_suite


def status(*options):
    result = subprocess.run([sys.executable, "-m", "grader.cli", "status", *options],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def row(output, name):
    return next(line.split() for line in output.splitlines() if line.startswith(name))


def test_status_on_stubs_shows_zero_everywhere():
    output = status()
    for step in STEPS:
        points = row(output, step)[-1]
        assert points.startswith("0/") and int(points[2:]) > 0
    assert row(output, "total")[-1].startswith("0/")


def test_status_with_solutions_shows_full_points_matching_each_suite():
    output = status("--solutions")
    total = 0
    for step in STEPS:
        score, _, _ = run_suite(step, "--solutions")
        assert row(output, step)[-1] == f"{score['max_points']}/{score['max_points']}"
        total += score["max_points"]
    assert row(output, "total")[-1] == f"{total}/{total}"
