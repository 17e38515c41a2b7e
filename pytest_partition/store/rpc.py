"""The reference store's XML-RPC surface: which calls exist, what they accept.

:func:`answer_call` turns one request body into one response body, a result
or a fault, always. On the way, :func:`parse_call` parses the XML with
expat's declaration handlers set to refuse: a document with a DOCTYPE,
entity or notation declaration is refused, in any encoding, before any
entity is declared, so none is ever expanded or fetched. :func:`dispatch`
admits only the documented methods with their arity and argument types, and
hands them to a mode's runtime (the :class:`Backend`). A refusal never echoes
more than a short summary (:func:`shown`) of what it refuses: a key nested
1,000 deep gets its fault like any other.
"""

from __future__ import annotations

import math
import reprlib
import xmlrpc.client
from collections.abc import Callable, Mapping
from typing import Any, Protocol
from xml.parsers import expat

from .. import wire
from ..errors import FAULT_INVALID

MAX_KEY_LENGTH = 1024

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




def describe_methods() -> Mapping[str, tuple[str, ...]]:
    """The callable methods and their parameter names (for docs and errors)."""
    return {name: names for name, (names, _) in METHODS.items()}
