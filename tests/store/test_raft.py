"""Scripted scenarios for the Raft state machine, on the in-memory sim or by hand.

Every test is deterministic: logical ticks, seeded ``random.Random``. The sim
checks Raft's safety invariants after every step on its own, so each scenario
also proves that nothing unsafe happened on the way.
"""

from __future__ import annotations

import json
import random
import statistics
from typing import Any

import pytest
from raftsim import Sim

from pytest_partition.store.raft import (
    BUGS,
    Entry,
    HardState,
    RaftConfig,
    RaftMessage,
    RaftNode,
    Ready,
    Response,
)

ELECTION = RaftConfig().election_ticks


def put(value: Any, key: str = "x") -> dict[str, Any]:
    return {"op": "put", "key": key, "value": value}


def get(key: str = "x") -> dict[str, Any]:
    return {"op": "get", "key": key}


def others(sim: Sim, nid: str) -> list[str]:
    return [other for other in sim.ids if other != nid]


def new_leader(sim: Sim, old: str) -> str:
    """Run until a node other than ``old`` leads in a later term and has committed in it."""
    term = sim.node(old).term

    def elected() -> str | None:
        for nid in others(sim, old):
            node = sim.nodes[nid]
            if node is None or node.role != "leader" or node.term <= term:
                continue
            if node.term_at(node.commit_index) == node.term:
                return nid
        return None

    sim.run_until(lambda: elected() is not None, 20 * ELECTION)
    nid = elected()
    assert nid is not None
    return nid


def elect(node: RaftNode, voter: str) -> None:
    """Drive a hand-built node of a 3-node cluster to leadership with one peer's votes."""
    for _ in range(2 * ELECTION):
        node.tick()
    node.step(RaftMessage("pre_vote_resp", voter, node.node_id, term=node.term + 1))
    node.step(RaftMessage("vote_resp", voter, node.node_id, term=node.term))
    assert node.role == "leader"


# ---------------------------------------------------------------- elections


def test_single_node_cluster_leads_and_serves_alone() -> None:
    sim = Sim(1)
    assert sim.wait_leader() == "n1"
    assert sim.request("n1", put(5)) == Response("r1", "ok", True)
    assert sim.request("n1", get()).value == 5


def test_three_nodes_elect_exactly_one_leader_that_everyone_follows() -> None:
    sim = Sim(3, seed=7)
    leader = sim.wait_leader()
    sim.run(RaftConfig().heartbeat_ticks + 2)
    term = sim.node(leader).term
    for node in sim.live():
        assert node.term == term
        assert node.leader == leader
        assert node.role == ("leader" if node.node_id == leader else "follower")


def test_election_timeouts_come_from_the_injected_rng() -> None:
    first = [Sim(5, seed=3).wait_leader() for _ in range(2)]
    assert first[0] == first[1]
    leaders = {Sim(5, seed=seed).wait_leader() for seed in range(12)}
    assert len(leaders) > 1


def test_vote_is_in_the_same_ready_as_the_hard_state_that_records_it() -> None:
    config = RaftConfig(pre_vote=False)
    node = RaftNode("n1", ["n1", "n2", "n3"], rng=random.Random(1), config=config)
    node.step(RaftMessage("vote", "n2", "n1", term=1, index=0, log_term=0))
    ready = node.ready()
    assert ready.hard_state == HardState(1, "n2")
    assert [(m.type, m.dst, m.reject) for m in ready.messages] == [("vote_resp", "n2", False)]
    assert node.ready().is_empty()


def test_pre_vote_leaves_term_and_vote_untouched() -> None:
    node = RaftNode("n1", ["n1", "n2", "n3"], rng=random.Random(1))
    for _ in range(2 * ELECTION):
        node.tick()
    assert node.role == "pre-candidate"
    ready = node.ready()
    assert ready.hard_state is None
    assert {(m.type, m.term) for m in ready.messages} == {("pre_vote", 1)}
    assert node.term == 0


