"""What an instructor may want to read in a submission: code that reaches past its own task.

The grading itself does not depend on this. A submission that imports the suite's reference
functions, patches torch or pytest, or inspects the running grader can pass tests without
doing the work (the suites live in the student's copy, and the worker must read them to run
their probes). Such code is rare in honest work and plain to see in the source, so
``course grade`` lists it in the summary for a person to judge, and changes no score.

The check reads the source with ``ast``; nothing is imported or run. It finds the plain forms
only: code written to hide from it can. It is a reason to look, not a verdict.
"""

from __future__ import annotations

import ast

# Modules a step's own code never needs: the grading machinery, the suites, the reference.
SUSPECT_MODULES = {"grader", "solutions", "pytest", "_pytest", "conftest", "inspect", "gc", "ctypes", "builtins",
                   "importlib", "sys", "traceback", "subprocess", "socket", "multiprocessing", "signal", "threading",
                   "ptrace", "resource"}
# What of ``os`` only a program that reaches past its task uses (a checkpoint's os.replace is ordinary).
SUSPECT_OS = {"fork", "kill", "killpg", "_exit", "system", "popen", "execv", "execvp", "execve", "environ", "setsid",
              "getppid", "spawnv", "posix_spawn"}
SUSPECT_CALLS = {"exec", "eval", "compile", "__import__", "globals", "breakpoint"}
# Libraries whose functions a submission has no reason to replace (torch.equal = ..., F.softmax = ...).
PATCHED_LIBRARIES = {"torch", "F", "nn", "np", "numpy", "math", "random"}


def review_source(source: str) -> list[str]:
    """Short descriptions of what in ``source`` reaches past a step's task (empty for ordinary code)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []  # the suite reports a module that does not parse
    found: dict[str, None] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                _check_module(alias.name, found)
        elif isinstance(node, ast.ImportFrom):
            if node.module:
                _check_module(node.module, found)
            else:
                for alias in node.names:  # from . import test_bigram
                    _check_module(alias.name, found)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in SUSPECT_CALLS:
            found[f"calls {node.func.id}()"] = None
        elif isinstance(node, (ast.Assign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Attribute) and _root_name(target) in PATCHED_LIBRARIES:
                    found[f"replaces {ast.unparse(target)}"] = None
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setattr" \
                and node.args and _root_name(node.args[0]) in PATCHED_LIBRARIES:
            found[f"calls setattr on {ast.unparse(node.args[0])}"] = None
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _names_a_suite(node.value):
            found[f"names a suite or the reference: {node.value[:60]!r}"] = None
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__") \
                and _root_name(node) in ("torch", "F", "nn"):
            found[f"uses torch's private API ({ast.unparse(node)})"] = None
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os" \
                and node.attr in SUSPECT_OS:
            found[f"uses os.{node.attr}"] = None
        elif isinstance(node, ast.Attribute) and node.attr in ("__globals__", "__code__", "f_back", "f_globals",
                                                                 "f_locals", "__subclasses__"):
            found[f"reads .{node.attr}"] = None
    return list(found)


def _check_module(name: str, found: dict[str, None]) -> None:
    parts = name.split(".")
    if any(part.startswith("test_") or part == "conftest" for part in parts):
        found[f"imports {name} (a test file: the suite's own code)"] = None
    elif parts[0] in SUSPECT_MODULES:
        found[f"imports {name}"] = None
    elif name != "__future__" and any(part.startswith("_") for part in parts):
        found[f"imports {name} (a private module)"] = None


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _names_a_suite(text: str) -> bool:
    lowered = text.lower()
    return ("test_" in lowered and ".py" in lowered) or "solutions/" in lowered or "conftest" in lowered
