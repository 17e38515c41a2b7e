"""Partition specs: parsing, named shapes, seeded randomness and errors."""

from __future__ import annotations

import random

import pytest

from pytest_partition import SpecError, parse_spec
from pytest_partition.topology import parse_links, spec_id, validate_spec

ABC = ["A", "B", "C"]
FIVE = ["n1", "n2", "n3", "n4", "n5"]


def test_groups_cut_both_ways_across_groups_only() -> None:
    part = parse_spec("A,B|C", ABC)
    assert part.cut == {("A", "C"), ("C", "A"), ("B", "C"), ("C", "B")}
    assert part.groups == (("A", "B"), ("C",))
    assert part.side_of("B") == ("A", "B")


def test_nodes_not_named_form_one_more_group() -> None:
    part = parse_spec("n1|n2", FIVE)
    assert part.groups == (("n1",), ("n2",), ("n3", "n4", "n5"))
    assert ("n3", "n4") not in part.cut
    assert ("n1", "n5") in part.cut and ("n5", "n2") in part.cut


def test_one_way_cut_and_clauses() -> None:
    part = parse_spec("A->C", ABC)
    assert part.cut == {("A", "C")}
    assert part.is_cut("A", "C") and not part.is_cut("C", "A")
    combined = parse_spec(" A -> C ; B->A,C ", ABC)
    assert combined.cut == {("A", "C"), ("B", "A"), ("B", "C")}


def test_isolate_node_and_leader() -> None:
    assert parse_spec("isolate:B", ABC).groups == (("A", "C"), ("B",))
    part = parse_spec("isolate:leader", ABC, leader=lambda: "C")
    assert part.cut == {("C", "A"), ("A", "C"), ("C", "B"), ("B", "C")}
    assert part.resolved == "C|A,B"


def test_isolate_leader_without_leader_is_an_error() -> None:
    with pytest.raises(SpecError, match="no node reports itself as leader"):
        parse_spec("isolate:leader", ABC, leader=lambda: None)


def test_halves_put_the_smaller_half_first() -> None:
    assert parse_spec("halves", FIVE).groups == (("n1", "n2"), ("n3", "n4", "n5"))
    assert parse_spec("halves", ABC).resolved == "A|B,C"


def test_random_specs_replay_with_the_same_seed() -> None:
    for spec in ("random-halves", "random-node"):
        first = [parse_spec(spec, FIVE, rng=random.Random(7)).cut for _ in range(3)]
        again = [parse_spec(spec, FIVE, rng=random.Random(7)).cut for _ in range(3)]
        assert first == again
    shapes = {parse_spec("random-halves", FIVE, rng=random.Random(s)).resolved
              for s in range(30)}
    assert len(shapes) > 3, "random-halves should not always cut the same way"


def test_bridge_keeps_one_node_talking_to_both_halves() -> None:
    part = parse_spec("bridge", FIVE)
    assert part.cut == {(a, b) for a in ("n1", "n2") for b in ("n4", "n5")} | {
        (b, a) for a in ("n1", "n2") for b in ("n4", "n5")}
    assert not any("n3" in link for link in part.cut)


@pytest.mark.parametrize("count", [3, 4, 5, 6, 7])
def test_majority_ring_every_node_sees_a_majority(count: int) -> None:
    nodes = [f"n{i}" for i in range(1, count + 1)]
    part = parse_spec("majority-ring", nodes)
    views = {a: frozenset(b for b in nodes if b == a or (a, b) not in part.cut) for a in nodes}
    for view in views.values():
        assert len(view) >= count // 2 + 1
    assert all((a, b) in part.cut for a, b in part.cut if (b, a) in part.cut)
    if count >= 4:
        assert len(set(views.values())) == count, "no two nodes may see the same majority"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("A,B|D", "unknown node 'D'; the cluster's nodes are A, B, C"),
        ("A,,B|C", "empty node name"),
        ("A|", "empty node name"),
        ("A->B->C", "cannot parse 'A->B->C'"),
        ("A,B|B,C", "node 'B' is in two groups"),
        ("A|B;", "empty clause"),
        ("", "empty partition spec"),
        ("isolate:Z", "unknown node 'Z'"),
        ("halfs", "unknown node or named spec 'halfs'"),
        ("A->A", ("node 'A' is on both sides of 'A->A'; a one-way cut goes from some nodes "
                 "to other nodes")),
        ("A,B->B,C", "node 'B' is on both sides of 'A,B->B,C'"),
        ("A,B,C", ("'A,B,C' puts every node in one group, so it cuts nothing; separate the "
                  "groups with '|'")),
        ("C, B,A; A->C", "'C, B,A' puts every node in one group"),
    ],
)
def test_bad_specs_name_the_token_and_list_the_nodes(spec: str, message: str) -> None:
    with pytest.raises(SpecError) as raised:
        parse_spec(spec, ABC)
    assert message in str(raised.value)


def test_named_spec_typo_lists_what_is_accepted() -> None:
    with pytest.raises(SpecError, match="random-halves"):
        validate_spec("isolate:", ABC)


def test_named_spec_on_too_small_cluster() -> None:
    with pytest.raises(SpecError, match="needs at least 3 nodes"):
        parse_spec("bridge", ["A", "B"])


def test_parse_links_from_pairs_or_spec() -> None:
    assert parse_links([("A", "B")], ABC) == [("A", "B")]
    assert parse_links("A->B;B->C", ABC) == [("A", "B"), ("B", "C")]
    with pytest.raises(SpecError, match="unknown node 'Q'"):
        parse_links([("A", "Q")], ABC)
    with pytest.raises(SpecError, match="joins a node to itself"):
        parse_links([("A", "A")], ABC)


def test_spec_ids_are_the_specs_without_spaces() -> None:
    assert spec_id("A,B | C") == "A,B|C"
    assert spec_id("A->C; B->C") == "A->C;B->C"


@pytest.mark.parametrize("spec", ["A", "isolate:A", "isolate:leader"])
def test_a_spec_on_one_node_cuts_nothing_and_is_refused(spec: str) -> None:
    with pytest.raises(SpecError, match="cuts nothing|needs at least 2 nodes"):
        parse_spec(spec, ["A"], leader=lambda: "A")
