"""grader/review.py: what an instructor may want to read in a submission, found without running it."""

from pathlib import Path

import pytest

from grader.review import review_source
from helpers import REPO


def test_the_reference_and_the_stubs_hold_nothing_to_read():
    modules = [p for folder in ("solutions", "exercises") for p in sorted((REPO / folder).glob("step*/*.py"))
               if not p.name.startswith("test_") and p.name != "__init__.py"]
    assert len(modules) > 20
    flagged = {str(p.relative_to(REPO)): review_source(p.read_text()) for p in modules}
    assert not {name: found for name, found in flagged.items() if found}


@pytest.mark.parametrize("source, expected", [
    ("from exercises.step10.test_sampling import reference_top_k\n", "a test file"),
    ("from .test_sampling import reference_top_p\n", "a test file"),
    ("import importlib\nm = importlib.import_module('x')\n", "imports importlib"),
    ("exec(open('suite').read())\n", "calls exec()"),
    ("import torch\ntorch.allclose = lambda *a, **k: True\n", "replaces torch.allclose"),
    ("import torch.nn.functional as F\nsetattr(F, 'softmax', None)\n", "setattr on F"),
    ("text = open('exercises/step10/test_sampling.py').read()\n", "names a suite"),
    ("import os\nos.environ['X'] = '1'\n", "uses os.environ"),
    ("def f():\n    return f.__globals__\n", "reads .__globals__"),
    ("from grader import probes\n", "imports grader"),
    ("import torch\nwith torch._C.DisableTorchFunction():\n    pass\n", "private API"),
    ("from torch.utils._python_dispatch import _get_current_dispatch_mode\n", "a private module"),
])
def test_code_that_reaches_past_its_task_is_listed(source, expected):
    found = review_source(source)
    assert any(expected in finding for finding in found), found


def test_ordinary_code_and_unparsable_code_are_not_listed():
    ordinary = ("import math\nimport os\nimport torch\nimport torch.nn.functional as F\n\n"
                "def save(state, path):\n    torch.save(state, path + '.tmp')\n    os.replace(path + '.tmp', path)\n\n"
                "def scores(q, k):\n    return F.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)\n")
    assert review_source(ordinary) == []
    assert review_source("def broken(:\n") == []
