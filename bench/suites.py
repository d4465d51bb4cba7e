"""Benchmark: wall time of every step's grading suite, as a student runs it.

Each figure is the whole command `python -m pytest exercises/stepNN` (interpreter start,
torch import, worker start and all tests included), the best of --repeat runs, graded
against the reference solutions in sandbox mode (the default) and in-process mode.

    python bench/suites.py                  # print the figures
    python bench/suites.py --write-readme   # also put them in README.md
    python bench/suites.py --write-readme --readme-block suites-avx2   # another CPU's figures, a block of their own
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from readme import cpu_name, fill_readme

REPO = Path(__file__).resolve().parent.parent
# As on most machines, Python may write bytecode: pytest then keeps the test modules it rewrites
# instead of rewriting them in every run (some container images set PYTHONDONTWRITEBYTECODE).
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


def time_suite(step: str, *options: str, threads: int | None = None) -> float:
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)  # the grader then leaves torch's thread count alone
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "pytest", f"exercises/{step}", "-q", "--solutions", *options],
                            cwd=REPO, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{step} {options} failed:\n{result.stdout[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch threads (default: the grader's choice, 1)")
    parser.add_argument("--write-readme", action="store_true")
    parser.add_argument("--readme-block", default="suites", help="the README block to fill (<!-- bench:NAME -->)")
    args = parser.parse_args()
    steps = sorted(p.name for p in (REPO / "exercises").glob("step[0-9][0-9]"))
    rows = []
    for step in steps:
        sandbox = min(time_suite(step, threads=args.threads) for _ in range(args.repeat))
        in_process = min(time_suite(step, "--in-process", threads=args.threads) for _ in range(args.repeat))
        rows.append((step, sandbox, in_process))
        print(f"{step}: sandbox {sandbox:5.2f} s   in-process {in_process:5.2f} s")
    if args.write_readme:
        lines = [f"Wall time of `pytest exercises/stepNN` on the reference solutions, whole command, best of "
                 f"{args.repeat}, {os.cpu_count()} cores of {cpu_name()}, one torch thread (`python bench/suites.py`):", "",
                 "| step | sandbox (default) | in-process |", "|---|---|---|"]
        lines += [f"| {step} | {s:.1f} s | {i:.1f} s |" for step, s, i in rows]
        fill_readme(args.readme_block, "\n".join(lines))
        print("README.md updated")


if __name__ == "__main__":
    main()
