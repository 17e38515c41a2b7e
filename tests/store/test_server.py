"""The store's HTTP server on its own, in this process, with a stand-in backend.

The limits are shrunk (a 0.5 s request timeout, 8 connections) so that what
a node does under a flood of idle or trickling connections shows in a
second; the same code runs with the real limits in test_store_hardening.py.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import xmlrpc.client
from collections.abc import Iterator
from typing import Any

import pytest
from tests_support import closed_by_peer

from pytest_partition import eventually
from pytest_partition.client import rpc_call
from pytest_partition.store import server as server_module
from pytest_partition.store.server import StoreHTTPServer
from pytest_partition.store.transport import PEER_PATH, TOKEN_HEADER

TOKEN = "0123456789abcdef"


class Backend:
    """Answers get() with the key; a key "slow" waits until ``release`` is set."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.batches: list[tuple[str, list[Any]]] = []

    def get(self, key: str) -> Any:
        if key == "slow":
            self.release.wait(10)
        return f"value of {key}"

    def on_peer(self, sender: str, messages: list[Any]) -> None:
        self.batches.append((sender, messages))

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(name)


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[StoreHTTPServer, Backend, int]]:
    monkeypatch.setattr(server_module, "REQUEST_TIMEOUT", 0.5)
    monkeypatch.setattr(server_module, "MAX_CONNECTIONS", 8)
    monkeypatch.setattr(server_module, "_REAP_INTERVAL", 0.05)
    backend = Backend()
    lines: list[str] = []
    server = StoreHTTPServer(0, backend, lines.append, peer_token=TOKEN)  # type: ignore[arg-type]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, backend, server.server_address[1]
    finally:
        backend.release.set()
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
    assert not thread.is_alive()


def get(port: int, key: str = "k", timeout: float = 2.0) -> Any:
    outcome = rpc_call(port, "get", (key,), timeout)
    assert outcome.type == "ok", outcome.error
    return outcome.value


def request(path: str, body: bytes, headers: str = "") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{headers}"
            "\r\n").encode() + body


def exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                chunks.append(chunk)
    return b"".join(chunks)


def test_a_connection_that_trickles_its_request_is_closed_at_the_deadline(
        served: tuple[StoreHTTPServer, Backend, int]) -> None:
    _, _, port = served
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.settimeout(None)
    began = time.monotonic()
    with sock:
        sock.sendall(b"POST /RPC2 HTTP/1.1\r\n")

        def trickled_until_closed() -> bool:
            with contextlib.suppress(OSError):
                sock.send(b"X")  # a byte every few ms buys no time
            return closed_by_peer(sock)

        eventually(trickled_until_closed, timeout=5)
    assert time.monotonic() - began < 3
    assert get(port) == "value of k"


def test_an_idle_keep_alive_connection_is_closed_after_the_timeout(
        served: tuple[StoreHTTPServer, Backend, int]) -> None:
    _, _, port = served
    body = xmlrpc.client.dumps(("k",), "get").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.settimeout(None)
        sock.sendall(request("/RPC2", body) + request("/RPC2", body))  # two on one connection
        eventually(lambda: sock.recv(65536, socket.MSG_PEEK).count(b"value of k") == 2)
        sock.recv(65536)
        eventually(lambda: closed_by_peer(sock), timeout=5)


def test_a_flood_sheds_the_connection_that_waited_longest_never_the_newcomer(
        served: tuple[StoreHTTPServer, Backend, int]) -> None:
    server, _, port = served
    flood = []
    try:
        for _ in range(11):  # three more than the limit of 8
            flood.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            flood[-1].settimeout(None)
            eventually(lambda: len(server._connections) == min(len(flood), 8))
        # The server is full: a call (a new connection) sheds the oldest idle one.
        assert get(port) == "value of k"
        assert server.shed == 4
        eventually(lambda: [closed_by_peer(sock) for sock in flood] == [True] * 4 + [False] * 7)
    finally:
        for sock in flood:
            sock.close()


def test_a_request_being_served_is_never_shed(
        served: tuple[StoreHTTPServer, Backend, int]) -> None:
    server, backend, port = served
    answers: list[Any] = []
    slow = threading.Thread(target=lambda: answers.append(get(port, "slow", timeout=10)))
    slow.start()
    eventually(lambda: len(server._connections) == 1)
    flood = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(12)]
    try:
        eventually(lambda: server.shed >= 5)
        backend.release.set()
        slow.join(timeout=10)
        assert answers == ["value of slow"]
    finally:
        for sock in flood:
            sock.close()


@pytest.mark.parametrize(("data", "status"), [
    (request(PEER_PATH, b"{}"), b"403"),
    (request(PEER_PATH, b"{}", f"{TOKEN_HEADER}: {TOKEN}x\r\n"), b"403"),
    (request(PEER_PATH, b"{}", f"{TOKEN_HEADER}: {TOKEN}\r\n{TOKEN_HEADER}: {TOKEN}\r\n"),
     b"400"),
    (request(PEER_PATH, b"{not json", f"{TOKEN_HEADER}: {TOKEN}\r\n"), b"400"),
    (request(PEER_PATH, b'{"from": "n2", "messages": [1]}', f"{TOKEN_HEADER}: {TOKEN}\r\n"),
     b"204"),
    (request("/admin", b"x"), b"404"),
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"501"),
    (b"POST /RPC2 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", b"411"),
    (b"POST /RPC2 HTTP/1.1\r\nContent-Length: -1\r\n\r\n", b"400"),
    (b"POST /RPC2 HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n", b"413"),
    (b"POST /RPC2 HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", b"400"),
    (b"POST /RPC2\r\n\r\n", b"400"),
    (b"POST /RPC2 HTTP/1.1\r\n" + b"X-A: b\r\n" * 101 + b"\r\n", b"431"),
    (b"POST /RPC2 HTTP/1.1\r\nX: " + b"a" * 70_000 + b"\r\n\r\n", b"431"),
])
def test_requests_the_server_refuses(served: tuple[StoreHTTPServer, Backend, int],
                                     data: bytes, status: bytes) -> None:
    _, backend, port = served
    reply = exchange(port, data)
    assert reply.split(b" ", 2)[1] == status, reply[:100]
    if status == b"204":
        assert backend.batches == [("n2", [1])]
    else:
        assert backend.batches == []
    assert get(port) == "value of k"


def test_expect_100_continue_is_answered(served: tuple[StoreHTTPServer, Backend, int]) -> None:
    _, _, port = served
    body = xmlrpc.client.dumps(("k",), "get").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        head, _, _ = request("/RPC2", body, "Expect: 100-continue\r\n").partition(body)
        sock.sendall(head)
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(body)
        reply = b""
        while b"value of k" not in reply:
            reply += sock.recv(65536)
        assert reply.startswith(b"HTTP/1.1 200 OK")
