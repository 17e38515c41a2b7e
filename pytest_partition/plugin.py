"""pytest hooks of pytest-partition: options, markers, fixtures, reports.

Only the hooks and fixtures live here, each a few lines over the library:
options and markers are resolved in :mod:`.settings` and :mod:`.markers`, one
test's clusters are started and finished by :class:`.lifecycle.TestClusters`,
and every text a user reads is written by :mod:`pytest_partition.report`.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from . import hookspecs
from .cluster import Cluster
from .lifecycle import (
    SUMMARY_PROPERTY,
    XFAIL_PROPERTY,
    TestClusters,
    replay_of,
    run_seed,
    terminal_writer,
)
from .markers import MARKERS, checked_markers, read_markers, uses_cluster
from .report import summary_lines
from .schedule import Schedule, ScheduleError
from .seeds import derive_seed
from .settings import OPTIONS, MarkerError, Settings
from .topology import spec_id

SETTINGS = pytest.StashKey[Settings]()
RUN_FOLDER = pytest.StashKey[Path]()
#: The default home of artifacts, under the rootdir (add it to .gitignore).
DEFAULT_ARTIFACTS = Path(".partition") / "artifacts"
REPLAY = pytest.StashKey[Schedule]()
TEST_CLUSTERS = pytest.StashKey[TestClusters]()
SEED_CACHE_KEY = "partition/seed"


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
        # Under xdist every worker uses the controller's seed and run folder.
        settings = Settings(**{**settings.__dict__, "seed": workerinput["partition_seed"]})
        config.stash[RUN_FOLDER] = Path(workerinput["partition_run_folder"])
    else:
        if cache is not None:
            cache.set(SEED_CACHE_KEY, settings.seed)
        config.stash[RUN_FOLDER] = artifacts_root(config.rootpath, settings)
    config.stash[SETTINGS] = settings
    if settings.replay is not None:
        try:
            config.stash[REPLAY] = Schedule.load(settings.replay)
        except ScheduleError as error:
            raise pytest.UsageError(f"--partition-replay: {error}") from None
    config.pluginmanager.register(_Summary(config), "partition-summary")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistSeed(), "partition-xdist-seed")


class _XdistSeed:
    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput["partition_seed"] = node.config.stash[SETTINGS].seed
        node.workerinput["partition_run_folder"] = str(node.config.stash[RUN_FOLDER])


def artifacts_root(rootpath: Path, settings: Settings) -> Path:
    """Where this run's artifacts go: ``--partition-artifacts`` as given, else a
    folder of its own in ``.partition/artifacts`` under the rootdir, where the
    runs beyond ``--partition-keep-runs`` are removed (the oldest first)."""
    if settings.artifacts:
        return Path(settings.artifacts).resolve()
    runs = rootpath / DEFAULT_ARTIFACTS
    stamp = time.strftime("%Y%m%d-%H%M%S")
    folder = runs / f"run-{stamp}-{os.getpid()}"
    if runs.is_dir():
        older = sorted((p for p in runs.iterdir() if p.is_dir() and p.name.startswith("run-")),
                       key=lambda p: p.stat().st_mtime)
        for stale in older[:max(0, len(older) - (settings.keep_runs - 1))]:
            shutil.rmtree(stale, ignore_errors=True)
    return folder


def pytest_unconfigure(config: pytest.Config) -> None:
    # A run whose tests all passed leaves no empty folder behind.
    folder = config.stash.get(RUN_FOLDER, None)
    if folder is not None and not hasattr(config, "workerinput"):
        with contextlib.suppress(OSError):
            folder.rmdir()  # only when empty


def pytest_report_header(config: pytest.Config) -> list[str]:
    settings = config.stash[SETTINGS]
    lines = [f"partition: run seed {settings.seed} (replay with "
             f"--partition-seed={settings.seed})"]
    replay = config.stash.get(REPLAY, None)
    if replay is not None:
        lines.append(f"partition: replaying the {len(replay)} fault(s) of {settings.replay}"
                     + (f" (recorded for {replay.test})" if replay.test else ""))
    return lines


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if not uses_cluster(metafunc.fixturenames):
        return
    try:
        markers = read_markers(metafunc.definition, metafunc.config.stash[SETTINGS])
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
    if uses_cluster(getattr(item, "fixturenames", ())):
        checked_markers(item, item.config.stash[SETTINGS])


@pytest.fixture
def partition_spec(request: pytest.FixtureRequest) -> str | None:
    """The partition spec of this test's ``@pytest.mark.partition`` id, or None."""
    return getattr(request, "param", None)


