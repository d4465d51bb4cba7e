"""Helpers for the project's own tests: run a step's grading suite the way a user does."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STEPS = sorted(p.name for p in (REPO / "solutions").glob("step[0-9][0-9]") if p.is_dir())


def run_suite(step: str, *options: str, cwd: Path = REPO, timeout: float = 300) -> tuple[dict, str, int]:
    """Run ``pytest exercises/<step>`` with ``options``; return (score JSON, output, exit code)."""
    with tempfile.TemporaryDirectory() as scratch:
        score_path = Path(scratch) / "score.json"
        command = [sys.executable, "-m", "pytest", f"exercises/{step}", "-q", "-p", "no:cacheprovider",
                   "--score-json", str(score_path), *options]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
        result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
        output = result.stdout + result.stderr
        score = json.loads(score_path.read_text()) if score_path.exists() else {}
        return score, output, result.returncode


def copy_solutions(destination: Path) -> Path:
    """A copy of solutions/ at destination/solutions (a tree a mutant can edit)."""
    root = destination / "solutions"
    shutil.copytree(REPO / "solutions", root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def passed_tests(score: dict) -> dict[str, bool]:
    return {test["name"]: test["passed"] for test in score["tests"]}
