"""Grade every step and show the points as a table (what ``course status`` prints).

The grades of a step are kept with a fingerprint of every file they depend on, so a
second ``course status`` grades again only the steps whose files changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


class CommandError(Exception):
    """A problem the user can fix; the command line prints it as one line."""


def steps_present() -> list[str]:
    return sorted(p.name for p in (REPO / "exercises").glob("step[0-9][0-9]") if p.is_dir())


def step_title(step: str) -> str:
    """The topic of a step, from the first line of its README ("# Step 05 — attention: ...")."""
    try:
        first = (REPO / "exercises" / step / "README.md").read_text(encoding="utf-8").splitlines()[0]
    except (OSError, IndexError):
        return ""
    topic = first.split("—", 1)[-1].strip()
    return topic.split(":", 1)[0].strip()


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


def graded_with_reuse(options: list[str], fresh: bool, steps: list[str] | None = None) -> tuple[list[dict], list[str]]:
    """Scores of ``steps`` (default: every step), grading again only those whose fingerprint changed."""
    try:
        cache = {} if fresh else json.loads(STATUS_CACHE.read_text())
    except (OSError, ValueError):
        cache = {}
    fingerprints = {step: step_fingerprint(step, options) for step in (steps or steps_present())}
    reused = [step for step, key in fingerprints.items() if cache.get(step, {}).get("key") == key]
    stale = [step for step in fingerprints if step not in reused]
    scores = {step: cache[step]["score"] for step in reused}
    if stale:
        fresh_scores, _ = run_all_suites(options, stale)
        scores.update({score["step"]: score for score in fresh_scores})
    try:
        partial = STATUS_CACHE.with_name(f"{STATUS_CACHE.name}.{os.getpid()}")
        kept = {step: entry for step, entry in cache.items() if step not in fingerprints}  # other steps' grades
        kept.update({step: {"key": fingerprints[step], "score": score} for step, score in scores.items()})
        partial.write_text(json.dumps(kept, indent=1))
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
            rows.append((step, step_title(step), "no tests"))
            continue
        total += score["points"]
        total_max += score["max_points"]
        rows.append((step, step_title(step), f"{score['points']}/{score['max_points']}"))
    rows.append(("total", "", f"{total}/{total_max}"))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:>{widths[2]}}" for a, b, c in rows]
    lines.insert(1, "-" * len(lines[0]))
    lines.insert(len(lines) - 1, "-" * len(lines[0]))
    return "\n".join(lines)
