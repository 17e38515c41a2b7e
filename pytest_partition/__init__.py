"""pytest-partition: partition fault testing as a pytest plugin.

Start a real multi-node cluster, cut the network between its nodes, record
every operation, and check whether the system behaved as CP or AP. The
library works without pytest too::

    from pytest_partition import Cluster

    with Cluster(nodes=3, mode="ap") as cluster:
        cluster.client("n1").incr("dryer", 60)
        with cluster.partitioned("n1,n2|n3"):
            ...
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .errors import (
    FAULT_INDETERMINATE,
    FAULT_INVALID,
    FAULT_UNAVAILABLE,
    ClusterError,
    Indeterminate,
    NodeStartError,
    OperationError,
    SpecError,
    Unavailable,
)

if TYPE_CHECKING:
    from .client import Client
    from .cluster import Cluster, Node, NotConverged
    from .history import Event, History, HistoryError, Operation
    from .nemesis import Cut, Kill, Latency, Nemesis, Pause
    from .topology import Partition, parse_spec
    from .waiting import eventually
    from .workload import RunResult

# Imported on first use: the processes the plugin starts (the proxy, the
# store's zygote and nodes) import a submodule or two, and must not pay for
# the whole library (tenacity, the checkers, the workloads) at every start.
_LAZY = {
    "Client": "client", "Cluster": "cluster", "Node": "cluster", "NotConverged": "cluster",
    "Event": "history", "History": "history", "HistoryError": "history",
    "Operation": "history", "Cut": "nemesis", "Kill": "nemesis", "Latency": "nemesis",
    "Nemesis": "nemesis", "Pause": "nemesis", "Partition": "topology",
    "parse_spec": "topology", "eventually": "waiting", "RunResult": "workload",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "FAULT_INDETERMINATE",
    "FAULT_INVALID",
    "FAULT_UNAVAILABLE",
    "Client",
    "Cluster",
    "ClusterError",
    "Cut",
    "Event",
    "History",
    "HistoryError",
    "Indeterminate",
    "Kill",
    "Latency",
    "Nemesis",
    "Node",
    "NodeStartError",
    "NotConverged",
    "Operation",
    "OperationError",
    "Partition",
    "Pause",
    "RunResult",
    "SpecError",
    "Unavailable",
    "eventually",
    "parse_spec",
]
