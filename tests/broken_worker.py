"""A pytest plugin for tests/test_worker_start.py: no grading worker ever starts.

Loaded with ``-p broken_worker``, every worker the sandbox starts is a process that exits at
once, before its "ready": what a machine out of memory or processes would do to it.
"""

from __future__ import annotations

import subprocess
import sys

from grader.seam import Sandbox


def a_worker_that_dies_at_once(self, *ends):
    return subprocess.Popen([sys.executable, "-c", "pass"])


def pytest_configure(config):
    Sandbox._fork = Sandbox._spawn = Sandbox._spawn_isolated = a_worker_that_dies_at_once
