"""Build the nbgrader source notebooks and the README blocks from ``content/``.

    python -m course.notebooks            # write source/*/*.ipynb and the README blocks
    python -m course.notebooks --check    # exit 1 if any of them is out of date

A content file defines ``NOTEBOOK = Notebook(name, title, cells)`` with the cell kinds below.
Every graded cell gets nbgrader's metadata (schema 3): written answers are manually graded
markdown cells, numeric answers are a solution cell plus a locked test cell whose hidden part
holds the real check.
"""

from __future__ import annotations

import argparse
import importlib
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from course.notebooks import NAMES, SOURCE

REPO = SOURCE.parent.parent.parent
SCHEMA = 3


def _clean(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


@dataclass
class Markdown:
    text: str


@dataclass
class Code:
    """A code cell the student may change and rerun (setup, a helper, a follow-up)."""
    text: str


@dataclass
class Experiment:
    """The step's task: a short title (listed in the README), what to do and look for, and the code."""
    title: str
    text: str
    code: str


@dataclass
class Question:
    """A written question, graded by hand; ``answer`` is the model answer (instructor copy only)."""
    id: str
    points: int
    prompt: str
    answer: str


@dataclass
class Numeric:
    """A question with a number for an answer, graded automatically.

    ``variable`` is the name the student sets; ``solution`` the reference code that sets it;
    ``check`` visible asserts on its form; ``hidden`` the asserts on its value (removed on release).
    """
    id: str
    points: int
    prompt: str
    variable: str
    solution: str
    check: str
    hidden: str


@dataclass
class Graded:
    """A free cell pair for the meta-task: a solution code cell and a locked test cell that
    prints its findings and ends with the points earned (nbgrader's partial credit)."""
    id: str
    points: int
    prompt: str
    solution: str
    test: str


@dataclass
class Drawing:
    """A markdown answer graded by hand, meant for an uploaded picture; ``answer`` is the reference."""
    id: str
    points: int
    prompt: str
    answer: str


@dataclass
class Notebook:
    name: str
    title: str
    cells: list = field(default_factory=list)

    def questions(self) -> list:
        return [c for c in self.cells if isinstance(c, (Question, Numeric, Graded, Drawing))]

    def experiments(self) -> list[Experiment]:
        return [c for c in self.cells if isinstance(c, Experiment)]

    def points(self) -> tuple[int, int]:
        """(points graded by hand, points graded automatically)."""
        manual = sum(c.points for c in self.cells if isinstance(c, (Question, Drawing)))
        auto = sum(c.points for c in self.cells if isinstance(c, (Numeric, Graded)))
        return manual, auto


def _meta(grade_id: str, *, grade: bool, solution: bool, locked: bool, points: int | None = None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": SCHEMA,
            "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def _points(n: int, how: str = "") -> str:
    return f"{n} point{'s' if n != 1 else ''}{how}"


def cells_of(notebook: Notebook) -> list:
    """The nbformat cells of a notebook, with stable ids (the file must not change on a rebuild)."""
    out = []

    def add(cell, cell_id: str):
        cell["id"] = cell_id
        out.append(cell)

    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    experiments = 0
    for index, cell in enumerate(notebook.cells):
        key = f"c{index:02d}"
        if isinstance(cell, Markdown):
            add(md(_clean(cell.text)), key)
        elif isinstance(cell, Code):
            add(code(_clean(cell.text)), key)
        elif isinstance(cell, Experiment):
            experiments += 1
            add(md(f"### Experiment {experiments}: {cell.title}\n\n{_clean(cell.text)}"), key)
            add(code(_clean(cell.code)), key + "-code")
        elif isinstance(cell, (Question, Drawing)):
            add(md(f"**Question ({_points(cell.points)}, graded by hand).** {_clean(cell.prompt)}",
                   metadata=_meta(f"{cell.id}-prompt", grade=False, solution=False, locked=True)), cell.id + "-q")
            add(md(_clean(cell.answer), metadata=_meta(cell.id, grade=True, solution=True, locked=False,
                                                       points=cell.points)), cell.id)
        elif isinstance(cell, Numeric):
            add(md(f"**Question ({_points(cell.points)}, checked automatically).** {_clean(cell.prompt)}\n\n"
                   f"Set `{cell.variable}` in the cell below; the cell after it checks it.",
                   metadata=_meta(f"{cell.id}-prompt", grade=False, solution=False, locked=True)), cell.id + "-q")
            solution = f"# Set {cell.variable} (a formula is fine).\n### BEGIN SOLUTION\n{_clean(cell.solution)}\n" \
                       "### END SOLUTION"
            add(code(solution, metadata=_meta(cell.id, grade=False, solution=True, locked=False)), cell.id)
            test = f"{_clean(cell.check)}\n### BEGIN HIDDEN TESTS\n{_clean(cell.hidden)}\n### END HIDDEN TESTS\n" \
                   f"print(\"{cell.variable}: the form is right (its value is checked when graded)\")"
            add(code(test, metadata=_meta(f"{cell.id}-check", grade=True, solution=False, locked=True,
                                          points=cell.points)), cell.id + "-check")
        elif isinstance(cell, Graded):
            add(md(f"**Question ({_points(cell.points)}, checked automatically).** {_clean(cell.prompt)}",
                   metadata=_meta(f"{cell.id}-prompt", grade=False, solution=False, locked=True)), cell.id + "-q")
            solution = f"### BEGIN SOLUTION\n{_clean(cell.solution)}\n### END SOLUTION"
            add(code(solution, metadata=_meta(cell.id, grade=False, solution=True, locked=False)), cell.id)
            add(code(_clean(cell.test), metadata=_meta(f"{cell.id}-check", grade=True, solution=False, locked=True,
                                                       points=cell.points)), cell.id + "-check")
        else:
            raise TypeError(f"{notebook.name}: unknown cell {cell!r}")
    return out


def content(name: str) -> Notebook:
    module = importlib.import_module(f"course.notebooks.content.{name}")
    notebook = module.NOTEBOOK
    if notebook.name != name:
        raise ValueError(f"content/{name}.py defines the notebook {notebook.name!r}")
    return notebook


def build(notebook: Notebook) -> str:
    nb = nbformat.v4.new_notebook()
    nb.nbformat, nb.nbformat_minor = 4, 5
    nb.cells = cells_of(notebook)
    nb.metadata = {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
                   "language_info": {"name": "python"}}
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"


def source_path(name: str) -> Path:
    return SOURCE / name / f"{name}.ipynb"


# -- The README block of each step ------------------------------------------------------------------

BLOCK = re.compile(r"<!-- notebook -->\n.*?<!-- /notebook -->\n", re.S)


def readme_block(notebook: Notebook) -> str:
    manual, auto = notebook.points()
    lines = ["<!-- notebook -->",
             f"<!-- Generated from course/notebooks/content/{notebook.name}.py by `course notebooks`: edit it there. -->",
             f"**The notebook.** `course/notebooks/{notebook.name}.ipynb` holds this step's experiments, run on "
             f"your own code, and its questions: {manual + auto} points ({manual} written, graded by hand; {auto} "
             f"checked automatically). Open it with `jupyter lab course/notebooks/{notebook.name}.ipynb`.",
             "", "**Experiments.**", ""]
    lines += [f"{n}. {e.title}" for n, e in enumerate(notebook.experiments(), 1)]
    lines += ["", "**Questions.**", ""]
    for q in notebook.questions():
        how = ", automatic" if isinstance(q, (Numeric, Graded)) else ""
        prompt = " ".join(_clean(q.prompt).split())
        lines.append(f"- {prompt} ({_points(q.points, how)})")
    return "\n".join(lines) + "\n<!-- /notebook -->\n"


def readme_with_block(readme: str, notebook: Notebook) -> str:
    if not BLOCK.search(readme):
        raise ValueError(f"the README of {notebook.name} has no <!-- notebook --> block")
    return BLOCK.sub(lambda _: readme_block(notebook), readme, count=1)


def readme_path(name: str) -> Path | None:
    path = REPO / "exercises" / name / "README.md"
    return path if path.is_file() else None


def outputs(names: list[str] | None = None) -> dict[Path, str]:
    """Every file the build writes, with its text."""
    files = {}
    for name in names or NAMES:
        notebook = content(name)
        files[source_path(name)] = build(notebook)
        readme = readme_path(name)
        if readme is not None:
            files[readme] = readme_with_block(readme.read_text(), notebook)
    return files


def stale() -> list[Path]:
    return [path for path, text in outputs().items() if not path.is_file() or path.read_text() != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the course's notebooks and README blocks.")
    parser.add_argument("--check", action="store_true", help="only report files that are out of date")
    parser.add_argument("names", nargs="*", choices=[[], *NAMES], help="only these notebooks (default: all)")
    args = parser.parse_args(argv)
    if args.check:
        out_of_date = stale()
        for path in out_of_date:
            print(f"out of date: {path.relative_to(REPO)}")
        return 1 if out_of_date else 0
    for path, text in outputs(args.names).items():
        if not path.is_file() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path.relative_to(REPO)}")
    return 0

