"""pytest hooks of pytest-partition: options, ini keys, markers, fixtures, reporting.

This module only adapts :class:`pytest_partition.Cluster` to pytest; the work
is done by the library (which runs without pytest too) and the text of the
reports by :mod:`pytest_partition.reporting`.
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from . import hookspecs
from .cluster import Cluster
from .errors import NodeStartError, SpecError
from .nemesis import Nemesis, as_nemesis
from .node import node_names
from .reporting import (
    Analysis,
    analyse,
    artifact_dir_name,
    replay_command,
    report_sections,
    summary_row,
    write_artifacts,
)
from .seeds import derive_rng, derive_seed
from .settings import (
    CLUSTER_MARKER_ARGS,
    NEMESIS_MARKER_ARGS,
    OPTIONS,
    Mark,
    MarkerError,
    Settings,
    cluster_kwargs,
    merge_marker_args,
    nemesis_settings,
    partition_marker_specs,
)
from .topology import spec_id, validate_spec

SETTINGS = pytest.StashKey[Settings]()
CLUSTERS = pytest.StashKey[list[Cluster]]()
CALL_REPORT = pytest.StashKey[pytest.TestReport]()
ANALYSES = pytest.StashKey[list[tuple[Cluster, Analysis]]]()
READ_MARKERS = pytest.StashKey["_Markers"]()
SEED_CACHE_KEY = "partition/seed"
SUMMARY_PROPERTY = "partition_summary"
XFAIL_PROPERTY = "partition_xfail_report"

MARKERS = (
    "cluster(nodes=3, mode='cp', bug=None, command=None): configure the cluster fixture: "
    "node count or names, store mode cp|ap, a planted bug, or your own node command",
    "partition(*specs): run the test once per partition spec ('A,B|C', 'A->C', "
    "'random-halves', ...); cluster.partitioned() applies it",
    "nemesis(spec, interval=0.5, heal_interval=None): run a seeded schedule of faults "
    "during the test body (one spec, or a list of specs); cluster and nemesis markers "
    "of the test, its class and its module merge, the closest winning per argument",
)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("partition", "partition fault testing (pytest-partition)")
    for option in OPTIONS:
        if option.flag_only:
            group.addoption(option.flag, dest=option.dest, action="store_true", default=False,
                            help=option.help)
        else:
            group.addoption(option.flag, dest=option.dest, type=option.parse, default=None,
                            metavar=option.name.split("-")[-1].upper(), help=option.help)
        parser.addini(option.ini, help=option.help, default="")


def pytest_configure(config: pytest.Config) -> None:
    for line in MARKERS:
        config.addinivalue_line("markers", line)
    cache = getattr(config, "cache", None)
    try:
        settings = Settings.resolve(
            cli={option.dest: config.getoption(option.dest) for option in OPTIONS},
            ini={option.ini: str(config.getini(option.ini) or "") for option in OPTIONS},
            last_seed=lambda: cache.get(SEED_CACHE_KEY, None) if cache else None,
            new_seed=lambda: random.SystemRandom().randrange(10**9),
        )
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and "partition_seed" in workerinput:
        # Under xdist every worker uses the controller's seed.
        settings = Settings(**{**settings.__dict__, "seed": workerinput["partition_seed"]})
    elif cache is not None:
        cache.set(SEED_CACHE_KEY, settings.seed)
    config.stash[SETTINGS] = settings
    config.pluginmanager.register(_Summary(config), "partition-summary")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistSeed(), "partition-xdist-seed")


class _XdistSeed:
    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput["partition_seed"] = node.config.stash[SETTINGS].seed


def pytest_report_header(config: pytest.Config) -> str:
    seed = config.stash[SETTINGS].seed
    return f"partition: run seed {seed} (replay with --partition-seed={seed})"


@dataclass(frozen=True)
class _Markers:
    """A test's cluster, nemesis and partition markers, read and checked."""

    cluster: list[Mark]  # closest first; cluster_factory's arguments go in front
    cluster_kwargs: dict[str, Any]
    nemesis: tuple[list[str], float, float | None] | None
    partition: list[str] | None


def _uses_cluster(fixturenames: Any) -> bool:
    # cluster_factory asks for partition_spec, so this covers it too.
    return "cluster" in fixturenames or "partition_spec" in fixturenames


