"""The life of one partition test: its clusters, its nemesis, and its ending.

:class:`TestClusters` is what the ``cluster_factory`` fixture holds for one
test. It starts clusters on demand (arguments from the test's markers and the
run's options), runs the nemesis marker's schedule on the first one, and when
the test ends stops everything, keeps or drops the artifacts, and leaves the
summary row (and, for an expected failure, its report) in the test's
``user_properties``, which travel to the controller under pytest-xdist.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .cluster import Cluster
from .errors import NodeStartError
from .markers import Markers
from .nemesis import Nemesis, as_nemesis
from .report import (
    Analysis,
    analyse,
    artifact_dir_name,
    replay_command,
    report_sections,
    summary_row,
    write_artifacts,
)
from .seeds import derive_rng, derive_seed
from .settings import CLUSTER_MARKER_ARGS, MarkerError, Settings, cluster_kwargs, merge_marker_args

__all__ = ["SUMMARY_PROPERTY", "XFAIL_PROPERTY", "TestClusters", "expected_failure"]

#: user_properties names of the summary row and of an expected failure's report.
SUMMARY_PROPERTY = "partition_summary"
XFAIL_PROPERTY = "partition_xfail_report"


def expected_failure(report: pytest.TestReport) -> bool:
    """True for an xfail test that did fail as expected."""
    return report.skipped and hasattr(report, "wasxfail")


class TestClusters:
    """The clusters one test started, and what happens to them when it ends."""

    __test__ = False  # not a test class, whatever its name says

    def __init__(self, item: pytest.Item, settings: Settings, markers: Markers,
                 spec: str | None, artifacts_root: Path,
                 progress: Callable[[str], None] | None) -> None:
        self.item = item
        self.settings = settings
        self.markers = markers
        self.spec = spec
        self.folder = artifacts_root / artifact_dir_name(item.nodeid)
        self.started: list[Cluster] = []
        self.nemeses: list[Nemesis] = []
        self.failed_start = False
        self.call_report: pytest.TestReport | None = None
        self.analyses: list[tuple[Cluster, Analysis]] | None = None
        self._progress = progress
        shutil.rmtree(self.folder, ignore_errors=True)  # a previous run of the same test

    @property
    def replay(self) -> str:
        """The command line that runs this test again with the same seed."""
        return replay_command(self.item.nodeid, self.settings.seed)

    # -- while the test runs ---------------------------------------------------------

    def start(self, **overrides: Any) -> Cluster:
        """Start one more cluster: the markers' arguments, ``overrides`` winning."""
        __tracebackhide__ = True  # a bad argument's traceback ends in the test's call
        config = self.item.config
        cluster = Cluster(
            **self._kwargs(overrides),
            seed=derive_seed(self.settings.seed, self.item.nodeid, len(self.started)),
            spec=self.spec,
            workdir=self.folder / f"cluster{len(self.started) or ''}",
            keep_workdir=True,
            on_fault=lambda c, event: config.hook.pytest_partition_fault(cluster=c, event=event),
        )
        cluster.on_progress = self._progress
        try:
            cluster.start()
        except NodeStartError as error:
            self.failed_start = True
            # The message says all there is (node, exit code, log tail); our
            # own stack frames would only bury it, and "from None" keeps the
            # NodeStartError from being printed again as the context.
            raise pytest.fail.Exception(f"{type(error).__name__}: {error}\n"
                                        f"node logs: {cluster.workdir}", pytrace=False) from None
        self.started.append(cluster)
        config.hook.pytest_partition_cluster_started(cluster=cluster)
        if self.markers.nemesis is not None and len(self.started) == 1:
            specs, interval, heal_interval = self.markers.nemesis
            schedule = as_nemesis(specs, interval, heal_interval)
            schedule.start(cluster, derive_rng(cluster.seed, "nemesis"))
            self.nemeses.append(schedule)
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

    # -- when the call phase has its report -------------------------------------------

    def failure_sections(self, report: pytest.TestReport) -> list[tuple[str, str]]:
        """Remember the call's report; for a failure, check the histories now,
        while the nodes still run, and return the report's sections."""
        self.call_report = report
        if not report.failed or not self.started:
            return []
        self.analyses = self._analyse()
        return report_sections(self.analyses, artifacts=self.folder, replay=self.replay)

    def _analyse(self) -> list[tuple[Cluster, Analysis]]:
        return [(cluster, analyse(cluster.history, cluster.runs[-1] if cluster.runs else None))
                for cluster in self.started]

    # -- when the test ends --------------------------------------------------------------

    def close(self) -> None:
        """Stop the nemesis and every cluster, then report and keep or drop artifacts."""
        try:
            for schedule in self.nemeses:
                schedule.stop()
        finally:
            if self.failed_start:  # keep every log of a cluster that could not start
                for cluster in self.started:
                    cluster.stop()
            else:
                self._finish()

    def _finish(self) -> None:
        for cluster in reversed(self.started):
            cluster.stop()
        if not self.started:
            shutil.rmtree(self.folder, ignore_errors=True)
            return
        report = self.call_report
        xfailed = report is not None and expected_failure(report)
        failed = report is not None and (report.failed or xfailed)
        analyses = self.analyses or self._analyse()
        nemesis = self.nemeses[0].describe() if self.nemeses else None
        if failed or self.settings.keep_artifacts:
            for cluster, analysis in analyses:
                write_artifacts(cluster.workdir, cluster, analysis, {
                    "test": self.item.nodeid, "outcome": report.outcome if report else "unknown",
                    "seed": self.settings.seed, "cluster_seed": cluster.seed, "spec": self.spec,
                    "nemesis": nemesis, "mode": cluster.mode, "bug": cluster.bug,
                    "replay": self.replay,
                })
        else:
            shutil.rmtree(self.folder, ignore_errors=True)
        first = analyses[0][1]
        properties = self.item.user_properties
        row = summary_row(self.item.nodeid, first, spec=self.spec, nemesis=nemesis)
        properties.append((SUMMARY_PROPERTY, json.dumps(row)))
        properties.append(("partition_seed", self.settings.seed))
        properties.append(("partition_verdict", first.verdict.sentence))
        if report is not None and xfailed:
            # pytest shows no report for an xfail; ours goes to the summary.
            text = "\n".join(f"--- {title}\n{body}" for title, body in report_sections(
                analyses, artifacts=self.folder, replay=self.replay))
            properties.append((XFAIL_PROPERTY, json.dumps(
                {"test": self.item.nodeid, "reason": report.wasxfail, "report": text})))
