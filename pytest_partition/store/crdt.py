"""Convergent values for the AP mode of the reference store.

Everything here is a pure value or a pure function, except :class:`HybridClock`
and :class:`DigestIndex`, two small mutable holders with no I/O. No clock is
read: time comes in as ``now_ms``.

One key holds one :class:`Record`, a product of three joins:

- ``register``: a last-writer-wins :class:`Register` ordered by
  (hybrid logical timestamp, node id, canonical value); a delete writes a
  tombstone (``value is None``);
- ``counter``: a PN-counter, per-node totals of increments and decrements;
- ``removed``: the counter totals a delete observed (its "removed baseline").

Merging is componentwise (max register, per-node max totals), so it is
commutative, associative and idempotent for every mix of the three, and a
merge never moves a replica backwards. What a reader sees is derived from the
merged record by :func:`visible`:

- the counter is *live* when some node's total exceeds the removed baseline;
  its value is ``sum(inc - removed_inc) - sum(dec - removed_dec)``, each
  per-node difference floored at 0;
- a live counter wins over the register: a ``put`` can only race with an
  ``incr`` if it was concurrent with it (a replica refuses ``put`` on a live
  counter), and "no increment is lost" beats "last writer wins";
- otherwise the register's value, or ``None`` for a tombstone or no register.

A delete therefore restarts a counter from 0 while increments concurrent with
the delete survive, and a key can be reused as a register after a delete.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

__all__ = [
    "INT64_MAX", "CounterMerge", "DigestIndex", "HybridClock", "PNCounter", "Record", "Register",
    "Timestamp", "bucket_of", "canonical", "counter_live", "counter_value", "dominates",
    "increment", "kind", "merge_counter", "merge_counter_by_total", "merge_record",
    "merge_states", "record_from_wire", "record_hash", "record_to_wire", "remove",
    "validate_key", "validate_value", "visible", "write_register",
]  # fmt: skip

INT64_MAX = 2**63 - 1
"""Upper bound of every integer this module stores, so that JSON peers and
64-bit consumers read them exactly."""

MAX_KEY_LENGTH = 1024
MAX_VALUE_DEPTH = 32


class Timestamp(NamedTuple):
    """A hybrid logical clock reading: wall milliseconds, then a logical count."""

    wall: int
    logical: int


class HybridClock:
    """A hybrid logical clock (Kulkarni et al.) that never goes backwards.

    ``wall`` follows the largest physical time seen (local ``now_ms`` or a
    remote stamp); ``logical`` orders events that share a wall value. A
    ``now_ms`` that jumps backwards only bumps ``logical``.
    """

    def __init__(self, start: Timestamp | None = None) -> None:
        """Start at ``start`` (a restored clock resumes where it stopped)."""
        self._now = Timestamp(0, 0) if start is None else Timestamp(*start)

    @property
    def current(self) -> Timestamp:
        """The last timestamp issued or observed."""
        return self._now

    def tick(self, now_ms: int) -> Timestamp:
        """A local event (a write): return a timestamp above every earlier one."""
        wall = max(self._now.wall, _clamp_ms(now_ms))
        logical = self._now.logical + 1 if wall == self._now.wall else 0
        return self._set(wall, logical)

    def observe(self, remote: Timestamp, now_ms: int) -> Timestamp:
        """Receipt of a remote timestamp: move above both it and our own."""
        own = self._now
        wall = max(own.wall, remote.wall, _clamp_ms(now_ms))
        if wall == own.wall == remote.wall:
            logical = max(own.logical, remote.logical) + 1
        elif wall == own.wall:
            logical = own.logical + 1
        elif wall == remote.wall:
            logical = remote.logical + 1
        else:
            logical = 0
        return self._set(wall, logical)

    def _set(self, wall: int, logical: int) -> Timestamp:
        if logical > INT64_MAX:  # unreachable in practice; stay monotonic and in range
            wall, logical = wall + 1, 0
        self._now = Timestamp(wall, logical)
        return self._now


def _clamp_ms(now_ms: int) -> int:
    return min(max(int(now_ms), 0), INT64_MAX)


def canonical(value: Any) -> str:
    """The canonical JSON text of a value: equal values, equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def validate_key(key: object) -> str | None:
    """Why ``key`` is not a valid key, or ``None`` if it is."""
    if not isinstance(key, str):
        return f"key must be a string, got {type(key).__name__}"
    if not key or len(key) > MAX_KEY_LENGTH:
        return f"key must be 1 to {MAX_KEY_LENGTH} characters long, got {len(key)}"
    return None


