"""A process that runs grading suites fast, for the project's own tests.

The project's tests run a step's suite hundreds of times (every mutant, both modes,
several seeds). Each fresh ``python -m pytest`` spends about 2.5 s importing torch and
pytest before the first test. This server imports them once; for each request it forks
a child that runs ``pytest.main`` and exits, so a run costs only its own tests.

Protocol, one JSON object per line: the client sends
``{"args": [...], "cwd": DIR, "output": FILE, "timeout": S}`` on stdin; the server answers
``{"code": EXIT_CODE}`` on stdout once the run is over (-9 if it had to be killed). The
server is started fresh by ``helpers.SuiteServer`` and has a single thread, so forking it
is safe; it never imports the graded code itself, so every child starts clean.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import sys
import time


def run_child(request: dict) -> None:
    """In the forked child: run pytest with the request's arguments, output to its file."""
    os.chdir(request["cwd"])
    output = os.open(request["output"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(output, 1)
    os.dup2(output, 2)
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    sys.stdin = open(os.devnull)
    sys.path.insert(0, request["cwd"])
    import pytest

    code = pytest.main(request["args"])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(int(code))


def wait_for(pid: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return -9
        time.sleep(0.01)


def main() -> None:
    import pytest  # noqa: F401  imported once here, inherited by every child
    import torch
    import torch._dynamo  # noqa: F401  2 s on a slow CPU: torch.optim and every dispatch-mode probe import it

    torch.set_num_threads(1)
    # The children's garbage collector skips what the server holds: otherwise every collection
    # walks (and so copies, page by page) the whole of torch in each child.
    gc.freeze()
    reply = sys.stdout
    sys.stdout = sys.stderr  # nothing but replies may reach the client's pipe
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            try:
                run_child(request)
            finally:
                os._exit(70)
        reply.write(json.dumps({"code": wait_for(pid, request.get("timeout", 300))}) + "\n")
        reply.flush()


if __name__ == "__main__":
    main()
