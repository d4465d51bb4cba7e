"""`make demo` runs end to end on the reference solutions."""

import os
import subprocess
import sys

from helpers import REPO


def test_demo_runs_every_part():
    # The demo's own run is 1500 steps (step 08's comparison 400 each); 100 here. One torch thread:
    # `make test` runs two test processes on two cores, and a demo with two threads beside a busy
    # neighbour once ran past the timeout.
    env = dict(os.environ, COURSE_DEMO_STEPS="100", OMP_NUM_THREADS="1")
    result = subprocess.run([sys.executable, "-m", "course.demo"], cwd=REPO, capture_output=True, text=True,
                            timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    output = result.stdout
    assert "using solutions/" in output
    assert "total" in output and "step00" in output  # the status table
    assert "sample (one character of context at a time)" in output
    assert "256 merges learned" in output and "256: " in output
    assert "Café déjà vu" in output and "tokens" in output
    assert "x: " in output and " → " in output
    assert "are neighbours, their vectors are not" in output and "sinusoidal position table" in output
    assert "depth 2:" in output and "depth 4:" in output and "the floor for any model" in output
    assert "att[0] after training" in output and "  1.00" in output
    assert "split_heads(query(x))    (2, 4, 8, 8)" in output and "1 head(s): output (2, 8, 32)" in output
    assert "8 blocks: with residuals" in output
    assert "2 layers:" in output and "4 layers:" in output and "sample from the 4-layer model" in output
    assert "100 steps in" in output and "validation (every character of the last 10% once)" in output
    for label in ("greedy (temperature 0)", "temperature 1.5", "top-p 0.9"):
        assert f"--- {label}\nROMEO:" in output
    assert (REPO / "runs" / "demo" / "attention.png").is_file() and (REPO / "runs" / "demo" / "loss.png").is_file()
    assert "not implemented yet" not in output
