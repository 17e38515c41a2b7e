"""The Raft state machine behind the reference store's CP mode.

Pure in the style of etcd-io/raft: no sockets, threads, clocks or global
random. Input is :meth:`RaftNode.tick` (one unit of logical time),
:meth:`RaftNode.step` (a :class:`RaftMessage` from a peer) and
:meth:`RaftNode.submit` (a client request); output is drained with
:meth:`RaftNode.ready` as a :class:`Ready` (state to persist, messages to send,
responses to deliver). The outside world is owned elsewhere: :mod:`.cp_runtime`
drives this node and submits the calls that :mod:`.server` receives; it keeps
the disk through :mod:`.persist`, and the timer and the peer senders through
:mod:`.runtime` and :mod:`.transport`.

Protocol: leader election with randomized timeouts, PreVote (thesis §9.6) and
CheckQuorum (thesis §6.2) so a healed minority node cannot depose a working
leader and an isolated leader steps down once a whole quorum period (two
election timeouts, see :class:`RaftConfig`) went by without a majority; log
replication with the consistency check and conflict-term backtracking, in
append messages bounded by entries and by bytes (:class:`RaftConfig`), so that
a follower missing any amount of data catches up one bounded batch per round
trip instead of being sent one message too large to ever arrive; commit
by counting only for entries of the leader's own term (§5.4.2), with a no-op
appended on election; linearizable reads by read-index (thesis §6.4).

The log is never compacted: no snapshots, restart replays the whole log. That
keeps the state machine small; a test run produces thousands of entries, not
millions. (So a follower's catch-up carries every entry it missed, and takes
time in proportion to their bytes; a snapshot would carry only the final state.)

Client outcomes (:class:`Response`): ``ok``; ``invalid`` (malformed, or
applied and rejected by :mod:`kv`, so deterministically no effect);
``unavailable`` only when this node *knows* the command was not and will never
be applied; ``indeterminate`` otherwise. Every submitted request gets exactly
one response within ``request_timeout_ticks`` ticks. Each request is proposed
at most once in the whole cluster (a leader accepts a forwarded write only in
the term it was sent in, and deduplicates copies by request id), so a write
whose log slot is *committed* with another entry is definitely lost. Seeing
its entry truncated is not enough: a copy on another node may still commit.

Neighbouring modules: :mod:`raftwire` holds the message and disk formats
(:class:`Entry`, :class:`RaftMessage`, :class:`HardState`, re-exported here),
:mod:`raftlog` the in-memory log, :mod:`quorum` the counting, :mod:`kv` the
state machine being replicated.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from pytest_partition.errors import PLANTED_BUGS
from pytest_partition.store import kv, quorum
from pytest_partition.store.raftlog import RaftLog
from pytest_partition.store.raftwire import (
    APPEND,
    APPEND_RESP,
    FORWARD,
    FORWARD_RESP,
    HEARTBEAT,
    HEARTBEAT_RESP,
    MESSAGE_TYPES,
    PRE_VOTE,
    PRE_VOTE_RESP,
    STATUSES,
    VOTE,
    VOTE_RESP,
    Entry,
    HardState,
    RaftMessage,
)

__all__ = [
    "BUGS",
    "MESSAGE_TYPES",
    "ROLES",
    "STATUSES",
    "Entry",
    "HardState",
    "RaftConfig",
    "RaftMessage",
    "RaftNode",
    "RaftSafetyError",
    "Ready",
    "Response",
]

BUGS: tuple[str, ...] = PLANTED_BUGS["cp"]
"""Planted bugs accepted by ``RaftNode(bug=...)``, for checkers to catch."""

ROLES: tuple[str, ...] = ("leader", "follower", "candidate", "pre-candidate")
"""The values of :attr:`RaftNode.role`."""

NOOP: Mapping[str, Any] = MappingProxyType({"op": "noop"})
"""The command of the entry a new leader appends; never applied to the kv."""

MAX_BATCH = 64  # entries per append message (RaftConfig.max_append_bytes bounds its bytes)
FORWARD_MEMORY = 8192  # accepted forwarded request ids remembered for definite rejections


class RaftSafetyError(RuntimeError):
    """A peer asked this node to overwrite a committed entry: Raft's safety is broken."""


