"""OS-level isolation of the worker that runs student code: bubblewrap (``bwrap``).

The sandbox worker of ``grader.seam`` keeps student objects out of the grading process, but a
worker that is only a separate process can still reach what the grader's user can: the score
file, the suites, the reference solutions, other submissions, the network, the grading
process itself (ptrace, signals). Under ``Isolation`` the worker starts inside bubblewrap:

* new user, pid, network, ipc, uts and cgroup namespaces; uid and gid 65534 (nobody) inside,
  no capabilities, no further user namespaces, a new session (no terminal to inject into);
* an empty environment, apart from a few variables Python needs;
* a read-only view of exactly what it needs: the system libraries, the Python install and
  its environment, the grading framework, the suites' folder (for the probes) and the graded
  copy of the student's modules; a size-capped private ``/tmp``; nothing else (no home, no
  instructor checkout, no ``solutions/``, no other submission);
* no network: a private loopback only, so nothing on the host is reachable;
* resource limits (processes, file size, no core files) set before bubblewrap starts, and
  ``--die-with-parent``: when the grading process goes, the whole sandbox goes with it. The
  worker's own memory limit still applies inside.

Install it with ``apt-get install bubblewrap`` (Debian, Ubuntu) or ``dnf install bubblewrap``.
"""

from __future__ import annotations

import functools
import os
import resource
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

NOBODY = 65534
INSTALL_HINT = "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap)"


@dataclass(frozen=True)
class Limits:
    processes: int = 64  # threads count too: torch's pool plus a few children
    file_size_mb: int = 64
    tmp_mb: int = 64


@functools.lru_cache(maxsize=1)
def unavailable_reason() -> str | None:
    """None when bubblewrap can isolate a worker here, else one line saying why not."""
    if not sys.platform.startswith("linux"):
        return f"bubblewrap needs Linux namespaces, and this is {sys.platform}"
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return f"bwrap was not found on the PATH: {INSTALL_HINT}"
    trial = [bwrap, "--unshare-all", "--unshare-user", "--die-with-parent", "--ro-bind", "/", "/", "true"]
    try:
        result = subprocess.run(trial, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bwrap did not run: {error}"
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        return ("bwrap cannot create the namespaces it needs here (user namespaces may be disabled in this "
                f"kernel or container): {detail[-1] if detail else f'exit code {result.returncode}'}")
    return None


def _system_paths() -> list[Path]:
    """The folders of the shared libraries and the interpreter that Python and torch load."""
    paths = [Path(p) for p in ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc/ld.so.cache",
                               "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives")]
    return [p for p in paths if p.exists() or p.is_symlink()]


def _python_paths() -> list[Path]:
    """The Python install, the virtual environment, and their site-packages (resolved, not symlinks)."""
    candidates = {sys.base_prefix, sys.prefix, sys.exec_prefix, sys.base_exec_prefix,
                  os.path.dirname(os.path.realpath(sys.executable))}
    for name in ("stdlib", "platstdlib", "purelib", "platlib"):
        candidates.add(sysconfig.get_path(name))
    return [Path(p) for p in sorted(candidates) if p and Path(p).exists()]


@dataclass
class Isolation:
    """How to start a worker inside bubblewrap, seeing read-only only ``readable`` (and Python).

    ``readable`` holds folders seen at their own path; ``mounts`` maps a folder here to the path
    the sandbox sees it at; ``writable`` holds folders it may write to (the tests' scratch
    folders, where a test and the student's code exchange files such as checkpoints);
    ``python_path`` becomes the sandbox's PYTHONPATH.
    """

    readable: list[Path]
    writable: list[Path] = field(default_factory=list)
    limits: Limits = field(default_factory=Limits)
    mounts: dict[Path, Path] = field(default_factory=dict)
    python_path: list[Path] = field(default_factory=list)

    def command(self, argv: list[str]) -> list[str]:
        reason = unavailable_reason()
        if reason:
            raise RuntimeError(f"cannot isolate the worker: {reason}")
        args = [shutil.which("bwrap"), "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent",
                "--new-session", "--cap-drop", "ALL", "--uid", str(NOBODY), "--gid", str(NOBODY),
                "--hostname", "sandbox", "--clearenv"]
        # The private /tmp first: the folders bound below may lie under /tmp on the host. Then the
        # folders bwrap makes in it to hold them (a checkout in /tmp/x: /tmp/x, /tmp/x/exercises) would
        # be writable, and code could plant files beside the bound ones; so /tmp is made read-only once
        # they are bound, and the writable scratch space is a tmpfs of its own inside it.
        scratch = "/tmp"
        read_only = [*_python_paths(), *self.readable, *self.mounts]
        if any(Path("/tmp") in Path(p).resolve().parents for p in read_only):
            scratch = "/tmp/.private"
        capped = ["--size", str(self.limits.tmp_mb * 1024 * 1024)]  # applies to the --tmpfs after it
        args += ["--tmpfs", "/tmp"] if scratch != "/tmp" else [*capped, "--tmpfs", "/tmp"]
        mounted: list[Path] = []
        for path in [*_system_paths(), *_python_paths(), *self.readable]:
            if path.is_symlink() and str(path).count("/") == 1:  # /lib -> usr/lib on merged-/usr systems
                args += ["--symlink", os.readlink(path), str(path)]
                continue
            real = path.resolve()
            if any(real == m or m in real.parents for m in mounted):
                continue
            mounted.append(real)
            args += ["--ro-bind", str(real), str(real)]
            if str(path) != str(real):  # the path the caller knows, as a link to where it really is
                args += ["--symlink", str(real), str(path)]
        for source, target in self.mounts.items():
            args += ["--ro-bind", str(source.resolve()), str(target)]
        for path in self.writable:
            args += ["--bind", str(path.resolve()), str(path.resolve())]
        if scratch != "/tmp":
            args += ["--dir", scratch, "--remount-ro", "/tmp", *capped, "--tmpfs", scratch]
        args += ["--proc", "/proc", "--dev", "/dev", "--remount-ro", "/", "--chdir", scratch,
                 "--setenv", "HOME", scratch, "--setenv", "TMPDIR", scratch, "--setenv", "LANG", "C.UTF-8",
                 "--setenv", "PYTHONDONTWRITEBYTECODE", "1", "--setenv", "PYTHONUNBUFFERED", "1",
                 "--setenv", "OMP_NUM_THREADS", "1"]
        if self.python_path:
            args += ["--setenv", "PYTHONPATH", os.pathsep.join(str(p) for p in self.python_path)]
        return [*args, "--", *argv]

    def set_limits(self) -> None:
        """Run in the child before bubblewrap starts (``preexec_fn``): the limits pass on to the sandbox."""
        limits = self.limits
        for which, value in ((resource.RLIMIT_NPROC, limits.processes),
                             (resource.RLIMIT_FSIZE, limits.file_size_mb * 1024 * 1024),
                             (resource.RLIMIT_CORE, 0)):
            try:
                resource.setrlimit(which, (value, value))
            except (ValueError, OSError):
                pass