def test_follower_that_hears_a_leader_refuses_pre_votes_and_ignores_votes() -> None:
    """The lease of thesis §4.2.3/§9.6: a node that merely lost touch cannot disrupt."""
    node = RaftNode("n1", ["n1", "n2", "n3"], rng=random.Random(0))
    node.step(RaftMessage("heartbeat", "n2", "n1", term=3))
    node.ready()
    node.step(RaftMessage("pre_vote", "n3", "n1", term=4, index=5, log_term=3))
    node.step(RaftMessage("vote", "n3", "n1", term=4, index=5, log_term=3))
    replies = node.ready().messages
    assert [(m.type, m.reject, m.term) for m in replies] == [
        ("pre_vote_resp", True, 3),
        ("vote_resp", True, 3),
    ]
    assert (node.term, node.leader) == (3, "n2")
    for _ in range(ELECTION):
        node.tick()  # the lease runs out without heartbeats
    node.step(RaftMessage("pre_vote", "n3", "n1", term=4, index=5, log_term=3))
    assert [(m.type, m.reject, m.term) for m in node.ready().messages] == [
        ("pre_vote_resp", False, 4),
    ]
    assert node.term == 3


def test_node_answers_a_stale_leader_with_its_term_so_the_leader_steps_down() -> None:
    node = RaftNode("n1", ["n1", "n2", "n3"], rng=random.Random(0), hard_state=HardState(5, None))
    node.step(RaftMessage("heartbeat", "n2", "n1", term=3))
    (reply,) = node.ready().messages
    assert (reply.type, reply.dst, reply.term) == ("append_resp", "n2", 5)
    stale = RaftNode("n2", ["n1", "n2", "n3"], rng=random.Random(0), hard_state=HardState(2, None))
    elect(stale, "n3")
    stale.step(reply)
    assert (stale.role, stale.term) == ("follower", 5)


# ---------------------------------------------------------------- replication


def test_writes_replicate_to_every_node() -> None:
    sim = Sim(5, seed=2, max_delay=3)
    leader = sim.wait_stable()
    for value in range(10):
        assert sim.request(sim.ids[value % 5], put(value, f"k{value % 3}")).status == "ok"
    sim.settle()
    logs = [node.log for node in sim.live()]
    assert all(log == logs[0] for log in logs)
    assert [node.kv["k0"] for node in sim.live()] == [9] * 5
    assert sim.node(leader).commit_index == len(logs[0])


BIG = "x" * 100_000  # ~100 KB of JSON per entry: ten fill one append (1 MiB)


def isolated_follower_misses(sim: Sim, writes: int) -> tuple[str, str]:
    """Cut a follower off while ``writes`` big values commit; return (leader, follower)."""
    leader = sim.wait_stable()
    follower = others(sim, leader)[0]
    sim.isolate(follower)
    for value in range(writes):
        assert sim.request(leader, put(f"{value}{BIG}", f"k{value % 4}")).status == "ok"
    return leader, follower


@pytest.mark.parametrize("writes", [4, 40])
def test_a_follower_catches_up_any_gap_through_messages_the_peer_accepts(writes: int) -> None:
    # The peer endpoint loses a message over 2 MiB, as a node refuses an
    # oversized body: one append holding a 4 MB gap would never arrive.
    sim = Sim(3, seed=5, max_message_bytes=2 << 20)
    leader, follower = isolated_follower_misses(sim, writes)
    sim.heal()
    target = sim.node(leader).commit_index
    sim.run_until(lambda: sim.node(follower).commit_index >= target, 20 * ELECTION)
    assert sim.oversized == 0
    assert sim.node(follower).kv == sim.node(leader).kv


def test_appends_are_bounded_by_bytes_but_always_carry_an_entry() -> None:
    config = RaftConfig(max_append_bytes=150_000)
    sim = Sim(3, seed=6, config=config, max_message_bytes=400_000)
    leader, follower = isolated_follower_misses(sim, 6)
    huge = "y" * 300_000  # larger than max_append_bytes on its own
    assert sim.request(leader, put(huge, "huge")).status == "ok"
    sim.heal()
    target = sim.node(leader).commit_index
    sizes: list[int] = []
    real_send = sim._send

    def measured(message: RaftMessage) -> None:
        if message.type == "append" and message.entries:
            sizes.append(sum(len(json.dumps(e.to_dict())) for e in message.entries))
            assert len(message.entries) == 1 or sizes[-1] <= config.max_append_bytes
        real_send(message)

    sim._send = measured  # type: ignore[method-assign]
    sim.run_until(lambda: sim.node(follower).commit_index >= target, 20 * ELECTION)
    assert max(sizes) > config.max_append_bytes  # the huge entry went, alone
    assert sim.node(follower).kv["huge"] == huge


