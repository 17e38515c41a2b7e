"""The peer transport against a real store server in this process."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from tests_support import closed_by_peer

from pytest_partition import eventually
from pytest_partition.store import server as server_module
from pytest_partition.store import transport as transport_module
from pytest_partition.store.server import StoreHTTPServer
from pytest_partition.store.transport import MAX_BATCH_BYTES, MAX_PEER_BODY, PeerSender

TOKEN = "fedcba9876543210"


class Recorder:
    """A backend that records the peer batches it is given."""

    def __init__(self) -> None:
        self.batches: list[list[Any]] = []

    def on_peer(self, sender: str, messages: list[Any]) -> None:
        self.batches.append(messages)

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(name)


@pytest.fixture
def receiver() -> Iterator[tuple[Recorder, int]]:
    backend = Recorder()
    server = StoreHTTPServer(0, backend, print, peer_token=TOKEN)  # type: ignore[arg-type]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield backend, server.server_address[1]
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


def test_batches_stay_within_their_size_and_oversized_messages_are_dropped(
        receiver: tuple[Recorder, int]) -> None:
    backend, port = receiver
    lines: list[str] = []
    sender = PeerSender("n1", "n2", f"127.0.0.1:{port}", token=TOKEN, timeout=5.0,
                        log=lines.append)
    try:
        big = "x" * (MAX_BATCH_BYTES * 9 // 10)
        messages = [{"n": 0}, {"n": 1, "pad": big}, {"n": 2, "pad": big},
                    {"n": 3, "pad": "y" * MAX_PEER_BODY}, {"n": 4}]
        sender.send(messages)
        eventually(lambda: sum(map(len, backend.batches)) == 4, timeout=10)
        assert [m["n"] for batch in backend.batches for m in batch] == [0, 1, 2, 4]
        # No batch goes past MAX_BATCH_BYTES by adding a big message to others.
        assert all(len(json.dumps(batch)) <= MAX_BATCH_BYTES or len(batch) == 1
                   for batch in backend.batches)
        assert sender.dropped == 1 and any("dropped a message" in line for line in lines)
    finally:
        sender.close()


def test_a_sender_with_the_wrong_token_is_refused_and_says_so(
        receiver: tuple[Recorder, int]) -> None:
    backend, port = receiver
    lines: list[str] = []
    sender = PeerSender("n1", "n2", f"127.0.0.1:{port}", token="other cluster", timeout=5.0,
                        log=lines.append)
    try:
        sender.send([{"n": 0}])
        eventually(lambda: sender.dropped == 1, timeout=10)
        assert backend.batches == []
        assert any("HTTP 403" in line for line in lines)
    finally:
        sender.close()


def test_a_connection_left_idle_is_replaced_before_the_peer_closes_it(
        receiver: tuple[Recorder, int], monkeypatch: pytest.MonkeyPatch) -> None:
    # A vote between two CP followers can follow minutes of silence on their
    # connection; the node has closed it by then, and the vote must not be lost.
    monkeypatch.setattr(server_module, "REQUEST_TIMEOUT", 0.4)
    monkeypatch.setattr(server_module, "_REAP_INTERVAL", 0.05)
    monkeypatch.setattr(transport_module, "REQUEST_TIMEOUT", 0.4)
    backend, port = receiver
    lines: list[str] = []
    sender = PeerSender("n1", "n2", f"127.0.0.1:{port}", token=TOKEN, timeout=5.0,
                        log=lines.append)
    try:
        sender.send([{"n": 0}])
        eventually(lambda: len(backend.batches) == 1, timeout=10)
        conn = sender._conn
        assert conn is not None and conn.sock is not None
        first = conn.sock

        eventually(lambda: closed_by_peer(first), timeout=10)
        sender.send([{"n": 1}])
        eventually(lambda: len(backend.batches) == 2, timeout=10)
        assert (sender.dropped, lines) == (0, [])
    finally:
        sender.close()
