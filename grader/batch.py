"""Grade a folder of submissions into a gradebook: one trusted pytest run per student.

Each entry of the submissions folder is one student (a folder, or a ``.zip``), named by the
student's id. From it only the course's step modules are taken (``stepNN/<module>.py`` of the
canonical suites, found anywhere in the entry, e.g. inside a whole student copy); its tests,
conftest.py, ini files, pyproject.toml, .pth files and everything else are ignored. The modules
are copied into a scratch folder and graded by the instructor's own suites, in a pytest process
that never imports student code: the code runs in the sandbox worker, isolated by bubblewrap
(``--isolate``), which sees that scratch copy and nothing else of the disk.

The score file is written by that trusted pytest process into a folder the worker cannot
see, removed before each run, and read back with size and shape checks: a crash, a timeout,
a signal or a malformed file is "grading failed: <reason>", never a score. Such a failure,
unless the run used up its whole time, is graded once more before it is reported: a machine
short of memory or a crash of the grading process itself must not cost an honest student their
points, and a second run of the same code with the same seed grades it the same way.

Results are written per student, atomically (``results/<student>.json``), so a batch that is
stopped can be rerun: students already graded are skipped unless ``force``. From the results
come ``grades.csv``, ``feedback/<student>.md`` and ``summary.md``.
"""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
import os
import re
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from grader.review import review_source
from grader.status import CommandError

STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}")
MAX_MODULE_BYTES = 1_000_000  # one step module; a real one is a few kilobytes
MAX_ZIP_ENTRIES = 20_000
MAX_OUTPUT_BYTES = 2_000_000  # of pytest's terminal output kept per student
MAX_SCORE_BYTES = 2_000_000
FAILED_OUTPUT_CHARS = 4000  # of a failed run's terminal output kept in its result, for the instructor
TOOK_TOO_LONG = "the run took longer than"
# Failures of the grading run that a second run may not repeat: the grading process itself went wrong.
RUN_FAILURES = ("the grading process was killed", "pytest exited with code", "no score file", "malformed score file")
TRUSTED_MEMORY_MB = 8192  # the grading process's own address-space limit (the worker has its own)


@dataclass
class Options:
    suites: Path  # the instructor's exercises/ folder: the canonical suites and stubs
    steps: list[str]
    seed: int
    jobs: int = 2
    timeout_s: float = 600.0  # one student, all steps
    call_timeout_s: float = 10.0
    memory_mb: int = 4096
    isolate: bool = True
    force: bool = False
    fork_server: bool = True  # each student's pytest a fork of a preloaded server (Linux)


@dataclass
class Result:
    student: str
    status: str  # "graded" or "grading failed: <reason>"
    seed: int
    requested: list[str] = field(default_factory=list)  # the steps this result was graded on
    steps: dict[str, dict] = field(default_factory=dict)  # step -> {"points", "max_points", "tests": [...]}
    notes: list[str] = field(default_factory=list)
    review: list[str] = field(default_factory=list)  # code an instructor may want to read (grader/review.py)
    seconds: float = 0.0
    output_tail: str = ""  # the end of pytest's output when grading failed (results/<student>.json only)

    @property
    def points(self) -> float:
        return sum(s["points"] for s in self.steps.values())


# -- reading submissions -----------------------------------------------------------------------------

def submissions(folder: Path) -> list[tuple[str, Path]]:
    """(student id, entry) for every folder or .zip in ``folder``, sorted by id."""
    if not folder.is_dir():
        raise CommandError(f"{folder} is not a folder of submissions (one folder or .zip per student)")
    found = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir() and not entry.is_symlink():
            student = entry.name
        elif entry.is_file() and entry.suffix.lower() == ".zip":
            student = entry.stem
        else:
            continue
        if not STUDENT_ID.fullmatch(student):
            raise CommandError(f"{entry.name}: a student id may hold letters, digits and . _ @ + - only")
        found.append((student, entry))
    ids = [s for s, _ in found]
    duplicates = sorted({s for s in ids if ids.count(s) > 1})
    if duplicates:
        raise CommandError(f"two entries for the same student: {', '.join(duplicates)} (a folder and a .zip?)")
    return found


def course_modules(suites: Path, steps: list[str]) -> dict[str, list[str]]:
    """step -> the module files students write (the canonical folder's .py files but tests and __init__)."""
    modules = {}
    for step in steps:
        folder = suites / step
        if not folder.is_dir():
            raise CommandError(f"no suite for {step} in {suites}")
        modules[step] = sorted(p.name for p in folder.glob("*.py")
                               if not p.name.startswith("test_") and p.name not in ("__init__.py", "conftest.py"))
    return modules


