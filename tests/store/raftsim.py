"""An in-memory cluster of RaftNodes for deterministic tests.

Everything runs in one thread on logical time: :meth:`Sim.step` delivers the
messages due this tick, then ticks every live node. The network delays each
message by a random number of ticks (so it also reorders), can duplicate
messages, and obeys cuts (both ways or one way) and per-link loss; with
``max_message_bytes`` it also loses every message whose JSON is larger, as a
node's peer endpoint refuses an oversized body. Each node
"persists" to an in-memory :class:`Disk` following the Ready ordering rule
(disk first, then send), so :meth:`Sim.crash` and :meth:`Sim.restart` model a
process that dies and comes back from what it fsynced.

:class:`SafetyChecker` asserts Raft's safety properties after every step, and
:meth:`Sim.final_check` checks what clients saw against the committed log.
All randomness comes from seeded ``random.Random`` instances.
"""

from __future__ import annotations

import heapq
import json
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pytest_partition.store import kv
from pytest_partition.store.raft import (
    Entry,
    HardState,
    RaftConfig,
    RaftMessage,
    RaftNode,
    Ready,
    Response,
)


class SimViolation(AssertionError):
    """A safety property or a client guarantee did not hold."""


@dataclass
class Disk:
    """What one node has made durable."""

    hard_state: HardState | None = None
    log: list[Entry] = field(default_factory=list)


@dataclass
class Op:
    """One client request and what became of it. ``invoked``/``completed`` are
    positions in one global event order, so "completed before invoked" is exact."""

    request_id: str
    node: str
    command: dict[str, Any]
    invoked: int
    invoked_tick: int
    completed: int | None = None
    completed_tick: int | None = None
    response: Response | None = None
    crashed: bool = False  # its node crashed before answering: the client sees an error
    committed_at_response: int = 0  # length of the committed log when it was answered

    @property
    def status(self) -> str | None:
        """The response status, "crashed", or None while pending."""
        if self.response is not None:
            return self.response.status
        return "crashed" if self.crashed else None

    @property
    def is_read(self) -> bool:
        """True for a get."""
        return kv.is_read(self.command)


class SafetyChecker:
    """Raft's safety invariants, checked incrementally (Raft paper, Figure 3).

    - election safety: at most one leader per term;
    - log matching: checked on every persisted entry, by induction — an
      (index, term) pair always names the same entry with the same predecessor term;
    - leader completeness: a leader holds every entry committed in an earlier term;
    - state-machine safety: every node's applied prefix is a prefix of the one
      committed log, which never changes; no request id is committed twice.
    """

    def __init__(self) -> None:
        self.leaders: dict[int, str] = {}
        self.entries: dict[tuple[int, int], tuple[Entry, int]] = {}
        self.committed: list[Entry] = []
        self.committed_ids: dict[str, int] = {}
        self.floor_by_term: dict[int, int] = {}  # observer term -> highest committed index

    def on_persist(self, node: str, log: list[Entry], new: list[Entry]) -> None:
        """Check entries just appended to ``node``'s durable ``log``."""
        for entry in new:
            prev_term = log[entry.index - 2].term if entry.index > 1 else 0
            if log[entry.index - 1] is not entry:
                raise SimViolation(f"{node}: persisted log out of order at {entry.index}")
            known = self.entries.setdefault((entry.index, entry.term), (entry, prev_term))
            if known != (entry, prev_term):
                raise SimViolation(
                    f"log matching: {node} holds {entry} after term {prev_term}, "
                    f"another node holds {known[0]} after term {known[1]}"
                )

    def check(self, nodes: Iterable[RaftNode]) -> None:
        """Check every live node's current state."""
        live = list(nodes)
        for node in live:
            commit = node.commit_index
            if commit > len(self.committed):
                log = node.log
                for entry in log[len(self.committed) : commit]:
                    if entry.request_id is not None:
                        if entry.request_id in self.committed_ids:
                            raise SimViolation(
                                f"request {entry.request_id} committed twice: at "
                                f"{self.committed_ids[entry.request_id]} and {entry.index}"
                            )
                        self.committed_ids[entry.request_id] = entry.index
                    self.committed.append(entry)
                floor = self.floor_by_term.get(node.term, 0)
                self.floor_by_term[node.term] = max(floor, commit)
            for index in (commit, node.last_applied):
                if index and node.term_at(index) != self.committed[index - 1].term:
                    raise SimViolation(
                        f"state machine safety: {node.node_id} has {node.log[index - 1]} at "
                        f"{index}, committed is {self.committed[index - 1]}"
                    )
            if node.last_applied > commit:
                raise SimViolation(f"{node.node_id} applied beyond its commit index")
        for node in live:
            if node.role != "leader":
                continue
            holder = self.leaders.setdefault(node.term, node.node_id)
            if holder != node.node_id:
                raise SimViolation(
                    f"election safety: {holder} and {node.node_id} lead term {node.term}"
                )
            floor = max((i for t, i in self.floor_by_term.items() if t < node.term), default=0)
            if floor and node.term_at(floor) != self.committed[floor - 1].term:
                raise SimViolation(
                    f"leader completeness: {node.node_id} leads term {node.term} without "
                    f"committed entry {self.committed[floor - 1]}"
                )


