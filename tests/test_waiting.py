"""eventually(): waits on a condition with a deadline."""

from __future__ import annotations

import itertools
import time

import pytest

from pytest_partition import Unavailable, eventually


def test_returns_the_value_once_the_check_holds() -> None:
    calls = itertools.count(1)
    assert eventually(lambda: next(calls) >= 3 and "done", every=0.001) == "done"


def test_refusals_and_failed_asserts_mean_not_yet() -> None:
    attempts = iter([Unavailable("n1", "put", "no leader"), AssertionError("not yet"), None])

    def check() -> str:
        error = next(attempts)
        if error is not None:
            raise error
        return "served"

    assert eventually(check, every=0.001) == "served"


def test_other_errors_are_raised_at_once() -> None:
    began = time.monotonic()
    with pytest.raises(KeyError):
        eventually(lambda: {}["missing"], timeout=5)
    assert time.monotonic() - began < 1


def test_timeout_names_the_check_and_the_last_reason() -> None:
    def dryer_count_is_59() -> bool:
        return False

    with pytest.raises(AssertionError, match="not true within 0.1 s: .*dryer_count_is_59: "
                                             "the condition is still false"):
        eventually(dryer_count_is_59, timeout=0.1, every=0.01)
