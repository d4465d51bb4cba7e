"""The ``course`` command.

    course status [--solutions] [--in-process] [--fresh]   points per step, as a table
    course release --out DIR [--force]          write the student copy of the course
    course stubs [--check]                      regenerate exercises/ stubs from solutions/
    course demo                                 the end-to-end demo (same as `make demo`)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from grader.stubs import solution_blocks, stale_stubs, write_stubs

REPO = Path(__file__).resolve().parent.parent

STEP_TITLES = {
    "step00": "bigram model",
    "step01": "tokenizers: characters, byte-level BPE",
    "step02": "dataset by shifting",
    "step03": "embeddings and positional encodings",
    "step04": "MLP language model",
    "step05": "scaled dot-product attention",
    "step06": "multi-head attention",
    "step07": "transformer block",
    "step08": "full GPT",
    "step09": "training",
    "step10": "generation",
    "step11": "RoPE, KV cache, GQA",
}

# What the student copy holds; everything else (solutions/, tests/, bench/, .ci/) stays behind.
RELEASE_PATHS = ["README.md", "pyproject.toml", "Makefile", ".gitignore", "scripts", "grader", "course", "exercises"]


class CommandError(Exception):
    """A problem the user can fix; printed as one line."""


def steps_present() -> list[str]:
    return sorted(p.name for p in (REPO / "exercises").glob("step[0-9][0-9]") if p.is_dir())


# --- status --------------------------------------------------------------------------

def run_all_suites(options: list[str], steps: list[str] | None = None) -> tuple[list[dict], str]:
    """Grade ``steps`` (default: all) in one pytest session; return their scores and pytest's output."""
    steps = steps_present() if steps is None else steps
    with tempfile.TemporaryDirectory() as scratch:
        score_path = Path(scratch) / "scores.json"
        command = [sys.executable, "-m", "pytest", *[f"exercises/{s}" for s in steps], "-q",
                   "--score-json", str(score_path), *options]
        result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
        if not score_path.exists():
            raise CommandError("the grading run failed before scoring:\n" + (result.stdout + result.stderr)[-3000:])
        document = json.loads(score_path.read_text())
    return document.get("steps", [document]), result.stdout


# Where `course status` keeps the grades it can reuse (an environment variable moves it, for tests).
STATUS_CACHE = Path(os.environ.get("COURSE_STATUS_CACHE", REPO / ".course-status.json"))


def step_fingerprint(step: str, options: list[str]) -> str:
    """A hash of everything a step's grade depends on: its files and those of the steps before
    it (later steps import earlier ones), the grader, the course package, and the options."""
    digest = hashlib.sha256(" ".join(options).encode())
    graded = ["solutions", "exercises"] if "--solutions" in options else ["exercises"]
    folders = [REPO / "grader", REPO / "course"]
    folders += [REPO / top / s for top in graded for s in steps_present() if s <= step]
    for folder in folders:
        for path in sorted(folder.rglob("*.py")):
            digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def graded_with_reuse(options: list[str], fresh: bool) -> tuple[list[dict], list[str]]:
    """Scores of every step, grading again only the steps whose fingerprint changed."""
    try:
        cache = {} if fresh else json.loads(STATUS_CACHE.read_text())
    except (OSError, ValueError):
        cache = {}
    fingerprints = {step: step_fingerprint(step, options) for step in steps_present()}
    reused = [step for step, key in fingerprints.items() if cache.get(step, {}).get("key") == key]
    stale = [step for step in fingerprints if step not in reused]
    scores = {step: cache[step]["score"] for step in reused}
    if stale:
        fresh_scores, _ = run_all_suites(options, stale)
        scores.update({score["step"]: score for score in fresh_scores})
    try:
        partial = STATUS_CACHE.with_name(f"{STATUS_CACHE.name}.{os.getpid()}")
        partial.write_text(json.dumps(
            {step: {"key": fingerprints[step], "score": score} for step, score in scores.items()}, indent=1))
        os.replace(partial, STATUS_CACHE)  # whole or not at all, even with two runs at once
    except OSError:
        pass  # a read-only checkout: no reuse next time, same grades
    return [scores[step] for step in sorted(scores)], reused


def format_status(scores: list[dict]) -> str:
    by_step = {score["step"]: score for score in scores}
    rows = [("step", "topic", "points")]
    total, total_max = 0, 0
    for step in steps_present():
        score = by_step.get(step)
        if score is None:
            rows.append((step, STEP_TITLES.get(step, ""), "no tests"))
            continue
        total += score["points"]
        total_max += score["max_points"]
        rows.append((step, STEP_TITLES.get(step, ""), f"{score['points']}/{score['max_points']}"))
    rows.append(("total", "", f"{total}/{total_max}"))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:>{widths[2]}}" for a, b, c in rows]
    lines.insert(1, "-" * len(lines[0]))
    lines.insert(len(lines) - 1, "-" * len(lines[0]))
    return "\n".join(lines)