@dataclass(frozen=True)
class Response:
    """The one answer to a request submitted on this node.

    ``status``: ``ok`` (``value`` holds the result), ``invalid`` (no effect,
    ``reason`` says why), ``unavailable`` (definitely not applied) or
    ``indeterminate`` (may or may not be applied).
    """

    request_id: str
    status: str
    value: Any = None
    reason: str = ""


@dataclass
class Ready:
    """Effects drained by :meth:`RaftNode.ready`.

    Ordering rule (as in etcd's Ready): first make ``hard_state``,
    ``truncate_from`` and ``entries`` durable (write, then fsync), in that
    order; only then send ``messages`` and deliver ``responses``. A vote or an
    acknowledgement that leaves the node before the state it promises is on
    disk can be forgotten by a crash, and two leaders may then be elected in
    one term or an acknowledged entry lost. Handle one Ready completely before
    asking for the next.
    """

    hard_state: HardState | None = None
    truncate_from: int | None = None
    entries: list[Entry] = field(default_factory=list)
    messages: list[RaftMessage] = field(default_factory=list)
    responses: list[Response] = field(default_factory=list)

    def is_empty(self) -> bool:
        """True when there is nothing to persist, send or deliver."""
        return (
            self.hard_state is None
            and self.truncate_from is None
            and not self.entries
            and not self.messages
            and not self.responses
        )


@dataclass(frozen=True)
class RaftConfig:
    """Timing and feature switches, in ticks (the server ticks every 10 ms).

    A follower campaigns after a random timeout in
    ``[election_ticks, 2 * election_ticks)``; the leader heartbeats every
    ``heartbeat_ticks``; a request is answered within ``request_timeout_ticks``.
    An append message carries entries up to ``max_append_bytes`` of their JSON
    (always at least one entry, however large): the peer endpoint refuses
    bodies above its own limit, and a bounded batch also stays well within the
    transport's send timeout on a loaded machine.
    With ``check_quorum`` the leader steps down when a whole period of
    ``quorum_ticks`` (0: twice ``election_ticks``) went by without a majority
    answering it. Two election timeouts rather than one: a leader that cannot
    reach the majority refuses from the first moment anyway (its reads cannot
    be confirmed, its writes cannot commit), and the overlap with its
    successor keeps a leader that skips the confirmation (the ``stale-read``
    bug) visibly wrong instead of wrong for a few milliseconds.
    """

    election_ticks: int = 30
    heartbeat_ticks: int = 5
    request_timeout_ticks: int = 50
    pre_vote: bool = True
    check_quorum: bool = True
    quorum_ticks: int = 0
    max_append_bytes: int = 1 << 20

    @property
    def quorum_period(self) -> int:
        """Ticks between two checks of the leader's quorum."""
        return self.quorum_ticks or 2 * self.election_ticks


    def __post_init__(self) -> None:
        if self.heartbeat_ticks < 1 or self.election_ticks <= self.heartbeat_ticks:
            raise ValueError(
                "RaftConfig needs 1 <= heartbeat_ticks < election_ticks, got "
                f"heartbeat_ticks={self.heartbeat_ticks} election_ticks={self.election_ticks}"
            )
        if self.request_timeout_ticks < 1:
            raise ValueError(
                f"request_timeout_ticks must be >= 1, got {self.request_timeout_ticks}"
            )
        if self.max_append_bytes < 1:
            raise ValueError(f"max_append_bytes must be >= 1, got {self.max_append_bytes}")


@dataclass
class _ClientRequest:
    """A request submitted on this node and not yet answered."""

    is_read: bool
    deadline: int


@dataclass
class _Proposal:
    """A write this node proposed as leader, waiting to learn its fate."""

    request_id: str
    origin: str
    term: int
    expires: int


@dataclass
class _Read:
    """A read the leader serves by read-index once ``seq`` is acknowledged."""

    request_id: str
    origin: str
    command: dict[str, Any]
    expires: int
    seq: int = 0  # 0 until the leader has committed in its term and can fix ``index``
    index: int = 0


def _outcome(request_id: str, result: kv.ApplyResult) -> Response:
    return Response(request_id, result.status, result.value, result.reason)


