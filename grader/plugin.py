"""The pytest plugin that turns a step's test suite into a grade.

It adds the options (``--solutions``, ``--in-process``, ``--score-json``, ...), the
``student``, ``seed`` and ``generator`` fixtures, and the grade: points per passing test,
a hint per failing one, the line ``stepNN: P/M points`` just before pytest's summary line,
and the JSON file that batch grading reads.

Each graded test's outcome travels on its report (``user_properties``), so the grade is
the same whether pytest runs the tests itself or spreads them over pytest-xdist workers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import sys
import tempfile
import zlib
from pathlib import Path

import pytest

from grader.seam import (GraderFault, InProcess, ModuleDoesNotImport, Sandbox, StudentCode, StudentError,
                         StudentTimeout, TimeLimitExceeded, can_fork, describe_not_implemented, seed_generators)

STEP_DIR = re.compile(r"^step\d\d$")
PROPERTY = "grader"  # the name of the user property that carries a test's grading outcome


@dataclasses.dataclass
class TestRecord:
    step: str
    name: str
    max_points: int
    hint: str
    builds_on: dict[str, str] = dataclasses.field(default_factory=dict)
    passed: bool = False
    ran: bool = False  # set once its report is in: a test that has not run yet has not failed either
    shown_hint: str | None = None
    import_error: str | None = None  # the module this test needs does not import
    earlier_step: bool = False  # the failure comes from an earlier step's code: its hint says which
    # What the student's code did, when it raised, timed out, crashed or did not import (first line).
    # Assertion messages stay out: they may show values computed by the reference.
    error: str | None = None
    grader_fault: str | None = None  # the grading machinery failed (seam.GraderFault): the run gives no score


@dataclasses.dataclass
class GradingState:
    root: Path
    backend: object
    call_timeout: float
    grading_seed: int
    records: dict[str, TestRecord] = dataclasses.field(default_factory=dict)

    def steps(self) -> list[str]:
        return sorted({r.step for r in self.records.values()})

    def fault(self) -> str | None:
        """Why the grading machinery failed in this run, if it did: then no score is given.

        The backend knows where the tests ran; under xdist the controller learns it from the records.
        """
        return getattr(self.backend, "fault", None) or next(
            (r.grader_fault for r in self.records.values() if r.grader_fault), None)

    def unfinished_foundations(self, record: TestRecord) -> list[tuple[str, str]]:
        """(function, test) for each function ``record`` builds on whose own test failed."""
        failed = [r.name for r in self.records.values() if r.step == record.step and r.ran and not r.passed]
        found = []
        for function, test in record.builds_on.items():
            # A test of this step may be named like an earlier step's: "step11/test_rope.py::test_x" in step 11.
            match = EARLIER_TEST.match(test)
            here = f"{match.group(2)}::{match.group(3)}" if match and match.group(1) == record.step else test
            if any(name == here or name.endswith(f"::{here}") for name in failed):
                found.append((function, test))
        return found

    def hint_for(self, record: TestRecord) -> str:
        if record.import_error or record.earlier_step or (record.shown_hint or "").startswith("not implemented yet"):
            return record.shown_hint
        foundations = self.unfinished_foundations(record)
        if foundations:
            functions = " and ".join(f"`{function}`" for function, _ in foundations)
            tests = ", ".join(test for _, test in foundations)
            if len(foundations) == 1:
                return f"fix {functions} first: this test builds on it, and its own test fails ({tests})"
            return f"fix {functions} first: this test builds on them, and their own tests fail ({tests})"
        return record.shown_hint or record.hint

    def score(self, step: str) -> dict:
        tests = [r for r in self.records.values() if r.step == step]
        return {
            "step": step,
            "points": sum(r.max_points for r in tests if r.passed),
            "max_points": sum(r.max_points for r in tests),
            "tests": [
                {"name": r.name, "points": r.max_points if r.passed else 0, "max_points": r.max_points,
                 "passed": r.passed, "hint": None if r.passed else self.hint_for(r),
                 **({"error": r.error} if r.error and not r.passed else {})}
                for r in tests
            ],
        }


STATE = pytest.StashKey[GradingState]()
EARLIER = pytest.StashKey["EarlierSteps"]()

# A builds_on entry that names a test of an earlier step: "step03/test_embedding.py::test_lookup".
EARLIER_TEST = re.compile(r"^(step\d\d)/(test_\w+\.py)::(\w+)$")
# Where a not-implemented message says the stub is: "... at exercises/step03/embedding.py:57".
STUB_PLACE = re.compile(r"not implemented yet: `([^`]+)` at (\S*?(step\d\d)/\S+\.py:\d+)")


class EarlierSteps:
    """Whether the tests of earlier steps that a test builds on pass, for the same student code.

    A later step uses the student's own earlier code (step 04 builds its model on their step 03
    ``Embedding``). When a test that builds on an earlier step fails, the earlier step's named
    tests are run once, in a separate pytest run against the same code, so that the hint can
    send the student back to the real cause. The answers are kept for the rest of the session.
    """

    def __init__(self, config, root: Path):
        self.config, self.root = config, root
        self.passed: dict[str, bool | None] = {}  # "step03/test_x.py::test_y" -> passed (None: unknown)

    def check(self, suites: Path, wanted: list[str]) -> None:
        import subprocess
        import tempfile

        missing = [name for name in wanted if name not in self.passed]
        if not missing:
            return
        with tempfile.TemporaryDirectory(prefix="grader-earlier-") as scratch:
            score_path = Path(scratch) / "score.json"
            option = self.config.getoption
            # The same code runs there, so under the same confinement, limits and seed as here.
            confinement = ["--isolate"] if option("isolate") else ["--in-process"] if option("in_process") else []
            command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                       "--student-root", str(self.root), "--score-json", str(score_path),
                       "--call-timeout", str(option("call_timeout")), "--grading-seed", str(option("grading_seed")),
                       "--worker-memory-mb", str(option("worker_memory_mb")), *confinement,
                       *[str(suites / name) for name in missing]]
            try:
                if can_fork():
                    self._run_forked(command[3:])
                else:
                    subprocess.run(command, cwd=self.config.rootpath, capture_output=True, timeout=300,
                                   env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
                document = json.loads(score_path.read_text())
            except (OSError, ValueError, subprocess.SubprocessError):
                document = {}
        scores = document.get("steps", [document]) if document else []
        outcomes = {f"{score['step']}/{test['name']}": test["passed"] for score in scores for test in score["tests"]}
        for name in missing:
            self.passed[name] = outcomes.get(name)

    def _run_forked(self, args: list[str], timeout: float = 300) -> None:
        """Run ``pytest args`` in a fork of this process: torch and pytest are imported already,
        so the earlier tests cost only themselves (a fresh interpreter spends ~2.5 s on imports)."""
        import time

        pid = os.fork()
        if pid == 0:  # the child: a separate pytest run, silent, that never returns here
            try:
                os.chdir(self.config.rootpath)
                devnull = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(devnull, fd)
                os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
                code = pytest.main(args)
            finally:
                os._exit(70 if "code" not in locals() else int(code))
        deadline = time.monotonic() + timeout
        while not os.waitpid(pid, os.WNOHANG)[0]:
            if time.monotonic() > deadline:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                return
            time.sleep(0.005)

    def failing(self, item, record: TestRecord) -> list[tuple[str, str]]:
        """(function, test) for each earlier-step test ``record`` builds on that fails."""
        wanted = {function: test for function, test in record.builds_on.items()
                  if (match := EARLIER_TEST.match(test)) and match.group(1) != record.step}
        if not wanted:
            return []
        suites = Path(item.path).parent.parent  # the folder that holds every stepNN/ suite
        self.check(suites, sorted(set(wanted.values())))
        return [(function, test) for function, test in wanted.items() if self.passed.get(test) is False]


def earlier_step_hint(record: TestRecord, failing: list[tuple[str, str]], suites: str) -> str:
    step = EARLIER_TEST.match(failing[0][1]).group(1)
    functions = " and ".join(f"`{function.split(' ', 1)[-1]}`" for function, _ in failing)
    tests = ", ".join(test for _, test in failing)
    verb = "fails its own test" if len(failing) == 1 else "fail their own tests"
    return (f"{record.step} builds on your {step} {functions}, which {verb} ({tests}): finish {step} first "
            f"(pytest {suites}/{step})")


def earlier_stub_hint(record: TestRecord, message: str) -> str | None:
    """For a not-implemented stub of another step: say that this step builds on it."""
    match = STUB_PLACE.search(message)
    if match is None or match.group(3) == record.step:
        return None
    function, where, step = match.groups()
    return (f"{record.step} builds on your {step} `{function}`, which is not implemented yet (at {where}): "
            f"finish {step} first")


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
                    help="seconds a call into your code may take (in-process: a whole test; default 10)")
    group.addoption("--worker-memory-mb", type=int, default=6144, metavar="MB",
                    help="address-space limit of the worker process (default 6144)")
    group.addoption("--isolate", action="store_true",
                    help="run the worker inside bubblewrap: no network, no files but the graded modules "
                         "(batch grading; Linux with bubblewrap installed)")


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


def _suite_folders(config) -> list[Path]:
    """The step folders named on the command line (where the suites and their probes are)."""
    folders = []
    for arg in config.args:
        path = Path(arg.split("::")[0]).resolve()
        if path.is_file():
            path = path.parent
        step = step_of(path)
        if step:
            path = next(p for p in [path, *path.parents] if p.name == step)
        folders.append(path)
    return folders or [config.rootpath / "exercises"]


def _announce(config, text: str) -> None:
    """Write ``text`` to the real stderr, past pytest's output capture (the run is about to end)."""
    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is not None:
        capture.suspend_global_capture(in_=True)
    sys.stderr.write(text)
    sys.stderr.flush()


