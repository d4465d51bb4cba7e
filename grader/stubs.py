"""Generate the student stubs from the reference solutions: one source of truth.

Every reference module in ``solutions/stepNN/`` marks the code a student writes::

    def bigram_counts(ids, vocab_size):
        \"\"\"...the task...\"\"\"
        ### BEGIN SOLUTION
        counts = ...
        return counts
        ### END SOLUTION

The stub in ``exercises/stepNN/`` is the same file with each marked block replaced by
``raise NotImplementedError`` at the block's indentation. A block at the top level of a
module (a solution-only import or helper) is dropped. Everything else (module prose,
signatures, docstrings, given helpers) is copied as is, so stub and solution cannot drift.
"""

from __future__ import annotations

from pathlib import Path

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
STUB_BODY = 'raise NotImplementedError("not implemented yet")'


class MarkerError(ValueError):
    pass


def stub_source(source: str, name: str = "<source>") -> str:
    """Return ``source`` with every solution block replaced by a NotImplementedError stub."""
    out: list[str] = []
    inside_since: int | None = None
    dropped_block = False  # a top-level block was just dropped: avoid a doubled blank line
    for number, line in enumerate(source.splitlines(keepends=True), start=1):
        marker = line.strip()
        if marker == BEGIN:
            if inside_since is not None:
                raise MarkerError(f"{name}:{number}: {BEGIN} inside the block opened at line {inside_since}")
            inside_since = number
            indent = line[: len(line) - len(line.lstrip())]
            if indent:
                out.append(f"{indent}{STUB_BODY}\n")
        elif marker == END:
            if inside_since is None:
                raise MarkerError(f"{name}:{number}: {END} without a {BEGIN}")
            inside_since = None
            dropped_block = not line[0].isspace()
        elif inside_since is None:
            if not (dropped_block and not marker and out and not out[-1].strip()):
                out.append(line)
            dropped_block = False
    if inside_since is not None:
        raise MarkerError(f"{name}:{inside_since}: {BEGIN} is never closed")
    return "".join(out)


def solution_blocks(source: str) -> list[str]:
    """The text of every solution block in ``source`` (used to check a release leaks none)."""
    blocks, current = [], None
    for line in source.splitlines():
        if line.strip() == BEGIN:
            current = []
        elif line.strip() == END:
            blocks.append("\n".join(current))
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def stub_pairs(repo: Path) -> list[tuple[Path, Path]]:
    """(solution module, stub module) for every module of every step.

    A module without solution blocks (a given helper, a package's __init__) is copied as is.
    """
    return [(solution, repo / "exercises" / solution.parent.name / solution.name)
            for solution in sorted((repo / "solutions").glob("step*/*.py"))]


def write_stubs(repo: Path) -> list[Path]:
    """Regenerate every stub; return the ones whose content changed."""
    changed = []
    for solution, stub in stub_pairs(repo):
        text = stub_source(solution.read_text(), str(solution))
        if not stub.exists() or stub.read_text() != text:
            stub.parent.mkdir(parents=True, exist_ok=True)
            stub.write_text(text)
            changed.append(stub)
    return changed


def stale_stubs(repo: Path) -> list[Path]:
    """The committed stubs that differ from what the solutions generate."""
    return [stub for solution, stub in stub_pairs(repo)
            if not stub.exists() or stub.read_text() != stub_source(solution.read_text(), str(solution))]
