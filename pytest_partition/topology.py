"""Partition specs: text like ``"A,B|C"`` turned into the set of cut directed links.

Grammar (whitespace around tokens is ignored)::

    spec    := clause (";" clause)*
    clause  := groups | one-way | named
    groups  := names ("|" names)*        "A,B|C": links across groups cut both ways;
                                         nodes not named form one more group
    one-way := names "->" names          "A->C": no byte travels from A to C
    names   := NAME ("," NAME)*
    named   := "halves" | "random-halves" | "majority-ring" | "bridge"
             | "random-node" | "isolate:" NAME | "isolate:leader"

Every clause must cut at least one link: ``"A->A"`` (a node on both sides
of a one-way cut) and ``"A,B,C"`` naming every node in one group are errors.
The random ones draw from an injected :class:`random.Random`, so a seed
replays them; ``isolate:leader`` asks a callback which node leads.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import SpecError

Link = tuple[str, str]

NAMED_SPECS: tuple[str, ...] = (
    "halves",
    "random-halves",
    "majority-ring",
    "bridge",
    "random-node",
    "isolate:NODE",
    "isolate:leader",
)
RANDOM_SPECS = frozenset({"random-halves", "random-node"})

__all__ = [
    "NAMED_SPECS",
    "Link",
    "Partition",
    "all_links",
    "parse_links",
    "parse_spec",
    "sides",
    "spec_id",
    "validate_spec",
]

_ACCEPTED = (
    "accepted: groups like 'A,B|C', one-way cuts like 'A->C', clauses joined with ';', "
    "or one of " + ", ".join(NAMED_SPECS)
)


@dataclass(frozen=True)
class Partition:
    """A resolved partition: which directed links are cut.

    ``spec`` is the text asked for; ``resolved`` says what a named or random
    spec became (``"random-halves"`` -> ``"n3|n1,n2"``); ``groups`` are the
    sets of nodes that still reach each other both ways (the sides).
    """

    spec: str
    resolved: str
    cut: frozenset[Link]
    groups: tuple[tuple[str, ...], ...]

    def is_cut(self, src: str, dst: str) -> bool:
        """True when no byte travels from ``src`` to ``dst``."""
        return (src, dst) in self.cut

    def side_of(self, node: str) -> tuple[str, ...]:
        """The group that ``node`` is in."""
        for group in self.groups:
            if node in group:
                return group
        return (node,)

    @property
    def exact(self) -> str:
        """A spec that cuts exactly these links and resolves to nothing else:
        groups (``"n1|n2,n3"``) when the cut is the one between the sides,
        otherwise one-way clauses (``"n1->n2,n3;n2->n1"``)."""
        if set(self.cut) == _cut_between(self.groups):
            return "|".join(",".join(group) for group in self.groups)
        by_source: dict[str, list[str]] = {}
        for src, dst in sorted(self.cut):
            by_source.setdefault(src, []).append(dst)
        return ";".join(f"{src}->{','.join(dsts)}" for src, dsts in by_source.items())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as recorded in fault events."""
        return {
            "spec": self.spec,
            "resolved": self.resolved,
            "exact": self.exact,
            "cut": [list(link) for link in sorted(self.cut)],
            "groups": [list(group) for group in self.groups],
        }


def all_links(nodes: Sequence[str]) -> list[Link]:
    """Every ordered pair of distinct nodes."""
    return [(a, b) for a in nodes for b in nodes if a != b]


def spec_id(spec: str) -> str:
    """A readable pytest id for a spec: the spec itself without spaces."""
    return "".join(spec.split()) or "empty"


def validate_spec(spec: str, nodes: Sequence[str]) -> None:
    """Check a spec's syntax and node names without resolving random parts.

    Used at collection time, so a typo fails before any process starts.
    """
    parse_spec(spec, nodes, rng=random.Random(0), leader=lambda: nodes[0] if nodes else None)


