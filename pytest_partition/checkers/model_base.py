"""The interface of a sequential specification ("model"), and how states hold values.

A model says what one operation does to an object when operations run one at
a time: :class:`Model` (or any object with ``init`` and ``step``,
:class:`ModelLike`). The checker searches for an order of the recorded
operations that the model accepts; it never mutates a state, so ``step`` must
be pure and states must be hashable (they are memoized): :func:`freeze` turns
a JSON-like value into its hashable twin, :func:`thaw` back for display.

The built-in models live in :mod:`.models`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..history import PLUMBING, Operation

__all__ = [
    "DELETES",
    "IGNORED_CALLS",
    "INCREMENTS",
    "READS",
    "WRITES",
    "Model",
    "ModelError",
    "ModelLike",
    "Stepper",
    "freeze",
    "thaw",
    "unchanged",
]

READS = frozenset({"read", "get"})
WRITES = frozenset({"write", "put"})
DELETES = frozenset({"delete", "del", "remove"})
INCREMENTS = frozenset({"incr", "add"})
IGNORED_CALLS = PLUMBING
"""Calls that read no data and change none (health checks, introspection):
every built-in model accepts them anywhere and the checker leaves them out."""


Stepper = Callable[[Any], tuple[bool, Hashable]]
"""What :meth:`Model.stepper` returns: ``state -> (legal, next state)`` for one operation."""


def unchanged(state: Any) -> tuple[bool, Hashable]:
    """The stepper of an operation that is legal anywhere and changes nothing."""
    return True, state


class ModelError(ValueError):
    """An operation the model cannot interpret (unknown ``f``, malformed value)."""


@dataclass(frozen=True)
class _Flag:
    """A frozen bool. Python says ``True == 1``; a history must not: a read of
    ``True`` after a write of 1 (a store answering its acknowledgement
    instead of the value) is a wrong answer."""

    value: bool

    def __repr__(self) -> str:
        return repr(self.value)


def freeze(value: Any) -> Hashable:
    """A hashable twin of a JSON-like value: lists become tuples, dicts sorted pairs.

    Booleans stay distinct from the numbers 0 and 1.
    """
    if isinstance(value, bool):
        return _Flag(value)
    if isinstance(value, (list, tuple)):
        return tuple(freeze(item) for item in value)
    if isinstance(value, dict):
        pairs = sorted(((repr(k), freeze(v)) for k, v in value.items()), key=lambda kv: kv[0])
        return ("<map>", *pairs)
    if isinstance(value, (set, frozenset)):
        return frozenset(freeze(item) for item in value)
    return value  # type: ignore[no-any-return]


def thaw(value: Any) -> Any:
    """Undo :func:`freeze` for display: tuples back to lists, maps back to dicts."""
    if isinstance(value, _Flag):
        return value.value
    if isinstance(value, tuple):
        if value[:1] == ("<map>",):
            return {k: thaw(v) for k, v in value[1:]}
        return [thaw(item) for item in value]
    return value


class ModelLike(Protocol):
    """What the checker needs of a model: :class:`Model` without the optional parts."""

    def init(self) -> Hashable:
        """The state before any operation."""

    def step(self, state: Any, op: Operation) -> tuple[bool, Hashable]:
        """(is ``op``'s outcome legal in ``state``?, the next state)."""


class Model:
    """The interface of a sequential specification; subclass it for your own service.

    Required: :meth:`init` and :meth:`step`. Optional: :meth:`partition` (split a
    history into independent sub-histories, e.g. one per key, which makes the
    search much cheaper), :meth:`describe_state` (for explanations),
    :meth:`ignores` (operations the checker may leave out), :meth:`read_only`
    (operations that never change the state, which prunes the search),
    :meth:`grows` with :meth:`may_grow_into` and :meth:`may_lead_to`
    (operations that only extend a state, which prunes more),
    :meth:`defer_unknown` (a search-order hint for unknown outcomes),
    :meth:`stepper` (``step`` prepared once per operation) and
    :attr:`steps_on_payload_only`. The checker also accepts any object with
    ``init`` and ``step``; the optional methods are then looked up by name.
    """

    name: str = "model"
    steps_on_payload_only: bool = False
    """True when :meth:`step` reads nothing of an operation but ``f``, ``key``,
    ``value``, ``output`` and ``type`` (not its process, node or times); the
    search may then treat identical unknown-outcome operations as one kind."""

    def init(self) -> Hashable:
        """The state before any operation."""
        raise NotImplementedError

    def step(self, state: Any, op: Operation) -> tuple[bool, Hashable]:
        """Apply ``op`` to ``state``: (is this outcome legal here?, the next state).

        Must be pure. When ``op.type != "ok"`` the outcome is unknown: accept it
        and return the state as if the operation took effect (the checker also
        tries the histories where it never did). Raise :class:`ModelError` for an
        operation the model does not understand.
        """
        raise NotImplementedError

    def stepper(self, op: Operation) -> Stepper:
        """:meth:`step` for one operation, as a function of the state.

        ``stepper(op)(state)`` must equal ``step(state, op)``. The search
        prepares each operation once and then tries it in many states:
        override this when ``step`` redoes work that depends on ``op`` alone
        (freezing its output, reading its input). Default: calls :meth:`step`.
        """
        return lambda state: self.step(state, op)

    def partition(self, ops: Sequence[Operation]) -> list[list[Operation]]:
        """Independent sub-histories (P-compositionality); default: one."""
        return [list(ops)]

    def describe_state(self, state: Any) -> str:
        """The state in words, for explanations."""
        return repr(thaw(state))

    def ignores(self, op: Operation) -> bool:
        """True when ``op`` can neither constrain nor change any state (left out)."""
        return False

    def read_only(self, op: Operation) -> bool:
        """True when ``op`` never changes the state, whatever the state (a read).

        The search places such an operation as soon as it is legal and never
        tries alternatives to it, which prunes most backtracking. Only answer
        True when no state can change under ``op``: a write of the current value
        changes nothing now but would later.
        """
        return False

    def defer_unknown(self, op: Operation) -> bool:
        """True to try ``op`` (of unknown outcome) only when nothing else fits.

        A speed hint, never a change of verdict. Good for operations whose
        effect no later operation hides (increments): trying such an operation
        early when it never happened costs a long detour. Bad for writes, whose
        effect a later write hides: there the search should try them in time
        order.
        """
        return False

    def grows(self, op: Operation) -> bool:
        """True when ``op`` can only *grow* a state, whatever its outcome.

        Growth is an order on states that the model chooses (a string grows
        into any string that starts with it, a number into any larger one),
        with one rule: for every state ``s``, the state that :meth:`step`
        returns for ``op`` grows from ``s`` (or equals it). Appends and
        increments by a non-negative amount grow; writes do not. Used with
        :meth:`may_grow_into`; both default to "no pruning".
        """
        return False

    def may_grow_into(self, state: Any, op: Operation) -> bool:
        """False when the read-only ``op`` is legal in no state that grows from ``state``.

        When every operation that may still come before ``op`` grows (see
        :meth:`grows`), the search drops a path as soon as this is False: a
        read that returned ``"ab"`` cannot be placed once the string is
        ``"ba"``, so no order of the appends after it need be tried. Answer
        True when unsure: a wrong False loses a legal order, a wrong True only
        time.
        """
        return True

    def may_lead_to(self, op: Operation, read: Operation) -> bool:
        """False when no state ``op`` sets can grow into one where ``read`` is legal.

        For an operation that does not grow (see :meth:`grows`): whatever the
        state before it, if it changes the state, the state it leaves cannot
        grow into one where the read-only ``read`` is legal (a write of
        ``"x"`` before a read of ``"yx"``). Such an operation, still to come,
        is then no reason to keep trying orders for that read. Default True
        (unsure).
        """
        return True
