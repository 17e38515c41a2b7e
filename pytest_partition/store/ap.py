"""The AP node of the reference store: a pure state machine over :mod:`.crdt`.

Every client operation answers at once from the local replica. Accepted
writes are pushed to every peer and resent (with capped exponential backoff)
until the peer acknowledges them or a newer write of the key supersedes them.
Periodic anti-entropy repairs whatever pushes missed, in three steps that each
carry only what differs:

1. ``ae_digest`` (initiator -> peer): one fingerprint per digest bucket;
2. ``ae_versions`` (peer -> initiator): per-key fingerprints of the buckets
   that differ;
3. ``ae_records`` (initiator -> peer): the initiator's records of the keys
   that differ, and the keys it wants (``want``); the peer merges them and
   answers with its own records of those keys (an ``ae_records`` with no want).

No step keeps state between messages, so loss, duplication and reordering
only cost a round. Merges are joins, so a duplicate is harmless.

Time is the ``now_ms`` argument; randomness comes from the injected
``random.Random``. Nothing here opens a socket, starts a thread or reads a
clock: :mod:`.ap_runtime` calls :meth:`ApNode.tick` from the ticker of
:mod:`.runtime`, hands :meth:`ApNode.outbox` messages to the peer senders of
:mod:`.transport`, and keeps the replica on disk through :mod:`.persist`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from ..errors import PLANTED_BUGS
from .crdt import (
    INT64_MAX,
    DigestIndex,
    HybridClock,
    Record,
    Timestamp,
    bucket_of,
    counter_live,
    counter_value,
    increment,
    kind,
    merge_counter,
    merge_counter_by_total,
    merge_record,
    merge_record_by_arrival,
    record_from_wire,
    record_to_wire,
    remove,
    validate_key,
    validate_value,
    visible,
    write_register,
)

__all__ = ["BUGS", "MESSAGE_TYPES", "ApConfig", "ApMessage", "ApNode", "ApResult"]

BUGS = PLANTED_BUGS["ap"]
"""Planted bugs. ``no-anti-entropy``: each write is pushed once, never retried,
and no anti-entropy round runs. ``lost-update``: a record received from a peer
overwrites the local register whatever the clocks say (arrival order), and
counters merge by keeping the
whole counter with the larger total instead of per-node components."""

MESSAGE_TYPES = ("push", "ack", "ae_digest", "ae_versions", "ae_records")
SNAPSHOT_FORMAT = "pytest-partition/ap/1"


class ApResult(NamedTuple):
    """A client operation's answer.

    ``status`` is ``"ok"`` or ``"invalid"`` (bad arguments or a type conflict;
    nothing changed, ``reason`` says why). A ``cas`` whose expected value does
    not match is ``("ok", False, reason)``; a swap is ``("ok", True, "")``.
    """

    status: str
    value: Any = None
    reason: str = ""


def _invalid(reason: str) -> ApResult:
    return ApResult("invalid", None, reason)


@dataclass(frozen=True)
class ApConfig:
    """Timings and sizes of an AP node; every node of a cluster must agree on
    ``digest_buckets``.

    - ``push_retry_ms``: first resend delay of an unacknowledged push; it
      doubles per attempt up to ``push_retry_max_ms`` (jittered by +-25%), so
      a long partition does not flood the cut link;
    - ``push_batch``: most records per resend message;
    - ``max_pending_pushes``: pushes kept per peer; the oldest beyond are
      dropped and left to anti-entropy;
    - ``anti_entropy_ms``: period between rounds this node starts (each with
      one peer picked at random);
    - ``digest_buckets``: fingerprints per digest; 64 keeps a digest near 1 KB
      while a one-key difference costs ~keys/64 versions;
    - ``max_entries_per_message``: most versions or records in one
      anti-entropy message; larger differences take several rounds;
    - ``max_message_bytes``: most bytes of records (as JSON) in one push
      resend or anti-entropy message, beyond its first record: a peer refuses
      an oversized body, so an unbounded message of big values would be
      resent, and refused, forever.
    """

    push_retry_ms: int = 100
    push_retry_max_ms: int = 1_600
    push_batch: int = 256
    max_pending_pushes: int = 10_000
    anti_entropy_ms: int = 50
    digest_buckets: int = 64
    max_entries_per_message: int = 2_000
    max_message_bytes: int = 1 << 20

    def __post_init__(self) -> None:
        """Refuse non-positive settings with a message naming the field."""
        for name, value in vars(self).items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ApConfig.{name} must be a positive integer, got {value!r}")


@dataclass(frozen=True)
class ApMessage:
    """A peer message: ``type`` is one of :data:`MESSAGE_TYPES`, ``payload``
    is JSON data whose ints fit in 64 bits (clock readings are wall ms), which
    is more than XML-RPC's 32-bit ``<int>``: carry ``to_dict()`` as JSON text."""

    src: str
    dst: str
    type: str
    payload: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """The message as a JSON-serializable dict."""
        return {"src": self.src, "dst": self.dst, "type": self.type, "payload": dict(self.payload)}

    @classmethod
    def from_dict(cls, data: object) -> ApMessage:
        """Build a message from :meth:`to_dict` output; ValueError if malformed.

        Only the envelope is checked here; :meth:`ApNode.step` checks payloads.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"a message must be a JSON object, got {type(data).__name__}")
        missing = [f for f in ("src", "dst", "type", "payload") if f not in data]
        if missing:
            raise ValueError(f"message lacks field(s) {', '.join(missing)}")
        src, dst, type_, payload = (data[f] for f in ("src", "dst", "type", "payload"))
        for name, text in (("src", src), ("dst", dst), ("type", type_)):
            if not isinstance(text, str) or not text:
                raise ValueError(f"message {name} must be a non-empty string, got {text!r}")
        if type_ not in MESSAGE_TYPES:
            raise ValueError(f"unknown message type {type_!r}; known: {', '.join(MESSAGE_TYPES)}")
        if not isinstance(payload, Mapping):
            raise ValueError("message payload must be a JSON object")
        return cls(src, dst, type_, dict(payload))


class _Pending:
    """One unacknowledged push of a key to a peer."""

    __slots__ = ("attempts", "due", "push_id")

    def __init__(self, push_id: int, due: int | None, attempts: int) -> None:
        self.push_id, self.due, self.attempts = push_id, due, attempts


def _parse_records(data: object) -> dict[str, Record]:
    if not isinstance(data, Mapping):
        raise ValueError("records must be an object of key -> record")
    records = {}
    for key, wire in data.items():
        reason = validate_key(key)
        if reason is not None:
            raise ValueError(f"record key: {reason}")
        records[key] = record_from_wire(wire)
    return records


def _parse_ids(data: object) -> dict[str, int]:
    if not isinstance(data, Mapping):
        raise ValueError("ids must be an object of key -> push id")
    for key, push_id in data.items():
        if not isinstance(key, str) or not isinstance(push_id, int) or isinstance(push_id, bool):
            raise ValueError(f"bad push id {key!r}: {push_id!r}")
        if not 0 <= push_id <= INT64_MAX:  # we echo ids back: keep them 64-bit
            raise ValueError(f"push id {push_id!r} out of range")
    return dict(data)


class ApNode:
    """One AP replica: client operations, peer messages and timer ticks in;
    messages out through :meth:`outbox`."""

    def __init__(
        self,
        node_id: str,
        peers: Sequence[str],
        *,
        rng: random.Random,
        config: ApConfig = ApConfig(),
        bug: str | None = None,
        state: Mapping[str, Any] | None = None,
    ) -> None:
        """Create a node, empty or from a :meth:`snapshot` passed as ``state``."""
        if bug is not None and bug not in BUGS:
            raise ValueError(f"unknown AP bug {bug!r}; accepted: {', '.join(BUGS)}")
        if validate_key(node_id) is not None:
            raise ValueError(f"node_id must be a non-empty string, got {node_id!r}")
        if node_id in peers or len(set(peers)) != len(peers):
            raise ValueError(f"peers must be distinct and exclude {node_id!r}: {list(peers)}")
        self._id = node_id
        self._peers = tuple(peers)
        self._rng = rng
        self.config = config
        self.bug = bug
        self._merge_counter = merge_counter_by_total if bug == "lost-update" else merge_counter
        self._retries = bug != "no-anti-entropy"
        self._records: dict[str, Record] = {}
        self._sizes: dict[str, int] = {}  # JSON bytes of a key's record, once measured
        self._digest = DigestIndex(config.digest_buckets)
        self._clock = HybridClock()
        self._pending: dict[str, dict[str, _Pending]] = {p: {} for p in self._peers}
        self._push_seq = 0
        self._out: list[ApMessage] = []
        self._next_ae: int | None = None
        self.counters: dict[str, int] = dict.fromkeys(
            (
                "messages_sent", "bytes_sent", "messages_received", "malformed_messages",
                "pushes_sent", "push_records_sent", "records_merged", "anti_entropy_rounds",
                "ae_bytes_sent", "ae_entries_sent", "ae_records_sent",
            ),
            0,
        )  # fmt: skip
        self.last_error = ""
        if state is not None:
            self._load(state)

    @classmethod
    def restore(
        cls,
        snapshot: Mapping[str, Any],
        peers: Sequence[str],
        *,
        rng: random.Random,
        config: ApConfig = ApConfig(),
        bug: str | None = None,
    ) -> ApNode:
        """Rebuild a node from :meth:`snapshot` output (ValueError if malformed)."""
        node_id = snapshot.get("node") if isinstance(snapshot, Mapping) else None
        if not isinstance(node_id, str):
            raise ValueError("snapshot lacks its node name")
        return cls(node_id, peers, rng=rng, config=config, bug=bug, state=snapshot)

    # Introspection, for stats() and tests.

    @property
    def node_id(self) -> str:
        """This node's name."""
        return self._id

    @property
    def hlc(self) -> Timestamp:
        """The hybrid logical clock's current reading."""
        return self._clock.current

    @property
    def pending_pushes(self) -> int:
        """Unacknowledged (key, peer) pushes."""
        return sum(len(p) for p in self._pending.values())

    @property
    def anti_entropy_rounds(self) -> int:
        """Anti-entropy rounds this node started."""
        return self.counters["anti_entropy_rounds"]

    def stats(self) -> dict[str, Any]:
        """Counters for the ``stats`` XML-RPC method, XML-RPC-safe: the clock is
        a string ``"wall:logical"`` (wall ms overflow a 32-bit ``<int>``) and no
        bug is ``""``, not None."""
        wall, logical = self.hlc
        return {
            "node": self._id, "mode": "ap", "bug": self.bug or "", "hlc": f"{wall}:{logical}",
            "keys": len(self._records), "fingerprint": self.fingerprint,
            "pending_pushes": self.pending_pushes, **self.counters,
        }  # fmt: skip

    @property
    def fingerprint(self) -> str:
        """A hash of every record: equal on two replicas iff (barring a 64-bit
        collision) they hold the same records. Stronger than equal ``state()``:
        a replica with A's sale and one with C's sale both read 59."""
        return hashlib.blake2b("".join(self._digest.digest()).encode(), digest_size=8).hexdigest()

    def record(self, key: str) -> Record | None:
        """The full replicated record of ``key`` (None if never seen)."""
        return self._records.get(key)

    # Client operations: answered from the local replica, never waiting.

    def get(self, key: str, now_ms: int) -> ApResult:
        """The key's visible value (a counter's value), None if absent."""
        reason = validate_key(key)
        return _invalid(reason) if reason else ApResult("ok", visible(self._records.get(key)))

    def put(self, key: str, value: Any, now_ms: int) -> ApResult:
        """Write a register value (last writer wins) -> True; refused on a live counter."""
        reason = validate_key(key) or validate_value(value) or self._not_counter(key, "put")
        if reason:
            return _invalid(reason)
        self._put(key, value, now_ms)
        return ApResult("ok", True)

    def _put(self, key: str, value: Any, now_ms: int) -> None:
        value = copy.deepcopy(value)  # the caller may mutate its list or dict later
        stamp = self._clock.tick(now_ms)
        self._write(key, write_register(self._records.get(key), stamp, self._id, value), now_ms)

    def cas(self, key: str, expected: Any, new: Any, now_ms: int) -> ApResult:
        """Compare-and-set against THIS replica only: not linearizable.

        ``expected=None`` means "absent". Values compare with ``==``, as in the
        CP store and the checkers. On a match ``new`` is written as an ordinary
        LWW write (-> True), which a concurrent write elsewhere may still beat;
        otherwise nothing is written (-> False).
        """
        reason = (
            validate_key(key)
            or (None if expected is None else validate_value(expected))
            or validate_value(new)
            or self._not_counter(key, "cas")
        )
        if reason:
            return _invalid(reason)
        current = visible(self._records.get(key))
        if current != expected:
            return ApResult("ok", False, f"expected {expected!r}, found {current!r}")
        self._put(key, new, now_ms)
        return ApResult("ok", True)

    def incr(self, key: str, delta: int, now_ms: int) -> ApResult:
        """Add ``delta`` (an int) to the key's counter; returns the new value.

        Refused on a key holding a register value. ``delta == 0`` reads the
        counter without creating it.
        """
        reason = validate_key(key)
        if reason:
            return _invalid(reason)
        if isinstance(delta, bool) or not isinstance(delta, int):
            return _invalid(f"incr delta must be an integer, got {type(delta).__name__}")
        record = self._records.get(key)
        if kind(record) == "register":
            return _invalid(f"key {key!r} holds a register value, not a counter; delete it first")
        if delta == 0:
            return ApResult("ok", counter_value(record))
        side = (record.counter.inc if delta > 0 else record.counter.dec) if record else ()
        total = dict(side).get(self._id, 0) + abs(delta)
        value = counter_value(record) + delta
        if total > INT64_MAX or not -INT64_MAX - 1 <= value <= INT64_MAX:
            return _invalid(f"incr by {delta} would leave the 64-bit range")
        self._clock.tick(now_ms)  # a local event, even though counters carry no stamp
        self._write(key, increment(record, self._id, delta), now_ms)
        return ApResult("ok", value)

    def delete(self, key: str, now_ms: int) -> ApResult:
        """Delete the key -> whether it held a value here. Leaves a tombstone,
        and a counter restarts from 0 (increments concurrent with the delete
        survive)."""
        reason = validate_key(key)
        if reason:
            return _invalid(reason)
        record = self._records.get(key)
        self._write(key, remove(record, self._clock.tick(now_ms), self._id), now_ms)
        return ApResult("ok", visible(record) is not None)

    def state(self) -> dict[str, Any]:
        """The visible key -> value map (deleted keys absent)."""
        out = {}
        for key, record in self._records.items():
            value = visible(record)
            if value is not None:
                out[key] = value
        return out

    def _not_counter(self, key: str, op: str) -> str | None:
        record = self._records.get(key)
        if counter_live(record):
            return (
                f"key {key!r} holds a counter (value {counter_value(record)}); "
                f"{op} cannot overwrite it: use incr, or delete it first"
            )
        return None

    # Replication.

    def _apply(self, key: str, record: Record) -> bool:
        if self._records.get(key) == record:
            return False
        self._records[key] = record
        self._sizes.pop(key, None)
        self._digest.update(key, record)
        return True

    def _write(self, key: str, record: Record, now_ms: int) -> None:
        self._apply(key, record)
        for peer in self._peers:
            self._push_seq += 1
            if self._retries:
                pending = self._pending[peer]
                pending.pop(key, None)  # re-insert: dict order is oldest-first
                pending[key] = _Pending(self._push_seq, now_ms + self._backoff(1), 1)
                if len(pending) > self.config.max_pending_pushes:
                    del pending[next(iter(pending))]
            self._send_push(peer, {key: self._push_seq})

    def _size(self, key: str) -> int:
        size = self._sizes.get(key)
        if size is None:
            size = len(json.dumps(record_to_wire(self._records[key]))) + len(key) + 6
            self._sizes[key] = size
        return size

    def _within_bytes(self, keys: list[str]) -> list[str]:
        """The longest prefix of ``keys`` whose records fit one message (at least one)."""
        total = 0
        for position, key in enumerate(keys):
            total += self._size(key)
            if total > self.config.max_message_bytes and position:
                return keys[:position]
        return keys

    def _send_push(self, peer: str, ids: dict[str, int]) -> None:
        records = {key: record_to_wire(self._records[key]) for key in ids}
        self.counters["pushes_sent"] += 1
        self.counters["push_records_sent"] += len(records)
        self._send(peer, "push", {"records": records, "ids": ids})

    def _backoff(self, attempts: int) -> int:
        cfg = self.config
        delay = min(cfg.push_retry_ms << min(attempts - 1, 30), cfg.push_retry_max_ms)
        return max(1, round(delay * self._rng.uniform(0.75, 1.25)))

    def _send(self, dst: str, kind_: str, payload: dict[str, Any]) -> None:
        size = len(json.dumps(payload, separators=(",", ":")))
        self.counters["messages_sent"] += 1
        self.counters["bytes_sent"] += size
        if kind_.startswith("ae_"):
            self.counters["ae_bytes_sent"] += size
        self._out.append(ApMessage(self._id, dst, kind_, payload))

    def outbox(self) -> list[ApMessage]:
        """Drain the messages to send, oldest first."""
        out, self._out = self._out, []
        return out

    def _due(self, deadline: int | None, now_ms: int, horizon: int) -> bool:
        # A deadline further ahead than any we set means now_ms jumped back;
        # fire rather than stall until the clock catches up.
        return deadline is None or deadline <= now_ms or deadline - now_ms > horizon

    def tick(self, now_ms: int) -> None:
        """Resend due pushes and start an anti-entropy round when due."""
        if not self._retries:  # no-anti-entropy bug: neither retries nor rounds
            return
        horizon = 2 * self.config.push_retry_max_ms
        for peer, pending in self._pending.items():
            due: dict[str, int] = {}
            size = 0
            for key, entry in pending.items():
                if self._due(entry.due, now_ms, horizon):
                    size += self._size(key)
                    if due and size > self.config.max_message_bytes:
                        break  # the rest is still due at the next tick
                    entry.attempts += 1
                    entry.due = now_ms + self._backoff(entry.attempts)
                    due[key] = entry.push_id
                    if len(due) >= self.config.push_batch:
                        break
            if due:
                self._send_push(peer, due)
        if not self._peers:
            return
        period = self.config.anti_entropy_ms
        if self._next_ae is None:  # a random phase keeps nodes' rounds apart
            self._next_ae = now_ms + self._rng.randrange(period)
        elif self._due(self._next_ae, now_ms, 2 * period):
            self._next_ae = now_ms + period
            self.counters["anti_entropy_rounds"] += 1
            self._send(
                self._rng.choice(self._peers), "ae_digest", {"buckets": self._digest.digest()}
            )

    def step(self, message: ApMessage, now_ms: int) -> None:
        """Handle one peer message. Malformed, misaddressed or unknown messages
        are counted in ``malformed_messages`` and otherwise ignored."""
        self.counters["messages_received"] += 1
        try:
            if not isinstance(message, ApMessage) or not isinstance(message.payload, Mapping):
                raise ValueError(f"not an ApMessage: {message!r:.80}")
            if message.dst != self._id or message.src not in self._pending:
                raise ValueError(f"message {message.src!r}->{message.dst!r} is not for this node")
            if message.type not in MESSAGE_TYPES:
                raise ValueError(f"unknown message type {message.type!r}")
            getattr(self, "_on_" + message.type)(message.src, message.payload, now_ms)
        # Handlers parse fully before changing anything, so an error leaves
        # the replica as it was; TypeError covers hostile payload shapes.
        except (ValueError, TypeError) as exc:
            self.counters["malformed_messages"] += 1
            self.last_error = str(exc)

    def absorb(self, records: Mapping[str, Record], now_ms: int) -> None:
        """Merge records from elsewhere (a replay of this node's own data dir)."""
        self._merge_in(records, now_ms)

    def _merge_in(self, records: Mapping[str, Record], now_ms: int) -> None:
        stamps = [r.register.stamp for r in records.values() if r.register is not None]
        if stamps:  # one receive event per message, not per record
            self._clock.observe(max(stamps), now_ms)
        for key, record in records.items():
            mine = self._records.get(key)
            if mine is None:
                merged = record
            elif self.bug == "lost-update":
                merged = merge_record_by_arrival(mine, record)
            else:
                merged = merge_record(mine, record, self._merge_counter)
            if self._apply(key, merged):
                self.counters["records_merged"] += 1

    def _on_push(self, src: str, payload: Mapping[str, Any], now_ms: int) -> None:
        records, ids = _parse_records(payload.get("records")), _parse_ids(payload.get("ids"))
        self._merge_in(records, now_ms)
        self._send(src, "ack", {"ids": ids})

    def _on_ack(self, src: str, payload: Mapping[str, Any], now_ms: int) -> None:
        pending = self._pending[src]
        for key, push_id in _parse_ids(payload.get("ids")).items():
            entry = pending.get(key)
            if entry is not None and entry.push_id == push_id:  # else superseded
                del pending[key]

    def _on_ae_digest(self, src: str, payload: Mapping[str, Any], now_ms: int) -> None:
        theirs = payload.get("buckets")
        ours = self._digest.digest()
        if not isinstance(theirs, list) or len(theirs) != len(ours):
            raise ValueError(f"ae_digest needs a list of {len(ours)} bucket hashes")
        equal = {i for i in range(len(ours)) if ours[i] == theirs[i]}
        self._settle(src, equal)
        versions: dict[str, str] = {}
        covered: list[int] = []
        for index in range(len(ours)):
            if index in equal:
                continue
            bucket = self._digest.versions(index)
            if covered and len(versions) + len(bucket) > self.config.max_entries_per_message:
                break  # the rest waits for a later round
            covered.append(index)
            versions.update(bucket)
        self.counters["ae_entries_sent"] += len(versions)
        self._send(src, "ae_versions", {"buckets": covered, "versions": versions})

    def _settle(self, peer: str, equal_buckets: set[int]) -> None:
        # The peer holds exactly our current records of these buckets, which
        # contain whatever we were still pushing: as good as an ack.
        pending, buckets = self._pending[peer], self.config.digest_buckets
        for key in [k for k in pending if bucket_of(k, buckets) in equal_buckets]:
            del pending[key]

    def _on_ae_versions(self, src: str, payload: Mapping[str, Any], now_ms: int) -> None:
        covered, theirs = payload.get("buckets"), payload.get("versions")
        buckets = self.config.digest_buckets
        if not isinstance(covered, list) or not all(
            isinstance(i, int) and 0 <= i < buckets for i in covered
        ):
            raise ValueError(f"ae_versions buckets must be indexes in 0..{buckets - 1}")
        if not isinstance(theirs, Mapping) or not all(isinstance(k, str) for k in theirs):
            raise ValueError("ae_versions versions must be an object of key -> fingerprint")
        ours: dict[str, str] = {}
        for index in covered:
            ours.update(self._digest.versions(index))
        for key in [k for k in self._pending[src] if k in ours and theirs.get(k) == ours[k]]:
            del self._pending[src][key]  # the peer has our current record: as good as an ack
        limit = self.config.max_entries_per_message
        send = [key for key, v in ours.items() if theirs.get(key) != v][:limit]
        want = [key for key, v in theirs.items() if ours.get(key) != v][:limit]
        if send or want:
            self._send_records(src, send, want)

    def _on_ae_records(self, src: str, payload: Mapping[str, Any], now_ms: int) -> None:
        records, want = _parse_records(payload.get("records")), payload.get("want", [])
        if not isinstance(want, list) or not all(isinstance(k, str) for k in want):
            raise ValueError("ae_records want must be a list of keys")
        self._merge_in(records, now_ms)
        send = [k for k in want[: self.config.max_entries_per_message] if k in self._records]
        if send:  # the answer carries no want, so an exchange ends here
            self._send_records(src, send, [])

    def _send_records(self, dst: str, keys: list[str], want: list[str]) -> None:
        # What does not fit differs still, and goes in a later round.
        records = {key: record_to_wire(self._records[key]) for key in self._within_bytes(keys)}
        self.counters["ae_records_sent"] += len(records)
        self.counters["ae_entries_sent"] += len(records) + len(want)
        self._send(dst, "ae_records", {"records": records, "want": want})

    # Persistence.

    def snapshot(self) -> dict[str, Any]:
        """The whole replica (records, clock, pending pushes) as JSON data."""
        return {
            "format": SNAPSHOT_FORMAT,
            "node": self._id,
            "hlc": list(self._clock.current),
            "push_seq": self._push_seq,
            "records": {key: record_to_wire(r) for key, r in self._records.items()},
            "pending": {
                p: {k: e.push_id for k, e in keys.items()} for p, keys in self._pending.items()
            },
        }

    def _load(self, data: Mapping[str, Any]) -> None:
        if not isinstance(data, Mapping) or data.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(f"not an AP snapshot (format must be {SNAPSHOT_FORMAT!r})")
        if data.get("node") != self._id:
            raise ValueError(f"snapshot of node {data.get('node')!r} given to node {self._id!r}")
        hlc, seq = data.get("hlc"), data.get("push_seq")
        if not (isinstance(hlc, list) and len(hlc) == 2 and all(isinstance(x, int) for x in hlc)):
            raise ValueError(f"snapshot hlc must be [wall, logical], got {hlc!r}")
        if isinstance(seq, bool) or not isinstance(seq, int):
            raise ValueError(f"snapshot push_seq must be an integer, got {seq!r}")
        records = _parse_records(data.get("records"))
        pending = data.get("pending")
        if not isinstance(pending, Mapping):
            raise ValueError("snapshot pending must be an object of peer -> {key: push id}")
        stamps = [r.register.stamp for r in records.values() if r.register is not None]
        # Never stamp a new write below a stored one, whatever the snapshot says.
        self._clock = HybridClock(max([Timestamp(*hlc), *stamps]))
        self._push_seq = seq
        for key, record in records.items():
            self._apply(key, record)
        for peer, ids in pending.items():
            if peer in self._pending and self._retries:  # due at the first tick
                self._pending[peer] = {
                    k: _Pending(i, None, 1) for k, i in _parse_ids(ids).items() if k in records
                }