def test_catching_up_under_new_writes_sends_each_entry_about_once() -> None:
    # Each new proposal used to resend the whole batch from the follower's
    # next index: a follower behind by a lot got the same megabyte per write.
    sim = Sim(3, seed=7, min_delay=2, max_delay=4, max_message_bytes=2 << 20)
    leader, follower = isolated_follower_misses(sim, 40)
    sim.heal()
    sim.bytes_sent.clear()
    target = sim.node(leader).commit_index
    written = 0
    while sim.node(follower).commit_index < target:
        sim.submit(leader, put(written, "small"))  # a write per tick meanwhile
        written += 1
        sim.step()
        assert written < 20 * ELECTION, "the follower never caught up"
    gap = 40 * len(BIG)
    assert sim.bytes_sent[(leader, follower)] < 2 * gap


def test_commit_by_counting_only_for_entries_of_the_current_term() -> None:
    """Raft §5.4.2 / Figure 8: a majority holding an old-term entry is not enough."""
    peers = ["n1", "n2", "n3", "n4", "n5"]
    log = [Entry(1, 1, put(1), "a"), Entry(2, 2, put(2), "b")]
    node = RaftNode("n1", peers, rng=random.Random(0), hard_state=HardState(3, None), log=log)
    for _ in range(2 * ELECTION):
        node.tick()
    for peer in ("n2", "n3"):
        node.step(RaftMessage("pre_vote_resp", peer, "n1", term=4))
    for peer in ("n2", "n3"):
        node.step(RaftMessage("vote_resp", peer, "n1", term=4))
    assert (node.role, node.term, node.last_index) == ("leader", 4, 3)  # with its no-op
    for peer in ("n2", "n3"):
        node.step(RaftMessage("append_resp", peer, "n1", term=4, index=2))
    assert node.commit_index == 0, "entry 2 (term 2) is on 3 of 5 nodes but must not commit"
    for peer in ("n2", "n3"):
        node.step(RaftMessage("append_resp", peer, "n1", term=4, index=3))
    assert node.commit_index == 3
    assert dict(node.kv) == {"x": 2}


def test_follower_with_a_divergent_tail_converges_by_whole_terms() -> None:
    """Fast backtracking: one rejected append per conflicting term, not per entry."""
    sim = Sim(5, seed=4)
    old = sim.wait_stable()
    sim.isolate(old)
    for value in range(40):  # 40 uncommitted entries of term 1 on the old leader
        sim.submit(old, put(value))
    second = new_leader(sim, old)
    for value in range(6):  # entries 3..8 of term 2
        assert sim.request(second, put(100 + value)).status == "ok"
    sim.isolate(second)
    third = new_leader(sim, second)  # its log reaches 9: the old leader diverges from 2 on
    rejects: list[int] = []
    step = sim.node(third).step

    def counting_step(message: RaftMessage) -> None:
        if message.type == "append_resp" and message.reject and message.src == old:
            rejects.append(message.index)
        step(message)

    sim.node(third).step = counting_step  # type: ignore[method-assign]
    sim.heal()
    sim.isolate(second)
    sim.run_until(lambda: sim.node(old).log == sim.node(third).log, 20 * ELECTION)
    assert len(set(rejects)) == 1, f"rejected prev indexes {rejects}; one per term expected"


def test_follower_truncation_is_reported_before_new_entries() -> None:
    node = RaftNode("n2", ["n1", "n2", "n3"], rng=random.Random(0))
    node.step(
        RaftMessage(
            "append",
            "n1",
            "n2",
            term=1,
            entries=(Entry(1, 1, put(1), "a"), Entry(1, 2, put(2), "b")),
        )
    )
    first = node.ready()
    assert [e.index for e in first.entries] == [1, 2]
    assert first.truncate_from is None
    replacement = Entry(2, 2, put(3), "c")
    node.step(
        RaftMessage("append", "n3", "n2", term=2, index=1, log_term=1, entries=(replacement,))
    )
    second = node.ready()
    assert second.hard_state == HardState(2, None)
    assert second.truncate_from == 2
    assert second.entries == [replacement]
    assert [m.type for m in second.messages] == ["append_resp"]