def _is_xdist_controller(config) -> bool:
    """pytest-xdist's controller runs no test itself: its workers do and send it their reports."""
    return bool(getattr(config.option, "numprocesses", None)) and not hasattr(config, "workerinput")


def _is_xdist_worker(config) -> bool:
    return hasattr(config, "workerinput")


@pytest.hookimpl(tryfirst=True)  # before pytest's tmp_path factory reads --basetemp
def pytest_configure(config):
    global _config
    _config = config
    config.addinivalue_line("markers", "points(value, hint, timeout=None, builds_on=None): "
                                       "points a graded test is worth")
    if "OMP_NUM_THREADS" not in os.environ:
        import torch

        # A test's tensors are tiny: with a second thread the two only contend (measured in
        # bench/suites.py). The sandbox worker is forked from this process and inherits it.
        torch.set_num_threads(1)
    root = _graded_root(config)
    if config.getoption("in_process"):
        backend = InProcess(root, announce=lambda text: _announce(config, text))
    else:
        isolation = None
        if config.getoption("isolate"):
            from grader.isolation import Isolation, unavailable_reason

            reason = unavailable_reason()
            if reason:
                raise pytest.UsageError(f"--isolate: {reason}")
            # The worker sees the grading framework, the suites (the probes live in the test files)
            # and the graded modules; nothing else of the instructor's files.
            # The tests' tmp_path folders are shared with the worker (checkpoints go both ways):
            # they live under a --basetemp of their own, which is all the worker may write to
            # (bound in pytest_sessionstart, once pytest has made it).
            if not config.option.basetemp:
                config.option.basetemp = str(Path(tempfile.mkdtemp(prefix="grading-shared-")) / "tmp")
            # pytest makes the basetemp folder itself, but not the folders above it.
            Path(config.option.basetemp).resolve().parent.mkdir(parents=True, exist_ok=True)
            isolation = Isolation(readable=[*_suite_folders(config), root])
        backend = Sandbox(root, memory_mb=config.getoption("worker_memory_mb"),
                          timeout_s=config.getoption("call_timeout"), isolation=isolation)
    config.stash[STATE] = GradingState(root, backend, config.getoption("call_timeout"),
                                       config.getoption("grading_seed"))
    config.stash[EARLIER] = EarlierSteps(config, root)


