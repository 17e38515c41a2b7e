"""Majority-quorum arithmetic for the CP store, kept pure and separate from Raft.

Every rule here is about counting: how many voters make a majority, which log
index a majority has, whether an election is won, lost or still open. Keeping
it in one small module means the protocol code never repeats an off-by-one.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Literal

__all__ = ["VoteResult", "committed_index", "has_quorum", "majority", "vote_result"]

VoteResult = Literal["won", "lost", "pending"]
"""The state of an election: a majority granted, a majority cannot grant, or open."""


def majority(voters: int) -> int:
    """The smallest number of voters that is more than half of ``voters``."""
    if voters < 1:
        raise ValueError(f"a cluster needs at least one voter, got {voters}")
    return voters // 2 + 1


def committed_index(match_indexes: Iterable[int]) -> int:
    """The highest index that at least a majority of the given voters hold.

    ``match_indexes`` holds one value per voter (the leader includes its own
    last index). The same arithmetic gives the highest read-index sequence
    number acknowledged by a majority.
    """
    ordered = sorted(match_indexes, reverse=True)
    if not ordered:
        raise ValueError("committed_index needs one match index per voter, got none")
    return ordered[majority(len(ordered)) - 1]


def has_quorum(members: Iterable[str], voters: Collection[str]) -> bool:
    """True when the voters among ``members`` form a majority of ``voters``."""
    present = {member for member in members if member in voters}
    return len(present) >= majority(len(voters))


def vote_result(votes: Mapping[str, bool], voters: Collection[str]) -> VoteResult:
    """Tally an election: ``votes`` maps voter -> granted; unknown voters are ignored."""
    granted = sum(1 for voter in voters if votes.get(voter) is True)
    rejected = sum(1 for voter in voters if votes.get(voter) is False)
    needed = majority(len(voters))
    if granted >= needed:
        return "won"
    if rejected > len(voters) - needed:
        return "lost"
    return "pending"