def test_stale_shorter_append_never_truncates() -> None:
    node = RaftNode("n2", ["n1", "n2", "n3"], rng=random.Random(0))
    entries = (Entry(1, 1, put(1), "a"), Entry(1, 2, put(2), "b"))
    node.step(RaftMessage("append", "n1", "n2", term=1, entries=entries))
    node.step(RaftMessage("append", "n1", "n2", term=1, entries=entries[:1]))  # delayed copy
    assert node.last_index == 2
    assert node.ready().truncate_from is None


# ---------------------------------------------------------------- partitions


def test_isolated_leader_is_replaced_and_majority_keeps_committing() -> None:
    sim = Sim(5, seed=11, max_delay=2)
    leader = sim.wait_leader()
    assert sim.request(leader, put(1)).status == "ok"
    sim.isolate(leader)
    successor = new_leader(sim, leader)
    assert sim.node(successor).term > sim.node(leader).term
    assert sim.request(successor, put(2)).status == "ok"
    assert sim.request(others(sim, leader)[0], get()).value == 2


def test_isolated_leader_steps_down_and_its_uncommitted_entries_are_discarded() -> None:
    sim = Sim(3, seed=5)
    leader = sim.wait_leader()
    assert sim.request(leader, put("committed")).status == "ok"
    sim.isolate(leader)
    lost = sim.submit(leader, put("lost"))
    lost_index = sim.node(leader).last_index
    # CheckQuorum: within two quorum periods the old leader gives up.
    sim.run_until(lambda: sim.node(leader).role != "leader", 2 * RaftConfig().quorum_period + 2)
    successor = new_leader(sim, leader)
    assert sim.request(successor, put("new")).status == "ok"
    assert sim.ops[lost].status in ("indeterminate", "unavailable")
    sim.heal()
    sim.settle()
    old = sim.node(leader)
    assert old.log[lost_index - 1].request_id != lost
    assert lost not in sim.checker.committed_ids
    assert dict(old.kv) == {"x": "new"}
    sim.final_check()


def test_minority_refuses_within_bounded_ticks() -> None:
    config = RaftConfig()
    sim = Sim(5, seed=8, max_delay=2)
    leader = sim.wait_leader()
    minority = [leader, others(sim, leader)[0]]
    majority = others(sim, leader)[1:]
    sim.partition(minority, majority)
    asked = [sim.submit(nid, put(n)) for n, nid in enumerate(minority * 2)]
    asked += [sim.submit(nid, get()) for nid in minority]
    sim.run(config.request_timeout_ticks + 1)
    assert all(sim.ops[rid].status in ("unavailable", "indeterminate") for rid in asked)
    assert all(sim.ops[rid].status == "unavailable" for rid in asked[-2:])  # reads are definite
    # Once the old leader has stepped down, the minority refuses at once.
    sim.run(2 * config.quorum_period)
    refused = [sim.submit(nid, put("late")) for nid in minority]
    assert [sim.ops[rid].status for rid in refused] == ["unavailable", "unavailable"]
    sim.settle()
    sim.final_check()


def test_pre_vote_keeps_a_healed_node_from_disrupting_the_leader() -> None:
    sim = Sim(3, seed=9)
    leader = sim.wait_leader()
    term = sim.node(leader).term
    loner = others(sim, leader)[0]
    sim.isolate(loner)
    sim.run(10 * ELECTION)
    assert sim.node(loner).term == term, "pre-vote: failed campaigns do not raise the term"
    sim.heal()
    sim.run(3 * ELECTION)
    assert sim.leader() == leader
    assert {node.term for node in sim.live()} == {term}


def test_without_pre_vote_a_healed_node_inflates_the_term_and_deposes_the_leader() -> None:
    sim = Sim(3, seed=9, config=RaftConfig(pre_vote=False, check_quorum=False))
    leader = sim.wait_leader()
    term = sim.node(leader).term
    loner = others(sim, leader)[0]
    sim.isolate(loner)
    sim.run(10 * ELECTION)
    assert sim.node(loner).term > term + 3
    sim.heal()
    sim.run(3 * ELECTION)
    assert min(node.term for node in sim.live()) > term + 3


def test_failover_median_is_about_two_election_timeouts() -> None:
    """Ticks from isolating the leader to the first write committed by the majority."""
    samples = []
    for seed in range(21):
        sim = Sim(3, seed=seed, max_delay=2)
        old = sim.wait_leader()
        sim.run(sim.rng.randrange(RaftConfig().heartbeat_ticks * 4))
        sim.isolate(old)
        start = sim.now
        while True:
            successor = new_leader(sim, old)
            if sim.request(successor, put(seed)).status == "ok":
                break
        samples.append(sim.now - start)
    median = statistics.median(samples)
    assert median <= 2 * ELECTION + 10, f"median failover {median} ticks; samples {sorted(samples)}"