def pytest_sessionstart(session):
    # A worker that must be spawned (bubblewrap, or no fork here) starts now when the command
    # names graded steps, so that it imports torch while the tests are collected. A forked one
    # starts in milliseconds once collection ends, and then holds every module the test files
    # imported (step 09's torch._dynamo: 3 s a worker would otherwise spend on its own).
    backend = session.config.stash[STATE].backend
    if not isinstance(backend, Sandbox) or _is_xdist_controller(session.config):
        return
    if backend.isolation is not None:
        # pytest empties and remakes its basetemp on first use: a folder bound into the sandbox
        # before that would be the old one. So pytest makes it now, and the worker may write there
        # and nowhere else (not its parent: with --basetemp=.bt that is the checkout itself; under
        # xdist, the other workers' folders).
        factory = getattr(session.config, "_tmp_path_factory", None)  # None with -p no:tmpdir
        backend.isolation.writable = [factory.getbasetemp().resolve()] if factory is not None else []
    if backend.isolation is None and can_fork():
        return
    for arg in session.config.args:
        path = Path(arg.split("::")[0]).resolve()
        if step_of(path) or path.name == "exercises":
            with contextlib.suppress(OSError):  # no process to be had now: the first request tries again
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


def _record_for(item) -> TestRecord:
    step = step_of(Path(item.path))
    marker = item.get_closest_marker("points")
    if marker is None:
        raise pytest.UsageError(f"{item.nodeid} has no @points(...) marker: every graded test "
                                "must say what it is worth and give a hint")
    name = item.nodeid.split(f"{step}/", 1)[-1]
    return TestRecord(step, name, marker.args[0], marker.kwargs["hint"], marker.kwargs.get("builds_on") or {})


