"""The worker: a separate process that imports and runs student code for the grader.

Started by ``grader.seam.Sandbox``: forked from the grading process on Linux (torch is then
already imported), or as ``python -m grader.worker FD ROOT MEMORY_MB`` elsewhere. It reads
requests from its connection, runs them against the student modules in package folder
ROOT, and answers with data (see ``grader.wire``). Whatever the
student code does here (print, patch torch, call ``sys.exit``) cannot change a verdict:
the assertions run in the grading process.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import os
import resource
import signal
import sys
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from grader.seam import forget_student_modules, seed_generators
from grader.wire import HandleRef, ModuleRef, dump_reply, load_request, to_wire

MAX_PRINTED = 20_000  # characters of printed output sent back per call


class Worker:
    def __init__(self, root: Path):
        self.root = root
        self.objects: dict[int, Any] = {}
        self.next_id = 1
        self.probe_modules: dict[str, Any] = {}
        self.notes: list[str] = []
        sys.breakpointhook = self.skip_breakpoint
        # The student's package is imported under its folder's own name, so relative
        # imports between steps (``from ..step01 import bpe``) resolve inside that tree.
        sys.path.insert(0, str(root.parent))

    def skip_breakpoint(self, *args, **kwargs) -> None:
        """``breakpoint()`` needs a terminal, which the worker does not have: skip it, and say so."""
        caller = sys._getframe(1)
        where = os.path.relpath(caller.f_code.co_filename, self.root.parent)
        step = Path(caller.f_code.co_filename).parent.name
        self.notes.append(f"breakpoint() at {where}:{caller.f_lineno} was skipped: the sandbox has no terminal. "
                          f"To stop there, run `pytest exercises/{step} --in-process`.")

    def is_student_file(self, filename: str) -> bool:
        """Student code is under the graded root; the grading suites (test_*.py, conftest.py) are not."""
        return filename.startswith(str(self.root)) and not Path(filename).name.startswith(("test_", "conftest"))

    # -- objects that stay here -------------------------------------------------
    def keep(self, obj: Any) -> HandleRef:
        handle_id = self.next_id
        self.next_id += 1
        self.objects[handle_id] = obj
        return HandleRef(handle_id, type(obj).__name__, callable(obj))

    def resolve(self, value: Any) -> Any:
        """Turn HandleRefs and ModuleRefs in a request back into the objects they name."""
        if isinstance(value, HandleRef):
            try:
                return self.objects[value.id]
            except KeyError:
                raise LookupError(f"object #{value.id} ({value.type_name}) is gone: objects from student code "
                                  "live only for the test that created them") from None
        if isinstance(value, ModuleRef):
            return self.module(value.step, value.name)
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if isinstance(value, tuple):
            return tuple(self.resolve(v) for v in value)
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        return value

    def module(self, step: str, name: str):
        return importlib.import_module(f"{self.root.name}.{step}.{name}")

    def probe(self, path: str, module_name: str, qualname: str):
        """The probe function ``qualname`` of the test module at ``path``."""
        module = self.probe_modules.get(path)
        if module is None:
            module = self.import_test_module(path, module_name)
            self.probe_modules[path] = module
        target = module
        for part in qualname.split("."):
            target = getattr(target, part)
        return target

    def import_test_module(self, path: str, module_name: str):
        # Import it under its own dotted name (exercises.step02.test_dataset) so that its
        # relative imports work; its package folder goes last on sys.path, behind the
        # student's code. If that name leads to another file, load the file by path.
        base = Path(path).parents[module_name.count(".")]
        if str(base) not in sys.path:
            sys.path.append(str(base))
        try:
            module = importlib.import_module(module_name)
            # The same file; or the grading framework's own module, which an isolated worker
            # sees at another path than the grading process does.
            if Path(module.__file__).resolve() == Path(path).resolve() or module_name.split(".")[0] == "grader":
                return module
        except ImportError:
            pass
        spec = importlib.util.spec_from_file_location(f"_grader_probe_{len(self.probe_modules)}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    # -- requests ---------------------------------------------------------------
    def handle(self, request: tuple) -> Any:
        kind, *rest = request
        if kind == "import":
            (ref,) = rest
            self.resolve(ref)
            return None
        if kind == "getattr":
            target, name = rest
            return getattr(self.resolve(target), name)
        if kind == "call":
            target, args, kwargs = rest
            return self.resolve(target)(*self.resolve(args), **self.resolve(kwargs))
        if kind == "len":
            (target,) = rest
            return len(self.resolve(target))
        if kind == "getitem":
            target, key = rest
            return self.resolve(target)[self.resolve(key)]
        if kind == "probe":
            path, module_name, qualname, args, kwargs = rest
            return self.probe(path, module_name, qualname)(*self.resolve(args), **self.resolve(kwargs))
        if kind == "seed":
            (seed,) = rest
            seed_generators(seed)
            return None
        if kind == "reset":
            self.objects.clear()
            forget_student_modules(self.root.name)
            return None
        raise ValueError(f"unknown request {kind!r}")

    def error_reply(self, exc: BaseException) -> dict:
        """Describe an exception as data, pointing at the innermost line of student code."""
        frames = traceback.extract_tb(exc.__traceback__)
        student_frames = [f for f in frames if self.is_student_file(f.filename)]
        where, function = None, None
        tb = exc.__traceback__
        while tb is not None:
            code = tb.tb_frame.f_code
            if self.is_student_file(code.co_filename) or function is None:
                function = getattr(code, "co_qualname", code.co_name)
            if self.is_student_file(code.co_filename):
                where = f"{os.path.relpath(code.co_filename, self.root.parent)}:{tb.tb_lineno}"
            tb = tb.tb_next
        try:
            message = str(exc)
        except BaseException:  # a student exception whose __str__ itself fails
            message = "<unprintable>"
        if isinstance(exc, SyntaxError) and exc.filename and self.is_student_file(exc.filename):
            # The line at fault is the one that does not parse, not the import that reached it.
            where = f"{os.path.relpath(exc.filename, self.root.parent)}:{exc.lineno}"
            message = exc.msg
        shown = student_frames or frames[-1:]
        return {"error": {
            # Raised by the student's own line (a stub's raise), not by torch or the test's code below it.
            "raised_in_student_code": bool(frames) and self.is_student_file(frames[-1].filename),
            "type": type(exc).__name__,
            "message": message[:2000],
            "where": where,
            "function": function,
            "traceback": "".join(traceback.format_list(shown))[-4000:],
        }}

    def serve(self, connection: Connection) -> None:
        while True:
            try:
                payload = connection.recv_bytes()
            except EOFError:
                return
            request = load_request(payload)
            printed = io.StringIO()
            try:
                # What student code prints travels back with the reply, so pytest shows it
                # under the test that made the call.
                with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
                    reply = {"ok": to_wire(self.handle(request), self.keep)}
            except BaseException as exc:  # SystemExit and KeyboardInterrupt from student code included
                reply = self.error_reply(exc)
            if self.notes:
                reply["notes"], self.notes = self.notes, []
            output = printed.getvalue()
            if output:
                if len(output) > MAX_PRINTED:
                    output = output[:MAX_PRINTED] + f"\n[... {len(output) - MAX_PRINTED} more characters cut]\n"
                reply["printed"] = output
            try:
                data = dump_reply(reply)
            except BaseException as exc:
                data = dump_reply(self.error_reply(exc))
            connection.send_bytes(data)


def limit_memory(megabytes: int) -> None:
    if megabytes > 0:
        limit = megabytes * 1024 * 1024
        try:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        except (ValueError, OSError):  # some systems (macOS) do not enforce an address-space limit
            pass


def serve_forked(connection: Connection, root: Path, memory_mb: int) -> None:
    """The worker's life after a fork from the grading process, which already imported torch."""
    # The grading process may have imported a package of the same name as the graded
    # folder (its own exercises/, say): the worker must import the graded folder's files.
    for name in [m for m in sys.modules if m == root.name or m.startswith(root.name + ".")]:
        del sys.modules[name]
    signal.signal(signal.SIGINT, signal.default_int_handler)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    sys.stdin = open(os.devnull)
    limit_memory(memory_mb)
    connection.send_bytes(dump_reply({"ok": "ready"}))
    Worker(root).serve(connection)


def main() -> None:
    fd, root, memory_mb = int(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    connection = Connection(fd)
    limit_memory(memory_mb)
    import torch  # every step uses it; importing it now keeps the first call fast

    torch.set_num_threads(1)  # the tensors in a test are tiny: a second thread only contends
    connection.send_bytes(dump_reply({"ok": "ready"}))
    Worker(root).serve(connection)


if __name__ == "__main__":
    main()
