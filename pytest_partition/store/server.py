"""The reference store's network face: one HTTP/1.1 server for clients and peers.

It listens on 127.0.0.1 and serves XML-RPC on ``/`` and ``/RPC2`` (see
:mod:`.rpc`) and peer message batches on ``/peer`` (see :mod:`.transport`).

Connections cost no thread: one event loop reads every connection, and only
a whole request goes to a worker thread (peers have workers of their own,
so that a crowd of slow client calls never delays the messages that would
answer them). That is what keeps a node answering under abuse:

- a connection must deliver each whole request within
  :data:`REQUEST_TIMEOUT` of being ready for it (accepted, or its previous
  answer sent): an idle connection, or one that trickles a byte now and
  then, is closed then;
- at most :data:`MAX_CONNECTIONS` connections are open; one more sheds the
  connection that has waited longest for a request of its own, never the
  newcomer and never one whose request is being served;
- a body above :data:`MAX_BODY` (:data:`MAX_PEER_BODY` on ``/peer``) is
  refused before it is read (HTTP 413), and a peer request without the
  cluster's token before anything else (HTTP 403).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import http
import json
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from ..wire import LINGER_RESET, MAX_HEADER
from .rpc import Backend, answer_call
from .transport import MAX_PEER_BODY, PEER_PATH, REQUEST_TIMEOUT, TOKEN_HEADER

MAX_BODY = 1 << 20  # 1 MiB: far above any legitimate client request
MAX_CONNECTIONS = 512
MAX_HEADERS = 100
CLIENT_WORKERS = 128  # a CP call may wait for the consensus: many may wait at once
PEER_WORKERS = 8
BACKLOG = 1024
RPC_PATHS = ("/", "/RPC2")
_REAP_INTERVAL = 0.5


class _BadRequest(Exception):
    """A request this server answers with an error status and then closes."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


class _Connection:
    """One client or peer connection and where it stands."""

    __slots__ = ("deadline", "serving", "since", "writer")

    def __init__(self, writer: asyncio.StreamWriter, now: float) -> None:
        self.writer = writer
        self.serving = False  # a worker has its request: never shed, never timed out
        self.since = now  # when it became ready for its next request
        self.deadline = now + REQUEST_TIMEOUT

    def ready_for_request(self, now: float) -> None:
        self.serving = False
        self.since = now
        self.deadline = now + REQUEST_TIMEOUT

    def abort(self) -> None:
        """Close at once with a reset: nothing of it is worth a goodbye."""
        transport = self.writer.transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
        transport.abort()