def pytest_collection_finish(session):
    # Runs after -k and friends have deselected tests: only what will run is graded. A test
    # that is collected but never runs (a run stopped early) keeps 0 points.
    state = session.config.stash[STATE]
    for item in session.items:
        if step_of(Path(item.path)) is not None:
            state.records[item.nodeid] = _record_for(item)
    if state.records:
        with contextlib.suppress(OSError):  # as in pytest_sessionstart
            state.backend.start()  # no-op if it already runs


@pytest.fixture
def student(request, seed) -> StudentCode:
    """The code under test: ``student.<module>`` is ``stepNN/<module>.py`` of this step.

    Torch's global generator (and Python's and numpy's) starts every test from the test's seed,
    here and in the worker: code that draws from it, as a new model's weights do, gets the same
    numbers whatever ran before, so a grade never depends on the order of the tests.
    """
    state = request.config.stash[STATE]
    step = step_of(Path(request.node.path))
    if step is None:
        raise pytest.UsageError("the `student` fixture is only for tests inside a stepNN/ folder")
    seed_generators(seed)
    state.backend.begin_test(seed)
    yield StudentCode(state.backend, step)
    state.backend.reset()


@pytest.fixture
def seed(request) -> int:
    """A seed for this test's inputs: fixed by default, changed by ``--grading-seed N``."""
    grading_seed = request.config.stash[STATE].grading_seed
    return zlib.crc32(f"{grading_seed}:{request.node.name}".encode()) % (2**31)


@pytest.fixture
def grading_seed(request) -> int:
    """The ``--grading-seed`` of this run (0 by default)."""
    return request.config.stash[STATE].grading_seed


REFERENCE_PACKAGE = "_grader_reference"


@pytest.fixture
def reference(request):
    """``reference(step, module)``: the instructor's reference module, or None in a student copy.

    For expected values that cannot be stored because they depend on ``--grading-seed``.
    The reference runs in the grading process (it is trusted) under a package name of its
    own, so it never mixes with a graded folder that is also called ``solutions``.
    """
    import importlib
    import importlib.util

    root = request.config.rootpath / "solutions"

    def load(step: str, module: str):
        if not (root / step / f"{module}.py").is_file():
            return None
        if REFERENCE_PACKAGE not in sys.modules:
            spec = importlib.util.spec_from_file_location(REFERENCE_PACKAGE, root / "__init__.py",
                                                          submodule_search_locations=[str(root)])
            package = importlib.util.module_from_spec(spec)
            sys.modules[REFERENCE_PACKAGE] = package
            spec.loader.exec_module(package)
        return importlib.import_module(f"{REFERENCE_PACKAGE}.{step}.{module}")

    return load


