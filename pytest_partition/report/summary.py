"""The terminal summary of partition tests: one row per test.

:func:`summary_row` is built when a test ends (JSON-ready: it travels with
the report, under pytest-xdist too); :func:`summary_lines` lays the rows out
as a table at the end of the session.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..faults import faults_in_words
from .analysis import Analysis

__all__ = ["summary_lines", "summary_row"]


def _faults_column(analysis: Analysis, spec: str | None, nemesis: str | None) -> str:
    """What faults the test really applied: a run's or the marker's nemesis,
    else the faults in its history; a marker's spec never applied says so."""
    if nemesis and analysis.run is not None:
        return nemesis
    if analysis.run is not None and analysis.run.nemesis:
        return analysis.run.nemesis
    applied = faults_in_words(analysis.history)
    if applied:
        return nemesis or applied
    return f"{spec} (not applied)" if spec else "-"


def summary_row(nodeid: str, analysis: Analysis, *, spec: str | None,
                nemesis: str | None) -> dict[str, Any]:
    """One row of the terminal summary (JSON-ready, carried by the report)."""
    counts = analysis.counts
    return {
        "test": nodeid,
        "faults": _faults_column(analysis, spec, nemesis),
        "ops": f"{counts['ok']}/{counts['fail']}/{counts['info']}",
        "sides": analysis.sides(),
        "verdict": analysis.label(),
    }


HEADER = ("test", "faults", "ok/fail/info", "availability per side", "verdict")
_GAP = "  "
#: Where each column's cells may wrap (the separator ends the line). A side's
#: last name and its share (``hangzhou} 100%``) never part.
_BREAKS: tuple[tuple[str, ...], ...] = (
    ("::", "/", "[", "-", "|", ",", "_"), (", ", "; ", " ", "|", ","), (), (" | ", ","),
    (" ",))


def _tokens(text: str, breaks: Sequence[str]) -> list[str]:
    """``text`` cut after every separator in ``breaks`` (the pieces that never split)."""
    pieces = [text]
    for separator in breaks:
        pieces = [part for piece in pieces for part in _split_after(piece, separator)]
    return [piece for piece in pieces if piece]


def _split_after(text: str, separator: str) -> list[str]:
    parts = text.split(separator)
    return [part + separator for part in parts[:-1]] + [parts[-1]]


def _wrap(text: str, width: int, breaks: Sequence[str]) -> list[str]:
    """``text`` in lines of at most ``width``, broken only between tokens; a token
    longer than the width has a line of its own."""
    lines = [""]
    for token in _tokens(text, breaks):
        if lines[-1] and len((lines[-1] + token).rstrip()) > width:
            lines[-1] = lines[-1].rstrip()
            lines.append("")
        lines[-1] += token.lstrip() if not lines[-1] else token
    return [line.rstrip() for line in lines]


def _common_folder(tests: Sequence[str]) -> str:
    """The folder every test id starts with (``examples/``), or ``""``."""
    folders = [test.split("::", 1)[0].rpartition("/")[0] for test in tests]
    if not folders or not all(folders):
        return ""
    parts = [folder.split("/") for folder in folders]
    shared: list[str] = []
    for names in zip(*parts):
        if len(set(names)) != 1:
            break
        shared.append(names[0])
    return "/".join(shared) + "/" if shared else ""


def summary_lines(rows: Sequence[dict[str, Any]], width: int = 200) -> list[str]:
    """The summary rows as a table of at most ``width`` columns, sorted by test id,
    header first. Nothing is cut: a folder all test ids share is said once above
    the table, and cells too long for their column wrap onto more lines between
    tokens, so a figure such as ``{n3} 100%`` is never split from its side."""
    ordered = sorted(rows, key=lambda row: row["test"])
    folder = _common_folder([row["test"] for row in ordered])
    table = [HEADER] + [(r["test"][len(folder):], r["faults"], r["ops"], r["sides"],
                         r["verdict"]) for r in ordered]
    # Headers wrap between words, so a column is as wide as its data needs.
    natural = [max([len(str(row[i])) for row in table[1:]]
                   + [len(word) for word in HEADER[i].replace("/", "/ ").split()])
               for i in range(len(HEADER))]
    shortest = [max(len(token.rstrip()) for row in table
                    for token in _tokens(str(row[i]), _BREAKS[i] + (" ", "/")
                                         if row is table[0] else _BREAKS[i]) or [""])
                for i in range(len(HEADER))]
    whole = [max(natural[i], len(HEADER[i])) for i in range(len(HEADER))]
    room = width - len(_GAP) * (len(HEADER) - 1)
    widths = whole if sum(whole) <= room else _column_widths(natural, shortest, room)
    lines = [f"(tests in {folder})"] if folder else []
    for row in table:
        cells = [_wrap(str(cell), widths[i], _BREAKS[i] + ((" ", "/") if row is table[0] else ()))
                 for i, cell in enumerate(row)]
        for depth in range(max(len(cell) for cell in cells)):
            parts = [(cell[depth] if depth < len(cell) else "").ljust(widths[i])
                     for i, cell in enumerate(cells)]
            lines.append(_GAP.join(parts).rstrip())
    return lines


def _column_widths(natural: list[int], shortest: list[int], room: int) -> list[int]:
    """Widths within ``room``: each column at least its longest unbreakable token,
    then what is left goes to the test ids first, then the sides, then the faults."""
    if sum(natural) <= room:
        return natural
    widths = list(shortest)
    spare = room - sum(widths)
    for i in (0, 3, 1, 2, 4):
        extra = max(0, min(spare, natural[i] - widths[i]))
        widths[i] += extra
        spare -= extra
    return widths
