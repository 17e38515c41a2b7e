"""``eventually``: wait for a condition with a deadline, never with a bare sleep.

Partition tests wait for things all the time: a new leader, a replica that
catches up, a minority that starts refusing. ``eventually(check)`` calls
``check`` until it holds, and fails with the last reason when the deadline
passes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from tenacity import RetryError, Retrying, retry_if_exception, stop_after_delay, wait_fixed

from .durations import check_seconds
from .errors import OperationError

T = TypeVar("T")

__all__ = ["eventually"]


class _StillFalse(AssertionError):
    pass


def eventually(check: Callable[[], T], timeout: float = 10.0, every: float = 0.05) -> T:
    """Call ``check`` until it holds; return what it returned.

    ``check`` holds when it returns anything but ``False`` without raising.
    An ``AssertionError`` or an :class:`OperationError` (a node that refuses
    or does not answer yet) means "not yet"; any other exception is raised at
    once. After ``timeout`` seconds, raises ``AssertionError`` with the last
    reason. Examples::

        eventually(lambda: client.get("dryer") == 59)     # a condition
        eventually(lambda: client.put("k", 1))            # until the majority serves
    """

    timeout = check_seconds(timeout, "eventually timeout")
    every = check_seconds(every, "eventually every")

    def attempt() -> T:
        result = check()
        if result is False:
            raise _StillFalse("the condition is still false")
        return result

    retrying = Retrying(
        stop=stop_after_delay(timeout),
        wait=wait_fixed(every),
        retry=retry_if_exception(lambda e: isinstance(e, (AssertionError, OperationError))),
    )
    try:
        return retrying(attempt)
    except RetryError as error:
        last = error.last_attempt.exception()
        name = getattr(check, "__qualname__", repr(check))
        raise AssertionError(f"not true within {timeout:g} s: {name}: {last}") from None
