"""Durable state of the reference store in its data dir.

CP (:class:`RaftStorage`): the hard state (term, vote) is replaced atomically
(write, fsync, rename, fsync the dir); log entries are appended to a JSON
Lines file and fsynced before the node acts on them. A truncation (a new
leader overwrote a suffix) rewrites the log file the same atomic way.

AP (:class:`ApStorage`): each accepted write appends the key's record and is
flushed to the OS before the client hears "ok", so killing the process loses
nothing; a snapshot replaces the append file from time to time. (It is not
fsynced: a machine crash could lose recent writes; processes are what the
plugin kills.)
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

from .raft import Entry, HardState


def _write_atomically(path: Path, text: str, *, sync: bool = True) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        if sync:
            os.fsync(handle.fileno())
    os.replace(temporary, path)
    if sync:
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


class StorageError(RuntimeError):
    """The data dir holds something this store cannot read."""


class RaftStorage:
    """Term, vote and log of one CP node."""

    def __init__(self, data_dir: str | Path) -> None:
        self.dir = Path(data_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.state_path = self.dir / "raft-state.json"
        self.log_path = self.dir / "raft-log.jsonl"
        self._log: IO[str] | None = None
        self._entries = 0

    def load(self) -> tuple[HardState | None, list[Entry]]:
        """What was persisted before (None and [] on a first start)."""
        hard_state = None
        if self.state_path.exists():
            try:
                data = json.loads(self.state_path.read_text(encoding="utf-8"))
                hard_state = HardState(term=int(data["term"]), voted_for=data["voted_for"])
            except (ValueError, KeyError, TypeError) as error:
                raise StorageError(f"{self.state_path}: unreadable hard state: {error}") from None
        entries: list[Entry] = []
        if self.log_path.exists():
            lines = self.log_path.read_text(encoding="utf-8").splitlines()
            for number, line in enumerate(lines, start=1):
                try:
                    entries.append(Entry.from_dict(json.loads(line)))
                except ValueError as error:
                    if number != len(lines):
                        raise StorageError(f"{self.log_path}:{number}: {error}") from None
                    # A torn last write was never acknowledged: drop it for good.
                    _write_atomically(self.log_path, "".join(line + "\n" for line in lines[:-1]))
        for position, entry in enumerate(entries, start=1):
            if entry.index != position:
                raise StorageError(f"{self.log_path}: entry {position} has index {entry.index}")
        self._entries = len(entries)
        return hard_state, entries

    def save(self, hard_state: HardState | None, truncate_from: int | None,
             entries: Iterable[Entry]) -> None:
        """Make a Ready's state durable; returns after fsync."""
        new = list(entries)
        if hard_state is not None:
            _write_atomically(self.state_path, json.dumps(
                {"term": hard_state.term, "voted_for": hard_state.voted_for}))
        if truncate_from is not None and truncate_from <= self._entries:
            kept = self.log_path.read_text(encoding="utf-8").splitlines()[: truncate_from - 1]
            self._close_log()
            _write_atomically(self.log_path, "".join(line + "\n" for line in kept))
            self._entries = len(kept)
        if new:
            log = self._open_log()
            for entry in new:
                log.write(json.dumps(entry.to_dict()) + "\n")
            log.flush()
            os.fsync(log.fileno())
            self._entries += len(new)

    def _open_log(self) -> IO[str]:
        if self._log is None:
            self._log = open(self.log_path, "a", encoding="utf-8")  # noqa: SIM115
        return self._log

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def close(self) -> None:
        """Close the log file."""
        self._close_log()


class ApStorage:
    """The replica of one AP node: a snapshot plus records appended since."""

    def __init__(self, data_dir: str | Path) -> None:
        self.dir = Path(data_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.snapshot_path = self.dir / "ap-snapshot.json"
        self.append_path = self.dir / "ap-records.jsonl"
        self._append: IO[str] | None = None

    def load(self) -> tuple[dict[str, Any] | None, list[tuple[str, Any]]]:
        """The last snapshot (or None) and the records appended after it."""
        snapshot = None
        if self.snapshot_path.exists():
            try:
                snapshot = json.loads(self.snapshot_path.read_text(encoding="utf-8"))
            except ValueError as error:
                raise StorageError(f"{self.snapshot_path}: {error}") from None
        records: list[tuple[str, Any]] = []
        if self.append_path.exists():
            for line in self.append_path.read_text(encoding="utf-8").splitlines():
                try:
                    item = json.loads(line)
                    records.append((str(item["key"]), item["record"]))
                except (ValueError, KeyError, TypeError):
                    break  # a torn last line
        return snapshot, records

    def append(self, records: Mapping[str, Any]) -> None:
        """Append key -> wire record lines and flush them to the OS."""
        if not records:
            return
        if self._append is None:
            self._append = open(self.append_path, "a", encoding="utf-8")  # noqa: SIM115
        for key, record in records.items():
            self._append.write(json.dumps({"key": key, "record": record}) + "\n")
        self._append.flush()

    def snapshot(self, data: Mapping[str, Any]) -> None:
        """Replace everything by one snapshot."""
        _write_atomically(self.snapshot_path, json.dumps(data), sync=False)
        if self._append is not None:
            self._append.close()
            self._append = None
        with open(self.append_path, "w", encoding="utf-8"):
            pass

    def close(self) -> None:
        """Close the append file."""
        if self._append is not None:
            self._append.close()
            self._append = None
