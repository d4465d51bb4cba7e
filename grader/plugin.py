"""The pytest plugin that turns a step's test suite into a grade.

It adds the options (``--solutions``, ``--in-process``, ``--score-json``, ...), the
``student``, ``seed`` and ``generator`` fixtures, and the grade: points per passing test,
a hint per failing one, the line ``stepNN: P/M points`` just before pytest's summary line,
and the JSON file that batch grading reads.
"""

from __future__ import annotations

import dataclasses
import json
import re
import zlib
from pathlib import Path

import pytest

from grader.seam import InProcess, ModuleDoesNotImport, Sandbox, StudentCode, StudentError, describe_not_implemented

STEP_DIR = re.compile(r"^step\d\d$")


@dataclasses.dataclass
class TestRecord:
    step: str
    name: str
    max_points: int
    hint: str
    passed: bool = False
    shown_hint: str | None = None


@dataclasses.dataclass
class GradingState:
    root: Path
    backend: object
    call_timeout: float
    grading_seed: int
    records: dict[str, TestRecord] = dataclasses.field(default_factory=dict)

    def steps(self) -> list[str]:
        return sorted({r.step for r in self.records.values()})

    def score(self, step: str) -> dict:
        tests = [r for r in self.records.values() if r.step == step]
        return {
            "step": step,
            "points": sum(r.max_points for r in tests if r.passed),
            "max_points": sum(r.max_points for r in tests),
            "tests": [
                {"name": r.name, "points": r.max_points if r.passed else 0, "max_points": r.max_points,
                 "passed": r.passed, "hint": None if r.passed else (r.shown_hint or r.hint)}
                for r in tests
            ],
        }


STATE = pytest.StashKey[GradingState]()


def pytest_addoption(parser):
    group = parser.getgroup("grader", "course grading")
    group.addoption("--solutions", action="store_true",
                    help="grade the hidden reference solutions instead of exercises/ (instructors)")
    group.addoption("--student-root", metavar="DIR",
                    help="grade the stepNN packages in DIR (a folder like exercises/)")
    group.addoption("--in-process", action="store_true",
                    help="run your code inside pytest instead of a worker process (breakpoint() works)")
    group.addoption("--score-json", metavar="FILE", help="write the points per test to FILE as JSON")
    group.addoption("--grading-seed", type=int, default=0, metavar="N",
                    help="seed from which every test input is generated (default 0)")
    group.addoption("--call-timeout", type=float, default=10.0, metavar="S",
                    help="seconds one call into student code may take (default 10)")
    group.addoption("--worker-memory-mb", type=int, default=6144, metavar="MB",
                    help="address-space limit of the worker process (default 6144)")


def _graded_root(config) -> Path:
    here = config.rootpath
    if config.getoption("student_root"):
        root = Path(config.getoption("student_root")).resolve()
        if not (root / "__init__.py").is_file():
            raise pytest.UsageError(f"--student-root {root} is not a package folder like exercises/ "
                                    "(it needs an __init__.py and stepNN/ folders)")
        return root
    if config.getoption("solutions"):
        root = here / "solutions"
        if not root.is_dir():
            raise pytest.UsageError("--solutions grades the hidden reference solutions, "
                                    "which are not part of the student copy of the course")
        return root
    return here / "exercises"


def pytest_configure(config):
    config.addinivalue_line("markers", "points(value, hint, timeout=None): points a graded test is worth")
    root = _graded_root(config)
    if config.getoption("in_process"):
        backend = InProcess(root)
    else:
        backend = Sandbox(root, memory_mb=config.getoption("worker_memory_mb"),
                          timeout_s=config.getoption("call_timeout"))
    config.stash[STATE] = GradingState(root, backend, config.getoption("call_timeout"),
                                       config.getoption("grading_seed"))


def pytest_sessionstart(session):
    # Start the worker now when the command names graded steps, so that it imports torch
    # while pytest collects; otherwise it starts once graded tests are collected.
    backend = session.config.stash[STATE].backend
    if not isinstance(backend, Sandbox):
        return
    for arg in session.config.args:
        path = Path(arg.split("::")[0]).resolve()
        if step_of(path) or path.name == "exercises":
            backend.start()
            return


def pytest_unconfigure(config):
    state = config.stash.get(STATE, None)
    if state is not None:
        state.backend.stop()