def parse_spec(
    spec: str,
    nodes: Sequence[str],
    *,
    rng: random.Random | None = None,
    leader: Callable[[], str | None] | None = None,
) -> Partition:
    """Resolve ``spec`` against the cluster's ``nodes``.

    Raises :class:`SpecError` naming the offending token and listing the
    nodes when the spec cannot be parsed or names a node that does not exist.
    """
    if not isinstance(spec, str):
        raise SpecError(f"a partition spec must be a string, got {spec!r}; {_ACCEPTED}")
    names = list(nodes)
    clauses = [clause.strip() for clause in spec.split(";")]
    if not spec.strip():
        raise SpecError(f"empty partition spec; {_ACCEPTED}")
    cut: set[Link] = set()
    resolved: list[str] = []
    for clause in clauses:
        if not clause:
            raise SpecError(f"partition spec {spec!r}: empty clause between ';'; {_ACCEPTED}")
        clause_cut, text = _parse_clause(clause, spec, names, rng or random.Random(), leader)
        cut |= clause_cut
        resolved.append(text)
    return Partition(
        spec=spec,
        resolved="; ".join(resolved),
        cut=frozenset(cut),
        groups=sides(names, cut),
    )


def parse_links(links: str | Iterable[Link], nodes: Sequence[str]) -> list[Link]:
    """Directed links given as pairs or as a spec (``"A->B;B->C"``, ``"A|B"``)."""
    if isinstance(links, str):
        return sorted(parse_spec(links, nodes).cut)
    result: list[Link] = []
    for item in links:
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise SpecError(f"link {item!r} must be a (src, dst) pair of node names")
        src, dst = item
        for name in (src, dst):
            _check_name(str(name), str(item), nodes)
        if src == dst:
            raise SpecError(f"link {item!r} joins a node to itself")
        result.append((str(src), str(dst)))
    return result


# -- clauses -----------------------------------------------------------------


def _parse_clause(
    clause: str,
    spec: str,
    nodes: list[str],
    rng: random.Random,
    leader: Callable[[], str | None] | None,
) -> tuple[set[Link], str]:
    lowered = clause.lower()
    if lowered.startswith("isolate:"):
        target = clause.split(":", 1)[1].strip()
        if not target:
            raise SpecError(
                f"partition spec {spec!r}: 'isolate:' needs a node name or 'leader' "
                f"(nodes: {', '.join(nodes)}); {_ACCEPTED}"
            )
        if target.lower() == "leader":
            if leader is None:
                raise SpecError(
                    f"partition spec {spec!r}: 'isolate:leader' needs a running cluster "
                    "to ask which node leads"
                )
            found = leader()
            if found is None:
                raise SpecError(
                    f"partition spec {spec!r}: no node reports itself as leader (role())"
                )
            target = found
        _check_name(target, spec, nodes)
        _need(2, clause, spec, nodes)  # alone, a node has nobody to be cut off from
        return _isolate(target, nodes), f"{target}|{','.join(n for n in nodes if n != target)}"
    if lowered in ("halves", "random-halves"):
        order = list(nodes)
        if lowered == "random-halves":
            rng.shuffle(order)
        _need(2, clause, spec, nodes)
        half = len(order) // 2
        groups = [order[:half], order[half:]]
        return _cut_between(groups), "|".join(",".join(g) for g in groups)
    if lowered == "random-node":
        _need(2, clause, spec, nodes)
        target = rng.choice(nodes)
        return _isolate(target, nodes), f"{target}|{','.join(n for n in nodes if n != target)}"
    if lowered == "bridge":
        return _bridge(clause, spec, nodes)
    if lowered == "majority-ring":
        return _majority_ring(clause, spec, nodes)
    if "->" in clause:
        left, _, right = clause.partition("->")
        if "->" in right or "|" in clause:
            raise SpecError(
                f"partition spec {spec!r}: cannot parse {clause!r}; a one-way cut is "
                f"'SRC->DST' with comma-separated names; {_ACCEPTED}"
            )
        sources = _names(left, clause, spec, nodes)
        targets = _names(right, clause, spec, nodes)
        both = [name for name in sources if name in targets]
        if both:
            # A node cannot be cut from itself: such a clause cuts less than it
            # says, or nothing at all ('A->A').
            raise SpecError(
                f"partition spec {spec!r}: node {both[0]!r} is on both sides of {clause!r}; "
                "a one-way cut goes from some nodes to other nodes, e.g. 'A->B,C'"
            )
        cut = {(s, t) for s in sources for t in targets if s != t}
        return cut, f"{','.join(sources)}->{','.join(targets)}"
    if not any(sep in clause for sep in ",|") and clause not in nodes:
        # A lone unknown word is more likely a misspelled named spec.
        raise SpecError(
            f"partition spec {spec!r}: unknown node or named spec {clause!r}; the cluster's "
            f"nodes are {', '.join(nodes)}; {_ACCEPTED}"
        )
    groups = [_names(part, clause, spec, nodes) for part in clause.split("|")]
    seen: dict[str, int] = {}
    for position, group in enumerate(groups):
        for name in group:
            if name in seen:
                raise SpecError(
                    f"partition spec {spec!r}: node {name!r} is in two groups "
                    f"(groups {seen[name] + 1} and {position + 1})"
                )
            seen[name] = position
    rest = [n for n in nodes if n not in seen]
    if rest:
        groups.append(rest)
    if len(groups) < 2:
        raise SpecError(
            f"partition spec {spec!r}: {clause!r} puts every node in one group, so it cuts "
            "nothing; separate the groups with '|' (e.g. 'A,B|C'), or leave nodes out to "
            "put them in one more group"
        )
    return _cut_between(groups), "|".join(",".join(g) for g in groups)


