"""Gradescope: an autograder bundle, and the runner that grades one submission inside it.

Gradescope runs every submission in a fresh container: ``setup.sh`` installs the course once
per image, then ``run_autograder`` grades ``/autograder/submission`` and writes
``/autograder/results/results.json``. The bundle holds the grading framework and the
canonical suites (``exercises/``, stubs included), never the solutions.

Inside the container the grading is the same as ``course grade`` for one student: only the
step modules are taken from the submission, the suites are the bundle's, the score comes
from the trusted pytest process. The worker is isolated with bubblewrap when the container
allows it; otherwise the container itself is the isolation (one submission per container).

    python -m grader.gradescope RESULTS_JSON         # run by run_autograder
"""

from __future__ import annotations

import json
import os
import sys
import zipfile
from pathlib import Path

from grader.batch import Options, Result, grade_with_retry
from grader.isolation import unavailable_reason

ROOT = Path(os.environ.get("AUTOGRADER_ROOT", "/autograder"))

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope calls this once per submission. AUTOGRADER_ROOT and PYTHON can be set to run it
# outside Gradescope (the course's tests do, on a fake /autograder tree).
set -uo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PY="${PYTHON:-python3}"
mkdir -p "$ROOT/results"
cd "$ROOT/source"
PYTHONPATH="$ROOT/source" AUTOGRADER_ROOT="$ROOT" "$PY" -m grader.gradescope "$ROOT/results/results.json"
"""

SETUP = """#!/usr/bin/env bash
# Gradescope runs this once, when it builds the autograder image (Ubuntu, as root).
set -euo pipefail
apt-get update
apt-get install -y python3 python3-pip python3-venv bubblewrap
python3 -m pip install --upgrade pip
# The CPU build of torch: the default wheel would pull several GB of CUDA libraries.
python3 -m pip install "torch>=2.4,<=2.14.1" --index-url https://download.pytorch.org/whl/cpu
python3 -m pip install {requirements}
"""


def build_bundle(out: Path, files: dict[str, Path], steps: list[str], seed: int, requirements: list[str]) -> Path:
    """Write the autograder zip: ``files`` (name in the bundle -> file here), the settings and the scripts.

    Gradescope unpacks the zip into /autograder/source and runs its setup.sh and run_autograder.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    settings = {"steps": steps, "seed": seed}
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bundle:
        for script, text in (("setup.sh", SETUP.format(requirements=" ".join(f'"{r}"' for r in requirements))),
                             ("run_autograder", RUN_AUTOGRADER)):
            info = zipfile.ZipInfo(script)
            info.external_attr = 0o755 << 16  # executable: Gradescope runs them directly
            bundle.writestr(info, text)
        for name, path in sorted(files.items()):
            bundle.write(path, name)
        bundle.writestr("autograder.json", json.dumps(settings, indent=1) + "\n")
    return out


def results_document(result: Result) -> dict:
    """Gradescope's results.json for one graded submission."""
    tests = []
    for step, score in sorted(result.steps.items()):
        for test in score["tests"]:
            tests.append({"name": f"{step}: {test['name']}", "score": test["points"], "max_score": test["max_points"],
                          "output": "" if test.get("passed") else
                          f"hint: {test.get('hint') or 'failed'}" + (f"\n{test['error']}" if test.get("error") else ""),
                          "visibility": "visible"})
    lines = [f"{step}: {score['points']:g}/{score['max_points']:g} points" for step, score in sorted(result.steps.items())]
    if result.status != "graded":
        lines.insert(0, result.status)
    lines += [f"note: {note}" for note in result.notes]
    return {"score": result.points if result.status == "graded" else 0.0, "execution_time": round(result.seconds),
            "output": "\n".join(lines), "tests": tests, "stdout_visibility": "hidden"}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    results_path = Path(argv[0]) if argv else ROOT / "results" / "results.json"
    source = ROOT / "source"  # the bundle, unpacked by Gradescope
    settings = json.loads((source / "autograder.json").read_text())
    options = Options(suites=source / "exercises", steps=settings["steps"], seed=settings["seed"], jobs=1,
                      isolate=unavailable_reason() is None)
    try:
        result = grade_with_retry("submission", ROOT / "submission", options)
    except Exception as error:  # whatever happens, Gradescope gets a results.json that says so
        result = Result("submission", f"grading failed: {type(error).__name__}: {error}", options.seed)
    if not options.isolate:
        result.notes.append("graded without bubblewrap: the container is the isolation")
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps(results_document(result), indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
