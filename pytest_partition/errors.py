"""Exceptions and the XML-RPC fault codes of the node contract.

A node tells the recording client how a failed request ended through the
fault code of its XML-RPC fault:

- :data:`FAULT_UNAVAILABLE` (503): the operation definitely did not happen and
  never will. Recorded as ``fail``; the client raises :class:`Unavailable`.
- :data:`FAULT_INDETERMINATE` (504): the node cannot tell whether it happened
  (it may still happen later). Recorded as ``info``; raises
  :class:`Indeterminate`.
- :data:`FAULT_INVALID` (400): the request was refused as invalid (bad
  arguments, wrong type); it had no effect. Recorded as ``fail``; the
  :class:`xmlrpc.client.Fault` is raised unchanged.

Any other fault is an error the client cannot interpret, so, as in Jepsen, it
is recorded as ``info`` (unknown) and raised unchanged; the standard XML-RPC
codes for a request that was never dispatched (parse error, invalid request,
method not found, invalid parameters: -32700, -32600, -32601, -32602) are
recorded as ``fail``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

FAULT_UNAVAILABLE = 503
FAULT_INDETERMINATE = 504
FAULT_INVALID = 400

#: The bugs the reference store can plant, by mode. The store plants them
#: (``--bug NAME``); the harness checks a marker's ``bug=`` against them
#: before any process starts, without importing the store.
PLANTED_BUGS: dict[str, tuple[str, ...]] = {
    "cp": ("stale-read", "ack-before-commit"),
    "ap": ("no-anti-entropy", "lost-update"),
}

#: XML-RPC fault codes that mean "the request was never dispatched".
NOT_DISPATCHED_FAULTS = frozenset({-32700, -32600, -32601, -32602})

__all__ = [
    "FAULT_INDETERMINATE",
    "FAULT_INVALID",
    "FAULT_UNAVAILABLE",
    "USAGE_ERRORS",
    "ArgumentError",
    "ArgumentTypeError",
    "ClusterError",
    "Indeterminate",
    "NodeContractWarning",
    "NodeStartError",
    "NotConverged",
    "NotJudged",
    "NotServed",
    "OperationError",
    "PLANTED_BUGS",
    "SpecError",
    "Unavailable",
    "UnknownNode",
    "UntestedWarning",
    "reported_at_the_call",
]


class OperationError(Exception):
    """A client operation that did not complete normally.

    ``node`` is the node the client was pinned to, ``method`` the XML-RPC
    method, ``reason`` a short description of what went wrong.
    """

    def __init__(self, node: str, method: str, reason: str) -> None:
        super().__init__(f"{method} on {node}: {reason}")
        self.node = node
        self.method = method
        self.reason = reason


class Unavailable(OperationError):
    """The operation definitely did not happen (recorded as ``fail``)."""


class Indeterminate(OperationError):
    """Nobody can tell whether the operation happened (recorded as ``info``)."""


class ArgumentError(ValueError):
    """An argument that is not accepted; the message names it and says what is."""


class ArgumentTypeError(TypeError):
    """An argument of a type that is not accepted; the message says what is."""


class SpecError(ArgumentError):
    """A partition spec that cannot be parsed or names an unknown node."""


class UnknownNode(ArgumentError, KeyError):
    """A node name the cluster does not have. It is a ``KeyError`` too, as a
    lookup of ``cluster.nodes[name]`` would raise."""

    def __str__(self) -> str:
        # KeyError quotes its message; this one is a sentence.
        return BaseException.__str__(self)


class ClusterError(RuntimeError):
    """A cluster could not be started, controlled or stopped as asked."""


class NotServed(ClusterError):
    """A node does not serve a method the harness needs (``state()``, ``role()``)."""


class NodeStartError(ClusterError):
    """A node exited early or never answered its readiness ping in time."""

    def __init__(self, node: str, message: str, *, exit_code: int | None, log_tail: str) -> None:
        detail = f"node {node}: {message}"
        if exit_code is not None:
            detail += f" (exit code {exit_code})"
        if log_tail.strip():
            detail += "\n--- last lines of its log ---\n" + log_tail.rstrip()
        else:
            detail += "\n(its log is empty)"
        super().__init__(detail)
        self.node = node
        self.exit_code = exit_code
        self.log_tail = log_tail


class NotConverged(AssertionError):
    """The replicas' ``state()`` did not become equal in time."""


class NotJudged(AssertionError):
    """A run whose faults could not decide what it asserts (``assert_ap()`` after a
    run with no cut): not a bug found, but no pass either. Catch it to accept."""


class NodeContractWarning(UserWarning):
    """A node program that does not follow the node contract in a way that costs
    time rather than correctness (it ignores the end of its input, say)."""


class UntestedWarning(UserWarning):
    """A check passed, but the run's faults could not have made it fail."""


#: What a wrong call raises: errors of the caller's, not of the library.
USAGE_ERRORS = (ArgumentError, ArgumentTypeError)

_P = ParamSpec("_P")
_R = TypeVar("_R")


def reported_at_the_call(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """Make a public entry point raise a usage error from itself, its traceback cut.

    A bad argument is the caller's mistake: pytest then shows the test's line
    and the message (which names the argument and what is accepted), not the
    library's frames below the call. Any other error keeps its traceback.
    """

    @functools.wraps(function)
    def call(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        __tracebackhide__ = True
        try:
            return function(*args, **kwargs)
        except USAGE_ERRORS as error:
            raise error.with_traceback(None) from None

    return call