# ---------------------------------------------------------------- restarts


def test_restart_from_disk_keeps_every_acknowledged_write() -> None:
    sim = Sim(3, seed=12, max_delay=2)
    sim.wait_leader()
    acknowledged = {}
    for n in range(12):
        key = f"k{n % 4}"
        if sim.request(sim.ids[n % 3], put(n, key)).status == "ok":
            acknowledged[key] = n
        if n % 5 == 4:
            sim.crash(sim.ids[n % 3])
            sim.run(3)
            sim.restart(sim.ids[n % 3])
    assert len(acknowledged) == 4
    for nid in sim.ids:
        sim.crash(nid)
    for nid in sim.ids:
        sim.restart(nid)
        assert sim.node(nid).commit_index == 0  # re-derived, never persisted
    leader = sim.wait_leader()
    for key, value in acknowledged.items():
        assert sim.request(leader, get(key)).value == value
    sim.settle()
    sim.final_check()


def test_restart_rejects_a_corrupt_log() -> None:
    with pytest.raises(ValueError, match="indexes must run"):
        RaftNode(
            "n1",
            ["n1"],
            rng=random.Random(0),
            hard_state=HardState(2, None),
            log=[Entry(1, 2, put(1))],
        )
    with pytest.raises(ValueError, match="terms be in"):
        RaftNode(
            "n1",
            ["n1"],
            rng=random.Random(0),
            hard_state=HardState(1, None),
            log=[Entry(2, 1, put(1))],
        )


# ---------------------------------------------------------------- client path


def test_node_without_a_leader_refuses_at_once() -> None:
    node = RaftNode("n1", ["n1", "n2", "n3"], rng=random.Random(0))
    node.submit("r1", put(1))
    assert node.ready().responses == [
        Response("r1", "unavailable", reason="no leader known in term 0")
    ]


def test_followers_forward_writes_and_reads_to_the_leader() -> None:
    sim = Sim(3, seed=3)
    leader = sim.wait_leader()
    follower = others(sim, leader)[0]
    assert sim.request(follower, {"op": "incr", "key": "n", "delta": 5}) == Response("r1", "ok", 5)
    assert sim.request(follower, {"op": "cas", "key": "n", "expected": 5, "new": 7}).value is True
    assert sim.request(follower, get("n")).value == 7
    entry = sim.node(leader).log[-1]
    assert entry.request_id == "r3" and entry.command["op"] == "cas"


def test_invalid_commands_are_answered_without_reaching_the_log() -> None:
    sim = Sim(3, seed=3)
    leader = sim.wait_leader()
    length = sim.node(leader).last_index
    response = sim.request(others(sim, leader)[0], {"op": "frobnicate", "key": "x"})
    assert response.status == "invalid" and "unknown op" in response.reason
    assert sim.node(leader).last_index == length


def test_rejected_incr_is_applied_as_invalid() -> None:
    sim = Sim(3, seed=3)
    leader = sim.wait_leader()
    sim.request(leader, put("text"))
    response = sim.request(leader, {"op": "incr", "key": "x", "delta": 1})
    assert response.status == "invalid" and "not an int" in response.reason
    assert sim.request(leader, get()).value == "text"


def test_read_index_waits_for_a_heartbeat_round() -> None:
    sim = Sim(3, seed=1)
    leader = sim.wait_leader()
    sim.request(leader, put(1))
    rid = sim.submit(leader, get())
    assert sim.ops[rid].response is None, "a read must confirm leadership first"
    sim.run(1)
    assert sim.ops[rid].response is None
    sim.run(1)  # the heartbeat and its acknowledgements, one tick each way
    assert sim.ops[rid].response == Response(rid, "ok", 1)