def _pick(paths: list[str], step: str, module: str) -> str | None:
    """The path of stepNN/module.py in an entry: prefer one under an exercises/ folder, then the shortest."""
    matches = [p for p in paths if p.endswith(f"{step}/{module}") and
               (p == f"{step}/{module}" or p.endswith(f"/{step}/{module}"))]
    if not matches:
        return None
    return min(matches, key=lambda p: ("exercises/" not in p, p.count("/"), p))


def collect(entry: Path, modules: dict[str, list[str]], suites: Path,
            scratch: Path) -> tuple[Path, list[str], list[str]]:
    """Copy the step modules of one submission into ``scratch/exercises``; return it, notes and review.

    Nothing is executed or imported here. A module the submission lacks is replaced by the
    course's stub (its tests then say "not implemented yet"), and the notes say so. The review
    lists what in the submitted modules reaches past their task (``grader.review``), for the
    instructor: it changes no score.
    """
    root = scratch / "exercises"
    root.mkdir(parents=True)
    shutil.copy(suites / "__init__.py", root / "__init__.py")
    notes: list[str] = []
    review: list[str] = []
    if entry.is_dir():
        files = {}
        for path in entry.rglob("*.py"):
            if path.is_file() and not path.is_symlink():
                files[path.relative_to(entry).as_posix()] = path
        read = lambda name: files[name].read_bytes() if files[name].stat().st_size <= MAX_MODULE_BYTES else None
        names = list(files)
        archive = None
    else:
        try:
            archive = zipfile.ZipFile(entry)
        except (zipfile.BadZipFile, OSError) as error:
            raise ValueError(f"{entry.name} is not a readable zip file ({error})") from None
        infos = archive.infolist()
        if len(infos) > MAX_ZIP_ENTRIES:
            raise ValueError(f"{entry.name} holds {len(infos)} files; a submission holds a few dozen")
        by_name = {i.filename: i for i in infos if not i.is_dir() and i.filename.endswith(".py")}
        names = list(by_name)

        def read(name):
            info = by_name[name]
            if info.file_size > MAX_MODULE_BYTES:
                return None
            try:
                with archive.open(info) as handle:  # read at most the cap, whatever the header claims
                    data = handle.read(MAX_MODULE_BYTES + 1)
            except (zipfile.BadZipFile, RuntimeError, zlib.error, EOFError) as error:  # damaged, or encrypted
                raise ValueError(f"{entry.name}: {name} cannot be read ({error})") from None
            return data if len(data) <= MAX_MODULE_BYTES else None
    try:
        for step, step_modules in modules.items():
            (root / step).mkdir()
            shutil.copy(suites / step / "__init__.py", root / step / "__init__.py")
            for module in step_modules:
                name = _pick(names, step, module)
                data = read(name) if name else None
                if name and data is None:
                    notes.append(f"{step}/{module} is larger than {MAX_MODULE_BYTES // 1000} kB and was not graded")
                if data is None:
                    if not name:
                        notes.append(f"{step}/{module} is missing from the submission: graded as the empty stub")
                    data = (suites / step / module).read_bytes()
                else:
                    review += [f"{step}/{module} {finding}"
                               for finding in review_source(data.decode("utf-8", errors="replace"))]
                (root / step / module).write_bytes(data)
    finally:
        if archive is not None:
            archive.close()
    return root, notes, review


# -- grading one student ----------------------------------------------------------------------------

def _trusted_limits() -> None:
    os.setsid()  # its own process group: a timeout kills pytest and everything it started
    limit = TRUSTED_MEMORY_MB * 1024 * 1024
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ValueError, OSError):
        pass


def _read_capped(path: Path) -> bytes:
    """The first MAX_OUTPUT_BYTES of a run's terminal output (none if it wrote nothing)."""
    try:
        with open(path, "rb") as file:
            return file.read(MAX_OUTPUT_BYTES)
    except FileNotFoundError:
        return b""


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)  # pytest, its worker and anything they left behind
    except (ProcessLookupError, PermissionError):
        pass


def _run_fresh(args: list[str], cwd: Path, env: dict, output_path: Path, timeout_s: float) -> int | None:
    """``python -m pytest ...`` in a new process: its exit code, negative for a signal, None on timeout."""
    with open(output_path, "wb") as output:
        process = subprocess.Popen(args, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=output,
                                   stderr=subprocess.STDOUT, preexec_fn=_trusted_limits)
    try:
        return process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return None
    finally:
        _kill_group(process.pid)
        process.wait()


