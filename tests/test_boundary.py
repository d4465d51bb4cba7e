"""grader/ is the reusable grading framework; course/ is this course built on top of it.

The dependency goes one way: course/ may import grader/, grader/ never imports course/, so
the framework can grade another course without carrying this one's commands and corpora.
"""

import ast

from helpers import REPO


def imported_modules(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def test_grader_never_imports_course():
    offending = [f"{path.relative_to(REPO)} imports {name}"
                 for path in sorted((REPO / "grader").rglob("*.py"))
                 for name in imported_modules(path) if name == "course" or name.startswith("course.")]
    assert not offending, offending


def test_the_course_command_lives_in_course():
    pyproject = (REPO / "pyproject.toml").read_text()
    assert 'course = "course.cli:main"' in pyproject
    assert not (REPO / "grader" / "cli.py").exists()