def validate_value(value: object, _depth: int = 0) -> str | None:
    """Why ``value`` cannot be stored, or ``None`` if it can.

    Values are JSON data: str, bool, int within 64 bits, finite float, and
    lists or string-keyed dicts of those (null inside them too). A bare
    ``None`` is refused because it means "absent" (use ``delete``).
    """
    if _depth > MAX_VALUE_DEPTH:
        return f"value nests deeper than {MAX_VALUE_DEPTH} levels"
    if value is None:  # null inside a list or dict is plain JSON data
        return "value must not be None (None means absent; use delete)" if not _depth else None
    if isinstance(value, (str, bool)):
        return None
    if isinstance(value, int):
        ok = -INT64_MAX - 1 <= value <= INT64_MAX
        return None if ok else f"integer {value} does not fit in 64 bits"
    if isinstance(value, float):
        return None if math.isfinite(value) else f"float {value} is not finite"
    if isinstance(value, list):
        items: Iterable[object] = value
    elif isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            return "dict keys must be strings"
        items = value.values()
    else:
        return f"values must be JSON data, got {type(value).__name__}"
    for item in items:
        reason = validate_value(item, _depth + 1)
        if reason is not None:
            return reason
    return None


@dataclass(frozen=True)
class Register:
    """A last-writer-wins register; ``value is None`` marks a tombstone."""

    stamp: Timestamp
    node: str
    value: Any = None

    @property
    def deleted(self) -> bool:
        """True for a tombstone left by a delete."""
        return self.value is None

    def order(self) -> tuple[Timestamp, str, str]:
        """The total order of writes. (stamp, node) is unique per write; the
        value only breaks ties after a replica lost its clock, so that merge
        stays a join even then."""
        return (self.stamp, self.node, "" if self.value is None else canonical(self.value))


Totals = tuple[tuple[str, int], ...]
"""Per-node totals, sorted by node, zero entries left out."""


def _totals(mapping: Mapping[str, int]) -> Totals:
    return tuple(sorted((node, n) for node, n in mapping.items() if n))


def _max_totals(a: Totals, b: Totals) -> Totals:
    if a == b or not b:
        return a
    if not a:
        return b
    merged = dict(a)
    for node, n in b:
        if n > merged.get(node, 0):
            merged[node] = n
    return _totals(merged)


def _totals_leq(a: Totals, b: Totals) -> bool:
    other = dict(b)
    return all(n <= other.get(node, 0) for node, n in a)


@dataclass(frozen=True)
class PNCounter:
    """Per-node cumulative increments (``inc``) and decrements (``dec``), both >= 0."""

    inc: Totals = ()
    dec: Totals = ()

    def activity(self) -> int:
        """The sum of every component: how much counting this state has seen."""
        return sum(n for _, n in self.inc) + sum(n for _, n in self.dec)


CounterMerge = Callable[[PNCounter, PNCounter], PNCounter]


def merge_counter(a: PNCounter, b: PNCounter) -> PNCounter:
    """The PN-counter join: per-node maximum of each total."""
    return PNCounter(_max_totals(a.inc, b.inc), _max_totals(a.dec, b.dec))


def merge_counter_by_total(a: PNCounter, b: PNCounter) -> PNCounter:
    """PLANTED BUG ``lost-update``: keep whichever whole counter has the larger
    total instead of merging per node. Still a join (the max of a total order),
    so replicas converge, but one side of two concurrent updates is lost."""
    return max(a, b, key=lambda c: (c.activity(), c.inc, c.dec))


def merge_record_by_arrival(mine: Record, incoming: Record) -> Record:
    """PLANTED BUG ``lost-update``, for a record received from a peer: the
    register that arrives last wins, whatever its clock says, and counters keep
    the larger total (:func:`merge_counter_by_total`). Not a join: a late
    delivery of an old write undoes a newer one."""
    register = incoming.register if incoming.register is not None else mine.register
    return Record(register, merge_counter_by_total(mine.counter, incoming.counter),
                  merge_counter(mine.removed, incoming.removed))


@dataclass(frozen=True)
class Record:
    """Everything one replica knows about one key (see the module docstring)."""

    register: Register | None = None
    counter: PNCounter = PNCounter()
    removed: PNCounter = PNCounter()