def test_new_leader_holds_reads_until_it_commits_in_its_term() -> None:
    peers = ["n1", "n2", "n3"]
    log = [Entry(1, 1, put(7), "a")]
    node = RaftNode("n1", peers, rng=random.Random(0), hard_state=HardState(1, None), log=log)
    elect(node, "n2")
    node.submit("r", get())
    node.ready()
    node.step(RaftMessage("heartbeat_resp", "n2", "n1", term=2, seq=99))
    assert node.ready().responses == [], "no read before an entry of term 2 commits"
    node.step(RaftMessage("append_resp", "n2", "n1", term=2, index=2))
    heartbeats = [m for m in node.ready().messages if m.type == "heartbeat"]
    assert heartbeats and all(m.seq == 1 for m in heartbeats)
    node.step(RaftMessage("heartbeat_resp", "n3", "n1", term=2, seq=1))
    assert node.ready().responses == [Response("r", "ok", 7)]


@pytest.mark.parametrize("check_quorum", [True, False])
def test_isolated_leader_refuses_reads_instead_of_serving_stale_values(check_quorum: bool) -> None:
    sim = Sim(3, seed=6, config=RaftConfig(check_quorum=check_quorum))
    leader = sim.wait_leader()
    assert sim.request(leader, put(1)).status == "ok"
    sim.isolate(leader)
    successor = new_leader(sim, leader)
    assert sim.request(successor, put(2)).status == "ok"
    response = sim.request(leader, get())
    assert response.status == "unavailable"
    sim.settle()
    sim.final_check()


def test_pending_reads_are_refused_as_soon_as_the_leader_steps_down() -> None:
    node = RaftNode("n1", ["n1", "n2", "n3"], rng=random.Random(0))
    elect(node, "n2")
    node.submit("local", get())
    node.step(
        RaftMessage("forward", "n3", "n1", term=node.term, request_id="remote", command=get())
    )
    node.ready()
    node.step(RaftMessage("append", "n2", "n1", term=node.term + 1))  # a newer leader exists
    ready = node.ready()
    assert node.role == "follower"
    assert ready.responses == [Response("local", "unavailable", reason="leadership lost in term 2")]
    assert [(m.type, m.request_id, m.status) for m in ready.messages if m.dst == "n3"] == [
        ("forward_resp", "remote", "unavailable"),
    ]


def test_leader_refuses_a_forward_sent_in_an_older_term() -> None:
    """Accepting forwards only in the term they were sent in keeps every
    request proposed at most once, which makes a refusal definite."""
    node = RaftNode("n1", ["n1", "n2", "n3"], rng=random.Random(0), hard_state=HardState(3, None))
    node.step(RaftMessage("heartbeat", "n2", "n1", term=4))  # term 4 passes with n2 leading
    elect(node, "n2")
    node.ready()
    node.step(RaftMessage("forward", "n3", "n1", term=4, request_id="old", command=put(1)))
    node.step(RaftMessage("forward", "n3", "n1", term=5, request_id="new", command=put(2)))
    ready = node.ready()
    assert [(m.request_id, m.status) for m in ready.messages if m.type == "forward_resp"] == [
        ("old", "unavailable"),
    ]
    assert [e.request_id for e in node.log] == [None, "new"]


def test_duplicated_forward_is_proposed_once_and_answered_once() -> None:
    sim = Sim(3, seed=3)
    leader = sim.wait_leader()
    follower = others(sim, leader)[0]
    rid = sim.submit(follower, put("once"))
    forward = next(m for _, _, m in sim.queue if m.type == "forward")
    sim.deliver(forward)
    sim.deliver(forward)  # the transport delivers it again (the queued copy makes three)
    sim.settle()
    assert [e.request_id for e in sim.node(leader).log].count(rid) == 1
    assert sim.ops[rid].response == Response(rid, "ok", True)


def test_duplicated_forward_response_yields_one_response() -> None:
    node = RaftNode("n2", ["n1", "n2", "n3"], rng=random.Random(0))
    node.step(RaftMessage("heartbeat", "n1", "n2", term=1))
    node.submit("r", put(1))
    assert [m.type for m in node.ready().messages] == ["heartbeat_resp", "forward"]
    answer = RaftMessage(
        "forward_resp", "n1", "n2", term=1, request_id="r", status="ok", value=True
    )
    node.step(answer)
    node.step(answer)
    node.step(RaftMessage("forward_resp", "n1", "n2", term=1, request_id="r", status="unavailable"))
    assert node.ready().responses == [Response("r", "ok", True)]
    for _ in range(RaftConfig().request_timeout_ticks + 1):
        node.tick()
    assert node.ready().responses == []


