"""The recording XML-RPC client and the classification of failed calls.

A call is one HTTP request on a fresh connection. Where it failed decides what
the caller may conclude:

- the connection could not be opened, or the request could not be sent in
  full: the node cannot have run it -> ``fail``, :class:`Unavailable`;
- the request was sent and then the reply did not come (timeout, reset,
  connection closed): it may or may not have run -> ``info``,
  :class:`Indeterminate`;
- the node answered with a fault: its code says which (see
  :mod:`pytest_partition.errors`).
"""

from __future__ import annotations

import functools
import itertools
import socket
import threading
import time
import xmlrpc.client
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from . import wire
from .durations import check_seconds
from .errors import (
    FAULT_INDETERMINATE,
    FAULT_INVALID,
    FAULT_UNAVAILABLE,
    NOT_DISPATCHED_FAULTS,
    ArgumentError,
    ArgumentTypeError,
    Indeterminate,
    OperationError,
    Unavailable,
)
from .history import History

__all__ = ["Client", "Outcome", "rpc_call", "split_args"]

RPC_PATH = "/RPC2"


class Outcome:
    """How a call ended: ``type`` is ``ok``, ``fail`` or ``info``."""

    __slots__ = ("error", "exception", "type", "value")

    def __init__(self, type: str, value: Any = None, error: str | None = None,
                 exception: BaseException | None = None) -> None:
        self.type = type
        self.value = value
        self.error = error
        self.exception = exception