def merge_record(a: Record, b: Record, counter_merge: CounterMerge = merge_counter) -> Record:
    """The join of two records of the same key."""
    if a == b:
        return a
    if a.register is None or b.register is None:
        register = a.register or b.register
    else:
        register = max(a.register, b.register, key=Register.order)
    return Record(
        register, counter_merge(a.counter, b.counter), merge_counter(a.removed, b.removed)
    )


def merge_states(
    a: Mapping[str, Record], b: Mapping[str, Record], counter_merge: CounterMerge = merge_counter
) -> dict[str, Record]:
    """The join of two replica states: key by key, absent keys are bottom."""
    merged = dict(a)
    for key, record in b.items():
        mine = merged.get(key)
        merged[key] = record if mine is None else merge_record(mine, record, counter_merge)
    return merged


def dominates(a: Record, b: Record) -> bool:
    """True if ``a`` contains everything in ``b`` (``b <= a`` in the join order)."""
    if b.register is not None and (a.register is None or a.register.order() < b.register.order()):
        return False
    return all(
        _totals_leq(x, y)
        for x, y in (
            (b.counter.inc, a.counter.inc),
            (b.counter.dec, a.counter.dec),
            (b.removed.inc, a.removed.inc),
            (b.removed.dec, a.removed.dec),
        )
    )


def _live_parts(record: Record) -> tuple[int, int]:
    # Clamped at zero: a baseline above a total can only come from the
    # lost-update bug's merge, and must not make a counter negative-alive.
    base_inc, base_dec = dict(record.removed.inc), dict(record.removed.dec)
    up = sum(max(0, n - base_inc.get(node, 0)) for node, n in record.counter.inc)
    down = sum(max(0, n - base_dec.get(node, 0)) for node, n in record.counter.dec)
    return up, down


def counter_live(record: Record | None) -> bool:
    """True if the key holds a counter incremented since its last delete."""
    if record is None:
        return False
    base_inc, base_dec = dict(record.removed.inc), dict(record.removed.dec)
    return any(n > base_inc.get(node, 0) for node, n in record.counter.inc) or any(
        n > base_dec.get(node, 0) for node, n in record.counter.dec
    )


def counter_value(record: Record | None) -> int:
    """The counter's value counted from its last delete (0 if none)."""
    if record is None:
        return 0
    up, down = _live_parts(record)
    return up - down


def kind(record: Record | None) -> str:
    """``"counter"``, ``"register"`` or ``"missing"``: what a reader sees."""
    if counter_live(record):
        return "counter"
    if record is not None and record.register is not None and not record.register.deleted:
        return "register"
    return "missing"


def visible(record: Record | None) -> Any:
    """The value a reader sees: live counter, else register value, else None."""
    what = kind(record)
    if what == "counter":
        return counter_value(record)
    if what == "register":
        assert record is not None and record.register is not None
        return record.register.value
    return None


def write_register(record: Record | None, stamp: Timestamp, node: str, value: Any) -> Record:
    """``record`` after a register write (a tombstone if ``value is None``)."""
    base = record or Record()
    return merge_record(base, Record(register=Register(stamp, node, value)))


def increment(record: Record | None, node: str, delta: int) -> Record:
    """``record`` after ``node`` adds ``delta`` to the counter."""
    base = record or Record()
    inc, dec = dict(base.counter.inc), dict(base.counter.dec)
    side = inc if delta > 0 else dec
    side[node] = side.get(node, 0) + abs(delta)
    return Record(base.register, PNCounter(_totals(inc), _totals(dec)), base.removed)


def remove(record: Record | None, stamp: Timestamp, node: str) -> Record:
    """``record`` after a delete: a tombstone, and the observed counter totals
    become the removed baseline so the counter restarts from 0."""
    base = write_register(record, stamp, node, None)
    return Record(base.register, base.counter, merge_counter(base.removed, base.counter))


# Wire form: plain JSON data, every int within 64 bits.


def record_to_wire(record: Record) -> dict[str, Any]:
    """The record as JSON data; empty parts are left out."""
    wire: dict[str, Any] = {}
    reg = record.register
    if reg is not None:
        wire["reg"] = {"ts": [reg.stamp.wall, reg.stamp.logical], "node": reg.node}
        if reg.deleted:
            wire["reg"]["deleted"] = True
        else:
            wire["reg"]["value"] = reg.value
    for name, totals in (
        ("inc", record.counter.inc),
        ("dec", record.counter.dec),
        ("removed_inc", record.removed.inc),
        ("removed_dec", record.removed.dec),
    ):
        if totals:
            wire[name] = dict(totals)
    return wire


