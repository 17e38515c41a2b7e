"""Sequential specifications ("models") that the linearizability checker replays.

A model says what one operation does to an object when operations run one at
a time (the interface, :class:`Model`, and how states hold values, :func:`freeze`,
live in :mod:`.model_base` and are re-exported here).

Built-in models are ready-made instances: :data:`register`, :data:`kv` and
:data:`counter` (or pass their names ``"register"``, ``"kv"``, ``"counter"``).
To check your own service, subclass :class:`Model` and pass an instance.

How values are read (see :mod:`pytest_partition.history`): ``op.value`` is
the input from the invoke event (put: the value; cas: ``[expected, new]``;
incr: the delta), ``op.output`` is what an ``ok`` completion returned (read:
the value; cas: a bool; incr: the new total). For an ``info`` operation the
output is unknown, so a model must accept any output when
``op.type != "ok"``. Jepsen histories repeat the input in the ok value of a
write or cas (``[old new]``); the models accept that too.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import replace
from typing import Any

from ..history import Operation
from .model_base import (
    DELETES,
    IGNORED_CALLS,
    INCREMENTS,
    READS,
    WRITES,
    Model,
    ModelError,
    ModelLike,
    Stepper,
    freeze,
)
from .model_base import unchanged as _unchanged

__all__ = [
    "IGNORED_CALLS",
    "CounterModel",
    "KVModel",
    "Model",
    "ModelError",
    "ModelLike",
    "RegisterModel",
    "counter",
    "freeze",
    "kv",
    "register",
    "resolve_model",
]


def _by_key(ops: Iterable[Operation]) -> list[list[Operation]]:
    groups: dict[Any, list[Operation]] = {}
    for op in ops:
        groups.setdefault(freeze(op.key), []).append(op)
    return list(groups.values())


def unwrap_independent(ops: Sequence[Operation]) -> list[Operation]:
    """Turn Jepsen's ``independent`` tuples into keyed operations, when present.

    Jepsen's multi-key workloads have no key field; each value is a tuple
    ``[key value]`` (a read invokes ``[k nil]``, a cas ``[k [old new]]``). A
    history is read that way only when no operation has a key, every value
    (and ok output) is a 2-element list whose key is a number or a string, and
    some read invokes with ``[k nil]`` or some cas with ``[k [old new]]``;
    otherwise it is returned as is. (A history of writes alone is legal
    either way.)
    """
    data_ops = [op for op in ops if op.f not in IGNORED_CALLS]
    if not data_ops or any(op.key is not None for op in data_ops):
        return list(ops)

    def pair(value: Any) -> bool:
        return isinstance(value, (list, tuple)) and len(value) == 2

    def scalar(key: Any) -> bool:
        return isinstance(key, (int, str)) and not isinstance(key, bool)

    if not all(pair(op.value) and scalar(op.value[0]) and (op.output is None or pair(op.output))
               for op in data_ops):
        return list(ops)
    if not any((op.f in READS and op.value[1] is None) or (op.f == "cas" and pair(op.value[1]))
               for op in data_ops):
        return list(ops)
    unwrapped = []
    for op in ops:
        if op.f in IGNORED_CALLS:
            unwrapped.append(op)
            continue
        output = op.output[1] if op.output is not None else None
        unwrapped.append(replace(op, key=op.value[0], value=op.value[1], output=output))
    return unwrapped


def _is_list(state: Any) -> bool:
    """True for a frozen list (a tuple), False for a frozen map (see :func:`freeze`)."""
    return isinstance(state, tuple) and state[:1] != ("<map>",)


def _cas_pair(op: Operation) -> tuple[Hashable, Hashable]:
    value = op.value
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ModelError(
            f"cas needs the value [expected, new], got {value!r} in {op.describe()}"
        )
    return freeze(value[0]), freeze(value[1])


def _unknown_f(model: str, op: Operation, known: str) -> ModelError:
    return ModelError(
        f"the {model} model does not know f={op.f!r} ({op.describe()}); it knows {known}. "
        "Use another model ('register', 'kv', 'counter') or pass your own Model."
    )


class RegisterModel(Model):
    """A read/write register, one per key (a history without keys is one register).

    - ``read``/``get``: an ok output must equal the state;
    - ``write``/``put``: the input becomes the state (the output is ignored);
    - ``cas`` with input ``[expected, new]``: a bool output is taken at its word
      (True: applied, legal only if the state was ``expected``; False: not
      applied, legal only if it was not); an output of None or a list (Jepsen
      repeats ``[old new]``) means applied. An unknown-outcome cas applies when
      the state matches.

    The initial state is ``initial`` (None unless given: a read of None before
    any write is legal); Knossos' ``(cas-register 0)`` is
    ``RegisterModel(initial=0)``. Calls in :data:`IGNORED_CALLS` are skipped;
    any other ``f`` is a :class:`ModelError`. Jepsen's independent tuples are understood (see
    :func:`unwrap_independent`).
    """

    name = "register"
    known = "read/get, write/put, cas"
    steps_on_payload_only = True
    initial: Any = None

    def __init__(self, initial: Any = None) -> None:
        self.initial = initial

    def __repr__(self) -> str:
        shown = "" if self.initial is None else f"initial={self.initial!r}"
        return f"{type(self).__name__}({shown})"

    def init(self) -> Hashable:
        """``initial`` (None: nothing written yet), for every key."""
        return freeze(self.initial)

    def partition(self, ops: Sequence[Operation]) -> list[list[Operation]]:
        """One sub-history per key."""
        return _by_key(unwrap_independent(ops))

    def ignores(self, op: Operation) -> bool:
        """Introspection calls, and reads whose result is unknown."""
        return op.f in IGNORED_CALLS or (op.f in READS and op.type != "ok")

    def read_only(self, op: Operation) -> bool:
        """Reads, and a cas that reported it did not apply."""
        return op.f in READS or (op.f == "cas" and op.type == "ok" and op.output is False)

    def step(self, state: Any, op: Operation) -> tuple[bool, Hashable]:
        """See the class docstring."""
        return self._prepare(op)(state)

    def stepper(self, op: Operation) -> Stepper:
        """:meth:`step` prepared once for ``op`` (its frozen value and output)."""
        if type(self).step is not RegisterModel.step:  # a subclass decides itself
            return super().stepper(op)
        return self._prepare(op)

    def step_other(self, state: Any, op: Operation) -> tuple[bool, Hashable]:
        """Operations beyond read/write/cas; the register knows none."""
        raise _unknown_f(self.name, op, self.known)

    # The rules live in the functions _prepare returns, and step calls them
    # too, so that the search and step can never disagree.
    def _prepare(self, op: Operation) -> Stepper:
        f = op.f
        if f in READS:
            if op.type != "ok":
                return _unchanged
            seen = freeze(op.output)
            return lambda state: (seen == state, state)
        if f in WRITES:
            written = freeze(op.value)
            return lambda state: (True, written)
        if f == "cas":
            return _prepare_cas(op)
        if f in IGNORED_CALLS:
            return _unchanged
        return self._prepare_other(op)

    def _prepare_other(self, op: Operation) -> Stepper:
        return lambda state: self.step_other(state, op)


def _prepare_cas(op: Operation) -> Stepper:
    expected, new = _cas_pair(op)
    if op.type != "ok":  # applied only where the state matched
        return lambda state: (True, new if state == expected else state)
    output = op.output
    if output is False:
        return lambda state: (state != expected, state)
    if output is True or output is None or isinstance(output, (list, tuple)):
        return lambda state: (state == expected, new)
    raise ModelError(f"cas returned {output!r}, expected a bool or None: {op.describe()}")


def _delta(op: Operation) -> int | float:
    delta = 1 if op.value is None else op.value
    if isinstance(delta, bool) or not isinstance(delta, (int, float)):
        raise ModelError(f"{op.f} needs a numeric delta, got {op.value!r}: {op.describe()}")
    return delta


def _adds_nothing_negative(op: Operation) -> bool:
    """True for an increment by a number >= 0 (None means 1)."""
    delta = 1 if op.value is None else op.value
    return (op.f in INCREMENTS and isinstance(delta, (int, float))
            and not isinstance(delta, bool) and delta >= 0)


def _number_output(op: Operation) -> int | float | None:
    """The total an ok ``incr`` returned, or None when it returned no number."""
    output = op.output
    if op.f != "incr" or isinstance(output, bool) or not isinstance(output, (int, float)):
        return None
    return output


class KVModel(RegisterModel):
    """A key-value map: a :class:`RegisterModel` per key, plus:

    - ``delete``/``del``/``remove``: the key becomes None (output ignored);
    - ``incr``/``add`` with a numeric delta (None means 1): a missing key counts
      as 0; an ok ``incr`` that returned a number must return the new total
      (``add`` follows Jepsen and repeats the delta, so its output is ignored);
      an ok incr on a non-numeric value is illegal;
    - ``append``, as Redis' APPEND and Porcupine's kv model for strings:

      - a string appended to a string concatenates (``"ab"`` + ``"c"`` is
        ``"abc"``);
      - anything appended to a list adds one element (``["a"]`` + ``"b"`` is
        ``["a", "b"]``);
      - on a missing key (None: never written, or deleted) a string append
        starts a string, as if the key held ``""``; any other value starts a
        list, as if it held ``[]``. So appending ``"a"`` then ``"b"`` to a
        missing key reads ``"ab"``; a service that keeps lists of strings
        writes ``[]`` first (or uses ``KVModel(initial=[])``);
      - an ok append of a non-string to a string, or of anything to a number,
        bool or map, is illegal (an unknown outcome there changed nothing);
      - the output of an append is not checked (Redis returns the new length,
        Jepsen repeats the input).

    ``initial`` is the value of every key before any write (default None: a
    missing key; ``KVModel(initial="")`` reads as Porcupine's kv model, where
    a key never written reads ``""``).
    """

    name = "kv"
    known = "read/get, write/put, cas, delete, incr/add, append"

    def defer_unknown(self, op: Operation) -> bool:
        """Increments: nothing hides their effect.

        Not appends: every read shows where an append took effect (the order
        of a string's pieces), so trying them in time order finds that place
        sooner; deferred, a 50-client history took 20 times longer.
        """
        return op.f in INCREMENTS

    def grows(self, op: Operation) -> bool:
        """Appends, and increments by a non-negative amount.

        The order: a missing key grows into anything, a string into the
        strings that start with it, a list into the lists that start with it,
        a number into the numbers at least as large; a bool or map does not
        grow. An append or an increment that does not apply to a state leaves
        it as it is.
        """
        return op.f == "append" or _adds_nothing_negative(op)

    def may_lead_to(self, op: Operation, read: Operation) -> bool:
        """Whether the value a write (or a cas that applies) sets grows into ``read``'s value."""
        if op.f in WRITES:
            return self.may_grow_into(freeze(op.value), read)
        if op.f == "cas" and isinstance(op.value, (list, tuple)) and len(op.value) == 2:
            return self.may_grow_into(freeze(op.value[1]), read)
        return True

    def may_grow_into(self, state: Any, op: Operation) -> bool:
        """Whether the value an ok read returned grows from ``state`` (see :meth:`grows`)."""
        if op.f not in READS or op.type != "ok" or state is None:
            return True
        seen: Any = freeze(op.output)
        if isinstance(state, str):
            return isinstance(seen, str) and seen.startswith(state)
        if _is_list(state):
            return _is_list(seen) and seen[:len(state)] == state
        if isinstance(state, (int, float)):
            return isinstance(seen, (int, float)) and seen >= state
        return bool(seen == state)

    def step_other(self, state: Any, op: Operation) -> tuple[bool, Hashable]:
        """delete, incr/add and append; anything else is a :class:`ModelError`."""
        return self._prepare_kv(op)(state)

    def _prepare_other(self, op: Operation) -> Stepper:
        if type(self).step_other is not KVModel.step_other:  # a subclass adds operations
            return super()._prepare_other(op)
        return self._prepare_kv(op)

    def _prepare_kv(self, op: Operation) -> Stepper:
        f = op.f
        ok = op.type == "ok"
        if f in DELETES:
            return lambda state: (True, None)
        if f in INCREMENTS:
            delta = _delta(op)
            returned = _number_output(op)

            def increment(state: Any) -> tuple[bool, Hashable]:
                current = 0 if state is None else state
                if isinstance(current, bool) or not isinstance(current, (int, float)):
                    # The store refuses incr on a non-number; an unknown
                    # outcome is then one that did nothing.
                    return not ok, state
                total = current + delta
                return (not ok or returned is None or returned == total), total

            return increment
        if f == "append":
            value = op.value
            if isinstance(value, str):
                def append_text(state: Any) -> tuple[bool, Hashable]:
                    if state is None:
                        return True, value
                    if isinstance(state, str):
                        return True, state + value
                    if _is_list(state):
                        return True, (*state, value)
                    return not ok, state  # onto a number, bool or map: refused

                return append_text
            element = freeze(value)

            def append_item(state: Any) -> tuple[bool, Hashable]:
                if state is None:
                    return True, (element,)
                if _is_list(state):
                    return True, (*state, element)
                return not ok, state  # onto a string, number, bool or map: refused

            return append_item
        raise _unknown_f(self.name, op, self.known)


class CounterModel(Model):
    """A counter per key, starting at 0.

    - ``incr``/``add`` with a numeric delta (None means 1; negative allowed): an
      ok ``incr`` that returned a number must return the new total; an
      unknown-outcome increment may or may not have happened;
    - ``read``/``get``: an ok output must equal the total (None reads as 0, a
      key never incremented).

    Calls in :data:`IGNORED_CALLS` are skipped; any other ``f`` is a
    :class:`ModelError`.
    """

    name = "counter"
    steps_on_payload_only = True

    def init(self) -> Hashable:
        """0."""
        return 0

    def partition(self, ops: Sequence[Operation]) -> list[list[Operation]]:
        """One sub-history per key."""
        return _by_key(ops)

    def ignores(self, op: Operation) -> bool:
        """Introspection calls, and reads whose result is unknown."""
        return op.f in IGNORED_CALLS or (op.f in READS and op.type != "ok")

    def read_only(self, op: Operation) -> bool:
        """Reads."""
        return op.f in READS

    def defer_unknown(self, op: Operation) -> bool:
        """Increments: nothing hides their effect."""
        return op.f in INCREMENTS

    def grows(self, op: Operation) -> bool:
        """Increments by a non-negative amount (the total never goes down)."""
        return _adds_nothing_negative(op)

    def may_grow_into(self, state: Any, op: Operation) -> bool:
        """Whether an ok read's total is at least ``state``."""
        if op.f not in READS or op.type != "ok":
            return True
        seen = 0 if op.output is None else op.output
        return (isinstance(seen, (int, float)) and not isinstance(seen, bool)
                and seen >= state)

    def step(self, state: Any, op: Operation) -> tuple[bool, Hashable]:
        """See the class docstring."""
        return self._prepare(op)(state)

    def stepper(self, op: Operation) -> Stepper:
        """:meth:`step` prepared once for ``op`` (its delta and output)."""
        if type(self).step is not CounterModel.step:  # a subclass decides itself
            return super().stepper(op)
        return self._prepare(op)

    def _prepare(self, op: Operation) -> Stepper:
        f = op.f
        if f in INCREMENTS:
            delta = _delta(op)
            returned = _number_output(op)
            ok = op.type == "ok"

            def increment(state: Any) -> tuple[bool, Hashable]:
                total = state + delta
                return (not ok or returned is None or returned == total), total

            return increment
        if f in READS:
            if op.type != "ok":
                return _unchanged
            seen = 0 if op.output is None else op.output
            if isinstance(seen, bool):  # True is not the total 1
                return lambda state: (False, state)
            return lambda state: (seen == state, state)
        if f in IGNORED_CALLS:
            return _unchanged
        raise _unknown_f(self.name, op, "incr/add, read/get")


register = RegisterModel()
"""The register model (an instance; also reachable by the name ``"register"``)."""
kv = KVModel()
"""The key-value model (an instance; also reachable by the name ``"kv"``)."""
counter = CounterModel()
"""The counter model (an instance; also reachable by the name ``"counter"``)."""

_BY_NAME: dict[str, Model] = {"register": register, "kv": kv, "counter": counter}


def resolve_model(model: ModelLike | str) -> ModelLike:
    """A model instance from an instance (or anything with init/step) or a name."""
    if isinstance(model, str):
        try:
            return _BY_NAME[model]
        except KeyError:
            raise ValueError(
                f"unknown model {model!r}; built-in models are {', '.join(_BY_NAME)}"
            ) from None
    if isinstance(model, type) and issubclass(model, Model):
        return model()  # a class given instead of an instance: forgive it
    if not callable(getattr(model, "init", None)) or not callable(getattr(model, "step", None)):
        raise TypeError(f"a model needs init() and step(state, op); got {model!r}")
    return model
