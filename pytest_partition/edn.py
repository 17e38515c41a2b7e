"""A small EDN reader, enough for Jepsen's and Knossos' histories.

Jepsen writes each event of a history as an EDN map::

    {:type :invoke, :f :cas, :process 3, :value [1 2], :time 12345, :index 7}

usually one map per line; Knossos' test histories are one vector (or list)
of such maps, pretty-printed over many lines. :func:`read_events` reads either
kind of file, :func:`parse_map` one map. Each map becomes a plain dict that
:meth:`pytest_partition.history.Event.from_dict` accepts:

- keywords become strings without the colon (``:read`` -> ``"read"``,
  ``:jepsen/op`` -> ``"jepsen/op"``), as map keys and as values;
- ``nil`` -> None, ``true``/``false`` -> bool, integers (also ``42N``) -> int,
  floats (also ``1.5M``, ``##Inf``, ``##NaN``) -> float, ratios (``1/3``) -> float;
- strings keep their escapes' meaning (``\\n``, ``\\"``, ``\\uXXXX``, ...);
  characters (``\\a``, ``\\newline``) -> one-character strings;
- vectors and lists -> lists; maps -> dicts (a vector used as a map key
  becomes a tuple so that it stays hashable);
- sets -> lists sorted in one fixed order, so that ``#{1 2}`` and ``#{2 1}``
  read equal: nil, then false and true, numbers (by value), strings
  (keywords and symbols included; by code point), vectors/lists, then maps
  (both element by element);
- symbols (``java.net.SocketTimeoutException`` inside an ``:exception``) ->
  strings; tagged values (``#inst "..."``, ``#uuid "..."``,
  ``#jepsen.history.Op{...}``) -> the tagged value itself; ``#_`` discards
  the next value, ``;`` starts a comment.

Values nest at most :data:`MAX_DEPTH` levels deep (collections, tags and
``#_`` each count one): a history needs a handful, and the limit keeps a
hostile file from exhausting Python's stack.

Anything else raises :class:`EdnError` (a :class:`ValueError`) saying what was
found and where: ``at column 7`` on the first line, ``at line 3, column 7``
after it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

__all__ = ["MAX_DEPTH", "EdnError", "looks_like_edn", "parse", "parse_map", "read_events"]

MAX_DEPTH = 100
"""How many levels collections, tags and ``#_`` may nest before :class:`EdnError`."""

_WHITESPACE = " \t\r\n,"
_DELIMITERS = _WHITESPACE + "()[]{}\";"
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "/": "/"}
_CHARACTERS = {"newline": "\n", "space": " ", "tab": "\t", "return": "\r",
               "backspace": "\b", "formfeed": "\f"}
