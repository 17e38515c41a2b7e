"""The data the Raft state machine shares with the outside: wire and disk formats.

:class:`RaftMessage` is what nodes send each other, :class:`Entry` and
:class:`HardState` are what a node persists. Each has a JSON-ready
``to_dict`` form, and parsing (``from_dict``) checks every field, because
messages arrive from the network and logs from a disk that may be damaged.
Like etcd's ``raftpb``, this module holds formats only; the protocol lives in
:mod:`pytest_partition.store.raft`, which re-exports these names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["MESSAGE_TYPES", "STATUSES", "Entry", "HardState", "RaftMessage"]

STATUSES: tuple[str, ...] = ("ok", "unavailable", "indeterminate", "invalid")
"""The values of :attr:`Response.status`."""

PRE_VOTE = "pre_vote"
PRE_VOTE_RESP = "pre_vote_resp"
VOTE = "vote"
VOTE_RESP = "vote_resp"
APPEND = "append"
APPEND_RESP = "append_resp"
HEARTBEAT = "heartbeat"
HEARTBEAT_RESP = "heartbeat_resp"
FORWARD = "forward"
FORWARD_RESP = "forward_resp"
MESSAGE_TYPES: tuple[str, ...] = (
    PRE_VOTE,
    PRE_VOTE_RESP,
    VOTE,
    VOTE_RESP,
    APPEND,
    APPEND_RESP,
    HEARTBEAT,
    HEARTBEAT_RESP,
    FORWARD,
    FORWARD_RESP,
)
"""Every :attr:`RaftMessage.type`; :meth:`RaftMessage.from_dict` rejects any other."""


def _check_int(data: Mapping[str, Any], name: str, where: str, default: int | None = None) -> int:
    value = data.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{where}: field {name!r} must be a non-negative int, got {value!r}")
    return value


def _check_str(data: Mapping[str, Any], name: str, where: str, default: str | None = None) -> str:
    value = data.get(name, default)
    if not isinstance(value, str):
        raise ValueError(f"{where}: field {name!r} must be a string, got {value!r}")
    return value


@dataclass(frozen=True)
class Entry:
    """One log entry. ``request_id`` names the client request that proposed it
    (None for the leader's no-op); it survives restarts so duplicates are
    recognised from the log alone."""

    term: int
    index: int
    command: dict[str, Any]
    request_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The entry as a JSON-ready dict."""
        return {
            "term": self.term,
            "index": self.index,
            "command": self.command,
            "request_id": self.request_id,
        }

    @classmethod
    def from_dict(cls, data: object) -> Entry:
        """Rebuild an entry from :meth:`to_dict` output; ValueError if malformed."""
        if not isinstance(data, Mapping):
            raise ValueError(f"entry: expected an object, got {type(data).__name__}")
        term = _check_int(data, "term", "entry")
        index = _check_int(data, "index", "entry")
        if term < 1 or index < 1:
            raise ValueError(f"entry: term and index start at 1, got term={term} index={index}")
        command = data.get("command")
        if not isinstance(command, dict):
            raise ValueError(f"entry {index}: field 'command' must be an object, got {command!r}")
        request_id = data.get("request_id")
        if request_id is not None and not isinstance(request_id, str):
            raise ValueError(f"entry {index}: field 'request_id' must be a string or null")
        return cls(term, index, command, request_id)


@dataclass(frozen=True)
class RaftMessage:
    """A message between two nodes. Fields beyond ``type``/``src``/``dst``/``term``
    are used per type (unused ones keep their defaults):

    - ``pre_vote``/``vote``: ``index``/``log_term`` = candidate's last entry.
      For ``pre_vote`` ``term`` is the term the sender *would* campaign in.
    - ``pre_vote_resp``/``vote_resp``: ``reject``.
    - ``append``: ``index``/``log_term`` = the entry preceding ``entries``;
      ``commit`` = leader's commit index.
    - ``append_resp``: success -> ``index`` = last index now matching the
      leader; ``reject`` -> ``index`` = the rejected ``append.index`` and
      ``hint_index``/``hint_term`` for backtracking a whole term at once.
    - ``heartbeat``: ``commit`` (capped at what the follower holds),
      ``seq``, the leader's latest read-index round, and ``index``, the
      leader's tick when it sent the heartbeat; ``heartbeat_resp`` echoes
      ``seq`` and ``index``.
    - ``forward``: a client request (``request_id``, ``command``) sent by the
      node that received it to the leader it knows of; ``term`` is that node's
      term. ``forward_resp`` carries the outcome back (``status``, ``value``,
      ``reason``).
    """

    type: str
    src: str
    dst: str
    term: int
    index: int = 0
    log_term: int = 0
    entries: tuple[Entry, ...] = ()
    commit: int = 0
    reject: bool = False
    hint_index: int = 0
    hint_term: int = 0
    seq: int = 0
    request_id: str = ""
    command: dict[str, Any] | None = None
    status: str = ""
    value: Any = None
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The message as a JSON-ready dict (entries as lists of dicts)."""
        return {
            "type": self.type,
            "src": self.src,
            "dst": self.dst,
            "term": self.term,
            "index": self.index,
            "log_term": self.log_term,
            "entries": [entry.to_dict() for entry in self.entries],
            "commit": self.commit,
            "reject": self.reject,
            "hint_index": self.hint_index,
            "hint_term": self.hint_term,
            "seq": self.seq,
            "request_id": self.request_id,
            "command": self.command,
            "status": self.status,
            "value": self.value,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, data: object) -> RaftMessage:
        """Parse a message received from the network; ValueError naming the bad field.

        Missing optional fields take their defaults; unknown fields are ignored.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"message: expected an object, got {type(data).__name__}")
        kind = data.get("type")
        if kind not in MESSAGE_TYPES:
            raise ValueError(
                f"message: unknown type {kind!r} (expected one of {', '.join(MESSAGE_TYPES)})"
            )
        where = f"{kind} message"
        raw_entries = data.get("entries", [])
        if not isinstance(raw_entries, list):
            raise ValueError(f"{where}: field 'entries' must be a list")
        command = data.get("command")
        if command is not None and not isinstance(command, dict):
            raise ValueError(f"{where}: field 'command' must be an object or null")
        reject = data.get("reject", False)
        if not isinstance(reject, bool):
            raise ValueError(f"{where}: field 'reject' must be a bool, got {reject!r}")
        status = _check_str(data, "status", where, "")
        if kind == FORWARD_RESP and status not in STATUSES:
            raise ValueError(f"{where}: status {status!r} is not one of {', '.join(STATUSES)}")
        return cls(
            type=kind,
            src=_check_str(data, "src", where),
            dst=_check_str(data, "dst", where),
            term=_check_int(data, "term", where),
            index=_check_int(data, "index", where, 0),
            log_term=_check_int(data, "log_term", where, 0),
            entries=tuple(Entry.from_dict(item) for item in raw_entries),
            commit=_check_int(data, "commit", where, 0),
            reject=reject,
            hint_index=_check_int(data, "hint_index", where, 0),
            hint_term=_check_int(data, "hint_term", where, 0),
            seq=_check_int(data, "seq", where, 0),
            request_id=_check_str(data, "request_id", where, ""),
            command=command,
            status=status,
            value=data.get("value"),
            reason=_check_str(data, "reason", where, ""),
        )


@dataclass(frozen=True)
class HardState:
    """The part of a node's state that must survive a crash besides the log."""

    term: int
    voted_for: str | None
