"""The reference store's network face: XML-RPC for clients, JSON for peers.

One HTTP server on 127.0.0.1 serves both: XML-RPC on ``/`` and ``/RPC2``
(only the documented methods, with their arity and types checked), and peer
message batches on ``/peer``. A mode's runtime (:mod:`.cp_runtime`,
:mod:`.ap_runtime`) does the work behind the :class:`Backend` interface.

Defences, because a node must keep serving with its data intact whatever a
client sends: bodies above :data:`MAX_BODY` (:data:`MAX_PEER_BODY` on the peer
endpoint) are refused before they are read
(HTTP 413); a document with a DOCTYPE, in any encoding, is refused by the XML
parser's own declaration handlers before any entity is declared, so no entity
is ever expanded or fetched; malformed XML is a parse-error fault; a
refusal never echoes more than a short summary of what it refuses (a key
nested 1,000 deep must get its fault, not crash the repr); each connection
has an idle timeout, and the number of connections served at once is capped.
"""

from __future__ import annotations

import hmac
import json
import math
import reprlib
import socket
import socketserver
import sys
import threading
import xmlrpc.client
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, Protocol
from xml.parsers import expat

from .. import wire
from ..errors import FAULT_INVALID
from .transport import PEER_PATH, TOKEN_HEADER

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


_SUMMARY = reprlib.Repr()
_SUMMARY.maxstring = _SUMMARY.maxother = 60


def shown(value: Any) -> str:
    """A short repr of a client's value, safe at any size and depth."""
    return _SUMMARY.repr(value)


def _key(value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_KEY_LENGTH:
        raise StoreFault(FAULT_INVALID, f"key {shown(value)} must be a non-empty string of at "
                                        f"most {MAX_KEY_LENGTH} characters")
    return value


def _value(value: Any, depth: int = 0) -> Any:
    # Values are stored as JSON: no binary, no dates, string dict keys.
    if depth > 32:
        raise StoreFault(FAULT_INVALID, "value nested deeper than 32 levels")
    if isinstance(value, int) and not isinstance(value, bool) and not (
            wire.INT64[0] <= value <= wire.INT64[1]):
        raise StoreFault(FAULT_INVALID, f"integer {value} does not fit in 64 bits")
    if isinstance(value, float) and not math.isfinite(value):
        # The team's rule, in both modes: NaN is not a value (it is not equal
        # to itself, so no history could be checked), nor is infinity (JSON,
        # the store's format, has neither).
        raise StoreFault(FAULT_INVALID, f"float {value} cannot be stored: NaN and infinities "
                                        "are not values")
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
        raise StoreFault(FAULT_INVALID, f"incr delta {shown(value)} must be an integer")
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


class _Refused(Exception):
    """A declaration the XML-RPC parser refuses (raised from expat's handlers)."""


def _refuse_declaration(*_args: Any) -> int:
    raise _Refused("XML with a DTD (a DOCTYPE, entity or notation declaration) is refused")


def parse_call(body: bytes) -> tuple[tuple[Any, ...], str | None]:
    """(params, method name) of an XML-RPC call; StoreFault if refused or malformed.

    Like :func:`xmlrpc.client.loads`, except that any DOCTYPE, entity or
    notation declaration stops the parse at once, whatever the document's
    encoding: expat reports them to these handlers after decoding, so no
    byte pattern can hide one.
    """
    unmarshaller = xmlrpc.client.Unmarshaller(use_builtin_types=True)
    unmarshaller.xml("", "")  # no encoding: expat hands over str, nothing to decode
    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = _refuse_declaration
    parser.EntityDeclHandler = _refuse_declaration
    parser.UnparsedEntityDeclHandler = _refuse_declaration
    parser.NotationDeclHandler = _refuse_declaration
    parser.ExternalEntityRefHandler = _refuse_declaration
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartElementHandler = unmarshaller.start
    parser.EndElementHandler = unmarshaller.end
    parser.CharacterDataHandler = unmarshaller.data
    parser.buffer_text = True
    try:
        parser.Parse(body, True)
        params = unmarshaller.close()
    except _Refused as refused:
        raise StoreFault(INVALID_REQUEST, str(refused)) from None
    except Exception as error:  # expat and the unmarshaller raise many types
        raise StoreFault(PARSE_ERROR, f"malformed XML-RPC request: {error}") from None
    return params, unmarshaller.getmethodname()


def dispatch(backend: Backend, method: str, params: tuple[Any, ...]) -> Any:
    """Check and run one XML-RPC call; raises StoreFault for every refusal."""
    if method not in METHODS:
        raise StoreFault(METHOD_NOT_FOUND, f"method {shown(method)} does not exist; the methods "
                                           f"are {', '.join(METHODS)}")
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
        if self.path == PEER_PATH and not self.server.token_matches(self.headers[TOKEN_HEADER]):
            # Before anything of the body is read: a stranger's bytes cost nothing.
            self._reply(403, b"peer requests need this cluster's token\n", "text/plain",
                        close=True)
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
        self._reply(200, answer_call(self.server.backend, body, self.server.log), "text/xml")

    def _reply(self, status: int, body: bytes, content_type: str, *, close: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)


def answer_call(backend: Backend, body: bytes, log: Callable[[str], None]) -> bytes:
    """The XML-RPC response to one request body: a result or a fault, always."""
    method = "?"
    try:
        params, name = parse_call(body)
        if name is None:
            raise StoreFault(INVALID_REQUEST, "the request names no method")
        method = name
        result = dispatch(backend, method, params)
        return wire.dumps((result,), methodresponse=True).encode()
    except StoreFault as fault:
        return _fault(fault.code, fault.message)
    except Exception as error:  # a bug of ours must not take the node down
        log(f"{shown(method)} failed: {type(error).__name__}: {shown(str(error))}")
        return _fault(INTERNAL_ERROR,
                      f"internal error: {type(error).__name__}: {shown(str(error))}")


def _fault(code: int, message: str) -> bytes:
    return wire.dumps(xmlrpc.client.Fault(code, message)).encode()


class StoreHTTPServer(socketserver.ThreadingMixIn, HTTPServer):
    """A threaded HTTP server on 127.0.0.1 that caps concurrent connections."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, backend: Backend, log: Callable[[str], None], *,
                 peer_token: str) -> None:
        if not peer_token:
            raise ValueError("peer_token must be a non-empty secret")
        self.backend = backend
        self.log = log
        self._token = peer_token.encode()
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__(("127.0.0.1", port), _Handler)

    def token_matches(self, given: str | None) -> bool:
        """True when a peer request carries this cluster's token."""
        if given is None:
            return False
        # (Headers arrive as latin-1 text; compare bytes in constant time.)
        return hmac.compare_digest(given.encode("latin-1", "replace"), self._token)

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
