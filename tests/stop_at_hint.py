"""A pytest plugin for the mutant tests: end a suite at the first failure that names the mistake.

A mutant is caught once one test has failed with the hint the catalogue expects for it: the
tests after that one cannot undo the lost points, so running them only costs time (a third of
`make test` is mutants). Loaded with ``-p stop_at_hint --stop-at-hint TEXT --hint-found FILE``:
FILE then holds the name of that test, as the score JSON names it. When no failure names the
mistake, the suite runs to its end and FILE is not written.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.plugin import STATE

_config: pytest.Config | None = None  # pytest_runtest_logreport is given neither config nor session
SESSION = pytest.StashKey[pytest.Session]()


def pytest_addoption(parser):
    parser.addoption("--stop-at-hint", default=None, help="end the run at the first failure whose hint holds TEXT")
    parser.addoption("--hint-found", default=None, help="where to write the name of that test")


def pytest_configure(config):
    global _config
    _config = config


def pytest_sessionstart(session):
    session.config.stash[SESSION] = session


@pytest.hookimpl(trylast=True)  # after the grader's own hook has recorded this report
def pytest_runtest_logreport(report):
    wanted = _config.getoption("stop_at_hint")
    if not wanted or not report.failed:
        return
    state = _config.stash[STATE]
    record = state.records.get(report.nodeid)
    if record is None or wanted not in (state.hint_for(record) or ""):
        return
    Path(_config.getoption("hint_found")).write_text(record.name)
    # pytest ends the session after the current test, as -x does.
    _config.stash[SESSION].shouldstop = f"a failure names the mistake: {record.name}"
