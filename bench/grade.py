"""Benchmark: how fast `course grade` grades a class, and what the isolation costs.

Generates 40 submissions of every step (10 correct, 10 partial: the reference for steps 00-05
and stubs after, 10 stubs only, 10 hostile: the reference everywhere but a hostile step00
module from tests/hostile.py), grades them with `course grade --jobs 2` and reports the
submissions per minute. Separately, it times the start of a sandbox worker with and without
bubblewrap (a spawned worker in both cases, so the difference is the isolation).

    python bench/grade.py                  # print the figures
    python bench/grade.py --write-readme   # also put them in README.md
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from readme import cpu_name, fill_readme

REPO = Path(__file__).resolve().parent.parent
# As on most machines, Python may write bytecode: pytest then keeps the test modules it rewrites
# instead of rewriting them in every run (some container images set PYTHONDONTWRITEBYTECODE).
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import hostile  # noqa: E402
from grader.isolation import Isolation  # noqa: E402
from grader.seam import Sandbox  # noqa: E402


def make_class(folder: Path) -> dict[str, str]:
    """40 submissions; returns student -> kind."""
    kinds = {}
    solutions, stubs = REPO / "solutions", REPO / "exercises"
    attacks = list(hostile.ATTACKS.items())
    for n in range(10):
        for kind in ("correct", "partial", "stubs", "hostile"):
            student = folder / f"{kind}-{n:02d}"
            shutil.copytree(stubs if kind == "stubs" else solutions, student / "exercises",
                            ignore=shutil.ignore_patterns("__pycache__", "test_*.py"))
            if kind == "partial":
                for step in sorted(p.name for p in stubs.glob("step[0-9][0-9]") if p.name > "step05"):
                    for module in (stubs / step).glob("*.py"):
                        if not module.name.startswith("test_"):
                            shutil.copy(module, student / "exercises" / step / module.name)
            if kind == "hostile":
                name, attack = attacks[n * 2 % len(attacks)]
                places = dict(evidence="/nonexistent", repo=str(REPO), venv=sys.prefix, out=str(folder),
                              submissions=str(folder), port="9", stamp="bench")
                (student / "exercises" / "step00" / "bigram.py").write_text(hostile.module_source(
                    (stubs / "step00" / "bigram.py").read_text(), "", attack, **places))
                kind = f"hostile ({name})"
            kinds[student.name] = kind
    return kinds


def worker_start_seconds(isolated: bool, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        sandbox = Sandbox(REPO / "solutions", memory_mb=4096,
                          isolation=Isolation(readable=[REPO / "solutions"]) if isolated else None)
        start = time.perf_counter()
        if isolated:
            sandbox.start()
        else:  # spawned like the isolated one, not forked: the difference is bubblewrap alone
            import multiprocessing

            parent_end, child_end = multiprocessing.Pipe(duplex=True)
            sandbox.process, sandbox.connection = sandbox._spawn(child_end), parent_end
            child_end.close()
        sandbox._ensure_ready()
        times.append(time.perf_counter() - start)
        sandbox.stop()
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--write-readme", action="store_true")
    args = parser.parse_args()
    plain, isolated = worker_start_seconds(False), worker_start_seconds(True)
    with tempfile.TemporaryDirectory() as scratch:
        folder, out = Path(scratch) / "class", Path(scratch) / "gradebook"
        folder.mkdir()
        kinds = make_class(folder)
        start = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "course.cli", "grade", str(folder), "--out", str(out),
                                 "--jobs", str(args.jobs), "--seed", "1"], cwd=REPO, capture_output=True, text=True)
        minutes = (time.perf_counter() - start) / 60
        if result.returncode != 0:
            raise SystemExit(f"course grade failed:\n{result.stderr[-3000:]}")
        import csv

        rows = {row["student"]: row for row in csv.DictReader((out / "grades.csv").open())}
    totals: dict[str, list[float]] = {}
    for student, kind in kinds.items():
        totals.setdefault(kind.split(" ")[0], []).append(float(rows[student]["total"] or 0))
    steps = sorted(p.name[4:] for p in (REPO / "exercises").glob("step[0-9][0-9]"))
    lines = [f"`course grade` on 40 submissions of every step (steps {steps[0]}-{steps[-1]}), `--jobs {args.jobs}`, "
             f"{os.cpu_count()} cores of {cpu_name()}, Python {platform.python_version()} (`python bench/grade.py`):",
             "",
             f"- **{40 / minutes:.1f} submissions per minute** ({minutes:.1f} minutes for the class)",
             "- mean points: " + ", ".join(f"{kind} {sum(v) / len(v):.0f}" for kind, v in totals.items()),
             f"- starting a worker: {isolated:.2f} s under bubblewrap, {plain:.2f} s without "
             f"(isolation overhead {isolated - plain:+.2f} s per worker start; a student's run starts one "
             "worker unless their code crashes or times out)"]
    report = "\n".join(lines)
    print(report)
    if args.write_readme:
        fill_readme("grade", report)
        print("README.md updated")


if __name__ == "__main__":
    main()
