"""Waiting for a condition with a deadline, never with a bare sleep.

Partition tests wait for things all the time: a new leader, a replica that
catches up, a minority that starts refusing. :func:`eventually` is the
test-facing form (a failed assertion means "not yet");
:func:`until` is the harness's own (``None`` or ``False`` means "not yet").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception,
    retry_if_result,
    stop_after_delay,
    wait_exponential,
    wait_fixed,
)

from .durations import check_seconds
from .errors import OperationError

T = TypeVar("T")

__all__ = ["eventually", "until"]


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


def until(condition: Callable[[], T | None], timeout: float, *, first_wait: float = 0.01,
          max_wait: float = 0.1, growth: float = 2.0) -> T | None:
    """Call ``condition`` until it returns something other than None or False.

    Returns that result, or None once ``timeout`` seconds have passed. The
    waits between calls grow from ``first_wait`` to ``max_wait`` seconds, so a
    quick condition is seen quickly and a slow one is not polled hard (each
    wait ``growth`` times the one before). An exception raised by
    ``condition`` is raised at once.
    """
    retrying = Retrying(
        stop=stop_after_delay(timeout),
        wait=wait_exponential(multiplier=first_wait, exp_base=growth, min=first_wait,
                              max=max_wait),
        retry=retry_if_result(lambda result: result is None or result is False),
    )
    try:
        return retrying(condition)
    except RetryError:
        return None
