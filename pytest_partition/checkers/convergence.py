"""``converged(states)``: do all replicas hold the same data?

``states`` maps a node name to that node's ``state()``: a mapping of key to
value. Replicas have converged when every node has the same keys with equal
values. A key present on one node and absent on another differs (shown as
:data:`MISSING`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MISSING", "ConvergenceResult", "converged"]


class _Missing:
    """The value shown for a key that a node does not have."""

    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()


@dataclass
class ConvergenceResult:
    """Outcome of :func:`converged`.

    ``diff`` maps each key that differs to ``{node: value}`` for every node
    (``MISSING`` where the node lacks it); ``keys`` counts all keys seen.
    """

    valid: bool
    nodes: list[str]
    keys: int
    diff: dict[Any, dict[str, Any]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.valid

    def explain(self, *, max_keys: int = 5) -> str:
        """One line when converged; otherwise the differing keys, node by node."""
        if self.valid:
            return (f"replicas converged: {len(self.nodes)} node(s) hold the same "
                    f"{self.keys} key(s)")
        lines = [f"replicas differ on {len(self.diff)} of {self.keys} key(s):"]
        for key, values in list(self.diff.items())[:max_keys]:
            lines.append(f"  {key!r}: " + ", ".join(f"{n}={v!r}" for n, v in values.items())
                         + _odd_ones(values))
        if len(self.diff) > max_keys:
            lines.append(f"  ... and {len(self.diff) - max_keys} more key(s)")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict for result.json (a missing value is the string ``"<missing>"``)."""
        return {
            "checker": "converged",
            "valid": self.valid,
            "nodes": self.nodes,
            "keys": self.keys,
            "diff": {
                str(key): {node: _plain(value) for node, value in values.items()}
                for key, values in self.diff.items()
            },
            "text": self.explain(),
        }


def converged(states: Mapping[str, Mapping[Any, Any]]) -> ConvergenceResult:
    """Compare the replicas' states; see :class:`ConvergenceResult`."""
    nodes = [str(node) for node in states]
    all_keys: dict[Any, None] = {}
    for state in states.values():
        for key in state:
            all_keys.setdefault(key, None)
    diff: dict[Any, dict[str, Any]] = {}
    for key in all_keys:
        values = {str(node): state.get(key, MISSING) if hasattr(state, "get") else MISSING
                  for node, state in states.items()}
        first, *rest = list(values.values())
        if any(not _same(first, other) for other in rest):
            diff[key] = values
    return ConvergenceResult(valid=not diff, nodes=nodes, keys=len(all_keys), diff=diff)


def _same(a: Any, b: Any) -> bool:
    if a is MISSING or b is MISSING:
        return a is b
    return bool(a == b)


def _odd_ones(values: Mapping[str, Any]) -> str:
    """`` (C differs)`` when one value is held by fewer nodes than another."""
    groups: list[tuple[Any, list[str]]] = []
    for node, value in values.items():
        for held, members in groups:
            if _same(held, value):
                members.append(node)
                break
        else:
            groups.append((value, [node]))
    if len(groups) < 2:
        return ""
    groups.sort(key=lambda group: -len(group[1]))
    if len(groups[0][1]) == len(groups[1][1]):
        return ""
    odd = [node for _, members in groups[1:] for node in members]
    return f" ({', '.join(odd)} differ{'s' if len(odd) == 1 else ''})"


def _plain(value: Any) -> Any:
    if value is MISSING:
        return "<missing>"
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return repr(value)