def cmd_status(args) -> int:
    options = (["--solutions"] if args.solutions else []) + (["--in-process"] if args.in_process else [])
    scores, reused = graded_with_reuse(options, fresh=args.fresh)
    print(format_status(scores))
    if reused:
        print(f"\n(grades of {', '.join(reused)} reused: their files have not changed; --fresh grades all again)")
    print("\nrun `pytest exercises/stepNN` for the hints of one step")
    return 0


# --- release -------------------------------------------------------------------------------

def leaked_solution_code(release: Path) -> list[str]:
    """Every solution block of solutions/ that appears in a file of the release."""
    blocks = []
    for module in sorted((REPO / "solutions").glob("step*/*.py")):
        for block in solution_blocks(module.read_text()):
            normalised = "\n".join(line.strip() for line in block.splitlines() if line.strip())
            if normalised:
                blocks.append((f"{module.parent.name}/{module.name}", normalised))
    leaks = []
    for path in release.rglob("*"):
        if not path.is_file() or path.suffix not in {".py", ".md", ".ipynb", ".txt", ".toml", ".cfg"}:
            continue
        text = "\n".join(line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip())
        leaks += [f"{path.relative_to(release)} contains a solution block of {origin}"
                  for origin, block in blocks if block in text]
    return leaks


def cmd_release(args) -> int:
    if not (REPO / "solutions").is_dir():
        raise CommandError("course release needs the instructor copy (solutions/ is missing here)")
    stale = stale_stubs(REPO)
    if stale:
        raise CommandError(f"stubs are out of date ({', '.join(str(p.relative_to(REPO)) for p in stale)}): "
                           "run `course stubs` first")
    out = Path(args.out).resolve()
    protected = [REPO / name for name in [*RELEASE_PATHS, "solutions", "tests"]]
    if out == REPO or out in REPO.parents or any(out == p or p in out.parents for p in protected):
        raise CommandError(f"refusing to write the release over the course itself: {out}")
    if out.exists() and any(out.iterdir()):
        if not args.force:
            raise CommandError(f"{out} is not empty: choose another --out or add --force to replace it")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", "*.egg-info")
    for name in RELEASE_PATHS:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, out / name, ignore=ignore)
        elif source.is_file():
            shutil.copy2(source, out / name)
    # The student README leaves out the instructor-only sections.
    readme = out / "README.md"
    readme.write_text(re.sub(r"<!-- instructor-only -->.*?<!-- /instructor-only -->\n", "", readme.read_text(),
                             flags=re.S))
    # In the student copy a bare `pytest` grades every step.
    pyproject = out / "pyproject.toml"
    pyproject.write_text(re.sub(r'testpaths = \["tests"\]', 'testpaths = ["exercises"]', pyproject.read_text()))
    leaks = leaked_solution_code(out)
    if leaks:
        shutil.rmtree(out)
        raise CommandError("release aborted, solution code would leak: " + "; ".join(leaks))
    files = sum(1 for p in out.rglob("*") if p.is_file())
    print(f"student copy written to {out} ({files} files, no solutions/)")
    return 0


# --- stubs and demo ---------------------------------------------------------------------------

def cmd_stubs(args) -> int:
    if not (REPO / "solutions").is_dir():
        raise CommandError("stubs are generated from solutions/, which this student copy does not have")
    if args.check:
        stale = stale_stubs(REPO)
        for path in stale:
            print(f"stale: {path.relative_to(REPO)}")
        return 1 if stale else 0
    for path in write_stubs(REPO):
        print(f"wrote {path.relative_to(REPO)}")
    return 0


def cmd_demo(args) -> int:
    from course.demo import main as demo_main

    return demo_main()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="course", description="Build a GPT from scratch: grading and release.")
    sub = parser.add_subparsers(dest="command", required=True)
    status = sub.add_parser("status", help="points per step")
    status.add_argument("--solutions", action="store_true", help="grade the reference solutions (instructors)")
    status.add_argument("--in-process", action="store_true", help="run student code inside pytest")
    status.add_argument("--fresh", action="store_true", help="grade every step again, even unchanged ones")
    status.set_defaults(run=cmd_status)
    release = sub.add_parser("release", help="write the student copy (no solutions)")
    release.add_argument("--out", required=True, help="folder to write it to")
    release.add_argument("--force", action="store_true", help="replace a non-empty --out folder")
    release.set_defaults(run=cmd_release)
    stubs = sub.add_parser("stubs", help="regenerate the stubs in exercises/ from solutions/")
    stubs.add_argument("--check", action="store_true", help="only report stale stubs (exit 1 if any)")
    stubs.set_defaults(run=cmd_stubs)
    demo = sub.add_parser("demo", help="run the demo")
    demo.set_defaults(run=cmd_demo)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (CommandError, ValueError, OSError) as err:
        print(f"course {args.command}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