@pytest.fixture
def generator(seed):
    """A ``torch.Generator`` seeded with this test's seed."""
    import torch

    return torch.Generator().manual_seed(seed)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    # The time limit: per call into student code in the sandbox, per test in process.
    state = item.config.stash[STATE]
    if item.nodeid not in state.records:
        return (yield)
    marker = item.get_closest_marker("points")
    with state.backend.time_limit(marker.kwargs.get("timeout") or state.call_timeout):
        return (yield)


def _student_frames_text(exc: StudentError) -> str:
    tb = exc.info.get("traceback")
    return f"\n{tb.rstrip()}" if tb else ""


def _test_line(item, excinfo) -> str:
    for entry in reversed(excinfo.traceback):
        if Path(entry.path) == Path(item.path):
            return f"\n  (in {Path(item.path).name}:{entry.lineno + 1}: {str(entry.statement).strip()})"
    return ""


def _drop_the_assertion_explanation(item, call) -> None:
    """Keep a graded assert's own message, without pytest's account of the expression under it.

    ``assert all(...), "generate changed its prompt"`` fails with the message and then
    "assert False / where False = all(<generator object ...>)": noise to a student, who reads
    every line. An assert with no message keeps the account, which is then all there is.
    """
    exc = call.excinfo.value if call.excinfo else None
    if not isinstance(exc, AssertionError) or item.nodeid not in item.config.stash[STATE].records:
        return
    if exc.args and isinstance(exc.args[0], str):
        message, explained, _ = exc.args[0].partition("\nassert ")
        if explained and message.strip() and not message.startswith("assert "):
            exc.args = (message, *exc.args[1:])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    _drop_the_assertion_explanation(item, call)
    report = yield
    state = item.config.stash[STATE]
    record = state.records.get(item.nodeid)
    if record is None:
        return report
    outcome = dataclasses.replace(record, passed=report.passed, ran=True, shown_hint=None, import_error=None,
                                  earlier_step=False, error=None)
    # A fault stays with the backend for the rest of the run, also when a test caught its exception
    # (``pytest.raises(Exception)``): every test from then on is marked, and the run gives no score.
    outcome.grader_fault = getattr(state.backend, "fault", None)
    if report.failed and call.excinfo and isinstance(call.excinfo.value, GraderFault):
        report.longrepr = str(call.excinfo.value)  # no hint: the graded code is not what failed
    elif report.failed:
        exc = call.excinfo.value if call.excinfo else None
        if isinstance(exc, (StudentError, TimeLimitExceeded)):
            outcome.error = str(exc).strip().split("\n")[0][:300]
        hint = getattr(exc, "__grader_hint__", None) or record.hint
        not_implemented = describe_not_implemented(exc, state.root) if exc is not None else None
        earlier = None
        if not_implemented:
            earlier = earlier_stub_hint(record, not_implemented)
        elif exc is not None and not isinstance(exc, ModuleDoesNotImport) and call.when == "call":
            failing = item.config.stash[EARLIER].failing(item, record)
            if failing:
                suites = os.path.relpath(Path(item.path).parent.parent, item.config.rootpath)
                earlier = earlier_step_hint(record, failing, suites)
        if earlier:
            outcome.shown_hint, outcome.earlier_step = earlier, True
            detail = not_implemented or f"{type(exc).__name__}: {exc}".split("\n")[0]
            report.longrepr = f"{detail}{_test_line(item, call.excinfo)}\n\nhint: {earlier}"
        elif not_implemented:
            outcome.shown_hint = not_implemented
            report.longrepr = f"{not_implemented}{_test_line(item, call.excinfo)}"
        elif isinstance(exc, ModuleDoesNotImport):
            outcome.import_error = str(exc)
            outcome.shown_hint = "fix this first: no test of this module can pass until the module imports"
            already_shown = any(r.import_error == str(exc) for r in state.records.values())
            module = str(exc).split(": ", 1)[0]  # "stepNN/name.py does not import"
            report.longrepr = (f"{module} (the error is shown in the first such failure)" if already_shown
                               else f"{exc}\n\nhint: {outcome.shown_hint}")
        else:
            if isinstance(exc, (StudentTimeout, TimeLimitExceeded)):
                # A timeout is the code's fault (an endless or far too slow loop) or the machine's:
                # say both, and how to tell them apart, before the test's own hint.
                hint = (f"the call ran out of time: a loop that never ends or works far too slowly (a Python "
                        f"loop over every element?), or a machine too busy to finish; rerun when it is idle, or "
                        f"allow more with --call-timeout SECONDS. If it is the code: {hint}")
            outcome.shown_hint = hint
            hint = state.hint_for(outcome)
            if isinstance(exc, (StudentError, TimeLimitExceeded)):
                frames = _student_frames_text(exc) if isinstance(exc, StudentError) else ""
                report.longrepr = f"{exc}{frames}{_test_line(item, call.excinfo)}\n\nhint: {hint}"
            else:
                report.sections.append(("hint", hint))
    if report.when == "call" or report.failed:
        report.user_properties.append((PROPERTY, dataclasses.asdict(outcome)))
    return report


