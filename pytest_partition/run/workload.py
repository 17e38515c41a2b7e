"""What a run's workers do: the register, kv and counter workloads, or yours.

A workload hands each worker its next operation, in the model's vocabulary
(``get``, ``put``, ``cas``, ``incr``); the worker's client may call the
service by other names (``methods=``) but records these. Each worker draws
the kind and the values of its operations from a seeded random stream of its
own, so the same seed gives every worker the same sequence of operations; as
in Jepsen, they do not depend on the answers.

Keys go cold, as with Jepsen's ``independent`` generator: a key takes a
bounded number of operations, then the workers move on to a fresh one. An
update whose replication was lost is then never overwritten, and the final
reads see it; each key's history stays small for the checker. Every worker
walks the same sequence of keys at the same pace, so workers on different
nodes work on the same keys at about the same time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from ..checkers import ModelLike
from ..errors import ArgumentError, ArgumentTypeError

if TYPE_CHECKING:
    import random

__all__ = ["MODELS", "WORKLOADS", "Generate", "Operation", "Workload", "make_workload",
           "namespace_for"]

#: The built-in workloads and the checker model of each.
MODELS = {"register": "kv", "kv": "kv", "counter": "counter"}
WORKLOADS = tuple(MODELS)
#: The operations each built-in workload issues (the keys ``methods=`` may rename).
OPERATIONS = {"register": ("get", "put", "cas"), "kv": ("get", "put", "cas"),
              "counter": ("incr", "get")}
#: Operations a key takes before the workers move on to a fresh one (as
#: Jepsen's register tests give each key 100).
OPS_PER_KEY = 100
#: Keys the kv workload keeps in use at once.
HOT_KEYS = 5
#: Workers that share one register at a time (as Jepsen's ``independent``
#: runs a few threads per key): more workers work on more registers at once,
#: so that a run's concurrency grows without each key's history growing
#: past what the linearizability search decides quickly.
WORKERS_PER_KEY = 10

Operation = tuple[str, tuple[Any, ...]]
#: A user's generator: ``generate(rng) -> (method, args)``.
Generate = Callable[["random.Random"], Operation]


class Workload(Protocol):
    """What a run asks of a workload."""

    #: The model the history is checked against (a name or a Model).
    model: ModelLike | str
    #: The operations it issues, in the model's vocabulary (``methods=`` renames them).
    operations: Collection[str]

    def next(self, worker: int, rng: random.Random) -> Operation:
        """Worker ``worker``'s next operation, its random choices drawn from ``rng``."""

    def final_read(self, key: Any) -> Operation | None:
        """The operation that reads ``key`` after the heal, or None (no final reads)."""