class Sim:
    """N Raft nodes named n1..nN on a simulated network; see the module docstring."""

    def __init__(
        self,
        size: int = 3,
        *,
        seed: int = 0,
        config: RaftConfig | None = None,
        min_delay: int = 1,
        max_delay: int = 1,
        duplicate: float = 0.0,
        bug: str | None = None,
        wire: bool = False,
        strict_acks: bool = True,
        max_message_bytes: int | None = None,
    ) -> None:
        self.ids = [f"n{i}" for i in range(1, size + 1)]
        self.rng = random.Random(seed)
        self.config = config or RaftConfig()
        self.min_delay, self.max_delay = min_delay, max_delay
        self.duplicate = duplicate
        self.bug = bug
        self.wire = wire  # round-trip every message through JSON, as the server does
        self.strict_acks = strict_acks  # an "ok" write must be committed when answered
        self.max_message_bytes = max_message_bytes
        self.bytes_sent: dict[tuple[str, str], int] = {}  # JSON bytes per link (when measured)
        self.oversized = 0
        self.now = 0
        self.disks = {nid: Disk() for nid in self.ids}
        self.nodes: dict[str, RaftNode | None] = {nid: None for nid in self.ids}
        self.cuts: set[tuple[str, str]] = set()
        self.loss: dict[tuple[str, str], float] = {}
        self.queue: list[tuple[int, int, RaftMessage]] = []
        self.sent = 0
        self.delivered = 0
        self.ops: dict[str, Op] = {}
        self.order = 0  # global event counter for invocations and completions
        self.checker = SafetyChecker()
        self._answered: list[Op] = []
        for nid in self.ids:
            self.restart(nid)

    # ----------------------------------------------------------------- nodes

    def node(self, nid: str) -> RaftNode:
        """The live node ``nid``."""
        node = self.nodes[nid]
        if node is None:
            raise KeyError(f"{nid} is crashed")
        return node

    def live(self) -> list[RaftNode]:
        """Every running node."""
        return [node for node in self.nodes.values() if node is not None]

    def leader(self) -> str | None:
        """The live leader with the highest term, if any."""
        leaders = [node for node in self.live() if node.role == "leader"]
        return max(leaders, key=lambda node: node.term).node_id if leaders else None

    def crash(self, nid: str) -> None:
        """Kill ``nid``: its memory is gone, its disk stays; its clients get errors."""
        self.nodes[nid] = None
        for op in self.ops.values():
            if op.node == nid and op.response is None:
                op.crashed = True

    def restart(self, nid: str) -> None:
        """(Re)start ``nid`` from its disk."""
        disk = self.disks[nid]
        self.nodes[nid] = RaftNode(
            nid,
            self.ids,
            rng=random.Random(self.rng.randrange(2**32)),
            config=self.config,
            hard_state=disk.hard_state,
            log=list(disk.log),
            bug=self.bug,
        )

    # ----------------------------------------------------------------- network

    def cut(self, a: str, b: str) -> None:
        """Cut the link between ``a`` and ``b`` both ways."""
        self.cuts |= {(a, b), (b, a)}

    def cut_one_way(self, src: str, dst: str) -> None:
        """Lose every message from ``src`` to ``dst`` (the reverse still flows)."""
        self.cuts.add((src, dst))

    def isolate(self, nid: str) -> None:
        """Cut ``nid`` from every other node."""
        for other in self.ids:
            if other != nid:
                self.cut(nid, other)

    def partition(self, *groups: Iterable[str]) -> None:
        """Cut every link between different groups."""
        sets = [set(group) for group in groups]
        for i, left in enumerate(sets):
            for right in sets[i + 1 :]:
                for a in left:
                    for b in right:
                        self.cut(a, b)

    def drop(self, src: str, dst: str, p: float) -> None:
        """Lose each message from ``src`` to ``dst`` with probability ``p``."""
        self.loss[(src, dst)] = p

    def heal(self) -> None:
        """Remove every cut and every lossy link (messages in flight stay in flight)."""
        self.cuts.clear()
        self.loss.clear()

    recover = heal

    def _send(self, message: RaftMessage) -> None:
        if self.wire or self.max_message_bytes is not None:
            text = json.dumps(message.to_dict())
            link = (message.src, message.dst)
            self.bytes_sent[link] = self.bytes_sent.get(link, 0) + len(text)
            if self.max_message_bytes is not None and len(text) > self.max_message_bytes:
                self.oversized += 1
                return
            message = RaftMessage.from_dict(json.loads(text))
        p = self.loss.get((message.src, message.dst), 0.0)
        copies = 2 if self.duplicate and self.rng.random() < self.duplicate else 1
        for _ in range(copies):
            if p and self.rng.random() < p:
                continue
            self.sent += 1
            at = self.now + self.rng.randint(self.min_delay, self.max_delay)
            heapq.heappush(self.queue, (at, self.sent, message))

    # ----------------------------------------------------------------- driving

    def _drain(self, nid: str) -> None:
        node = self.nodes[nid]
        if node is None:
            return
        ready: Ready = node.ready()
        disk = self.disks[nid]
        # The Ready rule: durable state first ...
        if ready.hard_state is not None:
            disk.hard_state = ready.hard_state
        if ready.truncate_from is not None:
            del disk.log[ready.truncate_from - 1 :]
        if ready.entries:
            disk.log.extend(ready.entries)
            self.checker.on_persist(nid, disk.log, ready.entries)
        # ... then what others can see.
        for message in ready.messages:
            self._send(message)
        for response in ready.responses:
            self._record(nid, response)

    def _record(self, nid: str, response: Response) -> None:
        op = self.ops.get(response.request_id)
        if op is None or op.node != nid:
            raise SimViolation(f"{nid} answered a request it was not given: {response}")
        if op.response is not None:
            raise SimViolation(
                f"second response for {op.request_id}: {op.response} then {response}"
            )
        self.order += 1
        op.response, op.completed, op.completed_tick = response, self.order, self.now
        limit = self.config.request_timeout_ticks + 2
        if op.completed_tick - op.invoked_tick > limit:
            raise SimViolation(f"{op.request_id} answered after {limit} ticks: {op}")
        self._answered.append(op)

    def submit(self, nid: str, command: dict[str, Any]) -> str:
        """Send a client request to live node ``nid``; returns its request id."""
        self.order += 1
        request_id = f"r{self.order}"
        self.ops[request_id] = Op(request_id, nid, command, self.order, self.now)
        self.node(nid).submit(request_id, command)
        self._drain(nid)
        self._after()
        return request_id

    def deliver(self, message: RaftMessage) -> None:
        """Hand ``message`` to its destination now (tests use it to inject copies)."""
        node = self.nodes.get(message.dst)
        if node is None or (message.src, message.dst) in self.cuts:
            return
        self.delivered += 1
        node.step(message)
        self._drain(message.dst)

    def step(self) -> None:
        """One tick: deliver the messages due, then tick every live node."""
        self.now += 1
        while self.queue and self.queue[0][0] <= self.now:
            _, _, message = heapq.heappop(self.queue)
            self.deliver(message)
        for nid in self.ids:
            node = self.nodes[nid]
            if node is not None:
                node.tick()
                self._drain(nid)
        self._after()

    def _after(self) -> None:
        self.checker.check(self.live())
        answered, self._answered = self._answered, []
        for op in answered:
            op.committed_at_response = len(self.checker.committed)
            assert op.response is not None
            acknowledged = op.response.status == "ok" and not op.is_read
            if (
                self.strict_acks
                and acknowledged
                and op.request_id not in self.checker.committed_ids
            ):
                raise SimViolation(f"write acknowledged before commit: {op}")

    def run(self, ticks: int) -> None:
        """Run ``ticks`` steps."""
        for _ in range(ticks):
            self.step()

    def run_until(self, condition: Callable[[], bool], limit: int = 1000) -> int:
        """Step until ``condition()`` holds; returns the ticks taken, raises after ``limit``."""
        for ticks in range(limit + 1):
            if condition():
                return ticks
            self.step()
        raise AssertionError(f"condition not reached within {limit} ticks (now={self.now})")

    def wait_leader(self, limit: int = 1000) -> str:
        """Run until some live node leads and has committed in its term; returns it."""

        def ready() -> bool:
            nid = self.leader()
            if nid is None:
                return False
            node = self.node(nid)
            return node.term_at(node.commit_index) == node.term

        self.run_until(ready, limit)
        nid = self.leader()
        assert nid is not None
        return nid

    def wait_stable(self, limit: int = 1000) -> str:
        """Like :meth:`wait_leader`, and also until every live node follows that leader."""
        leader = self.wait_leader(limit)
        self.run_until(lambda: all(node.leader == leader for node in self.live()), limit)
        return leader

    def request(self, nid: str, command: dict[str, Any], limit: int = 1000) -> Response:
        """Submit and run until the request is answered; returns the response."""
        request_id = self.submit(nid, command)
        self.run_until(lambda: self.ops[request_id].response is not None, limit)
        response = self.ops[request_id].response
        assert response is not None
        return response

    def settle(self, limit: int = 2000) -> None:
        """Heal, restart every crashed node, and run until all nodes agree on
        the committed log and have applied it (and no request is pending)."""
        self.heal()
        for nid in self.ids:
            if self.nodes[nid] is None:
                self.restart(nid)
        leader = self.wait_leader(limit)

        def quiet() -> bool:
            top = self.node(leader).commit_index
            return all(
                node.commit_index == top and node.last_applied == top for node in self.live()
            ) and all(op.status is not None for op in self.ops.values())

        self.run_until(quiet, limit)

    # ----------------------------------------------------------------- checks

    def final_check(self) -> None:
        """Check the clients' view against the committed log (call after :meth:`settle`)."""
        committed = self.checker.committed
        for nid in self.ids:
            node = self.node(nid)
            if list(node.log) != self.disks[nid].log:
                raise SimViolation(f"{nid}: in-memory log differs from its disk")
            state: dict[kv.Key, Any] = {}
            for entry in committed[: node.last_applied]:
                if entry.request_id is not None:
                    kv.apply(state, entry.command)
            if dict(node.kv) != state:
                raise SimViolation(f"{nid}: kv {dict(node.kv)} differs from the log's {state}")
        # Replay the committed log: the result of each write, and every
        # version of every key (index, value) in commit order.
        results: dict[str, kv.ApplyResult] = {}
        versions: dict[Any, list[tuple[int, Any]]] = {}
        state = {}
        for entry in committed:
            if entry.request_id is None:
                continue
            results[entry.request_id] = kv.apply(state, entry.command)
            key = entry.command["key"]
            versions.setdefault(key, [(0, None)]).append((entry.index, state.get(key)))
        ops = sorted(self.ops.values(), key=lambda op: op.invoked)
        for op in ops:
            if op.is_read or op.response is None:
                continue
            status = op.response.status
            if status == "ok":
                result = results.get(op.request_id)
                if result is None:
                    raise SimViolation(f"acknowledged write lost: {op}")
                if (result.status, result.value) != ("ok", op.response.value):
                    raise SimViolation(f"{op} answered {op.response}, the log gives {result}")
            elif status == "unavailable" and op.request_id in results:
                raise SimViolation(f"write reported unavailable was applied: {op}")
        for read in ops:
            if not read.is_read or read.status != "ok":
                continue
            self._check_read(read, ops, versions)

    def _check_read(
        self, read: Op, ops: list[Op], versions: dict[Any, list[tuple[int, Any]]]
    ) -> None:
        """A register check: the value read is the key's value at some log
        position between the last write completed before the read was invoked
        and the commit point when the read was answered."""
        assert read.response is not None
        key = read.command["key"]
        committed_ids = self.checker.committed_ids
        lo = max(
            (
                committed_ids[op.request_id]
                for op in ops
                if not op.is_read
                and op.status == "ok"
                and op.command["key"] == key
                and op.completed is not None
                and op.completed < read.invoked
            ),
            default=0,
        )
        hi = read.committed_at_response
        history = versions.get(key, [(0, None)])
        allowed = [value for index, value in history if lo <= index <= hi]
        before = [value for index, value in history if index <= lo]
        allowed.append(before[-1] if before else None)
        if read.response.value not in allowed:
            raise SimViolation(
                f"read {read} returned {read.response.value!r}; between log positions "
                f"{lo} and {hi} key {key!r} held {allowed}"
            )