def pytest_runtest_logreport(report):
    # Called in the process that ran the test and, under xdist, again in the controller.
    outcome = dict(report.user_properties).get(PROPERTY)
    if outcome is None:
        return
    records = _config.stash[STATE].records
    earlier = records.get(report.nodeid)
    if outcome["passed"] and earlier is not None and (earlier.shown_hint or earlier.import_error):
        return  # an earlier phase of this test failed; nothing turns that into a pass
    records[report.nodeid] = TestRecord(**outcome)


_config = None  # pytest_runtest_logreport receives no config: the one of this run


def _grade_lines(state: GradingState) -> list[str]:
    lines, headlined = [], set()
    failed = [r for r in state.records.values() if not r.passed]
    for record in failed:
        if record.import_error:
            if record.import_error in headlined:
                continue
            headlined.add(record.import_error)
            affected = [r for r in failed if r.import_error == record.import_error]
            lines.append(f"  {record.import_error}")
            lines.append(f"        fix this first: its {len(affected)} tests "
                         f"({sum(r.max_points for r in affected)} points) cannot pass until it imports")
        elif record.earlier_step and sum(r.shown_hint == record.shown_hint for r in failed) > 1:
            # Many tests wait on the same unfinished earlier step: say it once.
            if record.shown_hint in headlined:
                continue
            headlined.add(record.shown_hint)
            affected = [r for r in failed if r.earlier_step and r.shown_hint == record.shown_hint]
            lines.append(f"  {record.shown_hint}")
            lines.append(f"        {len(affected)} tests ({sum(r.max_points for r in affected)} points) "
                         "wait on it")
        else:
            lines.append(f"  0/{record.max_points}  {record.step}/{record.name}")
            lines.append(f"        hint: {state.hint_for(record)}")
    for note in getattr(state.backend, "notes", {}):
        lines.append(f"  note: {note}")
    return lines


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter, exitstatus, config):
    # Being the outermost wrapper, this prints after pytest's short summary and right
    # before its final "N passed" line.
    result = yield
    state = config.stash[STATE]
    fault = state.fault()
    if state.records and not _is_xdist_worker(config) and fault:
        terminalreporter.write_sep("-", "grade")
        terminalreporter.write_line(fault, bold=True)
    elif state.records and not _is_xdist_worker(config):
        terminalreporter.write_sep("-", "grade")
        for line in _grade_lines(state):
            terminalreporter.write_line(line)
        for step in state.steps():
            score = state.score(step)
            terminalreporter.write_line(f"{step}: {score['points']}/{score['max_points']} points", bold=True)
    return result


def pytest_sessionfinish(session, exitstatus):
    state = session.config.stash.get(STATE, None)
    path = session.config.getoption("score_json", None)
    if state is None or _is_xdist_worker(session.config):
        return
    if state.fault():
        # A wrong score would be worse than none: the run fails as pytest's internal errors do,
        # and a batch grades the student again (grader/batch.py). No score file of an earlier run stays.
        session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
        if path:
            Path(path).unlink(missing_ok=True)
        return
    if not path:
        return
    scores = [state.score(step) for step in state.steps()]
    document = scores[0] if len(scores) == 1 else {"steps": scores}
    Path(path).write_text(json.dumps(document, indent=2) + "\n")
