"""Under bubblewrap, student code can write to the host's disk in one place only: the tests'
scratch folder (checkpoints go both ways there). What it may leave there is capped in total,
measured while it runs: past the cap the worker is stopped, its files are removed and the
call fails with a message that says so; the next worker starts clean and is not blamed.
"""

from __future__ import annotations

import pytest
import torch

from grader.isolation import Isolation, Limits, unavailable_reason
from grader.seam import Sandbox, WorkerCrashed
from helpers import copy_solutions

pytestmark = pytest.mark.skipif(unavailable_reason() is not None,
                                reason=f"bubblewrap cannot run here: {unavailable_reason()}")

WRITES_FOREVER = '''

def fill(folder, size):
    import os
    number = 0
    while True:  # a new name each time: no single file passes the per-file cap
        with open(os.path.join(folder, f"part{number}"), "wb") as file:
            file.write(b"x" * size)
        number += 1
'''


@pytest.mark.parametrize("size, limit", [(1 << 20, "more than 8 MB"), (0, "more than 500 files")])
def test_a_worker_that_keeps_writing_is_stopped_and_its_files_removed(tmp_path, size, limit):
    root = copy_solutions(tmp_path)
    (root / "step00" / "bigram.py").write_text((root / "step00" / "bigram.py").read_text() + WRITES_FOREVER)
    shared = tmp_path / "shared"
    (shared / "tmp" / "test_kept0").mkdir(parents=True)  # as pytest's tmp_path folders are made
    isolation = Isolation(readable=[root], writable=[shared], limits=Limits(writable_mb=8, writable_files=500))
    seam = Sandbox(root, timeout_s=60.0, isolation=isolation)
    try:
        with pytest.raises(WorkerCrashed, match=f"wrote {limit} into the tests' scratch folder") as caught:
            seam.module("step00", "bigram").fill(str(shared / "tmp" / "test_kept0"), size)
        assert "its files removed" in str(caught.value)
        assert [p.name for p in (shared / "tmp").iterdir()] == [], "the files written are still there"
        assert (shared / "tmp").is_dir(), "the tests' base folder, which pytest goes on using, was removed"
        # The next worker starts, and the same module works as before.
        counts = seam.module("step00", "bigram").bigram_counts(torch.tensor([0, 1, 1]), 2)
        assert counts.tolist() == [[0, 1], [0, 1]]
    finally:
        seam.stop()


def test_files_within_the_limits_stay(tmp_path):
    root = copy_solutions(tmp_path)
    shared = tmp_path / "shared"
    (shared / "tmp").mkdir(parents=True)
    (shared / "tmp" / "checkpoint.pt").write_bytes(b"x" * (2 << 20))
    isolation = Isolation(readable=[root], writable=[shared], limits=Limits(writable_mb=8, writable_files=500))
    assert isolation.writable_excess() is None
    (shared / "tmp" / "second.pt").write_bytes(b"x" * (7 << 20))
    assert isolation.writable_excess() == "more than 8 MB"