def _marks(node: pytest.Item, name: str) -> list[Mark]:
    """The markers called ``name`` of ``node``, closest first, each with where it sits."""
    marks: list[Mark] = []
    for owner, mark in node.iter_markers_with_node(name):
        where = f"@pytest.mark.{name}"
        if not isinstance(owner, pytest.Function):  # a class's or a module's marker
            where += f" of {owner.nodeid}"
        marks.append((where, mark.args, mark.kwargs))
    return marks


def _read_markers(node: pytest.Item, settings: Settings) -> _Markers:
    """Read and check the markers of ``node``; raises MarkerError saying what is wrong."""
    cluster_marks = _marks(node, "cluster")
    kwargs = cluster_kwargs(
        merge_marker_args("cluster", cluster_marks, ("nodes",), CLUSTER_MARKER_ARGS), settings)
    names = node_names(kwargs["nodes"])
    nemesis = None
    nemesis_marks = _marks(node, "nemesis")
    if nemesis_marks:
        merged = merge_marker_args("nemesis", nemesis_marks, ("spec",), NEMESIS_MARKER_ARGS)
        nemesis = nemesis_settings(merged)
        for spec in nemesis[0]:
            _check_spec(spec, names, merged.where("spec"))
    partition = None
    partition_marks = _marks(node, "partition")
    if partition_marks:
        # The closest partition marker alone: its specs are the test's
        # parametrization, and a union with farther ones would be a guess.
        where, args, kwargs_ = partition_marks[0]
        partition = partition_marker_specs(args, kwargs_, where)
        for spec in partition:
            _check_spec(spec, names, where)
    return _Markers(cluster_marks, kwargs, nemesis, partition)


def _check_spec(spec: str, names: list[str], where: str) -> None:
    try:
        validate_spec(spec, names)
    except SpecError as error:
        raise MarkerError(f"{where}: {error}") from None


def _checked_markers(item: pytest.Item) -> _Markers:
    """The item's markers, read once; a bad one fails the item (at setup) with its message."""
    markers = item.stash.get(READ_MARKERS, None)
    if markers is None:
        try:
            markers = _read_markers(item, item.config.stash[SETTINGS])
        except MarkerError as error:
            # The message alone: no traceback, no chained MarkerError.
            raise pytest.fail.Exception(str(error), pytrace=False) from None
        item.stash[READ_MARKERS] = markers
    return markers


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if not _uses_cluster(metafunc.fixturenames):
        return
    # Read here only to parametrize by the partition specs; each item reads
    # its markers again at setup (_checked_markers), since an item can carry
    # markers its definition lacks (pytest.param(marks=...), markers added by
    # pytest_collection_modifyitems) and a Function has no link back to the
    # definition to share a result through.
    try:
        markers = _read_markers(metafunc.definition, metafunc.config.stash[SETTINGS])
    except MarkerError:
        # Not an error of the collection, which would stop the whole session:
        # the test stays one item, and fails at its setup with the message.
        return
    if markers.partition is not None:
        specs = markers.partition
        metafunc.parametrize("partition_spec", specs, ids=[spec_id(s) for s in specs],
                             indirect=True)


def pytest_runtest_setup(item: pytest.Item) -> None:
    # Before any fixture: a bad marker fails its own test, and only it.
    if _uses_cluster(getattr(item, "fixturenames", ())):
        _checked_markers(item)


@pytest.fixture
def partition_spec(request: pytest.FixtureRequest) -> str | None:
    """The partition spec of this test's ``@pytest.mark.partition`` id, or None."""
    return getattr(request, "param", None)


@pytest.fixture
def partition_seed(request: pytest.FixtureRequest) -> int:
    """This test's seed, derived from the run seed (``--partition-seed``) and its id."""
    return derive_seed(request.config.stash[SETTINGS].seed, request.node.nodeid, 0)


