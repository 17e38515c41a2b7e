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
    ArgumentError,
    ArgumentTypeError,
    ClusterError,
    Indeterminate,
    NodeContractWarning,
    NodeStartError,
    NotConverged,
    NotJudged,
    NotServed,
    OperationError,
    SpecError,
    Unavailable,
    UntestedWarning,
)

if TYPE_CHECKING:
    from .client import Client
    from .cluster import Cluster, Node
    from .history import Event, History, HistoryError, Operation
    from .nemesis import Cut, Kill, Latency, Nemesis, Pause
    from .run import RunResult
    from .schedule import Schedule, ScheduledFault, ScheduleError
    from .topology import Partition, parse_spec
    from .waiting import eventually

# Imported on first use: the processes the plugin starts (the proxy, the
# store's zygote and nodes) import a submodule or two, and must not pay for
# the whole library (tenacity, the checkers, the workloads) at every start.
_LAZY = {
    "Client": "client", "Cluster": "cluster", "Node": "cluster",
    "Event": "history", "History": "history", "HistoryError": "history",
    "Operation": "history", "Cut": "nemesis", "Kill": "nemesis", "Latency": "nemesis",
    "Nemesis": "nemesis", "Pause": "nemesis", "Partition": "topology",
    "parse_spec": "topology", "eventually": "waiting", "RunResult": "run",
    "Schedule": "schedule", "ScheduledFault": "schedule", "ScheduleError": "schedule",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if module in ("cluster", "run"):
        # A Cluster runs workloads, and a run draws its timeline: the layers
        # that do so wire themselves into the harness when imported.
        importlib.import_module(".report", __name__)
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "FAULT_INDETERMINATE",
    "FAULT_INVALID",
    "FAULT_UNAVAILABLE",
    "ArgumentError",
    "ArgumentTypeError",
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
    "NodeContractWarning",
    "NodeStartError",
    "NotConverged",
    "NotJudged",
    "NotServed",
    "Operation",
    "OperationError",
    "Partition",
    "Pause",
    "RunResult",
    "Schedule",
    "ScheduleError",
    "ScheduledFault",
    "SpecError",
    "Unavailable",
    "UntestedWarning",
    "eventually",
    "parse_spec",
]
