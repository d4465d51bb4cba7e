"""The one seam between a grading suite and the code it grades.

Tests never import student modules. They ask the ``student`` fixture, which hands out
``student.<module>`` (a module of the step under test) and ``student.probe(fn, ...)``.
Two backends sit behind it and the tests cannot tell them apart:

* ``Sandbox`` (the default): student code runs in a worker process (``grader.worker``).
  Only data comes back; other objects become ``Remote`` proxies whose attribute reads and
  calls are forwarded. Each call has a time limit; the worker has a memory limit.
* ``InProcess`` (``--in-process``): the modules are imported right here, for students who
  want ``breakpoint()`` and plain tracebacks.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib
import importlib.util
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from grader.wire import MAX_REPLY_BYTES, HandleRef, ModuleRef, RefusedReply, dump_request, load_reply

WORKER_START_TIMEOUT_S = 120
WORKER_RESTART_PAUSE_S = 1.0  # before a second try at starting a worker
MAX_PRINTED = 20_000  # characters of a call's printed output shown


def seed_generators(seed: int) -> None:
    """Seed the generators code draws from when it is given none: torch's (a new model's
    weights, dropout), Python's ``random`` and, once imported, numpy's.

    Called at the start of every test, in the grading process and in the worker, with that
    test's seed: a test's result then never depends on which tests ran before it in the same
    process, nor on whether it ran in the sandbox or in-process.
    """
    import random

    import torch

    torch.manual_seed(seed)
    random.seed(seed)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(seed)


def forget_student_modules(package: str) -> None:
    """Drop the graded code's modules (``package.stepNN.name``, not the test files) from sys.modules.

    Called after every test, so that the next one imports them afresh: state a module keeps at
    module or class level (a list in a class body, a cache in a global) cannot carry a mistake
    from one test into the next, where it would cost points that belong to the first.
    """
    for name in [m for m in sys.modules if m.startswith(package + ".")]:
        parts = name.split(".")
        if len(parts) == 3 and not parts[2].startswith("test_") and parts[2] != "conftest":
            del sys.modules[name]


class StudentError(Exception):
    """Student code failed in the worker: raised, timed out, or killed the worker."""

    def __init__(self, message: str, info: dict | None = None):
        super().__init__(message)
        self.info = info or {}


class NotImplementedYet(StudentError, NotImplementedError):
    """The student's code raised NotImplementedError: the stub has not been filled in."""


class ModuleDoesNotImport(StudentError):
    """Importing the student's module failed (a syntax error, a bad import, ...)."""


def import_failure(step: str, name: str, error_type: str, message: str, where: str | None) -> ModuleDoesNotImport:
    at = f" at {where}" if where else ""
    return ModuleDoesNotImport(f"{step}/{name}.py does not import: {error_type}{at}: {message}")


class StudentTimeout(StudentError):
    pass


class TimeLimitExceeded(BaseException):
    """In-process mode: a test ran past its time limit (a BaseException, so that an
    ``except Exception`` in student code cannot swallow it)."""


class WorkerCrashed(StudentError):
    pass


class GraderFault(Exception):
    """The grading machinery failed: a new worker did not start, twice, before importing graded code.

    Not a ``StudentError``: the failure did not come through the code under test (a machine out
    of memory or processes, bubblewrap refused), so the run gives no score rather than a wrong one.
    """


_error_classes: dict[str, type] = {}