# One server per batch process: it imports torch and pytest once (``grader.preload``) and forks a
# grading process per student. multiprocessing's forkserver starts it by exec, single-threaded, so
# forking it is safe however many threads the batch runs.
_FORK_SERVER = None
_FORK_SERVER_LOCK = threading.Lock()


def _fork_server_available() -> bool:
    return sys.platform.startswith("linux") and "forkserver" in multiprocessing.get_all_start_methods()


def _fork_server():
    global _FORK_SERVER
    with _FORK_SERVER_LOCK:
        if _FORK_SERVER is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["grader.preload"])
            _FORK_SERVER = context
        return _FORK_SERVER


def _pytest_in_fork(args: list[str], cwd: str, env: dict, output_path: str) -> None:
    """In the forked grading process: what ``python -m pytest ARGS`` does in a fresh one."""
    _trusted_limits()
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    sys.dont_write_bytecode = True
    output = os.open(output_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(output, 1)
    os.dup2(output, 2)
    os.close(output)
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    sys.stdin = open(os.devnull)
    sys.path.insert(0, cwd)  # as ``python -m`` puts the current folder first
    code = 70
    try:
        import pytest

        code = int(pytest.main(args))
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _run_forked(args: list[str], cwd: Path, env: dict, output_path: Path, timeout_s: float) -> int | None:
    """``pytest ARGS`` in a fork of the preloaded server: as ``_run_fresh``, 2-3 s sooner."""
    process = _fork_server().Process(target=_pytest_in_fork, args=(args, str(cwd), env, str(output_path)),
                                     daemon=False)
    process.start()
    process.join(timeout_s)
    timed_out = process.exitcode is None
    _kill_group(process.pid)
    if timed_out:
        process.kill()
    process.join()
    return None if timed_out else process.exitcode


def _valid_scores(document, steps: list[str]) -> dict[str, dict]:
    """The per-step scores of a score file, or ValueError when it is not what the plugin writes."""
    scores = document["steps"] if isinstance(document, dict) and "steps" in document else [document]
    out = {}
    for score in scores:
        if not isinstance(score, dict) or score.get("step") not in steps:
            raise ValueError("an entry for an unexpected step")
        points, max_points, tests = score.get("points"), score.get("max_points"), score.get("tests")
        if not all(isinstance(v, (int, float)) for v in (points, max_points)) or not isinstance(tests, list):
            raise ValueError(f"{score.get('step')}: malformed points")
        if not 0 <= points <= max_points:
            raise ValueError(f"{score['step']}: {points} of {max_points} points")
        out[score["step"]] = {"points": points, "max_points": max_points,
                              "tests": [{k: t.get(k) for k in ("name", "points", "max_points", "passed", "hint", "error")}
                                        for t in tests if isinstance(t, dict)]}
    missing = [s for s in steps if s not in out]
    if missing:
        raise ValueError(f"no result for {', '.join(missing)}")
    return out


def grade_one(student: str, entry: Path, options: Options, python: str = sys.executable) -> Result:
    start = time.monotonic()
    result = Result(student, "graded", options.seed, list(options.steps))
    modules = course_modules(options.suites, options.steps)
    with tempfile.TemporaryDirectory(prefix="grade-") as scratch_name, \
            tempfile.TemporaryDirectory(prefix="score-") as private:
        scratch = Path(scratch_name)
        try:
            root, result.notes, result.review = collect(entry, modules, options.suites, scratch)
        except ValueError as error:
            result.status = f"grading failed: {error}"
            return result
        # A fresh folder per run, which the worker never sees: no stale score can be read back.
        score_path = Path(private) / "score.json"
        args = [python, "-m", "pytest", *[str(options.suites / step) for step in options.steps],
                "--student-root", str(root), "--score-json", str(score_path),
                "--basetemp", str(scratch / "shared" / "tmp"),
                "--grading-seed", str(options.seed), "--call-timeout", str(options.call_timeout_s),
                "--worker-memory-mb", str(options.memory_mb), "-p", "no:cacheprovider", "-q", "--no-header",
                "-o", "console_output_style=classic"]
        if options.isolate:
            args.append("--isolate")
        env = {key: value for key, value in os.environ.items()
               if key in ("PATH", "LANG", "LC_ALL", "HOME", "TMPDIR", "VIRTUAL_ENV", "SYSTEMROOT")}
        env.update(PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1")
        output_path = Path(private) / "output.txt"
        if options.fork_server and _fork_server_available():
            code = _run_forked(args[3:], options.suites.parent, env, output_path, options.timeout_s)
        else:
            code = _run_fresh(args, options.suites.parent, env, output_path, options.timeout_s)
        output = _read_capped(output_path)
        result.seconds = round(time.monotonic() - start, 1)
        if code is None:
            result.status = f"grading failed: {TOOK_TOO_LONG} {options.timeout_s:g} s and was stopped"
        elif code < 0:
            result.status = f"grading failed: the grading process was killed by signal {-code}"
        elif code not in (0, 1):  # pytest: 0 all passed, 1 some tests failed
            tail = output.decode(errors="replace").strip().splitlines()[-3:]
            result.status = f"grading failed: pytest exited with code {code} ({' / '.join(tail)[:300]})"
        else:
            try:
                if score_path.stat().st_size > MAX_SCORE_BYTES:
                    raise ValueError("the score file is too large")
                result.steps = _valid_scores(json.loads(score_path.read_text()), options.steps)
            except FileNotFoundError:
                result.status = "grading failed: no score file was written"
            except (ValueError, KeyError, TypeError) as error:
                result.status = f"grading failed: malformed score file ({error})"
        if result.status != "graded":
            result.output_tail = output.decode(errors="replace")[-FAILED_OUTPUT_CHARS:]
    return result


def grade_with_retry(student: str, entry: Path, options: Options) -> Result:
    """``grade_one``, and once more when its run failed or it raised.

    Not repeated: a submission that cannot be read and a run that used its whole time limit (the
    code's doing, or a limit too tight for the machine): a second run would end the same way.
    A student graded twice may take up to twice ``options.timeout_s``.
    """
    first_seconds = 0.0
    try:
        result = grade_one(student, entry, options)
    except Exception as error:
        reason = f"{type(error).__name__}: {error}"
    else:
        first_seconds = result.seconds
        reason = result.status.removeprefix("grading failed: ")
        if not reason.startswith(RUN_FAILURES):
            return result
    try:
        second = grade_one(student, entry, options)
    except Exception as error:
        second = Result(student, f"grading failed: {type(error).__name__}: {error}", options.seed, list(options.steps))
    second.seconds = round(second.seconds + first_seconds, 1)  # the time the student's grading took, both runs
    # What pytest printed last stays out of the student's feedback: the reason's first words say enough.
    second.notes.append(f"graded on a second run: the first one failed ({reason.split(' (', 1)[0][:200]})")
    return second


# -- the batch ---------------------------------------------------------------------------------------

def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_result(path: Path) -> Result:
    data = json.loads(path.read_text())
    return Result(**data)


def run_batch(folder: Path, out: Path, options: Options,
              on_result: Callable[[Result, bool], None] | None = None) -> list[Result]:
    """Grade every submission in ``folder`` into ``out``; ``on_result(result, reused)`` after each."""
    entries = submissions(folder)
    results_dir = out / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    done: dict[str, Result] = {}
    todo = []
    for student, entry in entries:
        path = results_dir / f"{student}.json"
        if path.is_file() and not options.force:
            try:
                previous = load_result(path)
            except (ValueError, TypeError, KeyError):
                previous = None  # a damaged result: grade again
            if previous is not None and previous.seed == options.seed and previous.requested == options.steps:
                done[student] = previous
                if on_result:
                    on_result(previous, True)
                continue
        todo.append((student, entry))

    def work(item):
        student, entry = item
        try:
            result = grade_with_retry(student, entry, options)
        except Exception as error:  # a bug or an unreadable entry must not stop the batch
            result = Result(student, f"grading failed: {type(error).__name__}: {error}", options.seed,
                            list(options.steps))
        write_atomically(results_dir / f"{student}.json", json.dumps(asdict(result), indent=1) + "\n")
        return result

    with ThreadPoolExecutor(max_workers=max(1, options.jobs)) as pool:
        for result in pool.map(work, todo):
            done[result.student] = result
            if on_result:
                on_result(result, False)
    return [done[student] for student, _ in entries]


def feedback(result: Result) -> str:
    lines = [f"# Feedback for {result.student}", ""]
    if result.status != "graded":
        lines += [f"**{result.status}**", "", "No points could be given. Check that your modules import and that "
                  "no function runs forever, then ask your instructor.", ""]
    total = sum(s["max_points"] for s in result.steps.values())
    if result.steps:
        lines += [f"**{result.points:g} / {total:g} points** (grading seed {result.seed})", ""]
    for note in result.notes:
        lines.append(f"- note: {note}")
    if result.notes:
        lines.append("")
    for step, score in sorted(result.steps.items()):
        lines += [f"## {step}: {score['points']:g} / {score['max_points']:g}", ""]
        failed = [t for t in score["tests"] if not t.get("passed")]
        if not failed:
            lines += ["Every test passed.", ""]
            continue
        for test in failed:
            lines.append(f"- `{test['name']}` (0 / {test['max_points']:g}): {test.get('hint') or 'failed'}")
            if test.get("error"):
                lines.append(f"  - what happened: {test['error']}")
        lines.append("")
    return "\n".join(lines)


def write_gradebook(results: list[Result], out: Path, steps: list[str], notebooks: dict[str, dict] | None = None,
                    isolated: bool = True) -> None:
    """grades.csv, feedback/<student>.md and summary.md, from the results (and nbgrader's scores)."""
    notebook_columns = sorted({a for scores in (notebooks or {}).values() for a in scores})
    students = sorted({r.student for r in results} | set(notebooks or {}))
    by_student = {r.student: r for r in results}
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["student", *steps, "total", *[f"notebook:{a}" for a in notebook_columns], "status", "review"])
    for student in students:
        result = by_student.get(student)
        row = [student]
        for step in steps:
            row.append(f"{result.steps[step]['points']:g}" if result and step in result.steps else "")
        row.append(f"{result.points:g}" if result and result.steps else "")
        for assignment in notebook_columns:
            score = (notebooks or {}).get(student, {}).get(assignment)
            row.append("" if score is None else f"{score:g}")
        row.append(result.status if result else "no submission")
        row.append(f"{len(result.review)} to read (summary.md)" if result and result.review else "")
        writer.writerow(row)
    write_atomically(out / "grades.csv", buffer.getvalue())
    for result in results:
        write_atomically(out / "feedback" / f"{result.student}.md", feedback(result))
    graded = [r for r in results if r.status == "graded"]
    maximum = sum(r.steps[s]["max_points"] for r in graded[:1] for s in steps)
    lines = ["# Batch summary", "",
             f"- students: {len(results)}, graded: {len(graded)}, failed: {len(results) - len(graded)}",
             f"- grading seed: {results[0].seed if results else ''}",
             f"- isolation: {'bubblewrap' if isolated else '**none** (--no-isolation: student code ran unconfined)'}",
             "", "| student | points | status |", "|---|---|---|"]
    for result in sorted(results, key=lambda r: r.student):
        points = f"{result.points:g} / {maximum:g}" if result.steps else ""
        lines.append(f"| {result.student} | {points} | {result.status} |")
    failed = [r.student for r in sorted(results, key=lambda r: r.student) if r.status != "graded"]
    if failed:
        lines += ["", "## Grading failures", "",
                  "A failure other than a timeout or an unreadable submission was graded a second time before it "
                  "was reported here. Where a run got as far as pytest, the end of its output is in "
                  "`results/<student>.json` (`output_tail`): " + ", ".join(failed) + "."]
    flagged = [r for r in sorted(results, key=lambda r: r.student) if r.review]
    if flagged:
        lines += ["", "## Code to read", "",
                  "These submissions hold code that reaches past a step's task: an import of a test file or of "
                  "the grading machinery, a patched library, a look into the running process. Honest work rarely "
                  "needs any of it; the points above stand as graded, for you to judge.", ""]
        for result in flagged:
            lines.append(f"- **{result.student}**: " + "; ".join(result.review))
    write_atomically(out / "summary.md", "\n".join(lines) + "\n")


def read_nbgrader_csv(path: Path) -> dict[str, dict[str, float]]:
    """student -> {assignment: score} from ``nbgrader export``'s CSV."""
    try:
        rows = list(csv.DictReader(path.open(newline="")))
    except OSError as error:
        raise CommandError(f"cannot read {path}: {error.strerror}") from None
    if rows and not {"assignment", "student_id", "score"} <= set(rows[0]):
        raise CommandError(f"{path} is not nbgrader's export CSV (it needs the columns assignment, student_id, score)")
    scores: dict[str, dict[str, float]] = {}
    for row in rows:
        try:
            scores.setdefault(row["student_id"], {})[row["assignment"]] = float(row["score"])
        except ValueError:
            raise CommandError(f"{path}: the score {row['score']!r} of {row['student_id']} is not a number") from None
    return scores


def new_seed() -> int:
    return secrets.randbelow(2**31 - 1) + 1
