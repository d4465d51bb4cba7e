"""A pytest plugin for tests/test_worker_start.py: grading workers that stop starting.

Loaded with ``-p broken_worker``, every worker the sandbox starts is a process that exits at
once, before its "ready": what a machine out of memory or processes does to it. With
``--workers-that-start N`` the first N start as usual, and each is killed after the test that
started it, as the kernel's out-of-memory killer might.
"""

from __future__ import annotations

import subprocess
import sys

from grader.plugin import STATE
from grader.seam import Sandbox


def a_worker_that_dies_at_once(self, *ends):
    return subprocess.Popen([sys.executable, "-c", "pass"])


def pytest_addoption(parser):
    parser.addoption("--workers-that-start", type=int, default=0, help="how many workers start before they fail to")


def pytest_configure(config):
    started = []
    for name in ("_fork", "_spawn", "_spawn_isolated"):
        def start(self, *ends, real=getattr(Sandbox, name)):
            started.append(name)
            if len(started) <= config.getoption("workers_that_start"):
                return real(self, *ends)
            return a_worker_that_dies_at_once(self)

        setattr(Sandbox, name, start)


def pytest_runtest_teardown(item):
    backend = item.config.stash[STATE].backend
    if getattr(backend, "process", None) is not None and backend.process.poll() is None:
        backend.process.kill()
