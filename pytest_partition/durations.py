"""Durations in seconds: what every option, marker argument and call accepts.

One rule everywhere: a real number (not a bool), finite, above 0 (or at
least 0 where zero means "none") and at most an hour. Anything else (NaN,
infinity, 1e10) is a typo that would make a wait never end.
"""

from __future__ import annotations

import math
import numbers

from .errors import ArgumentError, ArgumentTypeError

__all__ = ["MAX_SECONDS", "SECONDS_ACCEPTED", "SECONDS_OR_ZERO_ACCEPTED", "accepted",
           "check_seconds", "seconds_problem"]

#: The longest duration any option or marker accepts (an hour): anything
#: longer, or infinite, or NaN, is a typo that would make waits never end.
MAX_SECONDS = 3600.0


def accepted(*, zero_ok: bool = False, limit: float = MAX_SECONDS, unit: str = "seconds") -> str:
    """What a duration check accepts, in words: ``a number of seconds > 0 and <= 3600``."""
    return f"a number of {unit} {'>=' if zero_ok else '>'} 0 and <= {limit:.15g}"


SECONDS_ACCEPTED = accepted()
SECONDS_OR_ZERO_ACCEPTED = accepted(zero_ok=True)


def seconds_problem(value: object, *, zero_ok: bool = False,
                    limit: float = MAX_SECONDS) -> str | None:
    """What is wrong with ``value`` as a duration (``"is not finite"``, ...), or None.

    Accepted: a real number (not a bool), finite, > 0 (>= 0 with
    ``zero_ok``) and <= ``limit``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return "is not a number"
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        return "is out of range"
    if not math.isfinite(number):
        return "is not finite"
    if number < 0 or (number == 0 and not zero_ok) or number > limit:
        return "is out of range"
    return None


def check_seconds(value: object, what: str, *, zero_ok: bool = False,
                  limit: float = MAX_SECONDS, unit: str = "seconds") -> float:
    """``value`` as a float; otherwise ValueError (TypeError for a non-number)
    naming it and what is accepted.

    ``what`` names the value: ``"client timeout"`` reads ``client timeout inf
    is not finite; ...``, and a name ending in ``=`` (``"Latency: ms="``) is
    followed by the value directly.
    """
    problem = seconds_problem(value, zero_ok=zero_ok, limit=limit)
    if problem is None:
        return float(value)  # type: ignore[arg-type]  # a real number, checked above
    error = ArgumentTypeError if problem == "is not a number" else ArgumentError
    subject = f"{what}{value!r}" if what.endswith("=") else f"{what} {value!r}"
    what_is_accepted = accepted(zero_ok=zero_ok, limit=limit, unit=unit)
    raise error(f"{subject} {problem}; accepted: {what_is_accepted}")