def rpc_call(port: int, method: str, args: Sequence[Any], timeout: float, *,
             node: str = "?", host: str = "127.0.0.1", body: bytes | None = None) -> Outcome:
    """Call ``method(*args)`` on ``host:port`` once and classify the outcome.

    The whole call, connect to last byte, ends within ``timeout``. Never
    raises for network trouble: the :class:`Outcome` carries the exception to
    raise (an :class:`OperationError` or an XML-RPC fault).
    """
    timeout = check_seconds(timeout, "timeout")
    if body is None:  # (a caller that checked the arguments passes them encoded)
        body = wire.dumps(tuple(args), method).encode("utf-8")
    deadline = time.monotonic() + timeout

    def definite(reason: str) -> Outcome:
        return Outcome("fail", error=reason, exception=Unavailable(node, method, reason))

    def unknown(reason: str) -> Outcome:
        return Outcome("info", error=reason, exception=Indeterminate(node, method, reason))

    request = (f"POST {RPC_PATH} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: text/xml\r\n"
               f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(timeout)
        try:
            sock.connect((host, port))
        except ConnectionRefusedError:
            return definite("connection refused")
        except TimeoutError:
            return definite(f"could not connect within {timeout:g} s")
        except OSError as error:
            return definite(f"could not connect ({error.strerror or error})")
        try:
            status, reason, payload = wire.exchange(sock, request, deadline, timeout)
        except TimeoutError:
            # The request did not leave in full, so the node cannot run it.
            return definite(f"request not sent within {timeout:g} s")
        except wire.ReplyError as error:
            return unknown(error.reason)
        except OSError as error:
            return definite(f"connection lost while sending ({error.strerror or error})")
    if status == 502 and reason == wire.REFUSED_REASON:
        # The proxy could not connect to the node: the request never left.
        return definite("the node refused the connection (it is not running)")
    if status != 200:
        text = f"HTTP {status} {reason} from the node"
        if status in (400, 404, 405, 501):
            # The request was refused before any method ran.
            return Outcome("fail", error=text, exception=OperationError(
                node, method, text + f" (is it serving XML-RPC on {RPC_PATH}?)"))
        return unknown(text)
    try:
        (result,), _ = xmlrpc.client.loads(payload, use_builtin_types=True)
    except xmlrpc.client.Fault as fault:
        return _classify_fault(fault, node, method)
    except Exception as error:  # noqa: BLE001 - a reply we cannot read says nothing definite
        return unknown(f"malformed reply ({type(error).__name__}: {error})")
    return Outcome("ok", value=result)


def _classify_fault(fault: xmlrpc.client.Fault, node: str, method: str) -> Outcome:
    code, text = fault.faultCode, str(fault.faultString)
    if code == FAULT_UNAVAILABLE:
        return Outcome("fail", error=text, exception=Unavailable(node, method, text))
    if code == FAULT_INDETERMINATE:
        return Outcome("info", error=text, exception=Indeterminate(node, method, text))
    if code == FAULT_INVALID or code in NOT_DISPATCHED_FAULTS:
        return Outcome("fail", error=f"fault {code}: {text}", exception=fault)
    # An error we cannot interpret may have happened after a side effect.
    return Outcome("info", error=f"fault {code}: {text}", exception=fault)


def split_args(args: Sequence[Any]) -> tuple[Any, Any]:
    """The ``key`` and ``value`` recorded for a call's arguments.

    The first argument is the key when it is a string or an int; the rest is
    the value: one argument as itself, several as a list, none as None.
    """
    rest: Sequence[Any] = args
    key: Any = None
    if args and isinstance(args[0], (str, int)) and not isinstance(args[0], bool):
        key, rest = args[0], args[1:]
    if not rest:
        return key, None
    if len(rest) == 1:
        return key, rest[0]
    return key, list(rest)


class Client:
    """A recording client pinned to one node.

    Any XML-RPC method works as an attribute (``client.get("k")``) or through
    :meth:`call`. Each call appends an ``invoke`` and a completion to the
    history and returns the result, or raises :class:`Unavailable` (``fail``),
    :class:`Indeterminate` (``info``) or the node's :class:`xmlrpc.client.Fault`.

    A client is one Jepsen *process*: calls are serialized, and after an
    ``info`` completion the client continues as a new process, because the
    unknown operation may still be in flight.

    ``methods`` maps the names calls are recorded under to the service's own
    (``{"get": "fetch"}``: ``client.get("k")`` calls ``fetch("k")`` and
    records a ``get``), so the checkers' models read a service's vocabulary.
    """

    def __init__(self, node: str, port: int, history: History, *,
                 process_ids: Callable[[], int] | None = None, timeout: float = 1.0,
                 methods: Mapping[str, str] | None = None) -> None:
        self.node = node
        self.port = port
        self.timeout = check_seconds(timeout, "client timeout")
        self.history = history
        self.methods = dict(methods or {})
        self._process_ids = process_ids or functools.partial(next, itertools.count())
        self.process: int = self._process_ids()
        self._lock = threading.Lock()

    def call(self, method: str, *args: Any) -> Any:
        """Call ``method(*args)`` on the node, recording it; see the class doc."""
        if not isinstance(method, str) or not method:
            raise ArgumentError(f"method name must be a non-empty string, got {method!r}")
        sent = self.methods.get(method, method)
        try:
            body = wire.dumps(tuple(args), sent).encode("utf-8")
        except wire.NotAValue as error:  # refused before anything is recorded
            raise ArgumentError(f"{sent}{tuple(args)!r}: {error}") from None
        except (TypeError, OverflowError, ValueError) as error:
            raise ArgumentTypeError(f"{sent}{tuple(args)!r}: arguments cannot be sent over "
                            f"XML-RPC ({error})") from error
        key, value = split_args(args)
        with self._lock:
            process = self.process
            self.history.append(process=process, type="invoke", f=method, key=key,
                                value=value, node=self.node)
            try:
                outcome = rpc_call(self.port, sent, args, self.timeout, node=self.node,
                                   body=body)
            except BaseException as error:
                # Whatever went wrong (even Ctrl-C), the request may have left:
                # the invoke must not stay open, or the history cannot be read.
                self.history.append(process=process, type="info", f=method, key=key,
                                    value=value, node=self.node,
                                    error=f"the call was interrupted ({type(error).__name__})")
                self.process = self._process_ids()
                raise
            self.history.append(process=process, type=outcome.type, f=method, key=key,
                                value=outcome.value if outcome.type == "ok" else value,
                                node=self.node, error=outcome.error)
            if outcome.type == "info":
                self.process = self._process_ids()
        if outcome.exception is not None:
            raise outcome.exception
        return outcome.value

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)
        return functools.partial(self.call, name)

    def __repr__(self) -> str:
        return f"<Client node={self.node!r} process={self.process} timeout={self.timeout}>"