def student_exception(info: dict, label: str) -> StudentError:
    """Rebuild an exception raised in the worker as one the test can catch by its builtin type.

    A student's ``ValueError`` arrives as a class deriving from both ``StudentError`` and
    ``ValueError``, so ``pytest.raises(ValueError)`` works in either backend.
    """
    name = info["type"]
    where = f" at {info['where']}" if info.get("where") else ""
    message = f"your `{label}` raised {name}{where}: {info['message']}"
    if label.startswith("probe "):
        # A probe is the test's own helper: blame the student's line it reached, not the probe.
        probe = label.removeprefix("probe ")
        message = (f"your code raised {name}{where} while the test's probe `{probe}` used it: {info['message']}"
                   if where else
                   f"the test's probe `{probe}` failed with {name} on your objects: {info['message']}")
    if name == "NotImplementedError" and info.get("raised_in_student_code") is True \
            and not TORCH_UNSUPPORTED.search(info.get("message", "")):
        function = info.get("function") or label
        return NotImplementedYet(f"not implemented yet: `{function}`{where}", info)
    if name not in _error_classes:
        base = getattr(builtins, name, None)
        cls = StudentError
        if isinstance(base, type) and issubclass(base, Exception):
            try:
                cls = type(f"Student{name}", (StudentError, base), {})
            except TypeError:  # a builtin whose instance layout cannot be mixed in
                cls = StudentError
        _error_classes[name] = cls
    return _error_classes[name](message, info)


# torch's own NotImplementedError for an operator without a kernel for that dtype ('"bincount_cpu" not
# implemented for 'Float''): raised in C, so the innermost Python frame is the student's line that called it.
TORCH_UNSUPPORTED = re.compile(r"not implemented for '")


def describe_not_implemented(exc: BaseException, root: Path) -> str | None:
    """For an in-process NotImplementedError, say which student function raised it."""
    if not isinstance(exc, NotImplementedError):
        return None
    if isinstance(exc, NotImplementedYet):
        return str(exc)
    tb, where, function, raised_by_student = exc.__traceback__, "", "?", False
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        raised_by_student = filename.startswith(str(root)) and not Path(filename).name.startswith(("test_", "conftest"))
        if raised_by_student:
            where = f" at {os.path.relpath(filename, root.parent)}:{tb.tb_lineno}"
            function = getattr(tb.tb_frame.f_code, "co_qualname", tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    if not raised_by_student or TORCH_UNSUPPORTED.search(str(exc)):
        # Raised by torch or by the test's own code (torch.bincount of floats, say): an ordinary failure,
        # not a stub left to fill in. The worker's replies follow the same rule (student_exception).
        return None
    return f"not implemented yet: `{function}`{where}"


class Remote:
    """A stand-in for an object that lives in the worker."""

    __slots__ = ("_sandbox", "_ref", "_label", "_generation")

    def __init__(self, sandbox: "Sandbox", ref, label: str):
        object.__setattr__(self, "_sandbox", sandbox)
        object.__setattr__(self, "_ref", ref)
        object.__setattr__(self, "_label", label)
        object.__setattr__(self, "_generation", sandbox.generation)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._sandbox.request(("getattr", self, name), f"{self._label}.{name}")

    def __call__(self, *args, **kwargs) -> Any:
        return self._sandbox.request(("call", self, args, kwargs), self._label)

    def __len__(self) -> int:
        return self._sandbox.request(("len", self), f"len({self._label})")

    def __getitem__(self, key: Any) -> Any:
        return self._sandbox.request(("getitem", self, key), f"{self._label}[{key!r}]")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("objects from student code are read-only in the grader; use a probe")

    def __repr__(self) -> str:
        return f"<{self._label} in the worker>"


class _ForkedWorker:
    """The few parts of ``subprocess.Popen`` that the sandbox uses, for a forked worker."""

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)

    def wait(self) -> int:
        if self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode


def can_fork() -> bool:
    """Fork a worker only where that is safe: Linux, and no other thread in this process.

    A forked worker starts in milliseconds with torch already imported; a spawned one
    imports torch again (about two seconds). macOS forbids fork without exec for
    processes that loaded system frameworks, and forking a multi-threaded process can
    copy a lock that some other thread holds.
    """
    return sys.platform.startswith("linux") and threading.active_count() == 1


