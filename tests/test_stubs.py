"""Stubs and solutions never drift: stubs are generated, current, and expose the same API."""

import ast
import importlib
import inspect

import pytest

from grader.stubs import MarkerError, stale_stubs, stub_pairs, stub_source
from helpers import REPO, STEPS


def test_committed_stubs_are_current():
    stale = stale_stubs(REPO)
    assert not stale, f"run `course stubs`: {[str(p.relative_to(REPO)) for p in stale]}"


def test_every_step_has_stubs_and_a_suite():
    for step in STEPS:
        assert list((REPO / "exercises" / step).glob("test_*.py")), f"{step} has no grading suite"
        assert (REPO / "exercises" / step / "README.md").is_file(), f"{step} has no README"
    assert {p.name for p in (REPO / "exercises").glob("step*")} == set(STEPS)


def test_stub_generation_replaces_blocks_at_their_indentation():
    source = (
        "import os\n"
        "### BEGIN SOLUTION\n"
        "import secret\n"
        "### END SOLUTION\n"
        "def f(x):\n"
        "    \"\"\"Doc.\"\"\"\n"
        "    check(x)\n"
        "    ### BEGIN SOLUTION\n"
        "    return x + 1\n"
        "    ### END SOLUTION\n"
    )
    assert stub_source(source) == (
        "import os\n"
        "def f(x):\n"
        "    \"\"\"Doc.\"\"\"\n"
        "    check(x)\n"
        "    raise NotImplementedError(\"not implemented yet\")\n"
    )


@pytest.mark.parametrize("broken", [
    "### BEGIN SOLUTION\nx\n",
    "x\n### END SOLUTION\n",
    "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n",
])
def test_unbalanced_markers_are_an_error(broken):
    with pytest.raises(MarkerError):
        stub_source(broken, "m.py")


def public_api(module) -> dict:
    """name -> (signature, docstring) for every public function, class and method."""
    api = {}
    for name, obj in vars(module).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(obj):
            api[name] = (str(inspect.signature(obj)), inspect.getdoc(obj))
        elif inspect.isclass(obj):
            api[name] = ("class", inspect.getdoc(obj))
            for attr, member in vars(obj).items():
                if attr.startswith("_") and attr != "__init__":
                    continue
                target = member.fget if isinstance(member, property) else member
                if inspect.isfunction(target):
                    api[f"{name}.{attr}"] = (str(inspect.signature(target)), inspect.getdoc(target))
    return api


@pytest.mark.parametrize("solution,stub", stub_pairs(REPO), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_stub_and_solution_share_signatures_and_docstrings(solution, stub):
    if solution.name == "__init__.py":
        return
    name = f"{solution.parent.name}.{solution.stem}"
    solution_api = public_api(importlib.import_module(f"solutions.{name}"))
    stub_api = public_api(importlib.import_module(f"exercises.{name}"))
    assert solution_api, f"{name} exposes nothing"
    assert stub_api == solution_api


@pytest.mark.parametrize("solution,stub", stub_pairs(REPO), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_public_function_has_a_docstring(solution, stub):
    tree = ast.parse(stub.read_text())
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
            assert ast.get_docstring(node), f"{stub.name}: {node.name} has no docstring"
