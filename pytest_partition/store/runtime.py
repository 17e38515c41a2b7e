"""What both store modes share around their pure protocol: a lock, a ticker,
peer senders and a log.

The protocol objects are not thread-safe; every call into them happens under
``self.lock``, from the RPC threads, the peer endpoint and the ticker alike.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from .transport import PeerSender

M = TypeVar("M")


class Runtime:
    """Base of the CP and AP runtimes: ``tick()`` every ``tick_ms``, send to peers."""

    def __init__(self, name: str, peers: Mapping[str, str], *, token: str, tick_ms: int = 10,
                 send_timeout: float = 0.5) -> None:
        self.name = name
        self.lock = threading.Lock()
        self.tick_ms = tick_ms
        self.senders = {
            peer: PeerSender(name, peer, address, token=token, timeout=send_timeout,
                             log=self.log)
            for peer, address in sorted(peers.items())
        }
        self.malformed = 0
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._run_ticker, name="ticker", daemon=True)

    def log(self, line: str) -> None:
        """One line in the node's log (its stdout), with a timestamp."""
        stamp = time.strftime("%H:%M:%S") + f".{int(time.time() * 1000) % 1000:03d}"
        sys.stdout.write(f"{stamp} {self.name} {line}\n")
        sys.stdout.flush()

    def start(self) -> None:
        """Start ticking."""
        self._ticker.start()

    def stop(self) -> None:
        """Stop ticking and sending."""
        self._stop.set()
        if self._ticker.is_alive():
            self._ticker.join(timeout=2)
        for sender in self.senders.values():
            sender.close()

    def tick(self) -> None:
        """Advance the protocol's time by one tick (called by the ticker)."""
        raise NotImplementedError

    def parse(self, messages: list[Any], from_dict: Callable[[Any], M]) -> list[M]:
        """Messages from the wire; malformed ones are counted and left out."""
        parsed = []
        for data in messages:
            try:
                parsed.append(from_dict(data))
            except ValueError:
                self.malformed += 1
        return parsed

    def send(self, messages: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Queue (destination, message dict) pairs on the peers' senders."""
        grouped: dict[str, list[dict[str, Any]]] = {}
        for dst, message in messages:
            grouped.setdefault(dst, []).append(message)
        for dst, batch in grouped.items():
            sender = self.senders.get(dst)
            if sender is not None:
                sender.send(batch)

    def _run_ticker(self) -> None:
        interval = self.tick_ms / 1000.0
        due = time.monotonic()
        while not self._stop.is_set():
            due += interval
            # Ticks are the protocol's only notion of time; if we fall behind
            # (a loaded machine), skip ahead rather than fire a burst of ticks.
            now = time.monotonic()
            if due < now - interval:
                due = now
            if self._stop.wait(max(0.0, due - now)):
                return
            try:
                self.tick()
            except Exception as error:  # keep ticking; the log says what broke
                self.log(f"tick failed: {type(error).__name__}: {error}")
