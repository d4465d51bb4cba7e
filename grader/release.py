"""Write the student copy of a course: everything but the solutions, checked for leaks.

The stubs in ``exercises/`` must be current (generated from ``solutions/``), the README
loses its instructor-only sections, and the copy is refused if any solution block of
``solutions/`` appears anywhere in it.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from grader.notebooks import notebook_secrets, notebook_text, release_notebooks
from grader.status import REPO, CommandError
from grader.stubs import solution_blocks, stale_stubs

# What the student copy holds; everything else (solutions/, tests/, bench/, .ci/) stays behind.
RELEASE_PATHS = ["README.md", "pyproject.toml", "Makefile", ".gitignore", "scripts", "grader", "course", "exercises"]


@dataclass
class NotebookRelease:
    """Where a course keeps its nbgrader source notebooks and where the student versions go.

    ``source`` is an nbgrader ``source/`` folder (``source/<name>/<name>.ipynb``); ``destination``
    and every path of ``instructor_only`` are relative to the course root. The instructor-only
    paths (the source notebooks, whatever they are built from) stay out of the release.
    """
    source: Path
    names: list[str]
    destination: str
    course_id: str
    instructor_only: list[str]


def _normalised(text: str) -> str:
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


def leaked_solution_code(release: Path, notebooks: NotebookRelease | None = None) -> list[str]:
    """Every solution block of solutions/ (and every model answer or hidden test of the source
    notebooks) that appears in a file of the release."""
    blocks = []
    for module in sorted((REPO / "solutions").glob("step*/*.py")):
        for block in solution_blocks(module.read_text()):
            normalised = _normalised(block)
            if normalised:
                blocks.append((f"{module.parent.name}/{module.name}", normalised))
    if notebooks is not None:
        for name in notebooks.names:
            source = notebooks.source / name / f"{name}.ipynb"
            blocks += [(f"the notebook {name}", _normalised(secret)) for secret in notebook_secrets(source)]
    leaks = []
    for path in release.rglob("*"):
        if not path.is_file() or path.suffix not in {".py", ".md", ".ipynb", ".txt", ".toml", ".cfg"}:
            continue
        raw = notebook_text(path) if path.suffix == ".ipynb" else path.read_text(errors="replace")
        text = _normalised(raw)
        leaks += [f"{path.relative_to(release)} contains a solution block of {origin}"
                  for origin, block in blocks if block in text]
    return leaks


def write_release(out: str | Path, force: bool = False, notebooks: NotebookRelease | None = None) -> Path:
    """Write the student copy to ``out``; return its resolved path.

    With ``notebooks``, the source notebooks stay behind and their student versions (made by
    nbgrader) are written to ``notebooks.destination``.
    """
    if not (REPO / "solutions").is_dir():
        raise CommandError("course release needs the instructor copy (solutions/ is missing here)")
    stale = stale_stubs(REPO)
    if stale:
        raise CommandError(f"stubs are out of date ({', '.join(str(p.relative_to(REPO)) for p in stale)}): "
                           "run `course stubs` first")
    out = Path(out).resolve()
    protected = [REPO / name for name in [*RELEASE_PATHS, "solutions", "tests"]]
    if out == REPO or out in REPO.parents or any(out == p or p in out.parents for p in protected):
        raise CommandError(f"refusing to write the release over the course itself: {out}")
    if out.exists() and any(out.iterdir()):
        if not force:
            raise CommandError(f"{out} is not empty: choose another --out or add --force to replace it")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    patterns = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", "*.egg-info", ".ipynb_checkpoints")
    held_back = {(REPO / path).resolve() for path in (notebooks.instructor_only if notebooks else [])}

    def ignore(folder: str, names: list[str]) -> set[str]:
        return set(patterns(folder, names)) | {n for n in names if (Path(folder) / n).resolve() in held_back}

    for name in RELEASE_PATHS:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, out / name, ignore=ignore)
        elif source.is_file():
            shutil.copy2(source, out / name)
    if notebooks is not None:
        try:
            release_notebooks(notebooks.source, notebooks.names, out / notebooks.destination, notebooks.course_id)
        except BaseException:
            shutil.rmtree(out)
            raise
    # The student README leaves out the instructor-only sections.
    readme = out / "README.md"
    readme.write_text(re.sub(r"<!-- instructor-only -->.*?<!-- /instructor-only -->\n", "", readme.read_text(),
                             flags=re.S))
    # In the student copy a bare `pytest` grades every step.
    pyproject = out / "pyproject.toml"
    pyproject.write_text(re.sub(r'testpaths = \["tests"\]', 'testpaths = ["exercises"]', pyproject.read_text()))
    leaks = leaked_solution_code(out, notebooks)
    if leaks:
        shutil.rmtree(out)
        raise CommandError("release aborted, solution code would leak: " + "; ".join(leaks))
    return out
