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

from .client import Client
from .cluster import Cluster, Node
from .errors import (
    FAULT_INDETERMINATE,
    FAULT_INVALID,
    FAULT_UNAVAILABLE,
    ClusterError,
    Indeterminate,
    NodeContractWarning,
    NodeStartError,
    NotConverged,
    NotJudged,
    OperationError,
    SpecError,
    Unavailable,
    UntestedWarning,
)
from .history import Event, History, HistoryError, Operation
from .nemesis import Cut, Kill, Latency, Nemesis, Pause
from .report import write_run_timeline
from .run import RunResult
from .run import run as _run
from .schedule import Schedule, ScheduledFault, ScheduleError
from .topology import Partition, parse_spec
from .waiting import eventually

# The facade wires the layers together: the harness hands runs to the run
# layer, and a run's timeline is drawn by the report layer, though neither
# imports the layer below it.
Cluster.runner = _run
RunResult.timeline_writer = write_run_timeline

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
    "NodeContractWarning",
    "NodeStartError",
    "NotConverged",
    "NotJudged",
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
