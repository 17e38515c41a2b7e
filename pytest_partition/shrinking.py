"""``--partition-shrink``: re-run a failed test with smaller fault schedules.

Each candidate schedule from :class:`~pytest_partition.shrink.Shrinker` is
tried by running the same test again in a fresh pytest process, with the
same seed and ``--partition-replay`` of the candidate: the workload and
every worker's operations stay as they were, only the faults change. A
candidate counts as failing when every one of ``--partition-shrink-tries``
runs fails at the same place as the original failure (timing bugs are not
deterministic). The test keeps its original failure; its report gains the
section ``partition: smallest failing schedule``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .schedule import Schedule
from .shrink import Attempt, Shrinker

__all__ = ["CHILD_ENV", "Crash", "ShrinkAborted", "crash_of", "is_child", "shrink_test"]

#: Set in the environment of the runs a shrink starts: they never shrink or
#: remember schedules themselves.
CHILD_ENV = "PYTEST_PARTITION_SHRINK_RUN"


def is_child() -> bool:
    """True inside a run started by a shrink."""
    return os.environ.get(CHILD_ENV) == "1"


@dataclass(frozen=True)
class Crash:
    """Where and how a test failed: the file, the line, the exception's type."""

    path: str
    lineno: int
    kind: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "lineno": self.lineno, "kind": self.kind}


def crash_of(report: pytest.TestReport) -> Crash | None:
    """The failure's location in the test's code, from its report."""
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is None:
        return None
    message = str(getattr(crash, "message", ""))
    kind = message.split(":", 1)[0].strip() if ":" in message else message.strip()
    return Crash(str(crash.path), int(crash.lineno), kind)


def shrink_test(item: pytest.Item, schedule: Schedule, *, seed: int, crash: Crash | None,
                folder: Path, budget: float, tries: int, estimate: float,
                hint: float | None, hint_run: int,
                progress: Callable[[str], None]) -> tuple[Schedule, list[Attempt], str | None]:
    """Shrink ``schedule`` for ``item``; return the smallest failing one, the candidates
    tried, and why the search stopped early (None when it did not)."""
    runs = folder / "shrink-runs"

    def fails(candidate: Schedule) -> bool:
        path = candidate.save(runs / "candidate.json")
        return _fails_every_try(item, path, seed, crash, runs, budget, tries)

    # Two tries run side by side, so a candidate costs about one run.
    shrinker = Shrinker(schedule, fails, budget=budget,
                        estimate=estimate * -(-tries // PARALLEL_TRIES), hint=hint,
                        hint_run=hint_run, progress=lambda a: progress(a.line()))
    stopped = None
    try:
        smallest = shrinker.run()
    except ShrinkAborted as error:
        stopped, smallest = str(error), shrinker.best
    finally:
        shutil.rmtree(runs, ignore_errors=True)
    if shrinker.out_of_time:
        stopped = (f"the budget of {budget:g} s is spent; the smallest failing schedule so far "
                   "is kept")
    if stopped:
        progress(f"stopped: {stopped}")
    return smallest, shrinker.attempts, stopped


class ShrinkAborted(Exception):
    """A re-run that neither passed nor failed: the shrink stops, saying why."""


#: Tries of one candidate that run at once (a 2-core machine runs two well).
PARALLEL_TRIES = 2


def _fails_every_try(item: pytest.Item, schedule: Path, seed: int, crash: Crash | None,
                     runs: Path, budget: float, tries: int) -> bool:
    """Run the test ``tries`` times with ``schedule``, two at a time: did every run
    fail where it failed before? Stops at the first run that does not."""
    pending = list(range(tries))
    running: dict[int, _Run] = {}
    try:
        while pending or running:
            while pending and len(running) < PARALLEL_TRIES:
                number = pending.pop(0)
                running[number] = _Run(item, schedule, seed, runs / f"try-{number}", budget)
            for number, run in list(running.items()):
                outcome = run.poll()
                if outcome is None:
                    continue
                del running[number]
                if not outcome or not _same_failure(run.artifacts, crash):
                    return False
            if running:
                next(iter(running.values())).wait(0.1)
        return True
    finally:
        for run in running.values():
            run.kill()


class _Run:
    """One run of the test in a fresh pytest process, with a schedule to replay."""

    def __init__(self, item: pytest.Item, schedule: Path, seed: int, artifacts: Path,
                 budget: float) -> None:
        shutil.rmtree(artifacts, ignore_errors=True)
        self.artifacts = artifacts
        config = item.config
        target = str(item.path)
        if "::" in item.nodeid:
            target += "::" + item.nodeid.split("::", 1)[1]
        command = [sys.executable, "-m", "pytest", target, "-q", "-p", "no:cacheprovider",
                   f"--rootdir={config.rootpath}", f"--partition-seed={seed}",
                   f"--partition-replay={schedule}", f"--partition-artifacts={artifacts}",
                   "--partition-no-remember"]
        if config.pluginmanager.hasplugin("xdist"):
            command.append("-n0")  # one test: no workers
        if config.getoption("runxfail", False):
            command.append("--runxfail")  # an xfail test must fail again, not xfail
        command.extend(_plugin_and_ini_options(config.invocation_params.args))
        self._output = tempfile.TemporaryFile()  # noqa: SIM115 - closed in poll/kill
        self._deadline = time.monotonic() + max(budget, 30.0)
        self._child = subprocess.Popen(
            command, cwd=config.invocation_params.dir, env={**os.environ, CHILD_ENV: "1"},
            stdout=self._output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)

    def poll(self) -> bool | None:
        """None while it runs; then True when the test failed (exit code 1), False
        when it passed. Any other end (a usage or collection error, nothing
        collected) raises :class:`ShrinkAborted` with the end of its output:
        the candidate says nothing, and neither would the next."""
        code = self._child.poll()
        if code is None:
            if time.monotonic() < self._deadline:
                return None
            self.kill()
            return False
        if code not in (0, 1):
            self._output.seek(0)
            tail = self._output.read().decode(errors="replace").strip().splitlines()[-12:]
            self._output.close()
            raise ShrinkAborted(f"a re-run of the test ended with exit code {code} "
                                "(not a pass, not a failure):\n" + "\n".join(tail))
        self._output.close()
        return code == 1

    def wait(self, timeout: float) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._child.wait(timeout)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._child.pid, signal.SIGKILL)
        self._child.wait()
        self._output.close()


def _plugin_and_ini_options(args: Sequence[str]) -> list[str]:
    """The parent run's ``-p NAME`` and ``-o KEY=VALUE`` options (plugins it loaded or
    blocked, ini values it overrode), which a re-run needs to behave alike."""
    kept: list[str] = []
    pending = False
    for arg in args:
        if pending:
            kept.append(arg)
            pending = False
        elif arg in ("-p", "-o", "--override-ini"):
            kept.append(arg)
            pending = True
        elif arg.startswith(("--override-ini=", "-p", "-o")):  # "-pNAME", "-oKEY=VALUE"
            kept.append(arg)
    return kept


def _same_failure(artifacts: Path, crash: Crash | None) -> bool:
    """Did the run fail where the original did (same line, same exception type)?"""
    if crash is None:
        return True
    return any(_same_crash(result, crash) for result in artifacts.rglob("result.json"))


def _same_crash(result: Path, crash: Crash) -> bool:
    try:
        data = json.loads(result.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    seen = data.get("crash") or {}
    return (seen.get("lineno") == crash.lineno and seen.get("kind") == crash.kind
            and Path(str(seen.get("path"))).name == Path(crash.path).name)