def test_forward_to_a_node_that_is_not_the_leader_is_refused_definitely() -> None:
    node = RaftNode("n1", ["n1", "n2", "n3"], rng=random.Random(0), hard_state=HardState(3, None))
    node.step(RaftMessage("heartbeat", "n2", "n1", term=4))  # alive through term 4, never leading
    forward = RaftMessage("forward", "n3", "n1", term=4, request_id="r", command=put(1))
    node.step(forward)
    (reply,) = node.ready().messages[1:]
    assert (reply.type, reply.status) == ("forward_resp", "unavailable")
    # After a restart in term 4 it cannot know whether it accepted a copy before.
    restarted = RaftNode(
        "n1", ["n1", "n2", "n3"], rng=random.Random(0), hard_state=HardState(4, None)
    )
    restarted.step(forward)
    (reply,) = restarted.ready().messages
    assert (reply.type, reply.status) == ("forward_resp", "indeterminate")


def test_write_whose_entry_is_overwritten_is_answered_unavailable_once_that_commits() -> None:
    sim = Sim(3, seed=5)
    leader = sim.wait_leader()
    sim.isolate(leader)
    lost = sim.submit(leader, put("lost"))
    successor = new_leader(sim, leader)
    sim.request(successor, put("won"))
    sim.heal()  # the old leader learns the commit before the request times out
    sim.run_until(lambda: sim.ops[lost].response is not None, RaftConfig().request_timeout_ticks)
    response = sim.ops[lost].response
    assert response is not None and response.status == "unavailable"
    assert "overwritten" in response.reason


def test_every_request_is_answered_exactly_once_under_faults() -> None:
    config = RaftConfig(election_ticks=10, heartbeat_ticks=2, request_timeout_ticks=25)
    sim = Sim(5, seed=21, config=config, max_delay=3, duplicate=0.3)
    rng = random.Random(21)
    for tick in range(400):
        if tick % 40 == 0:
            sim.heal()
            pair = rng.sample(sim.ids, 2)
            sim.partition(pair, [nid for nid in sim.ids if nid not in pair])
        if tick % 70 == 35:
            src, dst = rng.sample(sim.ids, 2)
            sim.drop(src, dst, 0.5)
        sim.submit(
            rng.choice(sim.ids),
            rng.choice([put(tick), get(), {"op": "incr", "key": "n", "delta": 1}]),
        )
        sim.step()
    sim.settle()
    sim.final_check()
    statuses = [op.status for op in sim.ops.values()]
    assert None not in statuses  # Sim._record already refused any second response
    assert {"ok", "unavailable"} <= set(statuses)


def test_submitting_a_pending_request_id_again_is_invalid() -> None:
    sim = Sim(3, seed=3)
    leader = sim.wait_leader()
    node = sim.node(leader)
    node.submit("dup", put(1))
    node.submit("dup", put(2))
    responses = node.ready().responses
    assert responses == [
        Response("dup", "invalid", reason="request_id already pending on this node")
    ]


# ---------------------------------------------------------------- planted bugs


def test_stale_read_bug_serves_an_old_value_where_raft_refuses() -> None:
    def scenario(bug: str | None) -> Response:
        # Without CheckQuorum the isolated leader keeps its role, so the
        # planted bug is visible for as long as the partition lasts.
        sim = Sim(3, seed=6, config=RaftConfig(check_quorum=False), bug=bug)
        leader = sim.wait_leader()
        assert sim.request(leader, put(1)).status == "ok"
        sim.isolate(leader)
        successor = new_leader(sim, leader)
        assert sim.request(successor, put(2)).status == "ok"
        return sim.request(leader, get())

    assert scenario(None).status == "unavailable"
    assert scenario("stale-read") == Response("r5", "ok", 1)


def test_ack_before_commit_bug_acknowledges_a_write_that_is_then_lost() -> None:
    def scenario(bug: str | None) -> tuple[Response, Sim, str]:
        sim = Sim(3, seed=5, bug=bug, strict_acks=False)
        leader = sim.wait_leader()
        assert sim.request(leader, put(1)).status == "ok"
        sim.isolate(leader)
        doomed = sim.submit(leader, {"op": "incr", "key": "n", "delta": 10})
        successor = new_leader(sim, leader)
        assert sim.request(successor, put(2)).status == "ok"
        sim.settle()
        response = sim.ops[doomed].response
        assert response is not None
        return response, sim, doomed

    correct, sim, doomed = scenario(None)
    assert correct.status in ("indeterminate", "unavailable")
    sim.final_check()
    buggy, sim, doomed = scenario("ack-before-commit")
    assert buggy == Response(doomed, "ok", 10)
    assert doomed not in sim.checker.committed_ids
    with pytest.raises(AssertionError, match="acknowledged write lost"):
        sim.final_check()


