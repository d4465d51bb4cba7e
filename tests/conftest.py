import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(1, str(Path(__file__).parent.parent))

# pytest keeps the test modules it rewrites (for its assert messages) only where Python may write
# bytecode. Some container images set PYTHONDONTWRITEBYTECODE: every suite run then rewrote and
# compiled some 40 modules again, 0.5 s of each of the ~600 suite runs here. This process and
# everything it starts (test workers, suite runs, `course` commands) may write it.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False


@pytest.hookimpl(trylast=True)  # after pytest-xdist has tagged each grouped test with its group
def pytest_collection_modifyitems(config, items):
    # `make test` runs `--dist loadgroup`: the tests of one xdist_group share an expensive set-up
    # (the graded batch, the release, the trained tiny run) and must run in one process. If xdist
    # could not tag them (pytest 9.2 broke that once), they would silently run it twice.
    if getattr(config.option, "loadgroup", False):
        # xdist's own reading of a tag: an "@" after any parametrize brackets
        untagged = [item.nodeid for item in items if item.get_closest_marker("xdist_group")
                    and item.nodeid.rfind("@") <= item.nodeid.rfind("]")]
        if untagged:
            message = (f"pytest-xdist did not group {untagged[0]} (and {len(untagged) - 1} more): this pytest "
                       "and pytest-xdist do not work together; see pyproject.toml")
            print(f"tests/conftest.py: {message}", file=sys.stderr)  # xdist shows a worker's stderr, not its error
            raise pytest.UsageError(message)
