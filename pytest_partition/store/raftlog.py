"""A Raft node's log in memory, and what of it still has to reach the disk.

Entries are numbered from 1 and stored in order; the log is never compacted
(no snapshots), so a restart replays it whole. Besides lookups, the log keeps
three pieces of bookkeeping its owner would otherwise repeat: which part of it
changed since the last :meth:`RaftLog.unstable` call (for ``Ready``), an index
of the request ids its entries carry (to recognise duplicate requests), and
each entry's size as JSON (to bound append messages by bytes), measured once,
when first asked for.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from pytest_partition.store.raftwire import Entry

__all__ = ["RaftLog"]


class RaftLog:
    """The entries of one node, numbered from 1, with their persistence delta.

    ``entries`` is what the node persisted before (re)starting: it must run
    1, 2, ... with terms that never decrease and never exceed ``max_term``
    (the persisted current term); ValueError otherwise.
    """

    def __init__(self, entries: Sequence[Entry] = (), *, max_term: int = 0) -> None:
        self._entries: list[Entry] = []
        self._sizes: list[int] = []  # JSON bytes of each entry; 0 until measured
        self._request_ids: dict[str, int] = {}
        for position, entry in enumerate(entries, start=1):
            if entry.index != position or not 1 <= entry.term <= max_term:
                raise ValueError(
                    f"persisted log entry #{position} is {entry.index}@term{entry.term}: "
                    f"indexes must run 1, 2, ... and terms be in 1..{max_term}"
                )
            if entry.term < self.term_at(position - 1):
                raise ValueError(f"persisted log entry {entry.index} goes back in term")
            self.append(entry)
        self._unstable_from = len(self._entries) + 1  # first index not yet handed out
        self._truncate_from: int | None = None

    @property
    def last_index(self) -> int:
        """The index of the last entry, 0 when empty."""
        return len(self._entries)

    @property
    def last_term(self) -> int:
        """The term of the last entry, 0 when empty."""
        return self._entries[-1].term if self._entries else 0

    def term_at(self, index: int) -> int:
        """The term of entry ``index``; 0 for index 0 and beyond the end."""
        return self._entries[index - 1].term if 0 < index <= len(self._entries) else 0

    def entry(self, index: int) -> Entry:
        """Entry ``index`` (IndexError outside 1..last_index)."""
        if not 0 < index <= len(self._entries):
            raise IndexError(f"no log entry {index} (last is {len(self._entries)})")
        return self._entries[index - 1]

    def slice(self, first: int, limit: int | None = None,
              max_bytes: int | None = None) -> list[Entry]:
        """Entries from index ``first`` on: at most ``limit`` of them, and at most
        ``max_bytes`` of their JSON, except that the first entry always comes."""
        stop = len(self._entries) if limit is None else min(len(self._entries), first - 1 + limit)
        if max_bytes is not None:
            total = 0
            for position in range(first - 1, stop):
                total += self._size(position)
                if total > max_bytes and position > first - 1:
                    stop = position
                    break
        return self._entries[first - 1 : stop]

    def _size(self, position: int) -> int:
        if not self._sizes[position]:
            self._sizes[position] = len(json.dumps(self._entries[position].to_dict())) + 2
        return self._sizes[position]

    def entries(self) -> tuple[Entry, ...]:
        """A copy of the whole log."""
        return tuple(self._entries)

    def index_of(self, request_id: str) -> int | None:
        """The index of the entry carrying ``request_id``, if the log holds one."""
        return self._request_ids.get(request_id)

    def matches(self, index: int, term: int) -> bool:
        """True when the entry at ``index`` has ``term`` (index 0 always matches)."""
        return index <= len(self._entries) and self.term_at(index) == term

    def append(self, entry: Entry) -> None:
        """Add ``entry``, which must be numbered last_index + 1."""
        if entry.index != len(self._entries) + 1:
            raise ValueError(f"appending entry {entry.index} after {len(self._entries)}")
        self._entries.append(entry)
        self._sizes.append(0)
        if entry.request_id is not None:
            self._request_ids[entry.request_id] = entry.index

    def truncate(self, index: int) -> None:
        """Drop entry ``index`` and everything after it."""
        for entry in self._entries[index - 1 :]:
            if entry.request_id is not None:
                self._request_ids.pop(entry.request_id, None)
        del self._entries[index - 1 :]
        del self._sizes[index - 1 :]
        if index < self._unstable_from:
            # Part of what was already handed out for persisting is gone.
            self._truncate_from = min(self._truncate_from or index, index)
            self._unstable_from = index

    def first_of_term(self, index: int, floor: int) -> int:
        """The first index of the run of entries sharing ``index``'s term,
        not going below ``floor + 1``."""
        term = self.term_at(index)
        first = index
        while first - 1 > floor and self.term_at(first - 1) == term:
            first -= 1
        return first

    def last_of_term(self, term: int, at_most: int) -> int:
        """The last index <= ``at_most`` whose entry has ``term``, or 0 if none."""
        index = min(at_most, len(self._entries))
        while index > 0 and self.term_at(index) > term:
            index -= 1  # terms never decrease along the log, so stop at the first smaller one
        return index if index > 0 and self.term_at(index) == term else 0

    def unstable(self) -> tuple[int | None, list[Entry]]:
        """Drain the persistence delta: (truncate_from, new entries) since the last call."""
        delta = (self._truncate_from, self._entries[self._unstable_from - 1 :])
        self._unstable_from = len(self._entries) + 1
        self._truncate_from = None
        return delta