@pytest.fixture(scope="session")
def partition_artifacts(pytestconfig: pytest.Config,
                        tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder that receives each partition test's artifacts."""
    chosen = pytestconfig.stash[SETTINGS].artifacts
    root = Path(chosen) if chosen else tmp_path_factory.getbasetemp() / "partition-artifacts"
    root.mkdir(parents=True, exist_ok=True)
    return root.resolve()


@pytest.fixture
def cluster_factory(
    request: pytest.FixtureRequest, partition_spec: str | None, partition_artifacts: Path
) -> Iterator[Callable[..., Cluster]]:
    """Start clusters on demand: ``cluster_factory(nodes=5, mode="ap")``.

    Arguments default to the test's cluster marker and the run's options;
    every cluster started is stopped when the test ends, its artifacts kept
    if the test failed (or with ``--partition-keep-artifacts``).
    """
    config = request.config
    settings = config.stash[SETTINGS]
    item = request.node
    markers = _checked_markers(item)
    started: list[Cluster] = []
    failed_starts: list[Cluster] = []
    nemeses: list[Nemesis] = []
    item.stash[CLUSTERS] = started
    folder = partition_artifacts / artifact_dir_name(item.nodeid)
    shutil.rmtree(folder, ignore_errors=True)  # a previous run of the same test

    def make(**overrides: Any) -> Cluster:
        __tracebackhide__ = True  # a bad argument's traceback ends in the test's call
        kwargs = dict(markers.cluster_kwargs)
        if overrides:
            # Checked as one more marker, the closest: a bad value gets the
            # same message as in a marker (a ValueError in the test body).
            marks = [("cluster_factory()", (), overrides), *markers.cluster]
            try:
                kwargs = cluster_kwargs(
                    merge_marker_args("cluster", marks, (), CLUSTER_MARKER_ARGS), settings)
            except MarkerError as error:
                # Raised afresh: the traceback ends here, not in settings.py.
                raise MarkerError(str(error)) from None
        if kwargs.get("command") is None:
            command = config.hook.pytest_partition_node_command(
                config=config, mode=kwargs["mode"], bug=kwargs.get("bug"))
            if command is not None:
                kwargs["command"], kwargs["bug"] = list(command), None
        cluster = Cluster(
            **kwargs,
            seed=derive_seed(settings.seed, item.nodeid, len(started)),
            spec=partition_spec,
            workdir=folder / f"cluster{len(started) or ''}",
            keep_workdir=True,
            on_fault=lambda c, event: config.hook.pytest_partition_fault(cluster=c, event=event),
        )
        cluster.on_progress = _progress_writer(config, item.nodeid)
        try:
            cluster.start()
        except NodeStartError as error:
            failed_starts.append(cluster)
            # The message says all there is (node, exit code, log tail); our
            # own stack frames would only bury it, and "from None" keeps the
            # NodeStartError from being printed again as the context.
            raise pytest.fail.Exception(f"{type(error).__name__}: {error}\n"
                                        f"node logs: {cluster.workdir}", pytrace=False) from None
        started.append(cluster)
        config.hook.pytest_partition_cluster_started(cluster=cluster)
        if markers.nemesis is not None and len(started) == 1:
            specs, interval, heal_interval = markers.nemesis
            schedule = as_nemesis(specs, interval, heal_interval)
            schedule.start(cluster, derive_rng(cluster.seed, "nemesis"))
            nemeses.append(schedule)
        return cluster

    try:
        yield make
    finally:
        try:
            for schedule in nemeses:
                schedule.stop()
        finally:
            if not failed_starts:
                _finish(item, started, folder, partition_spec,
                        nemeses[0].describe() if nemeses else None)
            else:  # keep every log of a cluster that could not start
                for cluster in started:
                    cluster.stop()


def _finish(item: pytest.Item, clusters: list[Cluster], folder: Path, spec: str | None,
            nemesis: str | None) -> None:
    """Stop the clusters, then report and keep (or drop) the artifacts."""
    settings = item.config.stash[SETTINGS]
    for cluster in reversed(clusters):
        cluster.stop()
    if not clusters:
        shutil.rmtree(folder, ignore_errors=True)
        return
    report = item.stash.get(CALL_REPORT, None)
    failed = report is not None and (report.failed or _expected_failure(report))
    analyses = item.stash.get(ANALYSES, None) or [(c, analyse(c)) for c in clusters]
    if failed or settings.keep_artifacts:
        for cluster, analysis in analyses:
            write_artifacts(cluster.workdir, cluster, analysis, {
                "test": item.nodeid, "outcome": report.outcome if report else "unknown",
                "seed": settings.seed, "cluster_seed": cluster.seed, "spec": spec,
                "nemesis": nemesis, "mode": cluster.mode, "bug": cluster.bug,
                "replay": replay_command(item.nodeid, settings.seed),
            })
    else:
        shutil.rmtree(folder, ignore_errors=True)
    row = summary_row(item.nodeid, analyses[0][1], spec=spec, nemesis=nemesis)
    item.user_properties.append((SUMMARY_PROPERTY, json.dumps(row)))
    item.user_properties.append(("partition_seed", settings.seed))
    item.user_properties.append(("partition_verdict", analyses[0][1].verdict.sentence))
    if report is not None and _expected_failure(report):
        # pytest shows no report for an xfail; ours goes to the summary.
        text = "\n".join(f"--- {title}\n{body}" for title, body in report_sections(
            analyses, artifacts=folder, replay=replay_command(item.nodeid, settings.seed)))
        item.user_properties.append((XFAIL_PROPERTY, json.dumps(
            {"test": item.nodeid, "reason": report.wasxfail, "report": text})))


def _expected_failure(report: pytest.TestReport) -> bool:
    """True for an xfail test that did fail as expected."""
    return report.skipped and hasattr(report, "wasxfail")


def _progress_writer(config: pytest.Config, nodeid: str) -> Callable[[str], None] | None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or config.getoption("verbose") < 1 or hasattr(config, "workerinput"):
        return None

    def write(line: str) -> None:
        # Past the output capture (as live logging does), on a line of its
        # own: pytest writes the test id again before the outcome.
        if capture is not None:
            with capture.global_and_fixture_disabled():
                reporter.write_line(f"    partition {nodeid}: {line}")
        else:
            reporter.write_line(f"    partition {nodeid}: {line}")

    return write


@pytest.fixture
def cluster(cluster_factory: Callable[..., Cluster]) -> Cluster:
    """A started cluster configured by ``@pytest.mark.cluster``; stopped after the test."""
    return cluster_factory()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when != "call":
        return report
    item.stash[CALL_REPORT] = report
    clusters = item.stash.get(CLUSTERS, [])
    if report.failed and clusters:
        # Built now, while the nodes still run, so that the sections travel
        # with this report (under xdist too); teardown reuses the analysis.
        analyses = [(cluster, analyse(cluster)) for cluster in clusters]
        item.stash[ANALYSES] = analyses
        settings = item.config.stash[SETTINGS]
        folder = clusters[0].workdir.parent
        report.sections.extend(report_sections(
            analyses, artifacts=folder, replay=replay_command(item.nodeid, settings.seed)))
    return report


def _fit(text: str, limit: int, *, keep_end: bool = False) -> str:
    """``text`` cut to ``limit`` characters, marked with an ellipsis."""
    if len(text) <= limit:
        return text
    return "…" + text[-(limit - 1):] if keep_end else text[:limit - 1] + "…"


class _Summary:
    """Collects one row per partition test and prints the table at the end."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.rows: list[dict[str, Any]] = []
        self.expected: list[dict[str, Any]] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "teardown":
            return
        for name, value in report.user_properties:
            if name == SUMMARY_PROPERTY:
                self.rows.append(json.loads(str(value)))
            elif name == XFAIL_PROPERTY:
                self.expected.append(json.loads(str(value)))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.rows or hasattr(self.config, "workerinput"):
            return
        for entry in sorted(self.expected, key=lambda e: e["test"]):
            terminalreporter.section(f"partition report of an expected failure: {entry['test']}",
                                     sep="-")
            terminalreporter.write_line(f"xfail reason: {entry['reason']}")
            for line in entry["report"].splitlines():
                terminalreporter.write_line(line)
        rows = sorted(self.rows, key=lambda row: row["test"])
        terminalreporter.section("partition tests")
        header = ("test", "faults", "ok/fail/info", "availability per side", "verdict")
        table = [header] + [(r["test"], r["faults"], r["ops"], r["sides"], r["verdict"])
                            for r in rows]
        limits = (70, 30, 12, 40, 8)
        # A test id is told apart by its end, everything else by its start.
        table = [tuple(_fit(str(cell), limit, keep_end=column == 0)
                       for column, (cell, limit) in enumerate(zip(row, limits)))
                 for row in table]
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        for row in table:
            cells = [cell.ljust(width) for cell, width in zip(row, widths)]
            terminalreporter.write_line("  ".join(cells).rstrip())
        seed = self.config.stash[SETTINGS].seed
        terminalreporter.write_line(f"run seed {seed} (replay with --partition-seed={seed})")
