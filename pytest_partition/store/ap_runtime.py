"""AP mode: the AP replica wired to storage, peers, timers and clients."""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import FAULT_INVALID
from .ap import ApMessage, ApNode, ApResult
from .crdt import record_from_wire, record_to_wire
from .persist import ApStorage
from .rpc import StoreFault
from .runtime import Runtime

SNAPSHOT_EVERY_S = 2.0


def _now_ms() -> int:
    # Hybrid logical clocks take the physical clock as input; the protocol
    # code never reads it itself.
    return int(time.time() * 1000)


class ApRuntime(Runtime):
    """An AP node: every request is answered from the local replica at once."""

    def __init__(self, name: str, peers: Mapping[str, str], data_dir: str | Path, *,
                 token: str, bug: str | None = None, seed: int = 0, tick_ms: int = 10) -> None:
        super().__init__(name, peers, token=token, tick_ms=tick_ms)
        self.bug = bug
        self.storage = ApStorage(data_dir)
        snapshot, appended = self.storage.load()
        rng = random.Random(seed)
        names = sorted(peers)
        if snapshot is not None:
            self.node = ApNode.restore(snapshot, names, rng=rng, bug=bug)
        else:
            self.node = ApNode(name, names, rng=rng, bug=bug)
        if appended:
            self.node.absorb({key: record_from_wire(wire) for key, wire in appended}, _now_ms())
        if snapshot is not None or appended:
            self.log(f"restarted with {len(self.node.state())} keys")
        self._dirty = False
        self._last_snapshot = time.monotonic()

    def _drain(self) -> None:
        self.send([(m.dst, m.to_dict()) for m in self.node.outbox()])

    def tick(self) -> None:
        with self.lock:
            self.node.tick(_now_ms())
            self._drain()
            if self._dirty and time.monotonic() - self._last_snapshot > SNAPSHOT_EVERY_S:
                self.storage.snapshot(self.node.snapshot())
                self._dirty = False
                self._last_snapshot = time.monotonic()

    def on_peer(self, sender: str, messages: list[Any]) -> None:
        parsed = self.parse(messages, ApMessage.from_dict)
        with self.lock:
            now = _now_ms()
            for message in parsed:
                self.node.step(message, now)
            self._dirty = True
            self._drain()

    def _write(self, key: str, result: ApResult) -> Any:
        # Under the lock: the record is on its way to disk before the answer.
        if result.status != "ok":
            raise StoreFault(FAULT_INVALID, result.reason)
        record = self.node.record(key)
        if record is not None:
            self.storage.append({key: record_to_wire(record)})
        self._dirty = True
        self._drain()
        return result.value

    def get(self, key: str) -> Any:
        with self.lock:
            result = self.node.get(key, _now_ms())
        if result.status != "ok":
            raise StoreFault(FAULT_INVALID, result.reason)
        return result.value

    def put(self, key: str, value: Any) -> Any:
        with self.lock:
            return self._write(key, self.node.put(key, value, _now_ms()))

    def cas(self, key: str, expected: Any, new: Any) -> Any:
        with self.lock:
            return self._write(key, self.node.cas(key, expected, new, _now_ms()))

    def incr(self, key: str, delta: int) -> Any:
        with self.lock:
            return self._write(key, self.node.incr(key, delta, _now_ms()))

    def delete(self, key: str) -> Any:
        with self.lock:
            return self._write(key, self.node.delete(key, _now_ms()))

    def state(self) -> dict[str, Any]:
        with self.lock:
            return dict(self.node.state())

    def role(self) -> dict[str, Any]:
        return {"role": "replica", "term": 0, "leader": None}

    def stats(self) -> dict[str, Any]:
        with self.lock:
            stats = dict(self.node.stats())
        stats.update(malformed_messages=self.malformed,
                     sent={p: s.sent for p, s in self.senders.items()},
                     dropped={p: s.dropped for p, s in self.senders.items()})
        return stats

    def stop(self) -> None:
        super().stop()
        with self.lock:
            self.storage.snapshot(self.node.snapshot())
        self.storage.close()