class RaftNode:
    """One Raft peer as a pure state machine; see the module docstring.

    ``peers`` lists the cluster's nodes (``node_id`` may be included or not).
    ``hard_state`` and ``log`` are what the node persisted before a restart;
    the commit index and the kv are re-derived from the log. ``bug`` plants
    one of :data:`BUGS`.
    """

    def __init__(
        self,
        node_id: str,
        peers: Sequence[str],
        *,
        rng: random.Random,
        config: RaftConfig = RaftConfig(),
        hard_state: HardState | None = None,
        log: Sequence[Entry] = (),
        bug: str | None = None,
    ) -> None:
        if bug is not None and bug not in BUGS:
            raise ValueError(f"unknown bug {bug!r}; accepted: {', '.join(BUGS)}")
        hard_state = hard_state or HardState(0, None)
        self._id = node_id
        self._peers = tuple(sorted(set(peers) - {node_id}))
        self._voters = frozenset(self._peers) | {node_id}
        self._rng = rng
        self._cfg = config
        self._bug = bug
        self._term = hard_state.term
        self._voted_for = hard_state.voted_for
        self._persisted = hard_state
        self._log = RaftLog(log, max_term=self._term)
        self._commit = 0
        self._applied = 0
        self._kv: dict[kv.Key, Any] = {}
        self._messages: list[RaftMessage] = []
        self._responses: list[Response] = []
        self._now = 0
        self._role = "follower"
        self._leader: str | None = None
        self._election_elapsed = 0
        self._heartbeat_elapsed = 0
        self._timeout = self._cfg.election_ticks
        self._votes: dict[str, bool] = {}
        # leader-only replication and read-index state, reset by _become_leader
        self._next: dict[str, int] = {}
        self._match: dict[str, int] = {}
        self._sent: dict[str, int] = {}  # last index sent (in flight or delivered)
        self._append_at: dict[str, int] = {}  # tick of the last append sent
        self._acked_seq: dict[str, int] = {}
        self._recent_active: set[str] = set()
        self._read_seq = 0
        self._reads: list[_Read] = []
        # requests submitted here, and writes this node proposed (by index)
        self._client: dict[str, _ClientRequest] = {}
        self._proposals: dict[int, _Proposal] = {}
        # Forwarded writes this node accepted as leader. It lets a non-leader
        # answer a forward with a *definite* "unavailable": the memory is
        # complete for every term >= _forward_memory_from (a restart forgets
        # the boot term; evicting forgets every term up to the current one).
        self._forwarded: OrderedDict[str, int] = OrderedDict()
        self._forward_memory_from = self._term + 1
        self._step: Callable[[RaftMessage], None] = self._step_follower
        self._tick: Callable[[], None] = self._tick_election
        self._become_follower(self._term, None)

    # ------------------------------------------------------------ properties

    @property
    def node_id(self) -> str:
        """This node's id."""
        return self._id

    @property
    def role(self) -> str:
        """One of :data:`ROLES`."""
        return self._role

    @property
    def term(self) -> int:
        """The current term."""
        return self._term

    @property
    def leader(self) -> str | None:
        """The leader this node knows for its current term, if any."""
        return self._leader

    @property
    def commit_index(self) -> int:
        """The highest log index this node knows to be committed."""
        return self._commit

    @property
    def last_applied(self) -> int:
        """The highest log index applied to :attr:`kv`."""
        return self._applied

    @property
    def last_index(self) -> int:
        """The index of the last log entry (0 for an empty log)."""
        return self._log.last_index

    @property
    def log(self) -> tuple[Entry, ...]:
        """A copy of the log, entry ``i`` at position ``i - 1``."""
        return self._log.entries()

    @property
    def kv(self) -> Mapping[kv.Key, Any]:
        """A read-only view of the applied key-value state."""
        return MappingProxyType(self._kv)

    def term_at(self, index: int) -> int:
        """The term of the entry at ``index`` (0 for index 0 or beyond the log)."""
        return self._log.term_at(index)

    def status(self) -> dict[str, Any]:
        """A JSON-ready summary for the store's ``role``/``stats`` calls."""
        return {
            "node": self._id,
            "term": self._term,
            "role": self._role,
            "leader": self._leader,
            "commit_index": self._commit,
            "last_applied": self._applied,
            "log_length": self._log.last_index,
        }

    # ------------------------------------------------------------ inputs

    def tick(self) -> None:
        """Advance logical time by one tick: timers, heartbeats, request timeouts."""
        self._now += 1
        self._tick()
        self._expire()

    def step(self, message: RaftMessage) -> None:
        """Handle a message from a peer; messages from unknown peers, addressed
        to another node, or of unknown type are ignored."""
        m = message
        if not isinstance(m, RaftMessage) or m.dst != self._id or m.src not in self._peers:
            return
        if m.type == FORWARD:
            self._on_forward(m)
            return
        if m.type == FORWARD_RESP:
            if m.status in STATUSES:
                self._answer(Response(m.request_id, m.status, m.value, m.reason))
            return
        if m.type not in MESSAGE_TYPES:
            return
        if m.term > self._term:
            if m.type in (PRE_VOTE, VOTE) and self._in_lease(m.type):
                # A leader is alive as far as we know: a node that merely lost
                # touch with it must not disrupt us (thesis §4.2.3, §9.6).
                self._send(m.src, m.type + "_resp", self._term, reject=True)
                return
            if m.type == PRE_VOTE or (m.type == PRE_VOTE_RESP and not m.reject):
                pass  # pre-votes carry a prospective term; nobody adopts it
            else:
                leader = m.src if m.type in (APPEND, HEARTBEAT) else None
                self._become_follower(m.term, leader)
        elif m.term < self._term:
            if m.type in (APPEND, HEARTBEAT):
                # The sender is a deposed leader (or we advanced our term in a
                # partition): tell it our term so it steps down and the
                # cluster converges on one term instead of stalling.
                self._send(m.src, APPEND_RESP, self._term, reject=True)
            elif m.type == PRE_VOTE:
                self._send(m.src, PRE_VOTE_RESP, self._term, reject=True)
            return
        if m.type in (PRE_VOTE, VOTE):
            self._on_vote_request(m)
            return
        self._step(m)

    def submit(self, request_id: str, command: dict[str, Any]) -> None:
        """Accept a client request on this node; its one :class:`Response` comes
        out of :meth:`ready`, at the latest ``request_timeout_ticks`` ticks later.

        Request ids must be unique; reusing one still pending here is ``invalid``.
        """
        if request_id in self._client:
            reason = "request_id already pending on this node"
            self._responses.append(Response(request_id, "invalid", None, reason))
            return
        problem = kv.validate(command)
        if problem is not None:
            self._responses.append(Response(request_id, "invalid", reason=problem))
            return
        read = kv.is_read(command)
        self._client[request_id] = _ClientRequest(read, self._now + self._cfg.request_timeout_ticks)
        if self._role == "leader":
            self._lead_request(request_id, dict(command), self._id)
        elif self._leader is not None:
            self._send(
                self._leader, FORWARD, self._term, request_id=request_id, command=dict(command)
            )
        else:
            reason = f"no leader known in term {self._term}"
            self._answer(Response(request_id, "unavailable", reason=reason))

    def ready(self) -> Ready:
        """Drain everything produced since the last call (see :class:`Ready`)."""
        hard_state = HardState(self._term, self._voted_for)
        changed = hard_state if hard_state != self._persisted else None
        self._persisted = hard_state
        truncate_from, entries = self._log.unstable()
        result = Ready(changed, truncate_from, entries, self._messages, self._responses)
        self._messages = []
        self._responses = []
        return result

    # ------------------------------------------------------------ roles

    def _become_follower(self, term: int, leader: str | None) -> None:
        was_leader = self._role == "leader"
        if term != self._term:
            self._term = term
            self._voted_for = None
        self._role = "follower"
        self._leader = leader
        self._step = self._step_follower
        self._tick = self._tick_election
        self._reset_election_timer()
        if was_leader:
            self._abort_reads(f"leadership lost in term {self._term}")

    def _become_pre_candidate(self) -> None:
        # Term and vote stay put: a pre-vote that fails leaves no trace.
        self._role = "pre-candidate"
        self._leader = None
        self._votes = {self._id: True}
        self._step = self._step_candidate
        self._tick = self._tick_election
        self._reset_election_timer()

    def _become_candidate(self) -> None:
        self._term += 1
        self._voted_for = self._id
        self._role = "candidate"
        self._leader = None
        self._votes = {self._id: True}
        self._step = self._step_candidate
        self._tick = self._tick_election
        self._reset_election_timer()

    def _become_leader(self) -> None:
        self._role = "leader"
        self._leader = self._id
        self._step = self._step_leader
        self._tick = self._tick_heartbeat
        self._election_elapsed = 0
        self._heartbeat_elapsed = 0
        last = self._log.last_index
        self._next = {peer: last + 1 for peer in self._peers}
        self._match = {peer: 0 for peer in self._peers}
        self._sent = {peer: 0 for peer in self._peers}
        self._append_at = {peer: -1 for peer in self._peers}
        self._acked_seq = {peer: 0 for peer in self._peers}
        self._recent_active = set()
        # Commit by counting works only for entries of our own term (§5.4.2):
        # the no-op commits everything before it and unblocks read-index.
        self._propose_entry(dict(NOOP), None)
        self._maybe_commit()  # a single-node cluster commits at once

    def _campaign(self, pre: bool) -> None:
        if pre:
            self._become_pre_candidate()
            kind, term = PRE_VOTE, self._term + 1
        else:
            self._become_candidate()
            kind, term = VOTE, self._term
        if quorum.vote_result(self._votes, self._voters) == "won":  # a single-node cluster
            self._won_election(pre)
            return
        for peer in self._peers:
            self._send(peer, kind, term, index=self._log.last_index, log_term=self._log.last_term)

    def _won_election(self, pre: bool) -> None:
        if pre:
            self._campaign(pre=False)
        else:
            self._become_leader()

    # ------------------------------------------------------------ ticks

    def _reset_election_timer(self) -> None:
        self._election_elapsed = 0
        # Randomized in [T, 2T) so that split votes resolve (§5.2).
        self._timeout = self._cfg.election_ticks + self._rng.randrange(self._cfg.election_ticks)

    def _tick_election(self) -> None:
        self._election_elapsed += 1
        if self._election_elapsed >= self._timeout:
            self._campaign(pre=self._cfg.pre_vote)

    def _tick_heartbeat(self) -> None:
        self._heartbeat_elapsed += 1
        self._election_elapsed += 1
        if self._election_elapsed >= self._cfg.quorum_period:
            self._election_elapsed = 0
            if self._cfg.check_quorum:
                if not quorum.has_quorum(self._recent_active | {self._id}, self._voters):
                    # Cut off from a majority: stop serving so that the
                    # minority side refuses instead of waiting on timeouts.
                    self._become_follower(self._term, None)
                    return
                self._recent_active = set()
        if self._heartbeat_elapsed >= self._cfg.heartbeat_ticks:
            self._heartbeat_elapsed = 0
            self._broadcast_heartbeat()

    def _in_lease(self, kind: str) -> bool:
        # PreVote always respects the lease (thesis §9.6); a real vote only
        # with CheckQuorum, which guarantees that leaders give the lease up.
        if kind == VOTE and not self._cfg.check_quorum:
            return False
        return self._leader is not None and self._election_elapsed < self._cfg.election_ticks

    def _expire(self) -> None:
        for request_id, request in list(self._client.items()):
            if request.deadline <= self._now:
                # A read has no effect, so refusing it is definite; a write
                # may still commit.
                status = "unavailable" if request.is_read else "indeterminate"
                self._answer(Response(request_id, status, reason="timed out"))
        for index, proposal in list(self._proposals.items()):
            if proposal.expires <= self._now:
                del self._proposals[index]  # the origin has timed out by now
        for read in list(self._reads):
            if read.expires <= self._now:
                self._reads.remove(read)
                self._finish(
                    read.origin, Response(read.request_id, "unavailable", reason="timed out")
                )

    # ------------------------------------------------------------ step functions

    def _step_follower(self, m: RaftMessage) -> None:
        if m.type in (APPEND, HEARTBEAT):
            self._leader = m.src
            self._election_elapsed = 0
            if m.type == APPEND:
                self._on_append(m)
            else:
                self._commit_to(min(m.commit, self._log.last_index))
                self._send(m.src, HEARTBEAT_RESP, self._term, seq=m.seq, index=m.index)

    def _step_candidate(self, m: RaftMessage) -> None:
        if m.type in (APPEND, HEARTBEAT):  # someone won this term
            self._become_follower(self._term, m.src)
            self._step_follower(m)
            return
        if self._role == "pre-candidate":
            expected = m.type == PRE_VOTE_RESP and (m.reject or m.term == self._term + 1)
        else:
            expected = m.type == VOTE_RESP
        if not expected:
            return
        self._votes.setdefault(m.src, not m.reject)  # a duplicate cannot change a vote
        result = quorum.vote_result(self._votes, self._voters)
        if result == "won":
            self._won_election(self._role == "pre-candidate")
        elif result == "lost":
            self._become_follower(self._term, None)

    def _step_leader(self, m: RaftMessage) -> None:
        if m.type == APPEND_RESP:
            self._recent_active.add(m.src)
            if m.reject:
                self._on_append_reject(m)
            else:
                self._on_append_success(m)
        elif m.type == HEARTBEAT_RESP:
            self._recent_active.add(m.src)
            if self._acked_seq[m.src] < m.seq <= self._read_seq:  # a bigger seq is bogus
                self._acked_seq[m.src] = m.seq
                self._serve_reads()
            if self._match[m.src] < self._log.last_index and m.index > self._append_at[m.src]:
                # A heartbeat sent after our last append came back without
                # that append's answer ahead of it (peers deliver in order):
                # the append was lost, send again. Resending on every reply
                # instead would send a slow catch-up batch twice.
                self._send_append(m.src, retry=True)

    # ------------------------------------------------------------ elections

    def _on_vote_request(self, m: RaftMessage) -> None:
        pre = m.type == PRE_VOTE
        can_vote = (
            self._voted_for == m.src
            or (self._voted_for is None and self._leader is None)
            or (pre and m.term > self._term)
        )
        up_to_date = (m.log_term, m.index) >= (self._log.last_term, self._log.last_index)  # §5.4.1
        kind = PRE_VOTE_RESP if pre else VOTE_RESP
        if not (can_vote and up_to_date):
            self._send(m.src, kind, self._term, reject=True)
        elif pre:
            self._send(m.src, kind, m.term)
        else:
            self._voted_for = m.src
            self._election_elapsed = 0
            self._send(m.src, kind, self._term)

    # ------------------------------------------------------------ replication

    def _on_append(self, m: RaftMessage) -> None:
        log = self._log
        if m.index < self._commit:
            # Everything up to our commit index matches any legitimate leader.
            self._send(m.src, APPEND_RESP, self._term, index=self._commit)
            return
        if any(e.index != m.index + n or e.term > m.term for n, e in enumerate(m.entries, 1)):
            return  # malformed: not a contiguous run from the leader
        if not log.matches(m.index, m.log_term):
            # Tell the leader where to retry: past our end if our log is
            # short, else the start of the conflicting term, so that each
            # round trip skips a whole term rather than one entry.
            if m.index > log.last_index:
                hint_index, hint_term = log.last_index + 1, 0
            else:
                hint_index, hint_term = (
                    log.first_of_term(m.index, self._commit),
                    log.term_at(m.index),
                )
            self._send(
                m.src,
                APPEND_RESP,
                self._term,
                reject=True,
                index=m.index,
                hint_index=hint_index,
                hint_term=hint_term,
            )
            return
        for entry in m.entries:
            if log.matches(entry.index, entry.term):
                continue  # already have it; never truncate on a stale, shorter append
            if entry.index <= log.last_index:
                if entry.index <= self._commit:
                    raise RaftSafetyError(
                        f"{self._id}: asked to overwrite committed entry {entry.index}"
                    )
                log.truncate(entry.index)
            log.append(entry)
        last_new = m.index + len(m.entries)
        self._commit_to(min(m.commit, last_new))
        self._send(m.src, APPEND_RESP, self._term, index=last_new)

    def _on_append_reject(self, m: RaftMessage) -> None:
        peer = m.src
        if m.index != self._next[peer] - 1 or m.index <= self._match[peer]:
            return  # answer to an append sent before the last adjustment
        new_next = m.hint_index
        if m.hint_term:
            # If we hold the follower's conflicting term, resume right after
            # our last entry of that term; else skip the term entirely.
            ours = self._log.last_of_term(m.hint_term, m.index)
            if ours:
                new_next = ours + 1
        self._next[peer] = max(self._match[peer] + 1, min(new_next, m.index))
        self._send_append(peer, retry=True)

    def _on_append_success(self, m: RaftMessage) -> None:
        peer = m.src
        if m.index > self._match[peer]:
            self._match[peer] = m.index
            self._next[peer] = max(self._next[peer], m.index + 1)
            self._maybe_commit()
        if self._sent[peer] < self._log.last_index:
            self._send_append(peer)  # continue a catch-up that a batch limit cut short

    def _send_append(self, peer: str, *, retry: bool = False) -> None:
        """Send the entries from ``next[peer]`` on, as many as the limits allow.

        Unless ``retry``, an append that would carry only entries already sent
        is not sent: while a follower catches up, every new proposal would
        otherwise resend the same full batch and crowd out the catch-up.
        """
        prev = self._next[peer] - 1
        entries = tuple(self._log.slice(prev + 1, MAX_BATCH, self._cfg.max_append_bytes))
        if not retry and prev + len(entries) <= self._sent[peer]:
            return
        self._append_at[peer] = self._now
        self._send(
            peer,
            APPEND,
            self._term,
            index=prev,
            log_term=self.term_at(prev),
            entries=entries,
            commit=self._commit,
        )
        self._sent[peer] = prev + len(entries)

    def _broadcast_heartbeat(self) -> None:
        for peer in self._peers:
            # Cap the commit index at what the peer is known to hold: beyond
            # that its log may still differ from ours.
            commit = min(self._commit, self._match[peer])
            self._send(peer, HEARTBEAT, self._term, commit=commit, seq=self._read_seq,
                       index=self._now)

    def _maybe_commit(self) -> None:
        index = quorum.committed_index([self._log.last_index, *self._match.values()])
        # Only an entry of our own term may be committed by counting (§5.4.2).
        if index > self._commit and self.term_at(index) == self._term:
            self._commit_to(index)
            self._start_waiting_reads()

    def _commit_to(self, index: int) -> None:
        if index <= self._commit:
            return
        self._commit = index
        while self._applied < self._commit:
            self._applied += 1
            entry = self._log.entry(self._applied)
            result = None
            if entry.request_id is not None:  # the no-op has no request and no effect
                result = kv.apply(self._kv, entry.command)
            proposal = self._proposals.pop(entry.index, None)
            if proposal is None:
                continue
            if entry.term == proposal.term and entry.request_id == proposal.request_id:
                assert result is not None
                self._finish(proposal.origin, _outcome(proposal.request_id, result))
            else:
                # Another entry is committed where ours was, and each request
                # is proposed at most once: it can never be applied.
                reason = f"entry {entry.index} was overwritten by term {entry.term}"
                self._finish(
                    proposal.origin, Response(proposal.request_id, "unavailable", None, reason)
                )
        if self._role == "leader":
            self._serve_reads()

    # ------------------------------------------------------------ client path

    def _lead_request(self, request_id: str, command: dict[str, Any], origin: str) -> None:
        """Serve a request as leader; ``origin`` is the node whose client waits."""
        if kv.is_read(command):
            if self._bug == "stale-read":  # planted: skip the leadership check
                self._finish(origin, _outcome(request_id, kv.apply(self._kv, command)))
                return
            expires = self._now + self._cfg.request_timeout_ticks
            self._reads.append(_Read(request_id, origin, command, expires))
            self._start_waiting_reads()
            return
        index = self._propose_entry(command, request_id)
        if self._bug == "ack-before-commit":  # planted: answer from a speculative kv
            state = dict(self._kv)
            result = kv.ApplyResult("ok")
            for entry in self._log.slice(self._applied + 1):
                if entry.request_id is not None:
                    result = kv.apply(state, entry.command)
            self._finish(origin, _outcome(request_id, result))
            self._maybe_commit()
            return
        old = self._proposals.get(index)
        if old is not None:
            # An earlier proposal of ours at this index was truncated, but the
            # entry may survive on other nodes: its fate is unknown.
            reason = f"entry {index} was replaced in term {self._term}"
            self._finish(old.origin, Response(old.request_id, "indeterminate", None, reason))
        expires = self._now + self._cfg.request_timeout_ticks
        self._proposals[index] = _Proposal(request_id, origin, self._term, expires)
        self._maybe_commit()  # a single-node cluster commits at once

    def _propose_entry(self, command: dict[str, Any], request_id: str | None) -> int:
        entry = Entry(self._term, self._log.last_index + 1, command, request_id)
        self._log.append(entry)
        for peer in self._peers:
            self._send_append(peer)
        return entry.index

    def _on_forward(self, m: RaftMessage) -> None:
        request_id, command = m.request_id, m.command
        problem = kv.validate(command) if command is not None else "missing field 'command'"
        if problem is not None or command is None:
            self._finish(m.src, Response(request_id, "invalid", None, problem or ""))
            return
        if kv.is_read(command):
            if self._role == "leader":
                self._lead_request(request_id, command, m.src)
            else:
                reason = f"{self._id} is not the leader"
                self._finish(m.src, Response(request_id, "unavailable", None, reason))
            return
        if self._log.index_of(request_id) is not None or request_id in self._forwarded:
            return  # a duplicate: the first copy's outcome (or the origin's timeout) answers
        if self._role == "leader" and m.term == self._term:
            # Accepting only forwards sent in our own term means each request
            # is proposed at most once: one leader per term, deduplicated here.
            self._forwarded[request_id] = self._term
            if len(self._forwarded) > FORWARD_MEMORY:
                self._forwarded.popitem(last=False)
                self._forward_memory_from = self._term + 1
            self._lead_request(request_id, command, m.src)
            return
        if m.term > self._term:
            return  # cannot happen (the origin learned of us in our term); stay silent
        if m.term < self._forward_memory_from:
            status, reason = "indeterminate", "the leader lost track of earlier copies"
        else:
            # We never accepted it (memory is complete for m.term) and never
            # will: we are not the leader of m.term now and cannot become it.
            status, reason = "unavailable", f"{self._id} is not the leader of term {m.term}"
        self._finish(m.src, Response(request_id, status, None, reason))

    def _start_waiting_reads(self) -> None:
        # Read-index is safe only once our commit index is at least that of
        # every earlier leader, i.e. after an entry of our own term committed.
        if self.term_at(self._commit) != self._term:
            return
        waiting = [read for read in self._reads if read.seq == 0]
        if not waiting:
            return
        self._read_seq += 1
        for read in waiting:
            read.seq, read.index = self._read_seq, self._commit
        self._broadcast_heartbeat()
        self._serve_reads()

    def _serve_reads(self) -> None:
        if not self._reads:
            return
        confirmed = quorum.committed_index([self._read_seq, *self._acked_seq.values()])
        for read in list(self._reads):
            if 0 < read.seq <= confirmed and read.index <= self._applied:
                self._reads.remove(read)
                self._finish(
                    read.origin, _outcome(read.request_id, kv.apply(self._kv, read.command))
                )

    def _abort_reads(self, reason: str) -> None:
        reads, self._reads = self._reads, []
        for read in reads:
            self._finish(read.origin, Response(read.request_id, "unavailable", None, reason))

    def _finish(self, origin: str, outcome: Response) -> None:
        """Deliver an outcome to the node whose client is waiting for it."""
        if origin == self._id:
            self._answer(outcome)
        else:
            fields = {"status": outcome.status, "value": outcome.value, "reason": outcome.reason}
            self._send(origin, FORWARD_RESP, self._term, request_id=outcome.request_id, **fields)

    def _answer(self, outcome: Response) -> None:
        # Popping first makes every later outcome for this id a no-op: one
        # response per request, whatever duplicates the network delivers.
        if self._client.pop(outcome.request_id, None) is not None:
            self._responses.append(outcome)

    def _send(self, dst: str, kind: str, term: int, **fields: Any) -> None:
        self._messages.append(RaftMessage(kind, self._id, dst, term, **fields))
