"""Helpers shared by test modules (imported by name; tests/ is on sys.path)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

TOY_NODE = Path(__file__).parent / "nodes" / "toynode.py"


def eventually(check: Callable[[], object], timeout: float = 10.0, every: float = 0.02) -> None:
    """Retry ``check`` until it holds, or fail when ``timeout`` expires.

    ``check`` holds when it returns a true value, or returns None without
    raising (a check made of ``assert`` statements).
    """

    def attempt() -> None:
        result = check()
        if result is not None and not result:
            raise AssertionError(f"still false after {timeout:g} s: {check}")

    for retry in Retrying(stop=stop_after_delay(timeout), wait=wait_fixed(every),
                          retry=retry_if_exception_type(AssertionError), reraise=True):
        with retry:
            attempt()
