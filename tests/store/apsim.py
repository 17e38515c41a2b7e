"""A deterministic in-memory cluster of ApNodes for tests.

Time is simulated: :meth:`ApSim.step` advances ``now_ms`` by ``tick_ms``,
delivers the messages due by then and ticks every node. The network delays
each message by a random number of milliseconds (so messages reorder), may
drop or duplicate it, and loses anything that crosses a cut link at send or
delivery time; with ``hold=True`` it holds such messages instead and lets them
flow once the link is restored, like the proxy's ``drop`` kind (TCP
retransmitting into a dead route). All randomness comes from the seed. Every message goes through
``to_dict`` -> JSON -> ``from_dict``, so payloads are proven serializable; with
``max_message_bytes`` a message whose JSON is larger is lost, as a node's peer
endpoint refuses an oversized body.
"""

from __future__ import annotations

import heapq
import json
import random
from collections.abc import Iterable, Sequence
from typing import Any

from pytest_partition.store.ap import ApConfig, ApMessage, ApNode, ApResult


class ApSim:
    """N ApNodes wired through a seeded, partitionable in-memory network."""

    def __init__(
        self,
        names: Sequence[str] = ("A", "B", "C"),
        *,
        seed: int = 0,
        config: ApConfig | None = None,
        bug: str | None = None,
        tick_ms: int = 10,
        delay_ms: tuple[int, int] = (1, 10),
        drop_p: float = 0.0,
        dup_p: float = 0.0,
        serialize: bool = True,
        hold: bool = False,
        max_message_bytes: int | None = None,
    ) -> None:
        self.names = list(names)
        self.seed, self.config, self.bug = seed, config or ApConfig(), bug
        self.tick_ms, self.delay_ms = tick_ms, delay_ms
        self.drop_p, self.dup_p, self.serialize, self.hold = drop_p, dup_p, serialize, hold
        self.rng = random.Random(seed)
        self.now_ms = 0
        self.skew_ms = dict.fromkeys(self.names, 0)
        self.cut_links: set[tuple[str, str]] = set()
        self.sent = self.delivered = self.lost = self.oversized = 0
        self.max_message_bytes = max_message_bytes
        self._queue: list[tuple[int, int, ApMessage]] = []
        self._held: list[ApMessage] = []
        self._seq = 0
        self._restarts = 0
        self.nodes = {name: self._new_node(name) for name in self.names}

    def _new_node(self, name: str, state: dict[str, Any] | None = None) -> ApNode:
        peers = [p for p in self.names if p != name]
        rng = random.Random(f"{self.seed}:{name}:{self._restarts}")
        return ApNode(name, peers, rng=rng, config=self.config, bug=self.bug, state=state)

    # Clocks and client operations.

    def clock(self, name: str) -> int:
        """The node's physical clock: simulated time plus its skew."""
        return self.now_ms + self.skew_ms[name]

    def op(self, name: str, f: str, *args: Any) -> ApResult:
        """Run client operation ``f`` on node ``name`` now; its pushes leave at once."""
        result: ApResult = getattr(self.nodes[name], f)(*args, self.clock(name))
        self._collect(name)
        return result

    # Faults.

    def partition(self, spec: str) -> None:
        """Apply ``"A,B|C"`` groups and/or ``"A->C"`` one-way cuts (``;``-joined),
        replacing the current cuts. Unnamed nodes form one more group."""
        self.cut_links = set()
        for clause in spec.split(";"):
            clause = clause.strip()
            if "->" in clause:
                src, dst = (part.strip() for part in clause.split("->"))
                self.cut_links.add((src, dst))
            elif clause:
                groups = [{n.strip() for n in g.split(",") if n.strip()} for g in clause.split("|")]
                rest = set(self.names).difference(*groups)
                self._cut_groups([g for g in [*groups, rest] if g])

    def _cut_groups(self, groups: Iterable[set[str]]) -> None:
        where = {name: i for i, group in enumerate(groups) for name in group}
        for src in self.names:
            for dst in self.names:
                if src != dst and where[src] != where[dst]:
                    self.cut_links.add((src, dst))

    def cut(self, src: str, dst: str) -> None:
        """Cut the one-way link src -> dst."""
        self.cut_links.add((src, dst))

    def isolate(self, name: str) -> None:
        """Cut every link to and from ``name``."""
        for other in self.names:
            if other != name:
                self.cut_links |= {(name, other), (other, name)}

    def heal(self) -> None:
        """Remove every cut (random loss, if configured, stays)."""
        self.cut_links = set()

    def restart(self, name: str) -> None:
        """Replace a node by one restored from its JSON snapshot; its messages
        in flight stay in the network."""
        snapshot = json.loads(json.dumps(self.nodes[name].snapshot()))
        self._restarts += 1
        peers = [p for p in self.names if p != name]
        rng = random.Random(f"{self.seed}:{name}:{self._restarts}")
        self.nodes[name] = ApNode.restore(
            snapshot, peers, rng=rng, config=self.config, bug=self.bug
        )

    # The network.

    def _collect(self, name: str) -> None:
        for message in self.nodes[name].outbox():
            self._send(message)

    def _send(self, message: ApMessage) -> None:
        self.sent += 1
        if self.serialize:
            text = json.dumps(message.to_dict())
            if self.max_message_bytes is not None and len(text) > self.max_message_bytes:
                self.oversized += 1  # the peer refuses the body: lost, every time
                return
            message = ApMessage.from_dict(json.loads(text))
        copies = 2 if self.rng.random() < self.dup_p else 1
        for _ in range(copies):
            if self.rng.random() < self.drop_p:
                self.lost += 1
            elif not self._blocked(message):
                self._enqueue(message)

    def _enqueue(self, message: ApMessage) -> None:
        self._seq += 1
        at = self.now_ms + self.rng.randint(*self.delay_ms)
        heapq.heappush(self._queue, (at, self._seq, message))

    def _blocked(self, message: ApMessage) -> bool:
        if (message.src, message.dst) not in self.cut_links:
            return False
        if self.hold:
            self._held.append(message)
        else:
            self.lost += 1
        return True

    def in_flight(self) -> int:
        """Messages sent and not yet delivered or lost."""
        return len(self._queue) + len(self._held)

    def step(self) -> None:
        """Advance time by one tick: deliver due messages, then tick every node."""
        self.now_ms += self.tick_ms
        held, self._held = self._held, []
        for message in held:  # restored links release what they held
            if not self._blocked(message):
                self._enqueue(message)
        while self._queue and self._queue[0][0] <= self.now_ms:
            _, _, message = heapq.heappop(self._queue)
            if self._blocked(message):  # the link was cut while it was in flight
                continue
            self.delivered += 1
            self.nodes[message.dst].step(message, self.clock(message.dst))
            self._collect(message.dst)
        for name in self.names:
            self.nodes[name].tick(self.clock(name))
            self._collect(name)

    def run(self, ms: int) -> None:
        """Run for ``ms`` simulated milliseconds."""
        end = self.now_ms + ms
        while self.now_ms < end:
            self.step()

    # Observations.

    def states(self) -> dict[str, dict[str, Any]]:
        """Every node's visible state."""
        return {name: node.state() for name, node in self.nodes.items()}

    def converged(self, *, strict: bool = True) -> bool:
        """True when every node's ``state()`` is equal and, if ``strict``, every
        node holds the same records (equal states can hide unmerged counters:
        A's sale and C's sale both read 59)."""
        if strict and len({node.fingerprint for node in self.nodes.values()}) > 1:
            return False
        first, *rest = self.states().values()
        return all(state == first for state in rest)

    def run_until_converged(self, limit_ms: int, *, strict: bool = True) -> int | None:
        """Run until converged; return the simulated ms it took, None past ``limit_ms``."""
        start = self.now_ms
        while not self.converged(strict=strict):
            if self.now_ms - start >= limit_ms:
                return None
            self.step()
        return self.now_ms - start
