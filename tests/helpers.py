"""Helpers for the project's own tests: run a step's grading suite the way a user does."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STEPS = sorted(p.name for p in (REPO / "solutions").glob("step[0-9][0-9]") if p.is_dir())


def readme_points(step: str) -> int | None:
    """The points the README's step table gives ``step`` (None if it has no "ready" row).

    tests/test_suites.py checks that they are the points of the step's suite, so other tests can
    compare with them instead of running the suite again.
    """
    row = re.search(rf"^\| \[{step}\].*?\| (\d+) \| ready \|$", (REPO / "README.md").read_text(), re.M)
    return int(row.group(1)) if row else None


class SuiteServer:
    """The client side of ``suite_server.py``: one server per test process, started on first use."""

    process: subprocess.Popen | None = None

    @classmethod
    def run(cls, args: list[str], cwd: Path, output: Path, timeout: float) -> int:
        if cls.process is None or cls.process.poll() is not None:
            env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
            cls.process = subprocess.Popen([sys.executable, str(Path(__file__).with_name("suite_server.py"))],
                                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        request = {"args": args, "cwd": str(cwd), "output": str(output), "timeout": timeout}
        cls.process.stdin.write(json.dumps(request) + "\n")
        cls.process.stdin.flush()
        return json.loads(cls.process.stdout.readline())["code"]


def run_suite(step: str, *options: str, cwd: Path = REPO, timeout: float = 300) -> tuple[dict, str, int]:
    """Run ``pytest exercises/<step>`` with ``options``; return (score JSON, output, exit code).

    On Linux the run is a fork of a server that has torch imported already (see
    suite_server.py); elsewhere it is a fresh ``python -m pytest``. Both run the same thing.
    """
    with tempfile.TemporaryDirectory() as scratch:
        score_path = Path(scratch) / "score.json"
        args = [f"exercises/{step}", "-q", "-p", "no:cacheprovider", "--score-json", str(score_path), *options]
        if sys.platform.startswith("linux"):
            output_path = Path(scratch) / "output.txt"
            code = SuiteServer.run(args, cwd, output_path, timeout)
            output = output_path.read_text() if output_path.exists() else ""
        else:
            env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
            result = subprocess.run([sys.executable, "-m", "pytest", *args], cwd=cwd, capture_output=True,
                                    text=True, timeout=timeout, env=env)
            code, output = result.returncode, result.stdout + result.stderr
        score = json.loads(score_path.read_text()) if score_path.exists() else {}
        return score, output, code


def copy_solutions(destination: Path) -> Path:
    """A copy of solutions/ at destination/solutions (a tree a mutant can edit)."""
    root = destination / "solutions"
    shutil.copytree(REPO / "solutions", root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def passed_tests(score: dict) -> dict[str, bool]:
    return {test["name"]: test["passed"] for test in score["tests"]}
