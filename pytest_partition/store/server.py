"""The reference store's network face: XML-RPC for clients, JSON for peers.

One HTTP server on 127.0.0.1 serves both: XML-RPC on ``/`` and ``/RPC2``
(only the documented methods, with their arity and types checked), and peer
message batches on ``/peer``. A mode's runtime (:mod:`.cp_runtime`,
:mod:`.ap_runtime`) does the work behind the :class:`Backend` interface.

Defences, because a node must keep serving with its data intact whatever a
client sends: bodies above :data:`MAX_BODY` (:data:`MAX_PEER_BODY` on the peer
endpoint) are refused before they are read
(HTTP 413), XML with a DTD is refused (no entity expansion can happen),
malformed XML is a parse-error fault, each connection has an idle timeout,
and the number of connections served at once is capped.
"""

from __future__ import annotations

import json
import socket
import socketserver
import sys
import threading
import xmlrpc.client
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, Protocol

from .. import wire
from ..errors import FAULT_INVALID
from .transport import PEER_PATH

MAX_BODY = 1 << 20  # 1 MiB: far above any legitimate client request
MAX_PEER_BODY = 8 << 20  # peers batch messages (a log catch-up can be large)
MAX_CONNECTIONS = 128
IDLE_TIMEOUT = 30.0
MAX_KEY_LENGTH = 1024
RPC_PATHS = ("/", "/RPC2")

# XML-RPC fault codes of the "specification for fault code interoperability".
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603


class StoreFault(Exception):
    """An answer that is a fault: ``code`` from :mod:`pytest_partition.errors`."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Backend(Protocol):
    """What a mode's runtime offers the server; each method may raise StoreFault."""

    def get(self, key: str) -> Any: ...
    def put(self, key: str, value: Any) -> Any: ...
    def cas(self, key: str, expected: Any, new: Any) -> Any: ...
    def incr(self, key: str, delta: int) -> Any: ...
    def delete(self, key: str) -> Any: ...
    def state(self) -> dict[str, Any]: ...
    def role(self) -> dict[str, Any]: ...
    def stats(self) -> dict[str, Any]: ...
    def on_peer(self, sender: str, messages: list[Any]) -> None: ...


