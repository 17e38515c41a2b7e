"""Checkers: decide from a recorded history whether a system behaved as CP or AP.

- :func:`linearizable` (CP): Wing-Gong/Lowe search with memoization, split per
  key, with a time limit; :func:`linearizable_bruteforce` is its slow reference.
- :func:`converged`: do the replicas hold the same data?
- :func:`availability`: how often each node and each side of each partition answered.
- :func:`check_counter`: no acknowledged increment lost (AP counters);
  :func:`check_lost_updates`: no acknowledged write lost (AP registers).
- :func:`cap_verdict`: all of the above, as one verdict and one sentence.
- :func:`exposure`: what the faults put to the test (a pass that could not
  have failed says so).

Models are instances: :data:`register`, :data:`kv`, :data:`counter` (or their
names as strings); subclass :class:`Model` for your own service. Every result
has ``.valid`` (or ``.verdict``), ``.explain()`` and ``.to_dict()``.

Modules are named after what they check (``linearizability``,
``availability_check``, ``counter_check``) rather than after the functions, so
that ``pytest_partition.checkers.linearizable`` is always the function.
"""

from __future__ import annotations

from .availability_check import AvailabilityResult, PartitionWindow, Side, Tally, availability
from .bruteforce import linearizable_bruteforce
from .convergence import MISSING, ConvergenceResult, converged
from .counter_check import CounterResult, check_counter
from .exposure import Exposure, exposure
from .linearizability import LinearizabilityResult, PrefixStep, linearizable
from .lost_updates import LostUpdatesResult, check_lost_updates
from .models import (
    CounterModel,
    KVModel,
    Model,
    ModelError,
    ModelLike,
    RegisterModel,
    counter,
    kv,
    register,
)
from .verdict import Verdict, cap_verdict

__all__ = [
    "MISSING",
    "AvailabilityResult",
    "ConvergenceResult",
    "CounterModel",
    "CounterResult",
    "Exposure",
    "KVModel",
    "LinearizabilityResult",
    "LostUpdatesResult",
    "Model",
    "ModelError",
    "ModelLike",
    "PartitionWindow",
    "PrefixStep",
    "RegisterModel",
    "Side",
    "Tally",
    "Verdict",
    "availability",
    "cap_verdict",
    "check_counter",
    "check_lost_updates",
    "converged",
    "counter",
    "exposure",
    "kv",
    "linearizable",
    "linearizable_bruteforce",
    "register",
]