def _names(text: str, clause: str, spec: str, nodes: Sequence[str]) -> list[str]:
    names = [part.strip() for part in text.split(",")]
    if any(not name for name in names):
        raise SpecError(
            f"partition spec {spec!r}: empty node name in {clause!r}; {_ACCEPTED}"
        )
    for name in names:
        _check_name(name, spec, nodes)
    return names


def _check_name(name: str, spec: str, nodes: Sequence[str]) -> None:
    if name not in nodes:
        raise SpecError(
            f"partition spec {spec!r}: unknown node {name!r}; the cluster's nodes are "
            f"{', '.join(nodes)}"
        )


def _need(count: int, clause: str, spec: str, nodes: Sequence[str]) -> None:
    if len(nodes) < count:
        raise SpecError(
            f"partition spec {spec!r}: {clause!r} needs at least {count} nodes, "
            f"the cluster has {len(nodes)} ({', '.join(nodes)})"
        )


# -- shapes ------------------------------------------------------------------


def _cut_between(groups: Sequence[Sequence[str]]) -> set[Link]:
    cut: set[Link] = set()
    for i, left in enumerate(groups):
        for j, right in enumerate(groups):
            if i != j:
                cut.update((a, b) for a in left for b in right)
    return cut


def _isolate(target: str, nodes: Sequence[str]) -> set[Link]:
    return _cut_between([[target], [n for n in nodes if n != target]])


def _bridge(clause: str, spec: str, nodes: list[str]) -> tuple[set[Link], str]:
    # Two halves that cannot talk, and one node (the first of the second half)
    # that talks to both: each half believes the bridge is on its side.
    _need(3, clause, spec, nodes)
    half = len(nodes) // 2
    left, right = nodes[:half], nodes[half:]
    bridge, right_only = right[0], right[1:]
    cut = _cut_between([left, right_only])
    return cut, f"{','.join(left)}|{','.join(right_only)} (bridge {bridge})"


def _majority_ring(clause: str, spec: str, nodes: list[str]) -> tuple[set[Link], str]:
    # Nodes on a ring, each keeping the links to its nearest neighbours: every
    # node sees a majority (itself included), but no two see the same one.
    _need(3, clause, spec, nodes)
    count = len(nodes)
    if count == 3:
        return _bridge(clause, spec, nodes)
    majority = count // 2 + 1
    radius = 1
    while 2 * radius + 1 < majority:
        radius += 1
    cut: set[Link] = set()
    for i, a in enumerate(nodes):
        for j, b in enumerate(nodes):
            distance = min((i - j) % count, (j - i) % count)
            if i != j and distance > radius:
                cut.add((a, b))
    views = [
        f"{a}:{','.join(b for j, b in enumerate(nodes) if (a, b) not in cut and b != a)}"
        for a in nodes
    ]
    return cut, "ring " + " ".join(views)


def sides(nodes: Sequence[str], cut: Iterable[Link]) -> tuple[tuple[str, ...], ...]:
    """The sides of a partition: groups of nodes that still talk both ways.

    They are the connected components of the links intact in both
    directions; nodes keep the order of ``nodes``, for readable output.
    """
    cut = set(cut)
    parent = {n: n for n in nodes}

    def find(n: str) -> str:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for a in nodes:
        for b in nodes:
            if a < b and (a, b) not in cut and (b, a) not in cut:
                parent[find(a)] = find(b)
    components: dict[str, list[str]] = {}
    for n in nodes:
        components.setdefault(find(n), []).append(n)
    return tuple(tuple(group) for group in components.values())
