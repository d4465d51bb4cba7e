"""Notebooks in nbgrader's source format: the student versions, and what must never leak.

A course keeps its notebooks as an nbgrader course directory would (``source/<name>/<name>.ipynb``,
with ``### BEGIN SOLUTION`` regions, manually graded answer cells holding the model answer, and
``### BEGIN HIDDEN TESTS`` regions). ``release_notebooks`` runs nbgrader's own
``generate_assignment`` on each of them in a scratch course directory and copies the student
versions out; ``notebook_secrets`` lists the text a release must not contain.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from grader.status import CommandError

BEGIN, END = "BEGIN SOLUTION", "END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"


def _regions(source: str, begin: str, end: str) -> list[str]:
    pattern = re.compile(rf"^[^\n]*{begin}[^\n]*\n(.*?)^[^\n]*{end}", re.S | re.M)
    return [match.group(1) for match in pattern.finditer(source)]


def notebook_secrets(path: Path) -> list[str]:
    """The solution code, model answers and hidden tests of one source notebook."""
    secrets = []
    for cell in json.loads(path.read_text())["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution"):
            regions = _regions(source, BEGIN, END)
            secrets += regions if regions else [source]
        secrets += _regions(source, BEGIN_HIDDEN, END_HIDDEN)
    return [secret for secret in secrets if secret.strip()]


def notebook_text(path: Path) -> str:
    """The cells of a notebook, one after the other, as the text a reader sees."""
    cells = json.loads(path.read_text()).get("cells", [])
    return "\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in cells)


def release_notebooks(source: Path, names: list[str], destination: Path, course_id: str) -> list[Path]:
    """Write the student version of each ``source/<name>/<name>.ipynb`` to ``destination/<name>.ipynb``.

    nbgrader's ``generate_assignment`` does the work (solutions replaced by stubs, hidden tests
    removed, cells locked and checksummed), in a scratch course directory so that the instructor's
    own gradebook is never touched.
    """
    try:
        from nbgrader.apps import NbGraderAPI
        from traitlets.config import Config
    except ImportError:
        raise CommandError("releasing the notebooks needs nbgrader: run `make setup`") from None
    destination.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        for name in names:
            notebook = source / name / f"{name}.ipynb"
            if not notebook.is_file():
                raise CommandError(f"{notebook} is missing: build the notebooks first (course notebooks)")
            shutil.copytree(source / name, root / "source" / name)
        config = Config()
        config.CourseDirectory.root = str(root)
        config.CourseDirectory.course_id = course_id
        api = NbGraderAPI(config=config)
        # nbgrader's gradebook runs `alembic` from the PATH: make it this Python's, activated or not.
        path = os.environ.get("PATH", "")
        os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{path}"
        try:
            for name in names:
                result = api.generate_assignment(name, force=True, create=True)
                if not result["success"]:
                    raise CommandError(f"nbgrader generate_assignment {name} failed:\n"
                                       f"{result.get('error') or result.get('log')}")
                target = destination / f"{name}.ipynb"
                shutil.copy2(root / "release" / name / f"{name}.ipynb", target)
                written.append(target)
        finally:
            os.environ["PATH"] = path
    return written
