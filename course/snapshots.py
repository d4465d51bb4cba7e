"""Regenerate the numbers that grading suites compare against: ``python -m course.snapshots``.

Some suites check a whole model at once by loading fixed weights into the student's model
and comparing its output with numbers the reference produced on the same weights (numbers,
not code, so the suite does not give the model away). The weights and inputs come from the
suite's own ``snapshot_case(seed)``; this command runs the reference on them and writes the
snapshot next to the suite. ``tests/test_snapshots.py`` fails when a snapshot is stale.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent


def suite_module(step: str, name: str):
    """Import exercises/<step>/<name>.py as a plain module (it is a test file, not a package member)."""
    path = REPO / "exercises" / step / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_suite_{step}_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def gpt_snapshot() -> dict:
    """The step 08 snapshot: the reference GPT's logits on the suite's seeded weights and ids."""
    from solutions.step08 import gpt

    suite = suite_module("step08", "test_gpt")
    settings, weights, idx = suite.snapshot_case(suite.SNAPSHOT_SEED)
    logits = suite.reference_logits(gpt, settings, weights, idx)
    return {"about": "logits of the reference GPT on test_gpt.snapshot_case(SNAPSHOT_SEED); "
                     "regenerate with `python -m course.snapshots`",
            "seed": suite.SNAPSHOT_SEED, "settings": settings, "idx": idx.tolist(),
            "logits": [[[round(value, 6) for value in row] for row in batch] for batch in logits.tolist()]}


SNAPSHOTS = {REPO / "exercises" / "step08" / "snapshots" / "gpt_logits.json": gpt_snapshot}


def render(snapshot: dict) -> str:
    """JSON with one innermost list (one position's logits) per line: readable, and diffs show what moved."""
    def compact(value, depth):
        if not isinstance(value, list) or not value or not isinstance(value[0], list):
            return json.dumps(value)
        inner = ",\n".join(" " * (depth + 1) + compact(item, depth + 1) for item in value)
        return "[\n" + inner + "\n" + " " * depth + "]"
    body = ",\n".join(f" {json.dumps(key)}: {compact(value, 1)}" for key, value in snapshot.items())
    return "{\n" + body + "\n}\n"


def main() -> int:
    torch.set_num_threads(1)  # the same float rounding on every machine the snapshot is made on
    for path, make in SNAPSHOTS.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        text = render(make())
        changed = not path.exists() or path.read_text() != text
        path.write_text(text)
        print(f"{'wrote' if changed else 'unchanged'} {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
