"""A test's ``cluster``, ``nemesis`` and ``partition`` markers, read and checked.

Markers are read twice: at collection, to parametrize a test by its
partition specs, and at setup, where a bad marker fails its own test (and
only it) with one message naming the marker, the argument and what is
accepted. An item can carry markers its definition lacks
(``pytest.param(marks=...)``, markers added by
``pytest_collection_modifyitems``), and a Function has no link back to its
definition to share the first reading through.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pytest

from .errors import SpecError
from .node import node_names
from .settings import (
    CLUSTER_MARKER_ARGS,
    NEMESIS_MARKER_ARGS,
    Mark,
    MarkerError,
    Settings,
    cluster_kwargs,
    merge_marker_args,
    nemesis_settings,
    partition_marker_specs,
)
from .topology import validate_spec

__all__ = ["MARKERS", "Markers", "checked_markers", "read_markers", "uses_cluster"]

#: The markers' lines for ``pytest --markers``.
MARKERS = (
    "cluster(nodes=3, mode='cp', bug=None, command=None): configure the cluster fixture: "
    "node count or names, store mode cp|ap, a planted bug, or your own node command",
    "partition(*specs): run the test once per partition spec ('A,B|C', 'A->C', "
    "'random-halves', ...); cluster.partitioned() applies it",
    "nemesis(spec, interval=None, heal_interval=None): run a seeded schedule of faults "
    "during the test body (one spec, or a list of specs); cluster and nemesis markers "
    "of the test, its class and its module merge, the closest winning per argument",
)

_READ = pytest.StashKey["Markers"]()


@dataclass(frozen=True)
class Markers:
    """A test's cluster, nemesis and partition markers, read and checked."""

    cluster: list[Mark]  # closest first; cluster_factory's arguments go in front
    cluster_kwargs: dict[str, Any]
    nemesis: tuple[list[str], float | None, float | None] | None
    partition: list[str] | None


def uses_cluster(fixturenames: Iterable[str]) -> bool:
    """Does a test ask for a cluster (cluster_factory asks for partition_spec)?"""
    names = set(fixturenames)
    return "cluster" in names or "partition_spec" in names


def _marks(node: pytest.Item, name: str) -> list[Mark]:
    """The markers called ``name`` of ``node``, closest first, each with where it sits."""
    marks: list[Mark] = []
    for owner, mark in node.iter_markers_with_node(name):
        where = f"@pytest.mark.{name}"
        if not isinstance(owner, pytest.Function):  # a class's or a module's marker
            where += f" of {owner.nodeid}"
        marks.append((where, mark.args, mark.kwargs))
    return marks


def read_markers(node: pytest.Item,
                 settings: Settings) -> Markers:
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
    return Markers(cluster_marks, kwargs, nemesis, partition)


def _check_spec(spec: str, names: list[str], where: str) -> None:
    try:
        validate_spec(spec, names)
    except SpecError as error:
        raise MarkerError(f"{where}: {error}") from None


def checked_markers(item: pytest.Item, settings: Settings) -> Markers:
    """The item's markers, read once; a bad one fails the item (at setup) with its message."""
    markers = item.stash.get(_READ, None)
    if markers is None:
        try:
            markers = read_markers(item, settings)
        except MarkerError as error:
            # The message alone: no traceback, no chained MarkerError.
            raise pytest.fail.Exception(str(error), pytrace=False) from None
        item.stash[_READ] = markers
    return markers
