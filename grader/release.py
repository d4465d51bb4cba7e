"""Write the student copy of a course: everything but the solutions, checked for leaks.

The stubs in ``exercises/`` must be current (generated from ``solutions/``), the README
loses its instructor-only sections, and the copy is refused if any solution block of
``solutions/`` appears anywhere in it.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from grader.status import REPO, CommandError
from grader.stubs import solution_blocks, stale_stubs

# What the student copy holds; everything else (solutions/, tests/, bench/, .ci/) stays behind.
RELEASE_PATHS = ["README.md", "pyproject.toml", "Makefile", ".gitignore", "scripts", "grader", "course", "exercises"]


def leaked_solution_code(release: Path) -> list[str]:
    """Every solution block of solutions/ that appears in a file of the release."""
    blocks = []
    for module in sorted((REPO / "solutions").glob("step*/*.py")):
        for block in solution_blocks(module.read_text()):
            normalised = "\n".join(line.strip() for line in block.splitlines() if line.strip())
            if normalised:
                blocks.append((f"{module.parent.name}/{module.name}", normalised))
    leaks = []
    for path in release.rglob("*"):
        if not path.is_file() or path.suffix not in {".py", ".md", ".ipynb", ".txt", ".toml", ".cfg"}:
            continue
        text = "\n".join(line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip())
        leaks += [f"{path.relative_to(release)} contains a solution block of {origin}"
                  for origin, block in blocks if block in text]
    return leaks


def write_release(out: str | Path, force: bool = False) -> Path:
    """Write the student copy to ``out``; return its resolved path."""
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
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", "*.egg-info")
    for name in RELEASE_PATHS:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, out / name, ignore=ignore)
        elif source.is_file():
            shutil.copy2(source, out / name)
    # The student README leaves out the instructor-only sections.
    readme = out / "README.md"
    readme.write_text(re.sub(r"<!-- instructor-only -->.*?<!-- /instructor-only -->\n", "", readme.read_text(),
                             flags=re.S))
    # In the student copy a bare `pytest` grades every step.
    pyproject = out / "pyproject.toml"
    pyproject.write_text(re.sub(r'testpaths = \["tests"\]', 'testpaths = ["exercises"]', pyproject.read_text()))
    leaks = leaked_solution_code(out)
    if leaks:
        shutil.rmtree(out)
        raise CommandError("release aborted, solution code would leak: " + "; ".join(leaks))
    return out
