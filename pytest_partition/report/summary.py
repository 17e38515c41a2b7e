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
        "verdict": analysis.verdict.verdict,
    }


def _fit(text: str, limit: int, *, keep_end: bool = False) -> str:
    """``text`` cut to ``limit`` characters, marked with an ellipsis."""
    if len(text) <= limit:
        return text
    return "…" + text[-(limit - 1):] if keep_end else text[:limit - 1] + "…"


def summary_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The summary rows as a table, sorted by test id, header first."""
    header = ("test", "faults", "ok/fail/info", "availability per side", "verdict")
    table = [header] + [(r["test"], r["faults"], r["ops"], r["sides"], r["verdict"])
                        for r in sorted(rows, key=lambda row: row["test"])]
    limits = (70, 30, 12, 40, 8)
    # A test id is told apart by its end, everything else by its start.
    table = [tuple(_fit(str(cell), limit, keep_end=column == 0)
                   for column, (cell, limit) in enumerate(zip(row, limits)))
             for row in table]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
            for row in table]
