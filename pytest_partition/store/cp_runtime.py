"""CP mode: the Raft state machine wired to storage, peers, timers and clients."""

from __future__ import annotations

import itertools
import os
import random
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import FAULT_INDETERMINATE, FAULT_INVALID, FAULT_UNAVAILABLE
from .persist import RaftStorage
from .raft import RaftConfig, RaftMessage, RaftNode, RaftSafetyError, Response
from .raftwire import PRE_VOTE, VOTE
from .rpc import StoreFault
from .runtime import Runtime

#: A fresh cluster's first election, by its last node (see CpRuntime.__init__):
#: it campaigns as it starts, then again every BOOT_RETRY_TICKS while no term
#: has begun (its peers were not up yet), for at most BOOT_WINDOW_TICKS.
BOOT_RETRY_TICKS = 2
BOOT_WINDOW_TICKS = 30

_FAULTS = {
    "invalid": FAULT_INVALID,
    "unavailable": FAULT_UNAVAILABLE,
    "indeterminate": FAULT_INDETERMINATE,
}


class _Waiter:
    __slots__ = ("event", "response")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.response: Response | None = None


class CpRuntime(Runtime):
    """A CP node: every client request goes through the consensus."""

    def __init__(self, name: str, peers: Mapping[str, str], data_dir: str | Path, *,
                 token: str, bug: str | None = None, seed: int = 0,
                 config: RaftConfig | None = None, tick_ms: int = 10) -> None:
        super().__init__(name, peers, token=token, tick_ms=tick_ms)
        self.bug = bug
        self.config = config or RaftConfig()
        self.storage = RaftStorage(data_dir)
        hard_state, log = self.storage.load()
        self.node = RaftNode(name, sorted(peers), rng=random.Random(seed), config=self.config,
                             hard_state=hard_state, log=log, bug=bug)
        if hard_state is not None or log:
            self.log(f"restarted at term {self.node.term} with {len(log)} log entries")
        self._waiters: dict[str, _Waiter] = {}
        self._ids = itertools.count(1)
        # Request ids must differ across restarts even with the same seed.
        self._incarnation = random.SystemRandom().getrandbits(32)
        self._last_role = ""
        # A fresh cluster would wait a whole election timeout (300 to 600 ms)
        # for its first leader, though every node is up within milliseconds.
        # Its last node by name (every node agrees on it without a word; the
        # plugin starts nodes in order, so its peers are likely up by then)
        # campaigns at once instead. Timeouts only decide when a node asks
        # for votes, never how votes are counted: safety is untouched, and if
        # that node is slow or gone, the others' own timeouts elect a leader.
        self._ticks = 0
        self._boot = hard_state is None and not log and name == max([name, *peers])

    # -- driving the state machine (always under self.lock) -------------------------

    def _drain(self) -> set[str]:
        """Persist, send and answer what the node produced; return the message types sent."""
        sent: set[str] = set()
        while True:
            ready = self.node.ready()
            if ready.is_empty():
                break
            # Durable first, then talk: see the ordering rule on raft.Ready.
            self.storage.save(ready.hard_state, ready.truncate_from, ready.entries)
            self.send([(m.dst, m.to_dict()) for m in ready.messages])
            sent.update(m.type for m in ready.messages)
            for response in ready.responses:
                waiter = self._waiters.pop(response.request_id, None)
                if waiter is not None:
                    waiter.response = response
                    waiter.event.set()
        role = f"{self.node.role} in term {self.node.term}"
        if self.node.role != self._last_role.split(" ")[0] or (
                self.node.role == "leader" and role != self._last_role):
            self.log(f"now {role} (leader: {self.node.leader})")
            self._last_role = role
        return sent

    def start(self) -> None:
        super().start()
        with self.lock:
            self._boot_campaign()

    def tick(self) -> None:
        with self.lock:
            self.node.tick()
            self._drain()
            self._ticks += 1
            if self._ticks % BOOT_RETRY_TICKS == 0:
                self._boot_campaign()

    def _boot_campaign(self) -> None:
        """Campaign now, by fast-forwarding logical time, while the cluster is fresh."""
        if not self._boot:
            return
        if (self.node.term > 0 or self.node.leader is not None or self._waiters
                or self._ticks > BOOT_WINDOW_TICKS):
            # Someone campaigned, or leads, or requests wait on ticks: the
            # boot is over and the ordinary timeouts rule from now on.
            self._boot = False
            return
        if self._ticks == 0:
            self.log("fresh cluster: campaigning at once for its first leader")
        # Ticks until the election timer fires (at most two timeouts' worth):
        # the node then asks for (pre-)votes as it always does.
        for _ in range(2 * self.config.election_ticks):
            self.node.tick()
            if self._drain() & {PRE_VOTE, VOTE}:
                break

    def on_peer(self, sender: str, messages: list[Any]) -> None:
        parsed = self.parse(messages, RaftMessage.from_dict)
        with self.lock:
            try:
                for message in parsed:
                    self.node.step(message)
            except RaftSafetyError as error:
                # Raft's safety is already broken (as when etcd panics): going
                # on would only hide it. Die loudly; the test sees the exit.
                self.log(f"FATAL: {error}")
                os._exit(70)
            self._drain()

    def _request(self, command: dict[str, Any]) -> Any:
        request_id = f"{self.name}:{self._incarnation:08x}:{next(self._ids)}"
        waiter = _Waiter()
        with self.lock:
            self._waiters[request_id] = waiter
            self.node.submit(request_id, command)
            self._drain()
        # The state machine answers within request_timeout_ticks; the margin
        # only covers a ticker starved by a loaded machine.
        limit = self.config.request_timeout_ticks * self.tick_ms / 1000.0 * 2 + 0.5
        if not waiter.event.wait(limit):
            with self.lock:
                self._waiters.pop(request_id, None)
            raise StoreFault(FAULT_INDETERMINATE, f"no answer from the consensus within "
                                                  f"{limit:.1f} s")
        response = waiter.response
        assert response is not None
        if response.status == "ok":
            return response.value
        raise StoreFault(_FAULTS.get(response.status, FAULT_INDETERMINATE),
                         f"{response.status}: {response.reason}")

    # -- the XML-RPC methods ---------------------------------------------------------

    def get(self, key: str) -> Any:
        return self._request({"op": "get", "key": key})

    def put(self, key: str, value: Any) -> Any:
        return self._request({"op": "put", "key": key, "value": value})

    def cas(self, key: str, expected: Any, new: Any) -> Any:
        return self._request({"op": "cas", "key": key, "expected": expected, "new": new})

    def incr(self, key: str, delta: int) -> Any:
        return self._request({"op": "incr", "key": key, "delta": delta})

    def delete(self, key: str) -> Any:
        return self._request({"op": "delete", "key": key})

    def state(self) -> dict[str, Any]:
        with self.lock:
            return {str(k): v for k, v in self.node.kv.items()}

    def role(self) -> dict[str, Any]:
        with self.lock:
            return {"role": self.node.role, "term": self.node.term, "leader": self.node.leader}

    def stats(self) -> dict[str, Any]:
        with self.lock:
            status = dict(self.node.status())
        status.update(
            mode="cp",
            bug=self.bug or "",
            malformed_messages=self.malformed,
            sent={p: s.sent for p, s in self.senders.items()},
            dropped={p: s.dropped for p, s in self.senders.items()},
        )
        return status

    def stop(self) -> None:
        super().stop()
        self.storage.close()
