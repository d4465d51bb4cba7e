"""A corpus of hostile step00 submissions for ``course grade`` (tests/test_batch.py).

Each entry is the student stub of ``step00/bigram.py`` (honest score: 0) plus an attack. An
attack that works leaves *evidence*: a file written into a folder on the grading machine
(``{evidence}``), which no isolated worker can see. Some attacks also try to turn what they
found into points. The test grades all of them in one batch, beside an honest correct
submission and an honest stub, and checks that every hostile one scores 0 (or fails to
grade), that the honest ones score exactly what they should, that no evidence appeared, and
that nothing of the instructor's files changed.

The placeholders ``{evidence}``, ``{repo}``, ``{venv}``, ``{out}``, ``{submissions}``,
``{port}`` and ``{stamp}`` are filled in by the test.
"""

from __future__ import annotations

# Every attack that gets anywhere calls _evidence: it leaves a file in {evidence} (seen only if
# the file system is not isolated) and swaps in the reference code that the module carries as
# _SOLUTION (seen as points, whatever else is isolated). So an attack that works shows. Two helpers
# serve several attacks: _try_write (a file the worker must not reach) and _send_raw (a forged reply).
EVIDENCE = '''
def _evidence(what, detail=""):
    import os
    try:
        os.makedirs("{evidence}", exist_ok=True)
        with open(os.path.join("{evidence}", "{{}}-{{}}".format(__name__.replace(".", "_"), what)), "w") as f:
            f.write(str(detail))
    except OSError:
        pass
    exec(_SOLUTION, globals())


def _try_write(path, data, what, mode="w"):
    """Write ``data`` to a file the worker must not be able to touch; evidence if it could."""
    try:
        with open(path, mode) as f:
            f.write(data)
        _evidence(what, path)
    except OSError:
        pass


def _send_raw(payload):
    """Send ``payload`` to the grading process as if it were the worker's reply, then hang."""
    import gc, time
    from multiprocessing.connection import Connection
    for obj in gc.get_objects():
        if isinstance(obj, Connection):
            obj.send_bytes(payload)
    time.sleep(30)
'''