def _wire_int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= INT64_MAX:
        raise ValueError(f"{what} must be an integer in 0..2**63-1, got {value!r}")
    return value


def _wire_totals(data: object, what: str) -> Totals:
    if not isinstance(data, dict):
        raise ValueError(f"{what} must be an object of node -> total, got {data!r}")
    for node in data:
        if not isinstance(node, str):
            raise ValueError(f"{what} has a non-string node name {node!r}")
    return _totals({node: _wire_int(n, f"{what}[{node!r}]") for node, n in data.items()})


def record_from_wire(data: object) -> Record:
    """Parse :func:`record_to_wire` output; raise ValueError saying what is wrong."""
    if not isinstance(data, dict):
        raise ValueError(f"a record must be a JSON object, got {type(data).__name__}")
    unknown = set(data) - {"reg", "inc", "dec", "removed_inc", "removed_dec"}
    if unknown:
        raise ValueError(f"unknown record field(s) {sorted(unknown)}")
    register = None
    if "reg" in data:
        reg = data["reg"]
        if not isinstance(reg, dict) or not isinstance(reg.get("ts"), list):
            raise ValueError(f"reg must be an object with ts [wall, logical], got {reg!r}")
        ts = reg["ts"]
        if len(ts) != 2:
            raise ValueError(f"reg.ts must be [wall, logical], got {ts!r}")
        stamp = Timestamp(_wire_int(ts[0], "reg.ts wall"), _wire_int(ts[1], "reg.ts logical"))
        node = reg.get("node")
        if validate_key(node) is not None:
            raise ValueError(f"reg.node must be a non-empty string, got {node!r}")
        if reg.get("deleted") is True and "value" not in reg:
            value = None
        elif "value" in reg and "deleted" not in reg:
            value = reg["value"]
            reason = validate_value(value)
            if reason is not None:
                raise ValueError(f"reg.value: {reason}")
        else:
            raise ValueError("reg needs exactly one of value or deleted: true")
        register = Register(stamp, str(node), value)
    return Record(
        register,
        PNCounter(
            _wire_totals(data.get("inc", {}), "inc"), _wire_totals(data.get("dec", {}), "dec")
        ),
        PNCounter(
            _wire_totals(data.get("removed_inc", {}), "removed_inc"),
            _wire_totals(data.get("removed_dec", {}), "removed_dec"),
        ),
    )


# Digests. hashlib, never hash(): str hashes are salted per process, and
# digests are compared between processes.


def record_hash(key: str, record: Record) -> int:
    """A 64-bit fingerprint of (key, record), equal on every replica and run."""
    text = json.dumps([key, record_to_wire(record)], sort_keys=True, separators=(",", ":"))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def bucket_of(key: str, buckets: int) -> int:
    """The digest bucket that holds ``key``."""
    digest = hashlib.blake2b(key.encode(), digest_size=4, person=b"bucket").digest()
    return int.from_bytes(digest, "big") % buckets


class DigestIndex:
    """Per-key fingerprints grouped in buckets, updated in O(1) per change.

    A bucket's digest is the XOR of its keys' fingerprints, so two replicas
    compare ``buckets`` small strings to find where they differ, and then
    only the keys of the differing buckets.
    """

    def __init__(self, buckets: int) -> None:
        """Create an empty index with ``buckets`` buckets (>= 1)."""
        if buckets < 1:
            raise ValueError(f"digest buckets must be >= 1, got {buckets}")
        self.buckets = buckets
        self._xor = [0] * buckets
        self._keys: list[dict[str, int]] = [{} for _ in range(buckets)]

    def update(self, key: str, record: Record) -> None:
        """Record that ``key`` now holds ``record``."""
        index = bucket_of(key, self.buckets)
        fingerprint = record_hash(key, record)
        old = self._keys[index].get(key)
        if old is not None:
            self._xor[index] ^= old
        self._keys[index][key] = fingerprint
        self._xor[index] ^= fingerprint

    def digest(self) -> list[str]:
        """One 16-hex-digit string per bucket."""
        return [f"{x:016x}" for x in self._xor]

    def versions(self, index: int) -> dict[str, str]:
        """Key -> fingerprint (16 hex digits) for the keys of one bucket."""
        return {key: f"{h:016x}" for key, h in self._keys[index].items()}