class StoreHTTPServer:
    """The HTTP server of one store node (see the module docstring).

    ``peer_token`` is the cluster's secret that every ``/peer`` request must
    carry. The port is bound here (an error if it is taken);
    :meth:`serve_forever` serves until :meth:`shutdown` is called from any
    thread; :meth:`server_close` then releases everything.
    """

    def __init__(self, port: int, backend: Backend, log: Callable[[str], None], *,
                 peer_token: str) -> None:
        if not peer_token:
            raise ValueError("peer_token must be a non-empty secret")
        self.backend = backend
        self.log = log
        self._token = peer_token.encode()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._listener.bind(("127.0.0.1", port))
            self._listener.listen(BACKLOG)  # callers queue from now on, not from serve_forever
        except OSError:
            self._listener.close()
            raise
        self.server_address: tuple[str, int] = self._listener.getsockname()
        self._loop = asyncio.new_event_loop()
        self._client_workers = ThreadPoolExecutor(CLIENT_WORKERS, thread_name_prefix="call")
        self._peer_workers = ThreadPoolExecutor(PEER_WORKERS, thread_name_prefix="peer")
        self._connections: dict[_Connection, None] = {}  # oldest first
        self._shutdown = threading.Event()
        self._stopping: asyncio.Event | None = None
        self.shed = 0  # connections closed to make room for newer ones
        self._shed_logged = 0

    # -- life ---------------------------------------------------------------------

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Serve until :meth:`shutdown` (``poll_interval`` is accepted for
        compatibility with :mod:`socketserver` and unused)."""
        self._loop.run_until_complete(self._serve())

    def shutdown(self) -> None:
        """Stop :meth:`serve_forever`; callable from any thread."""
        self._shutdown.set()
        with contextlib.suppress(RuntimeError):  # the loop is closed already
            self._loop.call_soon_threadsafe(self._stop_serving)

    def server_close(self) -> None:
        """Release the port, the loop and the worker threads."""
        self._listener.close()
        self._client_workers.shutdown(wait=False, cancel_futures=True)
        self._peer_workers.shutdown(wait=False, cancel_futures=True)
        if not self._loop.is_running():
            self._loop.close()

    def token_matches(self, given: str | None) -> bool:
        """True when a peer request carries this cluster's token."""
        if given is None:
            return False
        # (Headers arrive as latin-1 text; compare bytes in constant time.)
        return hmac.compare_digest(given.encode("latin-1", "replace"), self._token)

    def _stop_serving(self) -> None:
        if self._stopping is not None:
            self._stopping.set()

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        if self._shutdown.is_set():
            return
        server = await asyncio.start_server(self._serve_connection, sock=self._listener,
                                            backlog=BACKLOG, limit=MAX_HEADER)
        reaper = asyncio.create_task(self._reap())
        try:
            await self._stopping.wait()
        finally:
            reaper.cancel()
            server.close()
            for connection in list(self._connections):
                connection.abort()
            # Let every connection's coroutine see its end before the loop closes.
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)

    async def _reap(self) -> None:
        """Close connections past their deadline; say now and then how many were shed."""
        while True:
            await asyncio.sleep(_REAP_INTERVAL)
            now = time.monotonic()
            for connection in list(self._connections):
                if not connection.serving and connection.deadline < now:
                    connection.abort()
            if self.shed != self._shed_logged:
                self.log(f"connection limit ({MAX_CONNECTIONS}) reached: closed "
                         f"{self.shed - self._shed_logged} connection(s) that waited longest "
                         "for a request")
                self._shed_logged = self.shed

    # -- one connection -----------------------------------------------------------

    def _admit(self, connection: _Connection) -> bool:
        """Make room for a new connection; False when every other one is being served."""
        if len(self._connections) >= MAX_CONNECTIONS:
            waiting = [c for c in self._connections if not c.serving]
            if not waiting:
                return False
            oldest = min(waiting, key=lambda c: c.since)
            del self._connections[oldest]
            oldest.abort()
            self.shed += 1
        self._connections[connection] = None
        return True

    async def _serve_connection(self, reader: asyncio.StreamReader,
                                writer: asyncio.StreamWriter) -> None:
        connection = _Connection(writer, time.monotonic())
        if not self._admit(connection):
            connection.abort()
            return
        try:
            while True:
                try:
                    close = await self._serve_request(reader, connection)
                except _BadRequest as bad:
                    await self._respond(connection, bad.status, bad.text.encode() + b"\n",
                                        "text/plain", close=True)
                    return
                if close:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass  # the other side went away, or we closed it (timed out, shed)
        except Exception as error:  # a bug of ours: one line, and the node serves on
            self.log(f"connection failed: {type(error).__name__}: {error}")
        finally:
            self._connections.pop(connection, None)
            writer.close()

    async def _serve_request(self, reader: asyncio.StreamReader,
                             connection: _Connection) -> bool:
        """Read one request, answer it; True when the connection must close."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            raise _BadRequest(431, f"request head over {MAX_HEADER} bytes") from None
        method, path, version, headers = _parse_head(head)
        close = (headers.get("connection", "").lower() == "close"
                 or (version == "HTTP/1.0"
                     and headers.get("connection", "").lower() != "keep-alive"))
        if method != "POST":
            raise _BadRequest(501, f"method {method} is not served; XML-RPC calls are POSTs")
        if path not in RPC_PATHS and path != PEER_PATH:
            raise _BadRequest(404, "no such path; XML-RPC is served on /RPC2")
        peer = path == PEER_PATH
        if peer and not self.token_matches(headers.get(TOKEN_HEADER.lower())):
            # Before anything of the body is read: a stranger's bytes cost nothing.
            raise _BadRequest(403, "peer requests need this cluster's token")
        length = _content_length(headers, MAX_PEER_BODY if peer else MAX_BODY)
        if headers.get("expect", "").lower() == "100-continue":
            connection.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = await reader.readexactly(length)
        connection.serving = True
        loop = asyncio.get_running_loop()
        if peer:
            status, answer = await loop.run_in_executor(self._peer_workers, self._peer, body)
            await self._respond(connection, status, answer, "text/plain", close=close)
        else:
            answer = await loop.run_in_executor(self._client_workers, answer_call,
                                                self.backend, body, self.log)
            await self._respond(connection, 200, answer, "text/xml", close=close)
        return close

    def _peer(self, body: bytes) -> tuple[int, bytes]:
        try:
            batch = json.loads(body)
            sender = str(batch["from"])
            messages = batch["messages"]
            if not isinstance(messages, list):
                raise TypeError("messages must be a list")
        except (ValueError, KeyError, TypeError) as error:
            return 400, f"bad peer batch: {error}\n".encode()
        self.backend.on_peer(sender, messages)
        return 204, b""

    async def _respond(self, connection: _Connection, status: int, body: bytes,
                       content_type: str, *, close: bool) -> None:
        head = (f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
                + ("Connection: close\r\n" if close else "") + "\r\n")
        # A reader that does not take its answer is timed out like an idle one.
        connection.ready_for_request(time.monotonic())
        connection.writer.write(head.encode("latin-1") + body)
        await connection.writer.drain()


def _parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    """(method, path, version, headers by lower-case name) of a request head."""
    lines = head[:-4].decode("latin-1").split("\r\n")
    while lines and not lines[0]:  # empty lines before a request are allowed
        lines.pop(0)
    parts = lines[0].split(" ") if lines else []
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _BadRequest(400, "malformed request line")
    if len(lines) - 1 > MAX_HEADERS:
        raise _BadRequest(431, f"more than {MAX_HEADERS} headers")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise _BadRequest(400, f"malformed header line {line[:40]!r}")
        name = name.lower()
        if name in headers and name in ("content-length", "transfer-encoding",
                                        TOKEN_HEADER.lower()):
            raise _BadRequest(400, f"header {name} given twice")
        headers[name] = value.strip()
    return parts[0], parts[1], parts[2], headers


def _content_length(headers: dict[str, str], limit: int) -> int:
    length = headers.get("content-length")
    if "transfer-encoding" in headers or length is None:
        raise _BadRequest(411, "a Content-Length is required")
    if not length.isdigit():
        raise _BadRequest(400, "bad Content-Length")
    if int(length) > limit:
        # Refused before reading: an announced 64 MiB costs us nothing.
        raise _BadRequest(413, f"body over {limit} bytes refused")
    return int(length)