def step_of(path: Path) -> str | None:
    for parent in [path, *path.parents]:
        if STEP_DIR.match(parent.name):
            return parent.name
    return None


def pytest_collection_finish(session):
    # Runs after -k and friends have deselected tests: only what will run is graded.
    state = session.config.stash[STATE]
    for item in session.items:
        step = step_of(Path(item.path))
        if step is None:
            continue
        marker = item.get_closest_marker("points")
        if marker is None:
            raise pytest.UsageError(f"{item.nodeid} has no @points(...) marker: every graded test "
                                    "must say what it is worth and give a hint")
        name = item.nodeid.split(f"{step}/", 1)[-1]
        state.records[item.nodeid] = TestRecord(step, name, marker.args[0], marker.kwargs["hint"])
    if state.records:
        state.backend.start()  # a worker imports torch while the first tests are set up


@pytest.fixture
def student(request) -> StudentCode:
    """The code under test: ``student.<module>`` is ``stepNN/<module>.py`` of this step."""
    state = request.config.stash[STATE]
    step = step_of(Path(request.node.path))
    if step is None:
        raise pytest.UsageError("the `student` fixture is only for tests inside a stepNN/ folder")
    marker = request.node.get_closest_marker("points")
    timeout = marker.kwargs.get("timeout") if marker else None
    state.backend.timeout_s = timeout or state.call_timeout
    yield StudentCode(state.backend, step)
    state.backend.reset()


@pytest.fixture
def seed(request) -> int:
    """A seed for this test's inputs: fixed by default, changed by ``--grading-seed N``."""
    grading_seed = request.config.stash[STATE].grading_seed
    return zlib.crc32(f"{grading_seed}:{request.node.name}".encode()) % (2**31)


@pytest.fixture
def generator(seed):
    """A ``torch.Generator`` seeded with this test's seed."""
    import torch

    return torch.Generator().manual_seed(seed)


def _student_frames_text(exc: StudentError) -> str:
    tb = exc.info.get("traceback")
    return f"\n{tb.rstrip()}" if tb else ""


def _test_line(item, excinfo) -> str:
    for entry in reversed(excinfo.traceback):
        if Path(entry.path) == Path(item.path):
            return f"\n  (in {Path(item.path).name}:{entry.lineno + 1}: {str(entry.statement).strip()})"
    return ""


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    state = item.config.stash[STATE]
    record = state.records.get(item.nodeid)
    if record is None:
        return report
    if report.when == "call" and report.passed:
        record.passed = True
    elif report.failed:
        record.passed = False
        exc = call.excinfo.value if call.excinfo else None
        hint = getattr(exc, "__grader_hint__", None) or record.hint
        not_implemented = describe_not_implemented(exc, state.root) if exc is not None else None
        if not_implemented:
            record.shown_hint = not_implemented
            report.longrepr = f"{not_implemented}{_test_line(item, call.excinfo)}"
            return report
        if isinstance(exc, ModuleDoesNotImport):
            hint = "fix this first: no test of this module can pass until the module imports"
        record.shown_hint = hint
        if isinstance(exc, StudentError):
            report.longrepr = f"{exc}{_student_frames_text(exc)}{_test_line(item, call.excinfo)}\n\nhint: {hint}"
        else:
            report.sections.append(("hint", hint))
    return report


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter, exitstatus, config):
    # Being the outermost wrapper, this prints after pytest's short summary and right
    # before its final "N passed" line.
    result = yield
    state = config.stash[STATE]
    if state.records:
        terminalreporter.write_sep("-", "grade")
        for record in state.records.values():
            if not record.passed:
                terminalreporter.write_line(f"  0/{record.max_points}  {record.step}/{record.name}")
                terminalreporter.write_line(f"        hint: {record.shown_hint or record.hint}")
        for step in state.steps():
            score = state.score(step)
            terminalreporter.write_line(f"{step}: {score['points']}/{score['max_points']} points", bold=True)
    return result


def pytest_sessionfinish(session, exitstatus):
    state = session.config.stash.get(STATE, None)
    path = session.config.getoption("score_json", None)
    if state is None or not path:
        return
    scores = [state.score(step) for step in state.steps()]
    document = scores[0] if len(scores) == 1 else {"steps": scores}
    Path(path).write_text(json.dumps(document, indent=2) + "\n")