ATTACKS: dict[str, str] = {
    # -- a broken module --------------------------------------------------------------------------
    "syntax-error": "def broken(:\n    pass\n",
    "sys-exit": "import sys\nsys.exit(0)\n",
    "os-exit": "import os\nos._exit(0)\n",
    "import-loop": "while True:\n    pass\n",
    "memory-hog": "_hog = bytearray(64 * 1024 ** 3)\n",
    "read-stdin": "input()\n",
    "fork-bomb": '''
import os
for _ in range(10000):
    try:
        os.fork()
    except OSError:
        pass
''',
    # -- lies on the output -------------------------------------------------------------------------
    "fake-score-lines": '''
import sys
for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
    try:
        print("step00: 25/25 points", file=stream, flush=True)
        print("================ 12 passed in 0.1s ================", file=stream, flush=True)
    except Exception:
        pass
import os
for fd in (1, 2):
    try:
        os.write(fd, b"step00: 25/25 points\\n")
    except OSError:
        pass
''',
    "stdout-spam": '''
import os
_chunk = b"x" * (1 << 20)
for _ in range(2048):  # two gigabytes to the raw descriptors
    try:
        os.write(1, _chunk)
        os.write(2, _chunk)
    except OSError:
        break
''',
    # -- patching the judges (which live in another process) ---------------------------------------
    "patch-torch-testing": '''
import torch, torch.testing
torch.testing.assert_close = lambda *args, **kwargs: None
torch.allclose = lambda *args, **kwargs: True
torch.equal = lambda *args, **kwargs: True
torch.Tensor.__eq__ = lambda self, other: torch.ones((), dtype=torch.bool)
''',
    "patch-builtins": '''
import builtins
builtins.isinstance = lambda obj, cls: True
builtins.AssertionError = type("AssertionError", (Exception,), {{}})
builtins.abs = lambda x: 0
''',
    "patch-pytest": '''
try:
    import pytest, _pytest.outcomes, _pytest.runner
    pytest.fail = lambda *args, **kwargs: None
    _pytest.outcomes.fail = lambda *args, **kwargs: None
    _pytest.runner.call_and_report = lambda *args, **kwargs: None
except Exception:
    pass
''',
    # -- the instructor's files ------------------------------------------------------------------
    # -- answers memorised for the visible inputs ----------------------------------------------
    "hard-coded-answers": '''
import zlib
import torch
# The table test_counts_match_definition expects under the default grading seed, worked out once
# and returned whatever the input: right for the inputs a student can see, wrong for any other.
_generator = torch.Generator().manual_seed(zlib.crc32(b"0:test_counts_match_definition") % (2 ** 31))
_ids = torch.randint(0, 5, (200,), generator=_generator)
_MEMORISED = torch.zeros(6, 6, dtype=torch.long)  # the test asks for one token more than occur
for _current, _following in zip(_ids[:-1].tolist(), _ids[1:].tolist()):
    _MEMORISED[_current, _following] += 1


def bigram_counts(ids, vocab_size):
    return _MEMORISED.clone()
''',
    "import-solutions": '''
import sys
sys.path[:0] = ["{repo}", "{repo}/solutions"]
try:
    from solutions.step00.bigram import *  # noqa: F401,F403  (full marks, if only it were there)
    _evidence("imported")
except Exception:
    pass
try:
    with open("{repo}/solutions/step00/bigram.py") as f:
        _evidence("read", f.read()[:100])
except OSError:
    pass
''',
    "delete-tests": '''
import glob, os
for path in glob.glob("{repo}/exercises/step00/test_*.py"):
    _try_write(path, "def test_nothing():\\n    pass\\n", "rewrote-test")
    try:
        os.remove(path)
        _evidence("deleted-test")
    except OSError:
        pass
''',
    "plant-modules": '''
import glob, os
targets = ["{repo}/exercises/conftest.py", "{repo}/exercises/step00/conftest.py", "{repo}/conftest.py",
           "{repo}/grader/evil.py", "{repo}/sitecustomize.py"]
targets += [p + "/zzz_evil.pth" for p in glob.glob("{venv}/lib/python3*/site-packages")]
targets += [p + "/sitecustomize.py" for p in glob.glob("{venv}/lib/python3*/site-packages")]
for target in targets:
    _try_write(target, "import os\\n", "planted")
for pyc in glob.glob("{repo}/exercises/step00/__pycache__/*.pyc") + glob.glob("{repo}/grader/__pycache__/*.pyc"):
    _try_write(pyc, b"poison", "poisoned", mode="ab")
''',
    "write-output": '''
import glob
for target in ["{out}/grades.csv", "{out}/summary.md"] + glob.glob("{out}/results/*.json"):
    _try_write(target, "hostile,25,25,graded\\n", "wrote-output", mode="a")
''',
    "classmates": '''
import glob
for path in glob.glob("{submissions}/*/exercises/step00/bigram.py") + glob.glob("/tmp/grade-*/exercises/step00/bigram.py"):
    _try_write(path, "raise SystemExit\\n", "rewrote-classmate")
''',
    # -- the grading process and what outlives the run -----------------------------------------------
    "signal-the-grader": '''
import os, signal
for pid in os.listdir("/proc"):
    if not pid.isdigit() or int(pid) == os.getpid():
        continue
    try:
        with open(f"/proc/{{pid}}/cmdline", "rb") as f:
            command = f.read()
    except OSError:
        continue
    if b"--score-json" in command:  # the grading process (its own sandbox's processes do not count)
        _evidence("saw-grader", command[:200])
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            try:
                os.kill(int(pid), sig)
            except OSError:
                pass
try:
    os.kill(os.getppid(), signal.SIGSTOP)
except OSError:
    pass
''',
    "ptrace-the-grader": '''
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
for pid in [p for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]:
    try:
        with open(f"/proc/{{pid}}/cmdline", "rb") as f:
            if b"--score-json" not in f.read():  # the grading process is the target
                continue
    except OSError:
        continue
    if libc.ptrace(16, int(pid), None, None) == 0:  # PTRACE_ATTACH
        _evidence("attached", pid)
''',
    "detached-rewriter": '''
import json, os, time, glob
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        full = json.dumps({{"step": "step00", "points": 25, "max_points": 25, "tests": []}})
        for _ in range(600):
            for path in glob.glob("/tmp/score-*/score.json") + glob.glob("{out}/results/*.json"):
                _try_write(path, full, "rewrote-score")
            time.sleep(0.05)
        os._exit(0)
    os._exit(0)
''',
    "background-processes": '''
import subprocess, sys
try:
    subprocess.Popen(["sleep", "600", "{stamp}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
except OSError:
    pass
try:  # a child that keeps the output descriptors open, for a batch that waits for them to close
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)  # {stamp}"])
except OSError:
    pass
''',
    # -- what the worker should not see ---------------------------------------------------------------
    "environment": '''
import os
if "COURSE_TEST_SECRET" in os.environ:
    _evidence("secret", os.environ["COURSE_TEST_SECRET"])
for name in ("HOME", "USER", "SSH_AUTH_SOCK"):
    if os.environ.get(name, "").startswith(("/root", "/home")):
        _evidence("home", os.environ[name])
''',
    "network": '''
import socket
for host in ("127.0.0.1", "::1", "localhost"):
    try:
        with socket.create_connection((host, {port}), timeout=2) as s:
            s.sendall(b"hello from the sandbox")
            _evidence("connected", host)
    except OSError:
        pass
''',
    # -- crafted replies to the grading process --------------------------------------------------------
    "nested-reply": '''
import io, zipfile, torch
def _deep_reply():
    buffer = io.BytesIO()
    torch.save({{"ok": 1}}, buffer)
    original = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as crafted:
        for info in original.infolist():
            data = original.read(info.filename)
            if info.filename.endswith("data.pkl"):  # {{"ok": ((((...),),),): 1}} a million levels deep
                data = b"\\x80\\x02}}q\\x00X\\x02\\x00\\x00\\x00okq\\x01}}q\\x02)" + b"\\x85" * 1_000_000 + b"K\\x01ss."
            crafted.writestr(info.filename, data)
    return out.getvalue()
def bigram_counts(ids, vocab_size):
    _send_raw(_deep_reply())
''',
    "huge-reply": '''
def bigram_counts(ids, vocab_size):
    _send_raw(b"\\0" * (300 * 1024 * 1024))
''',
    "zip-bomb-reply": '''
import io, zipfile, torch
def bigram_counts(ids, vocab_size):
    buffer = io.BytesIO()
    torch.save({{"ok": torch.zeros(2 ** 28, dtype=torch.uint8)}}, buffer)
    original = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bomb:
        for info in original.infolist():
            bomb.writestr(info.filename, original.read(info.filename))
    _send_raw(out.getvalue())
''',
}