def _key(value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_KEY_LENGTH:
        raise StoreFault(FAULT_INVALID, f"key {value!r} must be a non-empty string of at most "
                                        f"{MAX_KEY_LENGTH} characters")
    return value


def _value(value: Any, depth: int = 0) -> Any:
    # Values are stored as JSON: no binary, no dates, string dict keys.
    if depth > 32:
        raise StoreFault(FAULT_INVALID, "value nested deeper than 32 levels")
    if isinstance(value, int) and not isinstance(value, bool) and not (
            wire.INT64[0] <= value <= wire.INT64[1]):
        raise StoreFault(FAULT_INVALID, f"integer {value} does not fit in 64 bits")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [_value(item, depth + 1) for item in value]
    if isinstance(value, dict):
        return {str(k): _value(v, depth + 1) for k, v in value.items()}
    raise StoreFault(FAULT_INVALID, f"value of type {type(value).__name__} cannot be stored; "
                                    "use strings, numbers, booleans, nil, arrays and structs")


def _delta(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise StoreFault(FAULT_INVALID, f"incr delta {value!r} must be an integer")
    return value


# method -> (parameter names, checker of the parameters)
METHODS: dict[str, tuple[tuple[str, ...], Callable[..., tuple[Any, ...]]]] = {
    "ping": ((), lambda: ()),
    "get": (("key",), lambda k: (_key(k),)),
    "put": (("key", "value"), lambda k, v: (_key(k), _value(v))),
    "cas": (("key", "expected", "new"), lambda k, e, n: (_key(k), _value(e), _value(n))),
    "incr": (("key", "delta"), lambda k, d: (_key(k), _delta(d))),
    "delete": (("key",), lambda k: (_key(k),)),
    "state": ((), lambda: ()),
    "role": ((), lambda: ()),
    "stats": ((), lambda: ()),
}


def dispatch(backend: Backend, method: str, params: tuple[Any, ...]) -> Any:
    """Check and run one XML-RPC call; raises StoreFault for every refusal."""
    if method not in METHODS:
        raise StoreFault(METHOD_NOT_FOUND, f"method {method!r} does not exist; the methods are "
                                           f"{', '.join(METHODS)}")
    names, check = METHODS[method]
    if len(params) != len(names):
        raise StoreFault(INVALID_PARAMS, f"{method}({', '.join(names)}) takes {len(names)} "
                                         f"argument(s), got {len(params)}")
    arguments = check(*params)
    if method == "ping":
        return "pong"
    result = getattr(backend, method)(*arguments)
    return result


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # peers keep their connection open
    timeout = IDLE_TIMEOUT
    server: StoreHTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # one line per request would drown the node's log

    def do_POST(self) -> None:  # noqa: N802 - the http.server name
        if self.path not in RPC_PATHS and self.path != PEER_PATH:
            self._reply(404, b"no such path; XML-RPC is served on /RPC2\n", "text/plain")
            return
        length_header = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding") or length_header is None:
            self._reply(411, b"a Content-Length is required\n", "text/plain", close=True)
            return
        try:
            length = int(length_header)
        except ValueError:
            self._reply(400, b"bad Content-Length\n", "text/plain", close=True)
            return
        limit = MAX_PEER_BODY if self.path == PEER_PATH else MAX_BODY
        if length < 0 or length > limit:
            # Refused before reading: an announced 64 MiB costs us nothing.
            self._reply(413, f"body over {limit} bytes refused\n".encode(), "text/plain",
                        close=True)
            return
        body = self.rfile.read(length)
        if len(body) != length:
            self.close_connection = True
            return
        if self.path == PEER_PATH:
            self._peer(body)
        else:
            self._rpc(body)

    def _peer(self, body: bytes) -> None:
        try:
            batch = json.loads(body)
            sender = str(batch["from"])
            messages = batch["messages"]
            if not isinstance(messages, list):
                raise TypeError("messages must be a list")
        except (ValueError, KeyError, TypeError) as error:
            self._reply(400, f"bad peer batch: {error}\n".encode(), "text/plain")
            return
        self.server.backend.on_peer(sender, messages)
        self._reply(204, b"", "text/plain")

    def _rpc(self, body: bytes) -> None:
        if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
            response = _fault(INVALID_REQUEST, "XML with a DTD or entities is refused")
        else:
            try:
                params, method = xmlrpc.client.loads(body, use_builtin_types=True)
            except Exception as error:  # expat and the unmarshaller raise many types
                response = _fault(PARSE_ERROR, f"malformed XML-RPC request: {error}")
            else:
                if method is None:
                    response = _fault(INVALID_REQUEST, "the request names no method")
                else:
                    response = self._call(str(method), params)
        self._reply(200, response, "text/xml")

    def _call(self, method: str, params: tuple[Any, ...]) -> bytes:
        try:
            result = dispatch(self.server.backend, method, params)
            return wire.dumps((result,), methodresponse=True).encode()
        except StoreFault as fault:
            return _fault(fault.code, fault.message)
        except Exception as error:  # a bug of ours must not take the node down
            self.server.log(f"{method}{params!r} failed: {type(error).__name__}: {error}")
            return _fault(INTERNAL_ERROR, f"internal error: {type(error).__name__}: {error}")

    def _reply(self, status: int, body: bytes, content_type: str, *, close: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)


def _fault(code: int, message: str) -> bytes:
    return wire.dumps(xmlrpc.client.Fault(code, message)).encode()


class StoreHTTPServer(socketserver.ThreadingMixIn, HTTPServer):
    """A threaded HTTP server on 127.0.0.1 that caps concurrent connections."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, backend: Backend, log: Callable[[str], None]) -> None:
        self.backend = backend
        self.log = log
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__(("127.0.0.1", port), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            # Over the cap: close at once rather than pile up threads.
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Peers reset connections they gave up on, by design: not worth a
        # traceback in the node's log. Anything else gets one line.
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            return
        self.log(f"request from {client_address} failed: {type(error).__name__}: {error}")

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # HTTPServer.server_bind would look our name up in DNS: skip it.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]


def describe_methods() -> Mapping[str, tuple[str, ...]]:
    """The callable methods and their parameter names (for docs and errors)."""
    return {name: names for name, (names, _) in METHODS.items()}
