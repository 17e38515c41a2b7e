"""The run layer: concurrent recording clients while a nemesis acts.

``cluster.run(workload, ...)`` delegates to :func:`run`, which drives the
workers (:mod:`.runner`) with the operations of a workload
(:mod:`.workload`) and returns a :class:`RunResult` (:mod:`.result`): the
history, and ``assert_cp()`` / ``assert_ap()`` over it.
"""

from __future__ import annotations

from ..cluster import Cluster
from .result import RunResult, TimelineWriter
from .runner import run
from .workload import MODELS, WORKLOADS

# The harness does not import the layer that drives it: cluster.run() hands
# its runs to the runner this layer gives it.
Cluster.runner = run

__all__ = ["MODELS", "WORKLOADS", "RunResult", "TimelineWriter", "run"]
