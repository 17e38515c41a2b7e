"""XML-RPC on the wire: bodies with 64-bit integers, and one HTTP exchange
bounded by a single deadline.

The standard library refuses integers beyond 32 bits (``<int>``), which
counters and clocks outgrow; this module writes them as ``<i8>``, which the
standard library reads. And :func:`exchange` reads a reply against one
deadline for the whole call, where a socket timeout alone would restart for
every slow piece of it.

A call is checked before it is encoded: a NaN anywhere in its arguments is
refused (:class:`NotAValue`: NaN equals nothing, not even itself, so no
checker could compare it), and so is a string XML cannot carry.
"""

from __future__ import annotations

import re
import socket
import struct
import time
import xmlrpc.client
from typing import Any
from xml.sax.saxutils import escape

__all__ = ["LINGER_RESET", "MAX_HEADER", "REFUSED_REASON", "NotAValue", "ReplyError", "dumps",
           "exchange"]

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
MAX_HEADER = 64 * 1024
#: The reason phrase of the answer a client link gives (HTTP 502) when the
#: node's port refused the connection: the request never reached the node,
#: and the client records a definite failure, as for a refused connection.
REFUSED_REASON = "Partition Proxy: Node Refused The Connection"
#: ``SO_LINGER`` on with a 0 s timeout: ``close()`` then sends a reset, not a
#: FIN, so that bytes a sender gave up on are not delivered after all.
LINGER_RESET = struct.pack("ii", 1, 0)


class _Marshaller(xmlrpc.client.Marshaller):
    dispatch = dict(xmlrpc.client.Marshaller.dispatch)  # noqa: RUF012 - as the base class declares it

    def dump_long(self, value: int, write: Any) -> None:
        if not INT64[0] <= value <= INT64[1]:
            raise OverflowError(f"int {value} exceeds 64 bits")
        tag = "int" if INT32[0] <= value <= INT32[1] else "i8"
        write(f"<value><{tag}>{int(value)}</{tag}></value>\n")

    dispatch[int] = dump_long  # type: ignore[assignment]  # our own subclass method


# XML 1.0 allows tab, newline, carriage return and the characters from
# U+0020 up, except surrogates and U+FFFE/U+FFFF: nothing else can be sent.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class NotAValue(ValueError):
    """A call's argument holds NaN, which is not a value: it equals nothing, not
    even itself, so a history holding it could not be checked."""


def _check_no_nan(params: tuple[Any, ...]) -> None:
    """:class:`NotAValue` naming the first argument (1-based) that holds NaN."""
    for number, param in enumerate(params, start=1):
        where = _nan_at(param)
        if where is not None:
            raise NotAValue(
                f"argument {number}{where} is NaN, which is not a value: it equals nothing, "
                "not even itself, so no checker could compare it; send None, a string "
                "or a finite number")


def _nan_at(value: Any) -> str | None:
    """The subscripts that reach a NaN in ``value`` (``""``: itself), or None."""
    if isinstance(value, float):
        return "" if value != value else None  # noqa: PLR0124 - only NaN differs from itself
    items: Any = ()
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    for key, item in items:
        inner = _nan_at(item)
        if inner is not None:
            return f"[{key!r}]{inner}"
    return None


def _check_xml_text(value: Any) -> None:
    """ValueError when a string in ``value`` holds a character XML cannot carry."""
    if isinstance(value, str):
        bad = _NOT_XML.search(value)
        if bad:
            raise ValueError(f"the string {value[:40]!r} holds {bad.group()!r} at position "
                             f"{bad.start()}, which XML (so XML-RPC) cannot carry")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_xml_text(key)
            _check_xml_text(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_xml_text(item)


def dumps(params: tuple[Any, ...] | xmlrpc.client.Fault, methodname: str | None = None,
          methodresponse: bool = False) -> str:
    """Like :func:`xmlrpc.client.dumps` (nil allowed), with 64-bit integers.

    A call (``methodname`` given) with a NaN in its arguments raises
    :class:`NotAValue`; one whose strings hold a character XML cannot carry
    raises ValueError rather than send a body the node cannot parse.
    """
    if isinstance(params, xmlrpc.client.Fault):
        methodresponse = True
    elif methodname is not None:
        _check_no_nan(params)
        _check_xml_text(params)
    data = _Marshaller("utf-8", allow_none=True).dumps(params)
    header = "<?xml version='1.0'?>\n"
    if methodname is not None:
        return (f"{header}<methodCall>\n<methodName>{escape(methodname)}</methodName>\n"
                f"{data}</methodCall>\n")
    if methodresponse:
        return f"{header}<methodResponse>\n{data}</methodResponse>\n"
    return data


class ReplyError(Exception):
    """The reply did not come, or not whole: ``reason`` says how it ended."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Reader:
    def __init__(self, sock: socket.socket, deadline: float, timeout: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self.timeout = timeout
        self.data = bytearray()

    def more(self) -> None:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise ReplyError(f"no reply within {self.timeout:g} s")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:
            raise ReplyError(f"no reply within {self.timeout:g} s") from None
        except ConnectionResetError:
            raise ReplyError("connection reset after the request was sent") from None
        except OSError as error:
            raise ReplyError(f"reply lost ({error.strerror or error})") from None
        if not chunk:
            raise ReplyError("connection closed before the reply")
        self.data += chunk

    def take(self, count: int) -> bytes:
        while len(self.data) < count:
            self.more()
        piece = bytes(self.data[:count])
        del self.data[:count]
        return piece

    def line(self) -> bytes:
        while b"\r\n" not in self.data:
            if len(self.data) > MAX_HEADER:
                raise ReplyError("malformed reply (a line over 64 KiB)")
            self.more()
        piece, _, rest = bytes(self.data).partition(b"\r\n")
        self.data = bytearray(rest)
        return piece


def exchange(sock: socket.socket, request: bytes, deadline: float,
             timeout: float) -> tuple[int, str, bytes]:
    """Send ``request``, read the HTTP reply: (status, reason, body).

    Raises :class:`OSError` while sending (the request did not leave in
    full) and :class:`ReplyError` once it was sent.
    """
    sock.settimeout(max(deadline - time.monotonic(), 0.001))
    sock.sendall(request)
    reader = _Reader(sock, deadline, timeout)
    status_line = reader.line()
    parts = status_line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        raise ReplyError(f"malformed reply (status line {status_line[:60]!r})")
    status = int(parts[1])
    reason = parts[2].decode("latin-1") if len(parts) > 2 else ""
    headers: dict[str, str] = {}
    while line := reader.line():
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = bytearray()
        while True:
            size = int(reader.line().split(b";")[0] or b"0", 16)
            if size == 0:
                break
            body += reader.take(size)
            reader.take(2)  # the CRLF after each chunk
        return status, reason, bytes(body)
    if "content-length" in headers:
        return status, reason, reader.take(int(headers["content-length"]))
    while True:  # no length: the body ends with the connection
        try:
            reader.more()
        except ReplyError as error:
            if error.reason == "connection closed before the reply":
                return status, reason, bytes(reader.data)
            raise