_SYMBOLIC = {"Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan}
_CLOSERS = {"[": "]", "(": ")", "{": "}"}


class EdnError(ValueError):
    """Text that is not EDN this reader accepts; the message says where.

    ``line`` is the 1-based line on which the top-level form holding the
    problem starts. :func:`read_events` sets it, so that a history error can
    name the event's line even when the reader notices the problem lines
    later (a map left open runs on to the end of the file).
    """

    line = 1


def parse_map(text: str) -> dict[Any, Any]:
    """Parse one EDN map (a Jepsen history line) into a dict.

    Raises :class:`EdnError` if the text is not exactly one map, with the
    column (1-based) of the problem.
    """
    value = parse(text)
    return _event_map(value, text[_skip_blank(text, 0)])


def parse(text: str) -> Any:
    """Parse exactly one EDN value (surrounding whitespace and comments allowed)."""
    reader = _Reader(text)
    reader.skip_blank()
    if reader.at_end():
        raise EdnError("empty input: expected an EDN value")
    value = reader.read_value()
    reader.skip_blank()
    if not reader.at_end():
        raise reader.fail(f"unexpected {reader.peek_text()}",
                          then=" after the value ended; a history line holds one map")
    return value


def read_events(text: str) -> Iterator[tuple[int, dict[Any, Any]]]:
    """Yield ``(line, map)`` for each event of a Jepsen or Knossos history.

    The text is a sequence of EDN forms, each a map (one event), however the
    maps are spread over lines: Jepsen prints one per line, pretty-printers
    split them. A text whose first form is a vector or a list (Knossos'
    ``[{...} {...}]``) holds the events as that form's elements, and nothing
    may follow it. ``line`` (1-based) is where the map starts.

    Raises :class:`EdnError`, its ``line`` set to where the offending form
    starts; the events before it have been yielded by then.
    """
    reader = _Reader(text)
    lines = _LineCounter(text)
    reader.skip_blank()
    if reader.at_end():
        return
    opened_at = reader.pos
    opened_line = form_line = lines.at(opened_at)
    # Maps one after another run to the end of the text (closer None); one
    # vector or list holds the events up to its closing bracket, which counts
    # as a level of nesting, as anywhere else.
    closer = _CLOSERS[text[opened_at]] if text[opened_at] in "[(" else None
    try:
        if closer is not None:
            reader.pos += 1
            reader.enter(opened_at)
        while True:
            reader.skip_blank()
            if reader.at_end():
                if closer is None:
                    break
                form_line = opened_line
                raise reader.fail(f"missing {closer!r} for the bracket opened", opened_at)
            start = reader.pos
            if text[start] == closer:
                reader.pos += 1
                reader.leave()
                break
            form_line = lines.at(start)  # each event is named by its own line
            value = reader.read_any()
            if value is not _DISCARDED:
                yield form_line, _event_map(value, text[start])
        reader.skip_blank()
        if not reader.at_end():  # only after a vector/list: maps run to the end
            form_line = lines.at(reader.pos)
            raise reader.fail(
                f"unexpected {reader.peek_text()}",
                then=" after the vector/list that holds the history; a file holds either one "
                     "vector/list of maps or maps one after another",
            )
    except EdnError as error:
        error.line = form_line
        raise


def looks_like_edn(text: str) -> bool:
    """True when the text's first form is EDN rather than a JSON object.

    Jepsen prints maps (``{:type :invoke ...}``) and records
    (``#jepsen.history.Op{...}``), Knossos a vector or list of maps; our
    JSON objects start with ``{"``. The first form decides for the whole
    file: a file is JSON Lines or EDN, never both. Blank lines and ``;``
    comments before it are skipped.
    """
    first = _skip_blank(text, 0)
    if first >= len(text):
        return False
    if text[first] == "{":
        # "{" may end its line, with the first key on the next one.
        key = _skip_blank(text, first + 1)
        return text[key:key + 1] == ":"
    return text[first] in "#[("


def _skip_blank(text: str, pos: int) -> int:
    """The position of the first character at or after ``pos`` that is not
    blank or in a ``;`` comment (``len(text)`` if none)."""
    n = len(text)
    while pos < n:
        char = text[pos]
        if char in _WHITESPACE:
            pos += 1
        elif char == ";":  # a comment runs to the end of the line
            end = text.find("\n", pos)
            pos = n if end < 0 else end + 1
        else:
            return pos
    return n


def _event_map(value: Any, first: str) -> dict[Any, Any]:
    """``value`` if it is a map, else an error saying what the form was instead."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        # Keywords, symbols and strings all read as str; the form's first
        # character tells which one the file had (a log line: a symbol).
        kind = {":": "keyword", '"': "string"}.get(first, "symbol")
        found = f"{kind} {value!r}"
    else:
        found = _kind(value)
    raise EdnError(f"expected a map {{...}}, got {found}")


def _kind(value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, list):
        return "a vector/list"
    return f"{type(value).__name__} {value!r}"


class _LineCounter:
    """1-based line numbers of positions in a text.

    Forms are read front to back, so counting only the newlines since the
    previous position keeps a whole file linear: positions asked for must
    not go backwards.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1

    def at(self, pos: int) -> int:
        self.line += self.text.count("\n", self.pos, pos)
        self.pos = pos
        return self.line


class _Discard:
    """Marker for ``#_``: the value read is dropped by the collection around it."""


_DISCARDED = _Discard()


class _Reader:
    """A cursor over the text; each ``read_*`` consumes what it returns."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0  # collections, tags and discards open around the cursor

    # -- cursor helpers ----------------------------------------------------

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek_text(self) -> str:
        return repr(self.text[self.pos:self.pos + 12])

    def where(self, pos: int) -> str:
        """``column C`` on the first line, ``line L, column C`` after it."""
        line_start = self.text.rfind("\n", 0, pos) + 1
        if line_start == 0:
            return f"column {pos + 1}"
        line = self.text.count("\n", 0, pos) + 1
        return f"line {line}, column {pos - line_start + 1}"

    def fail(self, message: str, pos: int | None = None, *, then: str = "") -> EdnError:
        """``message at <where>``, then ``then``: the error to raise."""
        return EdnError(f"{message} at {self.where(self.pos if pos is None else pos)}{then}")

    def enter(self, pos: int) -> None:
        """Go one level deeper, refusing more than :data:`MAX_DEPTH` levels."""
        # The reader recurses once per level (a few frames each): the limit
        # keeps it far below Python's recursion limit, whatever the caller's
        # own depth, so deep input is an EdnError and not a RecursionError.
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(f"values nested more than {MAX_DEPTH} deep", pos,
                            then="; a history's values need a few levels")

    def leave(self) -> None:
        """Come back up the level the matching :meth:`enter` went down."""
        self.depth -= 1

    def skip_blank(self) -> None:
        self.pos = _skip_blank(self.text, self.pos)

    def token(self) -> str:
        start = self.pos
        text, n = self.text, len(self.text)
        while self.pos < n and text[self.pos] not in _DELIMITERS:
            self.pos += 1
        return text[start:self.pos]

    # -- values ------------------------------------------------------------

    def read_value(self) -> Any:
        """Read one value; the caller has skipped blanks and checked for the end."""
        value = self.read_any()
        while value is _DISCARDED:
            self.skip_blank()
            if self.at_end():
                raise self.fail("nothing after #_ discard")
            value = self.read_any()
        return value

    def read_any(self) -> Any:
        """Read one form: a value, or :data:`_DISCARDED` for ``#_ x``."""
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
        self.enter(opened_at)
        items: list[Any] = []
        while True:
            self.skip_blank()
            if self.at_end():
                raise self.fail(f"missing {closer!r} for the bracket opened", opened_at)
            if self.text[self.pos] == closer:
                self.pos += 1
                self.leave()
                return items
            value = self.read_any()
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
            # Set elements have no order: sorting them makes equal sets equal.
            return sorted(self.read_items("}", start), key=_order)
        if following == "_":
            self.pos += 2
            self.skip_blank()
            if self.at_end():
                raise self.fail("nothing after #_ discard", start)
            # `#_ #_ #_ ...` recurses like nesting does, so it counts as nesting.
            self.enter(start)
            self.read_value()
            self.leave()
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
        # what a history needs, so the tag itself is dropped. Tags on tags
        # recurse, hence the depth count.
        self.enter(start)
        value = self.read_value()
        self.leave()
        return value

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
            try:
                return _number(word)
            except (ValueError, ZeroDivisionError):
                raise self.fail(f"bad number {word!r}", start) from None
        if word[0].isalpha() or word[0] in "*!_?$%&=<>.+-/":
            return word  # a symbol
        raise self.fail(f"unexpected {word!r}", start)


def _number(word: str) -> int | float:
    """The number ``word`` spells; ValueError (or ZeroDivisionError) if none."""
    if word.endswith("N"):
        return int(word[:-1])
    if word.endswith("M"):
        return float(word[:-1])
    if "/" in word:
        numerator, denominator = word.split("/")
        return int(numerator) / int(denominator)
    if any(c in word for c in ".eE"):
        return float(word)
    return int(word)


def _order(value: Any) -> tuple[Any, ...]:
    """A sort key under which any two values the reader returns compare.

    Python cannot compare 1 with "a", or None with anything: the key puts
    the kind of value first (the order given in the module doc), then the
    value itself, or its elements' keys.
    """
    if value is None:
        return (0,)
    if isinstance(value, bool):  # before int: bool is an int subclass
        return (1, value)
    if isinstance(value, (int, float)):
        # NaN is unordered against every number (and unequal to itself): it
        # goes after all of them. (math.isnan would overflow on huge ints.)
        return (2, 1, 0) if value != value else (2, 0, value)  # noqa: PLR0124
    if isinstance(value, str):
        return (3, value)
    if isinstance(value, (list, tuple)):
        return (4, tuple(_order(item) for item in value))
    if isinstance(value, dict):
        return (5, tuple(sorted((_order(k), _order(v)) for k, v in value.items())))
    return (6, type(value).__name__, repr(value))


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(item) for item in value)
    if isinstance(value, dict):
        return tuple(sorted(((repr(k), _hashable(v)) for k, v in value.items())))
    return value