# Files a submission may carry besides its modules, all of which the grader must ignore.
EXTRA_FILES: dict[str, dict[str, str]] = {
    "conftest-and-ini": {
        "exercises/conftest.py": "import pytest\n@pytest.hookimpl(tryfirst=True)\ndef pytest_sessionfinish(session):\n"
                                 "    open('{evidence}/conftest-ran', 'w').close()\n",
        "exercises/step00/conftest.py": "open('{evidence}/step-conftest-ran', 'w').close()\n",
        "exercises/step00/test_bigram.py": "def test_free_points():\n    assert True\n",
        "pytest.ini": "[pytest]\naddopts = -p no:grader.plugin\n",
        "pyproject.toml": "[tool.pytest.ini_options]\naddopts = ['-p', 'no:grader.plugin']\n",
        "setup.cfg": "[tool:pytest]\naddopts = -x\n",
        "exercises/step00/evil.pth": "import os; open('{evidence}/pth-ran', 'w').close()\n",
        "sitecustomize.py": "open('{evidence}/sitecustomize-ran', 'w').close()\n",
    },
}


def module_source(stub: str, solution: str, attack: str, **places: str) -> str:
    """The stub, the reference (as a string, used only if an attack succeeds), the evidence helper
    and the attack, with the placeholders filled in."""
    return (stub + f"\n\n_SOLUTION = {solution!r}\n" + EVIDENCE.format(**places) + "\n" + attack.format(**places))
