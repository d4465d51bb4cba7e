"""The numbers the suites compare against are what the reference produces today."""

import json

from course import snapshots


def test_committed_snapshots_are_current():
    for path, make in snapshots.SNAPSHOTS.items():
        assert path.exists(), f"{path} is missing: run `python -m course.snapshots`"
        committed, current = json.loads(path.read_text()), make()
        assert committed.keys() == current.keys()
        assert committed["settings"] == current["settings"] and committed["idx"] == current["idx"], \
            f"{path.name} was made from other inputs: run `python -m course.snapshots`"
        flat = lambda nested: [x for batch in nested for row in batch for x in row]  # noqa: E731
        worst = max(abs(a - b) for a, b in zip(flat(committed["logits"]), flat(current["logits"])))
        assert worst < 1e-5, f"{path.name} is stale (logits moved by up to {worst:.3g}): " \
                             "run `python -m course.snapshots`"


def test_a_stale_snapshot_is_caught(monkeypatch):
    """The check above can fail: a reference whose logits moved makes it fail."""
    import torch

    path, make = next(iter(snapshots.SNAPSHOTS.items()))
    current = make()
    moved = dict(current, logits=(torch.tensor(current["logits"]) + 1e-3).tolist())
    monkeypatch.setitem(snapshots.SNAPSHOTS, path, lambda: moved)
    try:
        test_committed_snapshots_are_current()
    except AssertionError as error:
        assert "stale" in str(error)
    else:
        raise AssertionError("a snapshot that moved by 1e-3 was accepted")