def test_unknown_bug_names_the_accepted_ones() -> None:
    assert BUGS == ("stale-read", "ack-before-commit")
    with pytest.raises(ValueError, match="stale-read, ack-before-commit"):
        RaftNode("n1", ["n1"], rng=random.Random(0), bug="typo")


# ---------------------------------------------------------------- interface


def test_message_round_trips_through_json() -> None:
    message = RaftMessage(
        "append",
        "n1",
        "n2",
        3,
        index=4,
        log_term=2,
        entries=(Entry(3, 5, put([1, 2]), "r9"), Entry(3, 6, {"op": "noop"})),
        commit=4,
    )
    assert RaftMessage.from_dict(json.loads(json.dumps(message.to_dict()))) == message
    answer = RaftMessage("forward_resp", "n1", "n2", 3, request_id="r", status="ok", value={"a": 1})
    assert RaftMessage.from_dict(json.loads(json.dumps(answer.to_dict()))) == answer


@pytest.mark.parametrize(
    ("data", "names"),
    [
        ([], "expected an object"),
        ({"type": "gossip", "src": "a", "dst": "b", "term": 1}, "unknown type 'gossip'"),
        ({"type": "vote", "dst": "b", "term": 1}, "field 'src'"),
        ({"type": "vote", "src": "a", "dst": "b", "term": -1}, "field 'term'"),
        ({"type": "vote", "src": "a", "dst": "b", "term": True}, "field 'term'"),
        ({"type": "append", "src": "a", "dst": "b", "term": 1, "entries": {}}, "'entries'"),
        (
            {"type": "append", "src": "a", "dst": "b", "term": 1, "entries": [{"term": 1}]},
            "field 'index'",
        ),
        (
            {
                "type": "append",
                "src": "a",
                "dst": "b",
                "term": 1,
                "entries": [{"term": 1, "index": 1, "command": "put"}],
            },
            "field 'command'",
        ),
        (
            {"type": "forward_resp", "src": "a", "dst": "b", "term": 1, "status": "great"},
            "status 'great'",
        ),
        ({"type": "vote_resp", "src": "a", "dst": "b", "term": 1, "reject": "no"}, "'reject'"),
    ],
)
def test_malformed_messages_raise_value_error(data: Any, names: str) -> None:
    with pytest.raises(ValueError, match=names):
        RaftMessage.from_dict(data)


def test_step_ignores_unknown_peers_types_and_misaddressed_messages() -> None:
    node = RaftNode("n1", ["n1", "n2", "n3"], rng=random.Random(0))
    for message in (
        RaftMessage("vote", "stranger", "n1", term=9),
        RaftMessage("vote", "n2", "n3", term=9),
        RaftMessage("gossip", "n2", "n1", term=9),
        RaftMessage("forward", "stranger", "n1", term=0, request_id="r", command=put(1)),
        RaftMessage("append", "n2", "n1", term=1, index=5, entries=(Entry(1, 9, put(1)),)),
    ):
        node.step(message)
    assert node.term in (0, 1)
    assert node.last_index == 0
    assert all(m.type == "append_resp" for m in node.ready().messages)


def test_status_and_ready_shape() -> None:
    sim = Sim(3, seed=3)
    leader = sim.wait_leader()
    status = sim.node(leader).status()
    assert status == {
        "node": leader,
        "term": 1,
        "role": "leader",
        "leader": leader,
        "commit_index": 1,
        "last_applied": 1,
        "log_length": 1,
    }
    assert Ready().is_empty()
    with pytest.raises(TypeError):
        sim.node(leader).kv["x"] = 1  # type: ignore[index]


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="heartbeat_ticks < election_ticks"):
        RaftConfig(election_ticks=5, heartbeat_ticks=5)
    with pytest.raises(ValueError, match="request_timeout_ticks"):
        RaftConfig(request_timeout_ticks=0)
    with pytest.raises(ValueError, match="max_append_bytes must be >= 1"):
        RaftConfig(max_append_bytes=0)