class Sandbox:
    """Runs student code in a worker process and forwards requests to it."""

    def __init__(self, root: Path, memory_mb: int = 6144, timeout_s: float = 10.0, isolation=None):
        self.root = root
        self.memory_mb = memory_mb
        self.timeout_s = timeout_s
        # A ``grader.isolation.Isolation``: start every worker inside bubblewrap (never forked).
        # The framework is seen at a neutral place there: the instructor's checkout itself (with
        # its own exercises/ package, and solutions/) must not be importable in the sandbox.
        self.isolation = isolation
        if isolation is not None:
            isolation.mounts[Path(__file__).resolve().parent] = Path("/opt/course-grader/grader")
            isolation.python_path = [Path("/opt/course-grader")]
        self.generation = 0
        self.process: subprocess.Popen | _ForkedWorker | None = None
        self.connection = None
        self.ready = False
        self.imported: set[tuple[str, str]] = set()
        self.warmed_up: set[str] = set()  # the probes' warm-ups this worker has run (see ``probe``)
        # Imports that timed out or killed the worker: every later test fails at once instead of
        # waiting for the same timeout again.
        self.broken_imports: dict[tuple[str, str], str] = {}
        self.fault: str | None = None  # why no worker could start (GraderFault): every later request fails at once
        self.notes: dict[str, None] = {}  # messages for the end of the run, e.g. a skipped breakpoint()
        # The running test's seed, and the worker (by generation) that was last seeded with it.
        self.test_seed: int | None = None
        self.seeded_generation: int | None = None

    # -- the worker's life ------------------------------------------------------
    def start(self) -> None:
        """Start a worker if none is running: forked from this process where possible."""
        if self.process is not None:
            return
        parent_end, child_end = multiprocessing.Pipe(duplex=True)
        try:
            if self.isolation is not None:
                self.process = self._spawn_isolated(child_end)
            elif can_fork():
                self.process = self._fork(parent_end, child_end)
            else:
                self.process = self._spawn(child_end)
        except BaseException:  # no process (out of processes or memory): nothing may leak
            parent_end.close()
            raise
        finally:
            child_end.close()
        self.connection = parent_end
        self.generation += 1
        self.ready = False
        self.imported.clear()

    def _fork(self, parent_end, child_end) -> _ForkedWorker:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the worker: it must never return into pytest
            code = 1
            try:
                parent_end.close()
                from grader.worker import serve_forked

                serve_forked(child_end, self.root, self.memory_mb)
                code = 0
            finally:
                os._exit(code)
        return _ForkedWorker(pid)

    def _spawn(self, child_end) -> subprocess.Popen:
        env = dict(os.environ)
        grader_home = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (grader_home, env.get("PYTHONPATH")) if p)
        env["PYTHONUNBUFFERED"] = "1"  # what student code prints reaches the test's captured output at once
        return subprocess.Popen(
            [sys.executable, "-m", "grader.worker", str(child_end.fileno()), str(self.root), str(self.memory_mb)],
            pass_fds=(child_end.fileno(),), env=env, stdin=subprocess.DEVNULL,
        )

    def _spawn_isolated(self, child_end) -> subprocess.Popen:
        """The worker inside bubblewrap: it sees its own copy of the graded modules and little else.

        Its stdout and stderr go nowhere: what student code prints through Python comes back in
        the replies (capped), and nothing it writes to the raw descriptors can flood the grader.
        """
        argv = [sys.executable, "-m", "grader.worker", str(child_end.fileno()), str(self.root), str(self.memory_mb)]
        return subprocess.Popen(self.isolation.command(argv), pass_fds=(child_end.fileno(),),
                                preexec_fn=self.isolation.set_limits, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        """End the worker. The next request starts a fresh one, which imports modules anew."""
        self.imported.clear()
        self.warmed_up.clear()
        self.ready = False
        if self.process is None:
            return
        try:
            self.connection.close()
        finally:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()
            self.process = None
            self.connection = None

    def _receive(self, timeout: float, what: str) -> dict:
        if not self.connection.poll(timeout):
            self.stop()
            raise StudentTimeout(f"timed out after {timeout:g} s in `{what}`")
        try:
            # The length is checked before the bytes are read: a huge reply is never held in memory.
            payload = self.connection.recv_bytes(MAX_REPLY_BYTES)
        except EOFError:
            code = self.process.wait()
            self.stop()  # close our end of the pipe too
            raise WorkerCrashed(f"the worker exited with code {code} during {what}") from None
        except OSError:
            self.stop()
            raise WorkerCrashed(f"the worker's reply to {what} was larger than {MAX_REPLY_BYTES} bytes and was "
                                "refused") from None
        try:
            return load_reply(payload)
        except RefusedReply as error:
            self.stop()
            raise WorkerCrashed(f"the worker's reply to {what} was refused: {error}") from None
        except Exception:
            # Only data may come back; anything else means the worker was tampered with.
            self.stop()
            raise WorkerCrashed(f"the worker's reply to {what} was not plain data and was refused") from None

    def _ensure_ready(self) -> None:
        if self.fault:
            raise GraderFault(self.fault)
        if self.ready:  # stop() and start() clear it: a ready worker is a running one
            return
        for attempt in (1, 2):
            try:
                self.start()
                reply = self._receive(WORKER_START_TIMEOUT_S, "the worker's start")
                if reply.get("ok") != "ready":
                    raise WorkerCrashed(f"the worker failed to start: {reply}")
            except (StudentError, OSError) as error:
                # A worker says "ready" before it imports any graded module: one that cannot be
                # started, or dies or hangs before that, did not fail through the code it grades.
                # The machine may be short of processes or memory for a moment (the worker stopped
                # last may still be going): wait a little, start it once more, then give up.
                self.stop()
                if attempt == 2:
                    self.fault = (f"a new grading worker could not start, twice ({error}), before it imported any "
                                  "graded module; rather than a wrong score this run gives none: run it again")
                    raise GraderFault(self.fault) from None
                time.sleep(WORKER_RESTART_PAUSE_S)
            else:
                self.ready = True
                return

    # -- requests ---------------------------------------------------------------
    def _outgoing(self, value: Any) -> Any:
        if isinstance(value, Remote):
            if value._generation != self.generation:
                raise StudentError(f"{value._label} is gone: the worker was restarted after a timeout or crash "
                                   "earlier in this test")
            return value._ref
        if isinstance(value, list):
            return [self._outgoing(v) for v in value]
        if isinstance(value, tuple):
            return tuple(self._outgoing(v) for v in value)
        if isinstance(value, dict):
            return {k: self._outgoing(v) for k, v in value.items()}
        return value

    def _incoming(self, value: Any, label: str) -> Any:
        if isinstance(value, HandleRef):
            return Remote(self, value, label if value.is_callable else f"{value.type_name} object")
        if isinstance(value, list):
            return [self._incoming(v, label) for v in value]
        if isinstance(value, tuple):
            return tuple(self._incoming(v, label) for v in value)
        if isinstance(value, dict):
            return {k: self._incoming(v, label) for k, v in value.items()}
        return value

    def begin_test(self, seed: int) -> None:
        """Seed the worker's generators with ``seed`` before the test's first request to it (and
        again in a worker restarted during the test)."""
        self.test_seed, self.seeded_generation = seed, None

    def request(self, request: tuple, label: str, timeout: float | None = None) -> Any:
        self._ensure_ready()
        if self.test_seed is not None and self.seeded_generation != self.generation:
            self.seeded_generation = self.generation
            self._exchange(("seed", self.test_seed), "seeding the worker's generators", None)
        return self._exchange(request, label, timeout)

    def _exchange(self, request: tuple, label: str, timeout: float | None) -> Any:
        payload = dump_request(self._outgoing(request))
        self.connection.send_bytes(payload)
        reply = self._receive(self.timeout_s if timeout is None else timeout, label)
        printed = reply.get("printed")
        if isinstance(printed, str) and printed:
            # The worker cuts its printed output, but the worker is not to be trusted: cut it here too.
            sys.stdout.write(printed if len(printed) <= MAX_PRINTED else
                             printed[:MAX_PRINTED] + f"\n[... {len(printed) - MAX_PRINTED} more characters cut]\n")
        for note in reply.get("notes", ()):
            self.notes[note] = None
        if "error" in reply:
            raise student_exception(reply["error"], label)
        return self._incoming(reply["ok"], label)

    def module(self, step: str, name: str) -> Remote:
        # Start (or restart) the worker first: a handle made before a restart would be stale.
        self._ensure_ready()
        ref = ModuleRef(step, name)
        if (step, name) in self.broken_imports:
            raise ModuleDoesNotImport(self.broken_imports[(step, name)])
        if (step, name) not in self.imported:
            try:
                self.request(("import", ref), f"import of {step}/{name}.py")
            except StudentError as err:
                if isinstance(err, (StudentTimeout, WorkerCrashed)):
                    self.broken_imports[(step, name)] = f"{step}/{name}.py does not import: {err}"
                    raise ModuleDoesNotImport(self.broken_imports[(step, name)]) from None
                if not err.info:
                    raise
                raise import_failure(step, name, err.info["type"], err.info["message"], err.info.get("where")) from None
            self.imported.add((step, name))
        return Remote(self, ref, name)

    def probe(self, function: Callable, args: tuple, kwargs: dict) -> Any:
        warm_up = getattr(function, "warm_up", None)
        if warm_up is not None and warm_up.__qualname__ not in self.warmed_up:
            # A one-time cost of the probe's own machinery, paid before the timed call (generously
            # timed itself: it runs no student code).
            self.request(self._probe_request(warm_up, (), {}), f"warm-up {warm_up.__name__}",
                         timeout=max(120.0, self.timeout_s or 0))
            self.warmed_up.add(warm_up.__qualname__)
        return self.request(self._probe_request(function, args, kwargs), f"probe {function.__name__}")

    @staticmethod
    def _probe_request(function: Callable, args: tuple, kwargs: dict) -> tuple:
        path = sys.modules[function.__module__].__file__
        return ("probe", path, function.__module__, function.__qualname__, args, kwargs)

    @contextlib.contextmanager
    def time_limit(self, seconds: float) -> Iterator[None]:
        """Every call in the block may take ``seconds`` (the limit is enforced per call)."""
        self.timeout_s = seconds
        yield

    def reset(self) -> None:
        """Forget the objects of the test that just ended (a dead worker is simply left dead)."""
        if self.process is not None and self.ready:
            try:
                self._exchange(("reset",), "reset", None)
            except StudentError:
                pass


class InProcess:
    """Imports student modules into this process: plain tracebacks, ``breakpoint()`` works."""

    def __init__(self, root: Path, announce: Callable[[str], None] | None = None):
        self.root = root
        self.timeout_s = None
        self.warmed_up: set[str] = set()  # the probes' warm-ups this process has run (see ``probe``)
        self.notes: dict[str, None] = {}
        self.announce = announce or (lambda text: (sys.__stderr__.write(text), sys.__stderr__.flush()))

    def start(self) -> None:
        # Bind the package name to *this* folder, whatever sys.path holds: a graded copy
        # named solutions/ must not resolve to the repository's own solutions/.
        package = sys.modules.get(self.root.name)
        if package is None or Path(package.__file__).resolve().parent != self.root.resolve():
            spec = importlib.util.spec_from_file_location(
                self.root.name, self.root / "__init__.py", submodule_search_locations=[str(self.root)])
            package = importlib.util.module_from_spec(spec)
            sys.modules[self.root.name] = package
            spec.loader.exec_module(package)

    def module(self, step: str, name: str):
        self.start()
        try:
            return importlib.import_module(f"{self.root.name}.{step}.{name}")
        except Exception as err:
            where, message = None, str(err)
            if isinstance(err, SyntaxError) and err.filename:
                where, message = f"{os.path.relpath(err.filename, self.root.parent)}:{err.lineno}", err.msg
            raise import_failure(step, name, type(err).__name__, message, where) from err

    def probe(self, function: Callable, args: tuple, kwargs: dict) -> Any:
        warm_up = getattr(function, "warm_up", None)
        if warm_up is not None and warm_up.__qualname__ not in self.warmed_up:
            # As in the sandbox: the probe's one-time cost does not count against the test's time.
            paused = signal.setitimer(signal.ITIMER_REAL, 0) if hasattr(signal, "setitimer") else (0, 0)
            try:
                warm_up()
            finally:
                if paused[0]:
                    signal.setitimer(signal.ITIMER_REAL, *paused)
            self.warmed_up.add(warm_up.__qualname__)
        return function(*args, **kwargs)

    def student_function(self, frame) -> str:
        """``module.function`` of the innermost frame of student code at or above ``frame``."""
        root = str(self.root)
        while frame is not None:
            filename = frame.f_code.co_filename
            if filename.startswith(root) and not Path(filename).name.startswith("test_"):
                return f"{Path(filename).stem}.{getattr(frame.f_code, 'co_qualname', frame.f_code.co_name)}"
            frame = frame.f_back
        return "the test"

    @contextlib.contextmanager
    def time_limit(self, seconds: float) -> Iterator[None]:
        """The whole block (one test) may take ``seconds``; then the running code is interrupted.

        Without a worker there is nothing to kill, so a timer interrupts the main thread
        (SIGALRM). The error is a BaseException, so ``except Exception`` cannot swallow it;
        code that swallows even that is interrupted every second, and after three more
        tries the run ends with a message. The same block turns ``os._exit`` in student
        code into an error instead of the end of pytest.
        """
        usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
        fired = 0

        def on_alarm(signum, frame):
            nonlocal fired
            fired += 1
            where = self.student_function(frame)
            if fired > 3:
                self.announce(f"\ngrader: `{where}` kept running after its {seconds:g} s limit and "
                              "swallowed the timeout; the run is stopped.\n")
                real_exit(3)
            raise TimeLimitExceeded(f"timed out after {seconds:g} s in `{where}`")

        real_exit, pid = os._exit, os.getpid()

        def guarded_exit(code):
            if os.getpid() != pid:  # a child process (a DataLoader worker, say) exits as usual
                real_exit(code)
            raise WorkerCrashed(f"your code called os._exit({code}), which would end the whole grading run")

        previous = signal.signal(signal.SIGALRM, on_alarm) if usable else None
        if usable:
            signal.setitimer(signal.ITIMER_REAL, seconds, 1.0)
        os._exit = guarded_exit
        try:
            yield
        finally:
            os._exit = real_exit
            if usable:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)

    def stop(self) -> None:
        pass

    def begin_test(self, seed: int) -> None:
        pass  # the student fixture seeds this process's generators itself

    def reset(self) -> None:
        forget_student_modules(self.root.name)


class StudentCode:
    """What a test receives as ``student``: the modules of one step, and probes.

    ``student.bigram`` is the module ``stepNN/bigram.py`` of the code being graded;
    ``student.probe(fn, obj, ...)`` runs the trusted function ``fn`` (defined in the test
    file) next to the student's objects and returns what it returns, as data (as untrusted
    as the student's own answers: see ``grader/probes.py``); ``student.source("bigram")`` is
    the text of ``stepNN/bigram.py``, read here in the grading process.
    """

    def __init__(self, backend, step: str):
        self._backend = backend
        self._step = step

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return self._backend.module(self._step, name)

    def probe(self, function: Callable, *args, **kwargs) -> Any:
        return self._backend.probe(function, args, kwargs)

    def source(self, module: str) -> str:
        """The source of the graded ``module.py``, read from disk by the grading process itself.

        Checks on how code is written (its length, say) read it here rather than from a
        probe, so no code in the worker can change what they see.
        """
        path = Path(self._backend.root) / self._step / f"{module}.py"
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ModuleDoesNotImport(f"{self._step}/{module}.py cannot be read: {error}") from None
