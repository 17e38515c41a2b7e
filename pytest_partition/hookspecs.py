"""Hooks that pytest-partition adds for other plugins and conftest files.

Registered in ``pytest_addhooks``; implement them in a ``conftest.py`` or a
plugin. Call-time arguments are keyword arguments, as pluggy requires.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .cluster import Cluster
    from .history import Event


def pytest_partition_cluster_started(cluster: Cluster) -> None:
    """Called when a cluster fixture has started and every node is ready.

    A good place to load data, wait for a leader, or set link latency for
    every test.
    """


def pytest_partition_fault(cluster: Cluster, event: Event) -> None:
    """Called after each fault is in force (partition, heal, kill, restart,
    pause, resume, latency), with the fault's history event.
    """


@pytest.hookspec(firstresult=True)
def pytest_partition_node_command(
    config: pytest.Config, mode: str, bug: str | None
) -> list[str] | None:
    """Return the command that starts a node when a test gives no ``command=``.

    The first non-None result wins; None everywhere means the reference
    store (``python -m pytest_partition.store --mode MODE``). Placeholders
    ``{name}``, ``{port}``, ``{peers}``, ``{data_dir}`` are filled in. A
    command returned here replaces the reference store entirely, so it must
    apply ``bug`` itself when it should (for instance by wrapping
    ``pytest_partition.cluster.default_command(mode, bug)``).
    """

