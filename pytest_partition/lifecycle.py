"""The life of one partition test: its clusters, its nemesis, and its ending.

:class:`TestClusters` is what the ``cluster_factory`` fixture holds for one
test. It starts clusters on demand (arguments from the test's markers and the
run's options), runs the nemesis marker's schedule on the first one (or
replays a recorded schedule), and when the test ends stops everything, keeps
or drops the artifacts, and leaves the summary row (and, for an expected
failure, its report) in the test's ``user_properties``, which travel to the
controller under pytest-xdist. When a test that applied faults fails, it can
shrink the fault schedule (``--partition-shrink``) and remembers the smallest
failing one in pytest's cache, to replay it first next time.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .cluster import Cluster
from .errors import ClusterError
from .markers import Markers
from .report import (
    Analysis,
    analyse,
    artifact_dir_name,
    replay_command,
    replay_text,
    report_sections,
    summary_row,
    write_artifacts,
)
from .schedule import SCHEDULE_FILE, Schedule
from .seeds import derive_seed
from .settings import CLUSTER_MARKER_ARGS, MarkerError, Settings, cluster_kwargs, merge_marker_args
from .shrinking import crash_of, is_child, shrink_test

__all__ = ["SUMMARY_PROPERTY", "XFAIL_PROPERTY", "TestClusters", "expected_failure",
           "remembered_key", "replay_of", "run_seed", "terminal_writer"]

#: user_properties names of the summary row and of an expected failure's report.
SUMMARY_PROPERTY = "partition_summary"
XFAIL_PROPERTY = "partition_xfail_report"
#: The smallest failing schedule kept for a test by the cache.
SMALLEST_FILE = "smallest-schedule.json"


def remembered_key(nodeid: str) -> str:
    """The cache key of a test's remembered failing schedule."""
    return f"partition/schedule/{nodeid}"


def _remembered_schedule(item: pytest.Item, settings: Settings) -> Schedule | None:
    """The failing schedule the cache remembers for this test, when it may be used:
    not inside a shrink, not with --partition-no-remember or an explicit seed. A
    remembered schedule that cannot be read is forgotten."""
    cache = getattr(item.config, "cache", None)
    if cache is None or settings.no_remember or settings.seed_given or is_child():
        return None
    data = cache.get(remembered_key(item.nodeid), None)
    if data is None:
        return None
    try:
        return Schedule.from_dict(data, "the remembered schedule")
    except ValueError:
        cache.set(remembered_key(item.nodeid), None)
        return None


def replay_of(item: pytest.Item, settings: Settings,
              given: Schedule | None) -> tuple[Schedule | None, str | None]:
    """The schedule a test replays, and where it came from: ``given`` (the one
    ``--partition-replay`` names) as "option", else the failing schedule the
    cache remembers as "remembered", else ``(None, None)``.

    A schedule without faults is empty but given: it is tested against None,
    never for truth."""
    if given is not None:
        return given, "option"
    remembered = _remembered_schedule(item, settings)
    return remembered, ("remembered" if remembered is not None else None)


def run_seed(settings: Settings, replay: Schedule | None) -> int:
    """A test's run seed: a replayed schedule's own, unless ``--partition-seed`` was
    given, so that the workers and the nodes' randomness are those it was recorded
    with; else the session's."""
    if replay is not None and replay.seed is not None and not settings.seed_given:
        return replay.seed
    return settings.seed


def expected_failure(report: pytest.TestReport) -> bool:
    """True for an xfail test that did fail as expected."""
    return report.skipped and hasattr(report, "wasxfail")


def unexpected_pass(report: pytest.TestReport) -> bool:
    """True for a strict xfail test that passed, which pytest reports as failed
    (``[XPASS(strict)] reason``): its faults broke nothing, so they are no
    failing schedule."""
    return report.failed and str(report.longrepr).startswith("[XPASS(strict)]")


