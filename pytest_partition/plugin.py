"""pytest hooks of pytest-partition: options, ini keys, markers, fixtures, reporting.

This module only adapts :class:`pytest_partition.Cluster` to pytest; the work
is done by the library, which runs without pytest too.
"""

from __future__ import annotations

import hashlib
import random
import shlex
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from . import hookspecs
from .cluster import Cluster, node_names
from .errors import NodeStartError, SpecError
from .settings import OPTIONS, Settings, cluster_kwargs, partition_marker_specs
from .topology import spec_id, validate_spec

SETTINGS = pytest.StashKey[Settings]()
CLUSTERS = pytest.StashKey[list[Cluster]]()
SEED_CACHE_KEY = "partition/seed"

MARKERS = (
    "cluster(nodes=3, mode='cp', bug=None, command=None): configure the cluster fixture: "
    "node count or names, store mode cp|ap, a planted bug, or your own node command",
    "partition(*specs): run the test once per partition spec ('A,B|C', 'A->C', "
    "'random-halves', ...); cluster.partitioned() applies it",
    "nemesis(spec, interval=0.5): run a seeded schedule of faults during the test body",
)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("partition", "partition fault testing (pytest-partition)")
    for option in OPTIONS:
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
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistSeed(), "partition-xdist-seed")


class _XdistSeed:
    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput["partition_seed"] = node.config.stash[SETTINGS].seed


def pytest_report_header(config: pytest.Config) -> str:
    seed = config.stash[SETTINGS].seed
    return f"partition: run seed {seed} (replay with --partition-seed={seed})"


def test_seed(run_seed: int, nodeid: str, index: int = 0) -> int:
    """The seed of one test's cluster: derived from the run seed and the test id."""
    digest = hashlib.sha256(f"{run_seed}:{nodeid}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


test_seed.__test__ = False  # type: ignore[attr-defined]  # not a test, despite its name


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "cluster" not in metafunc.fixturenames and "partition_spec" not in metafunc.fixturenames:
        return
    definition = metafunc.definition
    settings = metafunc.config.stash[SETTINGS]
    try:
        marker = definition.get_closest_marker("cluster")
        kwargs = cluster_kwargs(marker.args if marker else (), marker.kwargs if marker else {},
                                settings)
        partition = definition.get_closest_marker("partition")
        if partition is None:
            return
        specs = partition_marker_specs(partition.args, partition.kwargs)
        names = node_names(kwargs["nodes"])
        for spec in specs:
            validate_spec(spec, names)
    except (ValueError, SpecError) as error:
        pytest.fail(f"{definition.nodeid}: {error}", pytrace=False)
    metafunc.parametrize("partition_spec", specs, ids=[spec_id(s) for s in specs],
                         indirect=True)


@pytest.fixture
def partition_spec(request: pytest.FixtureRequest) -> str | None:
    """The partition spec of this test's ``@pytest.mark.partition`` id, or None."""
    return getattr(request, "param", None)


@pytest.fixture
def partition_seed(request: pytest.FixtureRequest) -> int:
    """This test's seed, derived from the run seed (``--partition-seed``) and its id."""
    return test_seed(request.config.stash[SETTINGS].seed, request.node.nodeid)


@pytest.fixture
def cluster_factory(
    request: pytest.FixtureRequest, partition_spec: str | None, tmp_path: Path
) -> Iterator[Callable[..., Cluster]]:
    """Start clusters on demand: ``cluster_factory(nodes=5, mode="ap")``.

    Arguments default to the test's cluster marker and the run's options;
    every cluster started is stopped when the test ends.
    """
    config = request.config
    settings = config.stash[SETTINGS]
    marker = request.node.get_closest_marker("cluster")
    started: list[Cluster] = []
    request.node.stash[CLUSTERS] = started

    def make(**overrides: Any) -> Cluster:
        kwargs = cluster_kwargs(marker.args if marker else (), marker.kwargs if marker else {},
                                settings)
        kwargs.update(overrides)
        if kwargs.get("command") is None:
            command = config.hook.pytest_partition_node_command(
                config=config, mode=kwargs["mode"], bug=kwargs.get("bug"))
            if command is not None:
                kwargs["command"], kwargs["bug"] = list(command), None
        cluster = Cluster(
            **kwargs,
            seed=test_seed(settings.seed, request.node.nodeid, len(started)),
            spec=partition_spec,
            workdir=tmp_path / f"cluster{len(started) or ''}",
            keep_workdir=True,
            on_fault=lambda c, event: config.hook.pytest_partition_fault(cluster=c, event=event),
        )
        try:
            cluster.start()
        except NodeStartError as error:
            # The message says all there is (node, exit code, log tail); our
            # own stack frames would only bury it.
            pytest.fail(f"{type(error).__name__}: {error}", pytrace=False)
        started.append(cluster)
        config.hook.pytest_partition_cluster_started(cluster=cluster)
        return cluster

    try:
        yield make
    finally:
        for cluster in reversed(started):
            cluster.stop()


@pytest.fixture
def cluster(cluster_factory: Callable[..., Cluster]) -> Cluster:
    """A started cluster configured by ``@pytest.mark.cluster``; stopped after the test."""
    return cluster_factory()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    clusters = item.stash.get(CLUSTERS, [])
    if report.failed and clusters:
        for cluster in clusters:
            for name, node in cluster.nodes.items():
                tail = node.log_tail()
                report.sections.append((f"partition: log of node {name} (last lines)",
                                        tail or "(empty)"))
        seed = item.config.stash[SETTINGS].seed
        report.sections.append((
            "partition: replay",
            f"pytest {shlex.quote(item.nodeid)} --partition-seed={seed}\n"
            f"work dir: {', '.join(str(c.workdir) for c in clusters)}",
        ))
    return report