class _Keys:
    """Each worker's place in the run's sequence of keys.

    Worker ``w``'s ``m``-th operation works on key ``m // share``, where
    ``share`` is a worker's part of a key's ``per_key`` operations: every worker
    walks the same keys at the same pace (a rate-limited worker that was held
    up catches up), and which key an operation lands on is fixed by the seed
    like the rest of it. With ``per_group``, the workers form groups of that
    many consecutive workers (so each group spans the nodes), and each group
    walks a sequence of keys of its own.
    """

    def __init__(self, namespace: str, prefix: str, per_key: int,
                 per_group: int | None = None) -> None:
        self.namespace = namespace
        self.prefix = prefix
        self.per_key = per_key
        self.share = per_key
        self.groups = 1
        self._per_group = per_group
        self._group_size = 1
        self._count: dict[int, int] = {}

    def set_workers(self, count: int) -> None:
        count = max(1, count)
        if self._per_group is not None:
            self.groups = -(-count // self._per_group)
        self._group_size = -(-count // self.groups)
        self.share = max(1, self.per_key // self._group_size)

    def index(self, worker: int, step: int) -> int:
        """The number of the key of ``worker``'s ``step``-th key of its group."""
        return step * self.groups + min(worker // self._group_size, self.groups - 1)

    def tick(self, worker: int) -> int:
        """Count one operation of ``worker``; return how many of its came before it."""
        count = self._count.get(worker, 0)
        self._count[worker] = count + 1
        return count

    def name(self, index: int) -> str:
        return f"{self.namespace}{self.prefix}{index}"


class _Values:
    """Each worker's written values: fresh every time (``worker + workers * n``),
    so that a read names the one write it saw. Small repeated values would let
    any write whose outcome is unknown explain a stale read away."""

    def __init__(self) -> None:
        self._written: dict[int, int] = {}
        self._count: dict[int, int] = {}
        self.workers = 1

    def fresh(self, worker: int) -> int:
        count = self._count.get(worker, 0) + 1
        self._count[worker] = count
        value = worker + self.workers * count
        self._written[worker] = value
        return value

    def last(self, worker: int) -> int | None:
        return self._written.get(worker)


def _register_op(rng: random.Random, key: str, worker: int, values: _Values) -> Operation:
    """Half reads, 30% writes, 20% compare-and-sets from the worker's last written
    value (so that a cas can succeed, and says something when it does)."""
    roll = rng.random()
    if roll < 0.5:
        return "get", (key,)
    expected = values.last(worker)
    if roll < 0.8 or expected is None:
        return "put", (key, values.fresh(worker))
    return "cas", (key, expected, values.fresh(worker))


class RegisterWorkload:
    """Reads, writes and compare-and-sets of registers: the workers work in groups
    of :data:`WORKERS_PER_KEY` on one register per group at a time, which
    changes every ``per_key`` operations of the group."""

    model: ModelLike | str = "kv"
    operations: Collection[str] = OPERATIONS["register"]

    def __init__(self, namespace: str = "", per_key: int = OPS_PER_KEY) -> None:
        self._keys = _Keys(namespace, "r", per_key, per_group=WORKERS_PER_KEY)
        self._values = _Values()

    def next(self, worker: int, rng: random.Random) -> Operation:
        step = self._keys.tick(worker) // self._keys.share
        key = self._keys.name(self._keys.index(worker, step))
        return _register_op(rng, key, worker, self._values)

    def final_read(self, key: Any) -> Operation:
        return "get", (key,)

    def set_workers(self, count: int) -> None:
        """How many workers share the run: their values stay apart, and a key's
        operations are shared among them."""
        self._values.workers = count
        self._keys.set_workers(count)


class KvWorkload(RegisterWorkload):
    """Register operations over ``hot`` keys in use at once: the window of keys
    slides by one every ``per_key / hot`` operations, so each key takes about
    ``per_key`` operations and then goes cold."""

    def __init__(self, namespace: str = "", per_key: int = OPS_PER_KEY,
                 hot: int = HOT_KEYS) -> None:
        # The window slides by one key every ``share`` operations of each worker
        # (per_key / workers): the key leaving it had ``hot`` slides of the
        # workers' operations spread over ``hot`` keys, so about per_key of them.
        self._keys = _Keys(namespace, "k", per_key)
        self._values = _Values()
        self.hot = hot

    def next(self, worker: int, rng: random.Random) -> Operation:
        first = self._keys.tick(worker) // self._keys.share
        key = self._keys.name(first + rng.randrange(self.hot))
        return _register_op(rng, key, worker, self._values)


class CounterWorkload:
    """Mostly increments, some reads, of one counter (Jepsen's counter workload;
    a counter never incremented reads as None, which the model takes as 0)."""

    model: ModelLike | str = "counter"
    operations: Collection[str] = OPERATIONS["counter"]

    def __init__(self, namespace: str = "") -> None:
        self.key = f"{namespace}counter"

    def next(self, worker: int, rng: random.Random) -> Operation:
        if rng.random() < 0.75:
            return "incr", (self.key, rng.randint(1, 5))
        return "get", (self.key,)

    def final_read(self, key: Any) -> Operation:
        return "get", (key,)


class GeneratedWorkload:
    """A user's ``generate(rng) -> (method, args)`` as a workload; the final reads
    are ``get(key)`` when the model is one of the built-in ones."""

    def __init__(self, generate: Generate, model: ModelLike | str) -> None:
        self.generate = generate
        self.model = model
        self.operations: Collection[str] = ()
        self._reads = isinstance(model, str) and model in ("register", "kv", "counter")

    def next(self, worker: int, rng: random.Random) -> Operation:
        op = self.generate(rng)
        if not (isinstance(op, tuple) and len(op) == 2 and isinstance(op[0], str)
                and op[0] and isinstance(op[1], (tuple, list))):
            name = getattr(self.generate, "__qualname__", repr(self.generate))
            raise ArgumentTypeError(f"the generator {name} returned {op!r}; it must return "
                            "(method, args): a method name and a tuple of arguments, "
                            "e.g. ('put', ('k', 1))")
        return op[0], tuple(op[1])

    def final_read(self, key: Any) -> Operation | None:
        return ("get", (key,)) if self._reads else None


_KEY_PREFIXES = {"register": "r", "kv": "k", "counter": "counter"}


def namespace_for(workload: str, used: Iterable[Any]) -> str:
    """A prefix that keeps this run's keys apart from every key in ``used`` (those an
    earlier run or the test body already touched): ``""``, else ``"2."``, ``"3."``..."""
    taken = {key for key in used if isinstance(key, str)}
    prefix = _KEY_PREFIXES[workload]
    for number in range(1, 10_000):
        namespace = "" if number == 1 else f"{number}."
        pattern = re.compile(re.escape(namespace + prefix) + r"\d*")
        if not any(pattern.fullmatch(key) for key in taken):
            return namespace
    raise ArgumentError("no free key namespace left")  # pragma: no cover - 10k runs of one test


def make_workload(workload: str | Generate | Workload, *, model: ModelLike | str | None,
                  keys: int | None, used: Iterable[Any]) -> Workload:
    """The workload a run asked for: a built-in name, a generator (with ``model``),
    or an object that already follows :class:`Workload`."""
    if isinstance(workload, str):
        if workload not in MODELS:
            raise ArgumentError(f"workload {workload!r} is not one of {', '.join(WORKLOADS)}, "
                             "or a generator generate(rng) -> (method, args) with model=")
        if model is not None:
            raise ArgumentError(f"model={model!r} is for your own generator; the {workload} "
                             f"workload is checked with the {MODELS[workload]} model")
        if keys is not None and workload != "kv":
            raise ArgumentError(f"keys={keys!r} sets how many keys the kv workload keeps hot; "
                                f"the {workload} workload has no such setting")
        namespace = namespace_for(workload, used)
        if workload == "register":
            return RegisterWorkload(namespace)
        if workload == "kv":
            return KvWorkload(namespace, hot=keys or HOT_KEYS)
        return CounterWorkload(namespace)
    if keys is not None:
        raise ArgumentError(f"keys={keys!r} is for the kv workload; your own workload chooses "
                            "its keys")
    if all(callable(getattr(workload, name, None)) for name in ("next", "final_read")):
        return workload  # type: ignore[return-value]
    if callable(workload):
        if model is None:
            raise ArgumentError("run(generate, ...) needs model=: 'register', 'kv', 'counter' or "
                                "a Model, to check the history your generator makes")
        return GeneratedWorkload(workload, model)
    raise ArgumentTypeError(f"workload {workload!r}: give 'register', 'kv' or 'counter', "
                            "a generator generate(rng) -> (method, args) with model=, "
                            "or a Workload object")


#: The operation names ``methods=`` may rename for the built-in workloads: those
#: of the models (a mapping may cover more than one workload's).
MODEL_OPERATIONS = ("get", "put", "cas", "incr", "delete", "append")


def methods_problem(methods: object, operations: Collection[str]) -> str | None:
    """Why ``methods`` cannot rename the workload's operations (None if it can)."""
    if not isinstance(methods, Mapping):
        return ("is not accepted; accepted: a mapping from the model's operation names to "
                "your service's method names, e.g. {'get': 'fetch', 'put': 'store'}")
    for name, method in methods.items():
        if operations and name not in MODEL_OPERATIONS:
            return (f"renames {name!r}, which is no operation of the models; accepted keys: "
                    f"{', '.join(MODEL_OPERATIONS)} (this workload calls "
                    f"{', '.join(operations)})")
        if not isinstance(method, str) or not method.strip() or any(
                c.isspace() for c in method):
            return f"maps {name!r} to {method!r}, which is not an XML-RPC method name"
    return None