class TestClusters:
    """The clusters one test started, and what happens to them when it ends."""

    __test__ = False  # not a test class, whatever its name says

    def __init__(self, item: pytest.Item, settings: Settings, markers: Markers,
                 spec: str | None, artifacts_root: Path,
                 progress: Callable[[str], None] | None,
                 replay: Schedule | None = None) -> None:
        self.item = item
        self.settings = settings
        self.markers = markers
        self.spec = spec
        self.folder = artifacts_root / artifact_dir_name(item.nodeid)
        self.started: list[Cluster] = []
        self.failed_start = False
        self.call_report: pytest.TestReport | None = None
        self.analyses: list[tuple[Cluster, Analysis]] | None = None
        self.smallest: Schedule | None = None
        self._errors: list[BaseException] = []  # raised at teardown, never from a hook
        self._progress = progress
        self._began = time.monotonic()
        self._cache = getattr(item.config, "cache", None)
        #: The replayed schedule, and where it came from: "option", "remembered"
        #: or None (see :func:`replay_of`).
        self.replay, self.replay_source = replay_of(item, settings, replay)
        #: This test's run seed (see :func:`run_seed`).
        self.seed = run_seed(settings, self.replay)
        shutil.rmtree(self.folder, ignore_errors=True)  # a previous run of the same test

    # -- while the test runs ---------------------------------------------------------

    def start(self, **overrides: Any) -> Cluster:
        """Start one more cluster: the markers' arguments, ``overrides`` winning."""
        __tracebackhide__ = True  # a bad argument's traceback ends in the test's call
        config = self.item.config
        cluster = Cluster(
            **self._kwargs(overrides),
            seed=derive_seed(self.seed, self.item.nodeid, len(self.started)),
            spec=self.spec,
            workdir=self.folder / f"cluster{len(self.started) or ''}",
            keep_workdir=True,
            on_fault=lambda c, event: config.hook.pytest_partition_fault(cluster=c, event=event),
        )
        cluster.on_progress = self._progress
        if not self.started:
            cluster.replay = self.replay  # a replayed schedule is the first cluster's
        try:
            cluster.start()
        except ClusterError as error:  # a node did not start, or no leader was elected
            self.failed_start = True
            # The message says all there is (node, exit code, log tail); our
            # own stack frames would only bury it, and "from None" keeps the
            # error from being printed again as the context.
            raise pytest.fail.Exception(f"{type(error).__name__}: {error}\n"
                                        f"node logs: {cluster.workdir}", pytrace=False) from None
        self.started.append(cluster)
        config.hook.pytest_partition_cluster_started(cluster=cluster)
        if self.markers.nemesis is not None and len(self.started) == 1:
            specs, interval, heal_interval = self.markers.nemesis
            cluster.start_nemesis(specs, interval=interval, heal_interval=heal_interval)
        return cluster

    def _kwargs(self, overrides: dict[str, Any]) -> dict[str, Any]:
        """Cluster arguments: markers and options, then ``overrides`` checked as
        one more marker, the closest (a bad value gets a marker's message)."""
        __tracebackhide__ = True
        kwargs = dict(self.markers.cluster_kwargs)
        if overrides:
            marks = [("cluster_factory()", (), overrides), *self.markers.cluster]
            try:
                kwargs = cluster_kwargs(
                    merge_marker_args("cluster", marks, (), CLUSTER_MARKER_ARGS), self.settings)
            except MarkerError as error:
                # Raised afresh: the traceback ends here, not in settings.py.
                raise MarkerError(str(error)) from None
        if kwargs.get("command") is None:
            config = self.item.config
            command = config.hook.pytest_partition_node_command(
                config=config, mode=kwargs["mode"], bug=kwargs.get("bug"))
            if command is not None:
                kwargs["command"], kwargs["bug"] = list(command), None
        return kwargs

    # -- replay and remember -------------------------------------------------------------

    def _remember(self, schedule: Schedule) -> None:
        if self._cache is not None and not self.settings.no_remember and not is_child():
            self._cache.set(remembered_key(self.item.nodeid), schedule.to_dict())

    def _forget(self) -> None:
        if self._cache is not None and not is_child():
            self._cache.set(remembered_key(self.item.nodeid), None)

    # -- when the call phase has its report -------------------------------------------

    def failure_sections(self, report: pytest.TestReport) -> list[tuple[str, str]]:
        """Remember the call's report; for a failure, check the histories now,
        while the nodes still run, shrink the schedule if asked, and return the
        report's sections."""
        self.call_report = report
        if not report.failed or not self.started:
            return []
        try:
            return self._failure_sections(report)
        except Exception as error:  # noqa: BLE001 - a hook must not stop the session
            self._errors.append(error)
            return [("partition: report", f"could not be made: {type(error).__name__}: {error}")]

    def _failure_sections(self, report: pytest.TestReport) -> list[tuple[str, str]]:
        self.analyses = self._analyse()
        sections = report_sections(self.analyses, artifacts=self.folder, replay=self._replay())
        schedule = self._schedule_of(self.started[0])
        if len(schedule) and not unexpected_pass(report):
            if self._may_shrink():
                # Before the artifacts and the replay line, which close the report.
                sections.insert(-2, ("partition: smallest failing schedule",
                                     self._shrink(report, schedule)))
            self._remember(self.smallest or schedule)
        return sections

    def _may_shrink(self) -> bool:
        return self.settings.shrink and not is_child()

    def _shrink(self, report: pytest.TestReport, schedule: Schedule) -> str:
        """Stop everything (a quiet machine for the re-runs), shrink, and say what
        was found; the smallest failing schedule is kept in :attr:`smallest`."""
        self._stop_all()
        cluster = self.started[0]
        hint, hint_run = self._hint(cluster)
        began = time.monotonic()
        write = (self._progress or terminal_writer(self.item.config, "partition: ")
                 or (lambda line: None))
        write(f"shrinking the {len(schedule)} fault(s) of {self.item.nodeid} (budget "
              f"{self.settings.shrink_budget:g} s, {self.settings.shrink_tries} tries each)")
        smallest, attempts, stopped = shrink_test(
            self.item, schedule, seed=self.seed, crash=crash_of(report),
            folder=self.folder, budget=self.settings.shrink_budget,
            tries=self.settings.shrink_tries, estimate=time.monotonic() - self._began,
            hint=hint, hint_run=hint_run, progress=lambda line: write(f"shrink: {line}"))
        self.smallest = smallest
        path = smallest.save(self.folder / SMALLEST_FILE)
        lines = [f"{len(smallest)} of {len(schedule)} fault(s) still fail "
                 f"({self.settings.shrink_tries} of {self.settings.shrink_tries} tries; "
                 f"{len(attempts)} candidate(s) in {time.monotonic() - began:.0f} s):"]
        lines.extend(f"  {line}" for line in smallest.describe() or ["(no fault at all)"])
        lines.append(f"schedule: {path}")
        lines.append("replay: " + replay_command(self.item.nodeid, self.seed, path))
        if smallest is schedule:
            lines[0] = (f"no smaller schedule failed {self.settings.shrink_tries} tries in a "
                        f"row ({len(attempts)} candidate(s) tried):")
        if stopped:
            lines.append(f"the search stopped early: {stopped}")
        return "\n".join(lines)

    def _hint(self, cluster: Cluster) -> tuple[float | None, int]:
        """When the first blamed operation began: seconds from the start of the
        nemesis in force then (and its number), for the shrink to try first."""
        analysis = self.analyses[0][1] if self.analyses else None
        if analysis is None or not analysis.culprits or not cluster.nemeses:
            return None, 0
        if analysis.run is not None and analysis.run.raised_by == "ap":
            return None, 0  # an AP failure: the blamed operation says little of it
        culprits = analysis.culprits
        at = min(op.start for op in culprits) + cluster.history.origin_ns
        started = [(number, nemesis.started_ns or 0)
                   for number, nemesis in enumerate(cluster.nemeses)]
        before = [(number, ns) for number, ns in started if ns <= at]
        if not before:
            return None, 0
        number, ns = before[-1]
        return (at - ns) / 1e9, number

    def _analyse(self) -> list[tuple[Cluster, Analysis]]:
        return [(cluster, analyse(cluster.history, cluster.runs[-1] if cluster.runs else None))
                for cluster in self.started]

    def _schedule_of(self, cluster: Cluster) -> Schedule:
        """What the cluster's nemeses applied, marked with this test and run seed."""
        schedule = cluster.schedule
        schedule.test, schedule.seed = self.item.nodeid, self.seed
        return schedule

    def _schedule_path(self) -> Path | None:
        """Where the first cluster's schedule.json goes, when it applied faults."""
        if self.started and len(self.started[0].schedule):
            return self.started[0].workdir / SCHEDULE_FILE
        return None

    def _replay(self) -> str:
        return replay_text(self.item.nodeid, self.seed, self._schedule_path())

    # -- when the test ends --------------------------------------------------------------

    def _stop_all(self) -> None:
        """Stop every nemesis (keeping their errors for :meth:`close`), then every cluster."""
        for cluster in self.started:
            self._errors.extend(cluster.stop_nemeses())
        for cluster in reversed(self.started):
            cluster.stop()

    def close(self) -> None:
        """Stop the nemesis and every cluster, then report and keep or drop artifacts;
        an error met on the way (a nemesis that failed) is raised at the end."""
        try:
            if self.failed_start:  # keep every log of a cluster that could not start
                self._stop_all()
            else:
                self._finish()
        finally:
            if self._errors:
                raise self._errors[0]

    def _finish(self) -> None:
        self._stop_all()
        if not self.started:
            shutil.rmtree(self.folder, ignore_errors=True)
            return
        report = self.call_report
        xfailed = report is not None and expected_failure(report)
        failed = report is not None and (report.failed or xfailed)
        if (report is not None and (report.passed or unexpected_pass(report))
                and self.replay_source == "remembered"):
            self._forget()  # it passes the schedule that broke it: fixed
        analyses = self.analyses or self._analyse()
        nemesis = self._nemesis_words()
        if failed or self.settings.keep_artifacts:
            crash = crash_of(report) if report is not None and report.failed else None
            for number, (cluster, analysis) in enumerate(analyses):
                schedule = self._schedule_of(cluster)
                if len(schedule):
                    schedule.save(cluster.workdir / SCHEDULE_FILE)
                write_artifacts(cluster.workdir, cluster, analysis, {
                    "test": self.item.nodeid, "outcome": report.outcome if report else "unknown",
                    "seed": self.seed, "cluster_seed": cluster.seed, "spec": self.spec,
                    "nemesis": nemesis,
                    **({"mode": cluster.mode, "bug": cluster.bug} if cluster.reference_store
                       else {"command": cluster.command}),
                    "replay": replay_command(self.item.nodeid, self.seed,
                                             self._schedule_path() if number == 0 else None),
                    "crash": crash.to_dict() if crash is not None else None,
                    "replayed": self.replay_source,
                })
        else:
            shutil.rmtree(self.folder, ignore_errors=True)
        first = analyses[0][1]
        properties = self.item.user_properties
        row = summary_row(self.item.nodeid, first, spec=self.spec, nemesis=nemesis)
        properties.append((SUMMARY_PROPERTY, json.dumps(row)))
        properties.append(("partition_seed", self.seed))
        properties.append(("partition_verdict", first.verdict.sentence))
        if report is not None and xfailed:
            # pytest shows no report for an xfail: ours is written beside the
            # artifacts, and the summary gets one line pointing at it.
            sections = report_sections(analyses, artifacts=self.folder, replay=self._replay(),
                                       assertion_shown=False)
            failure = getattr(getattr(report.longrepr, "reprcrash", None), "message", None)
            if failure:  # pytest shows none of it for an xfail
                sections.insert(0, ("partition: the expected failure", str(failure)))
            text = "\n".join(f"--- {title}\n{body}" for title, body in sections)
            (self.folder / "report.txt").write_text(
                f"xfail reason: {report.wasxfail}\n{text}\n", encoding="utf-8")
            properties.append((XFAIL_PROPERTY, json.dumps(
                {"test": self.item.nodeid, "reason": report.wasxfail,
                 "verdict": first.label(), "artifacts": str(self.folder)})))

    def _nemesis_words(self) -> str | None:
        """The test's nemeses in words (a replay says where its schedule came from)."""
        nemeses = [n for c in self.started[:1] for n in c.nemeses]
        if not nemeses:
            return None
        words = nemeses[0].describe()
        if self.replay_source == "remembered":
            words += " remembered from an earlier failure"
        return words


def terminal_writer(config: pytest.Config, prefix: str) -> Callable[[str], None] | None:
    """Lines for the terminal, past the output capture (as live logging does), on a
    line of their own (pytest writes the test id again before the outcome); None
    without a terminal."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return None

    def write(line: str) -> None:
        if capture is not None:
            with capture.global_and_fixture_disabled():
                reporter.write_line(f"    {prefix}{line}")
        else:
            reporter.write_line(f"    {prefix}{line}")

    return write
