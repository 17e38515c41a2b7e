"""A small EDN reader, enough for Jepsen's one-map-per-line histories.

Jepsen writes each event of a history as an EDN map::

    {:type :invoke, :f :cas, :process 3, :value [1 2], :time 12345, :index 7}

:func:`parse_map` turns one such line into a plain dict that
:meth:`pytest_partition.history.Event.from_dict` accepts:

- keywords become strings without the colon (``:read`` -> ``"read"``,
  ``:jepsen/op`` -> ``"jepsen/op"``), as map keys and as values;
- ``nil`` -> None, ``true``/``false`` -> bool, integers (also ``42N``) -> int,
  floats (also ``1.5M``, ``##Inf``, ``##NaN``) -> float, ratios (``1/3``) -> float;
- strings keep their escapes' meaning (``\\n``, ``\\"``, ``\\uXXXX``, ...);
  characters (``\\a``, ``\\newline``) -> one-character strings;
- vectors, lists and sets -> lists; maps -> dicts (a vector used as a map key
  becomes a tuple so that it stays hashable);
- symbols (``java.net.SocketTimeoutException`` inside an ``:exception``) ->
  strings; tagged values (``#inst "..."``, ``#uuid "..."``,
  ``#jepsen.history.Op{...}``) -> the tagged value itself; ``#_`` discards
  the next value, ``;`` starts a comment.

Anything else raises :class:`ValueError` naming the column and what was found.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["parse", "parse_map"]

_WHITESPACE = " \t\r\n,"
_DELIMITERS = _WHITESPACE + "()[]{}\";"
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "/": "/"}
_CHARACTERS = {"newline": "\n", "space": " ", "tab": "\t", "return": "\r",
               "backspace": "\b", "formfeed": "\f"}
_SYMBOLIC = {"Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan}
_CLOSERS = {"[": "]", "(": ")", "{": "}"}


def parse_map(text: str) -> dict[Any, Any]:
    """Parse one EDN map (a Jepsen history line) into a dict.

    Raises :class:`ValueError` if the text is not exactly one map, with the
    column (1-based) of the problem.
    """
    value = parse(text)
    if not isinstance(value, dict):
        raise ValueError(f"expected a map {{...}}, got {_kind(value)}")  # noqa: TRY004
    return value


def parse(text: str) -> Any:
    """Parse exactly one EDN value (surrounding whitespace and comments allowed)."""
    reader = _Reader(text)
    reader.skip_blank()
    if reader.at_end():
        raise ValueError("empty input: expected an EDN value")
    value = reader.read_value()
    reader.skip_blank()
    if not reader.at_end():
        raise ValueError(
            f"unexpected {reader.peek_text()} at column {reader.pos + 1} after the "
            "value ended; a history line holds one map"
        )
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, list):
        return "a vector/list"
    return f"{type(value).__name__} {value!r}"


class _Discard:
    """Marker for ``#_``: the value read is dropped by the collection around it."""


_DISCARDED = _Discard()