@pytest.fixture
def partition_seed(request: pytest.FixtureRequest) -> int:
    """This test's seed, derived from the run seed and its id: the seed of
    ``--partition-seed``, else of the schedule replayed (``--partition-replay``, or
    the one the cache remembers), else the session's. It equals the seed of the
    test's first cluster."""
    item = request.node
    settings = item.config.stash[SETTINGS]
    replay, _ = replay_of(item, settings, item.config.stash.get(REPLAY, None))
    return derive_seed(run_seed(settings, replay), item.nodeid, 0)


@pytest.fixture(scope="session")
def partition_artifacts(pytestconfig: pytest.Config) -> Path:
    """The folder that receives each partition test's artifacts: this run's folder
    in ``.partition/artifacts`` under the rootdir, or ``--partition-artifacts``."""
    root = pytestconfig.stash[RUN_FOLDER]
    root.mkdir(parents=True, exist_ok=True)
    return root


@pytest.fixture
def cluster_factory(
    request: pytest.FixtureRequest, partition_spec: str | None, partition_artifacts: Path
) -> Iterator[Callable[..., Cluster]]:
    """Start clusters on demand: ``cluster_factory(nodes=5, mode="ap")``.

    Arguments default to the test's cluster marker and the run's options;
    every cluster started is stopped when the test ends, its artifacts kept
    if the test failed (or with ``--partition-keep-artifacts``).
    """
    item = request.node
    settings = item.config.stash[SETTINGS]
    clusters = TestClusters(item, settings, checked_markers(item, settings), partition_spec,
                            partition_artifacts, _progress_writer(item.config, item.nodeid),
                            replay=item.config.stash.get(REPLAY, None))
    item.stash[TEST_CLUSTERS] = clusters
    try:
        yield clusters.start
    finally:
        clusters.close()


@pytest.fixture
def cluster(cluster_factory: Callable[..., Cluster]) -> Cluster:
    """A started cluster configured by ``@pytest.mark.cluster``; stopped after the test."""
    return cluster_factory()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    clusters = item.stash.get(TEST_CLUSTERS, None)
    if report.when == "call" and clusters is not None:
        # Built now, while the nodes still run, so that the sections travel
        # with this report (under xdist too).
        report.sections.extend(clusters.failure_sections(report))
    return report


def _progress_writer(config: pytest.Config, nodeid: str) -> Callable[[str], None] | None:
    """Where a run's progress lines go: the terminal, with -v, outside xdist workers."""
    if config.getoption("verbose") < 1 or hasattr(config, "workerinput"):
        return None
    return terminal_writer(config, f"partition {nodeid}: ")


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
        terminalreporter.section("partition tests")
        width = self.config.get_terminal_writer().fullwidth
        for line in summary_lines(self.rows, width):
            terminalreporter.write_line(line)
        # An expected failure: one line; its report is in the artifacts.
        for entry in sorted(self.expected, key=lambda e: e["test"]):
            terminalreporter.write_line(f"xfail {entry['test']}: {entry['verdict']} "
                                        f"(report and artifacts: {entry['artifacts']})")
        seed = self.config.stash[SETTINGS].seed
        terminalreporter.write_line(f"run seed {seed} (replay with --partition-seed={seed})")
