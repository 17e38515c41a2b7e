"""The obviously-correct, exponential linearizability check: the reference.

For every subset of the ``info`` operations (each either happened or not), try
every order of the chosen operations that respects real time, replaying the
model from its initial state. No memo, no per-key search: the keys of a
partitioned model are replayed together, one state per key, which also checks
the per-key split of :func:`~pytest_partition.checkers.linearizable` against the
definition. Use it on histories of a dozen operations at most.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from itertools import combinations
from typing import Any

from ..history import History, Operation, refuse_nan
from .models import ModelLike, resolve_model
from .realtime import operations_of, precedes

__all__ = ["linearizable_bruteforce"]


def linearizable_bruteforce(
    ops: History | Iterable[Operation], model: ModelLike | str
) -> bool:
    """True when some real-time-respecting order of the operations is legal.

    ``fail`` operations are left out; each ``info`` operation is tried both as
    happened and as never happened. Unlike the fast checker this raises on a
    model error: it is a test oracle.
    """
    refuse_nan(ops)
    chosen = resolve_model(model)
    happened = [op for op in operations_of(ops) if op.type != "fail"]
    partition = getattr(chosen, "partition", None)
    parts = partition(happened) if callable(partition) else [happened]
    # Tag each operation with its part so one replay keeps one state per part.
    tagged = [(index, op) for index, part in enumerate(parts) for op in part]
    required = [item for item in tagged if item[1].type == "ok"]
    unknown = [item for item in tagged if item[1].type != "ok"]
    initial = tuple(chosen.init() for _ in parts)
    for size in range(len(unknown) + 1):
        for subset in combinations(unknown, size):
            if _some_order(required + list(subset), chosen, initial):
                return True
    return False


def _some_order(
    items: Sequence[tuple[int, Operation]], model: Any, initial: tuple[Hashable, ...]
) -> bool:
    count = len(items)
    before = [
        [j for j in range(count) if j != i and precedes(items[j][1], items[i][1])]
        for i in range(count)
    ]
    placed = [False] * count

    def extend(states: tuple[Hashable, ...], done: int) -> bool:
        if done == count:
            return True
        for i in range(count):
            if placed[i] or any(not placed[j] for j in before[i]):
                continue
            part, op = items[i]
            legal, after = model.step(states[part], op)
            if not legal:
                continue
            placed[i] = True
            found = extend(states[:part] + (after,) + states[part + 1:], done + 1)
            placed[i] = False
            if found:
                return True
        return False

    return extend(initial, 0)