class _Reader:
    """A cursor over the text; each ``read_*`` consumes what it returns."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    # -- cursor helpers ----------------------------------------------------

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek_text(self) -> str:
        return repr(self.text[self.pos:self.pos + 12])

    def fail(self, message: str, pos: int | None = None) -> ValueError:
        where = self.pos if pos is None else pos
        return ValueError(f"{message} at column {where + 1}")

    def skip_blank(self) -> None:
        text, n = self.text, len(self.text)
        while self.pos < n:
            char = text[self.pos]
            if char in _WHITESPACE:
                self.pos += 1
            elif char == ";":  # a comment runs to the end of the line
                end = text.find("\n", self.pos)
                self.pos = n if end < 0 else end + 1
            else:
                return

    def token(self) -> str:
        start = self.pos
        text, n = self.text, len(self.text)
        while self.pos < n and text[self.pos] not in _DELIMITERS:
            self.pos += 1
        return text[start:self.pos]

    # -- values ------------------------------------------------------------

    def read_value(self) -> Any:
        """Read one value; the caller has skipped blanks and checked for the end."""
        value = self._read_any()
        while value is _DISCARDED:
            self.skip_blank()
            if self.at_end():
                raise self.fail("nothing after #_ discard")
            value = self._read_any()
        return value

    def _read_any(self) -> Any:
        char = self.text[self.pos]
        if char in _CLOSERS:
            self.pos += 1
            items = self.read_items(_CLOSERS[char], self.pos - 1)
            return self.to_map(items, self.pos) if char == "{" else items
        if char in ")]}":
            raise self.fail(f"unexpected {char!r} with no matching opening bracket")
        if char == '"':
            return self.read_string()
        if char == "#":
            return self.read_dispatch()
        if char == "\\":
            return self.read_character()
        if char == ":":
            start = self.pos
            self.pos += 1
            name = self.token()
            if not name or name.startswith(":"):
                raise self.fail("a keyword needs a name after ':'", start)
            return name
        return self.read_atom()

    def read_items(self, closer: str, opened_at: int) -> list[Any]:
        items: list[Any] = []
        while True:
            self.skip_blank()
            if self.at_end():
                raise self.fail(f"missing {closer!r} for the bracket opened", opened_at)
            if self.text[self.pos] == closer:
                self.pos += 1
                return items
            value = self._read_any()
            if value is not _DISCARDED:
                items.append(value)

    def to_map(self, items: list[Any], end: int) -> dict[Any, Any]:
        if len(items) % 2:
            raise self.fail(
                f"a map needs key/value pairs but this one has {len(items)} items", end - 1
            )
        result: dict[Any, Any] = {}
        for position in range(0, len(items), 2):
            result[_hashable(items[position])] = items[position + 1]
        return result

    def read_string(self) -> str:
        start = self.pos
        self.pos += 1
        text, n = self.text, len(self.text)
        parts: list[str] = []
        while True:
            stop = self.pos
            while stop < n and text[stop] not in '"\\':
                stop += 1
            parts.append(text[self.pos:stop])
            if stop >= n:
                raise self.fail("unterminated string starting", start)
            self.pos = stop + 1
            if text[stop] == '"':
                return "".join(parts)
            if self.pos >= n:
                raise self.fail("unterminated string starting", start)
            escape = text[self.pos]
            if escape == "u":
                digits = text[self.pos + 1:self.pos + 5]
                if len(digits) != 4 or not all(c in "0123456789abcdefABCDEF" for c in digits):
                    raise self.fail("\\u needs four hex digits", self.pos - 1)
                parts.append(chr(int(digits, 16)))
                self.pos += 5
            elif escape in _ESCAPES:
                parts.append(_ESCAPES[escape])
                self.pos += 1
            else:
                raise self.fail(f"unknown escape \\{escape} in a string", self.pos - 1)

    def read_character(self) -> str:
        start = self.pos
        self.pos += 1
        if self.at_end():
            raise self.fail("a character needs something after '\\'", start)
        # The first character is taken even if it is a delimiter: \( or \space.
        first = self.text[self.pos]
        self.pos += 1
        name = first + self.token()
        if len(name) == 1:
            return name
        if name in _CHARACTERS:
            return _CHARACTERS[name]
        if name.startswith("u") and len(name) == 5:
            try:
                return chr(int(name[1:], 16))
            except ValueError:
                pass
        raise self.fail(f"unknown character \\{name}", start)

    def read_dispatch(self) -> Any:
        start = self.pos
        following = self.text[self.pos + 1:self.pos + 2]
        if following == "{":
            self.pos += 2
            return self.read_items("}", start)
        if following == "_":
            self.pos += 2
            self.skip_blank()
            if self.at_end():
                raise self.fail("nothing after #_ discard", start)
            self.read_value()
            return _DISCARDED
        if following == "#":
            self.pos += 2
            name = self.token()
            if name not in _SYMBOLIC:
                raise self.fail(f"unknown symbolic value ##{name}", start)
            return _SYMBOLIC[name]
        self.pos += 1
        tag = self.token()
        if not tag or not (tag[0].isalpha()):
            raise self.fail("'#' must start a set #{...}, a tag like #inst or #_", start)
        self.skip_blank()
        if self.at_end():
            raise self.fail(f"tag #{tag} has no value", start)
        # A tag names a type (#inst, #uuid, a record); the value under it is
        # what a history needs, so the tag itself is dropped.
        return self.read_value()

    def read_atom(self) -> Any:
        start = self.pos
        word = self.token()
        if not word:
            raise self.fail(f"unexpected {self.text[self.pos]!r}")
        if word == "nil":
            return None
        if word == "true":
            return True
        if word == "false":
            return False
        head = word[1:2] if word[0] in "+-" else word[0]
        if head.isdigit():
            return _number(word, start)
        if word[0].isalpha() or word[0] in "*!_?$%&=<>.+-/":
            return word  # a symbol
        raise self.fail(f"unexpected {word!r}", start)


def _number(word: str, start: int) -> int | float:
    body = word
    try:
        if body.endswith("N"):
            return int(body[:-1])
        if body.endswith("M"):
            return float(body[:-1])
        if "/" in body:
            numerator, denominator = body.split("/")
            return int(numerator) / int(denominator)
        if any(c in body for c in ".eE"):
            return float(body)
        return int(body)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"bad number {word!r} at column {start + 1}") from None


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(item) for item in value)
    if isinstance(value, dict):
        return tuple(sorted(((repr(k), _hashable(v)) for k, v in value.items())))
    return value
