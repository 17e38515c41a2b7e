"""The Wing-Gong/Lowe search for a linearization of one (sub-)history.

The history becomes a doubly linked list of call and return entries sorted by
real time (see :mod:`.realtime`). Walking from the head, a call entry is tried
against the model: if its outcome is legal in the current state, the operation
is *linearized*: its call and return are lifted out of the list, the
(linearized set, state) pair is remembered, and the walk restarts at the head.
Reaching a return entry means that operation had to take effect before this
point and could not: the search backtracks (unlifts the last linearized
operation and tries the next call after it). The memo of (linearized set,
state) pairs, as in Lowe's refinement used by Knossos and Porcupine, prunes
every configuration already explored, which makes the common case linear.

``info`` operations (unknown outcome) have their return entry at the end of
time: they may be linearized anywhere after their call, or never. The first
time the walk reaches such a return entry, every ``ok`` operation has been
linearized, and the remaining unknown ones simply did not happen.

Four refinements keep Python fast on real histories; none changes a verdict
(the tests compare against brute force and against the plain search):

- a legal *pure* operation (``model.read_only(op)``: a read) is placed at once,
  and when it fails its whole level fails (see the comment in the loop);
- a pure operation that can no longer become legal ends the path at once:
  when everything that may still come before it only *grows* the state
  (``model.grows``: appends, increments) or cannot set a state that grows
  into its value (``model.may_lead_to``: a write of ``"x"`` before a read of
  ``"yx"``), and its value cannot grow from the current state
  (``model.may_grow_into``: a read of ``"ab"`` once the string is ``"ba"``),
  no order of the rest can place it, so the search does not try them all.
  The test runs on the candidates and on the first pure operation beyond
  them, so that a read about to be invoked already cuts the orders of the
  appends before it;
- unknown-outcome operations the model defers (``model.defer_unknown(op)``:
  increments) are tried only once no other operation fits a point;
- unknown-outcome *twins* (same f, key and input; only when the model declares
  ``steps_on_payload_only``) take effect in invocation order, so k pending
  "add 1" give k + 1 cases instead of 2^k.

Each operation is prepared once (``model.stepper(op)``, when the model has
it: its output frozen, its kind decided) and then tried in many states.

The search is a generator that yields every few thousand steps so that the
caller can interleave several keys and enforce a time limit without threads.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..history import Operation
from .model_base import Model, freeze
from .realtime import call_moment, return_moment

__all__ = ["SearchOutcome", "search"]

SLICE_STEPS = 2048
"""Steps between two yields: a few milliseconds of work."""

LOOKAHEAD = 16
"""How far past the current candidates the search looks for a read it can no longer reach."""


@dataclass
class SearchOutcome:
    """How one search ended.

    ``prefix``: on failure, the longest sequence of operations the search could
    linearize, each with the state after it; ``blocked``: the operation whose
    return was reached at that point without a legal place for it.
    """

    legal: bool
    steps: int
    prefix: list[tuple[Operation, Hashable]] = field(default_factory=list)
    blocked: Operation | None = None
    state: Hashable = None
    pruned: bool = False
    """True when unreachable reads were pruned: a path then ends where a read
    became unreachable, before that read's return, so the longest order (and
    its culprit) may be one that went wrong elsewhere."""


def search(
    ops: Sequence[Operation], model: Any, *, growth: bool = True
) -> Generator[None, None, SearchOutcome]:
    """Search a linearization of ``ops`` under ``model`` (a generator; see module doc).

    ``ops`` must already exclude ``fail`` operations. ``growth=False`` turns
    off the pruning of unreachable reads (same verdict, more steps; its
    culprit is the one at the end of the longest order, see
    :attr:`SearchOutcome.pruned`). Raises :class:`ValueError` for an
    operation that completes before it was invoked.
    """
    n = len(ops)
    init_state: Hashable = model.init()
    if n == 0:
        return SearchOutcome(True, 0, state=init_state)

    moments: list[tuple[Any, int, int]] = []
    for i, op in enumerate(ops):
        called, returned = call_moment(op), return_moment(op)
        if returned < called:
            raise ValueError(f"operation completes before it starts: {op.describe()}")
        moments.append((called, 0, i))  # kind 0 sorts calls first on a tie: concurrent
        moments.append((returned, 1, i))
    moments.sort()

    # Node 0 is the head sentinel; entry p of the sorted list is node p + 1.
    size = 2 * n + 1
    nxt = list(range(1, size + 1))
    nxt[-1] = -1
    prv = list(range(-1, size - 1))
    op_of = [0] * size
    is_call = [False] * size
    endless = [False] * size  # the return entry of an info operation
    match = [0] * size
    call_node = [0] * n
    for position, (_, kind, i) in enumerate(moments):
        node = position + 1
        op_of[node] = i
        if kind == 0:
            is_call[node] = True
            call_node[i] = node
        else:
            match[call_node[i]] = node
            endless[node] = ops[i].end is None
    bits = [1 << i for i in range(n)]
    # Per node, what the scan below needs of a call, so that it indexes once.
    op_at: list[Operation | None] = [ops[op_of[node]] if is_call[node] else None
                                     for node in range(size)]
    bit_at = [bits[op_of[node]] for node in range(size)]
    # Steppers when the model prepares operations (see Model.stepper); else
    # model.step itself is called, without a wrapper around it per call.
    tries = _steppers(model, op_at)
    step = model.step
    # Unknown-outcome twins (same f, key and input) are interchangeable when
    # the model looks at nothing else: one takes effect only once its
    # earlier-invoked twin has (the earlier one fits wherever the later does).
    # twin_bit[node]: the bit of that earlier twin, 0 for none.
    twin_bit = [0] * size
    if getattr(model, "steps_on_payload_only", False):
        last_twin: dict[tuple[str, Hashable, Hashable], int] = {}
        for node in range(1, size):  # in time order, so in invocation order
            pending = op_at[node]
            if pending is not None and pending.end is None:
                signature = (pending.f, freeze(pending.key), freeze(pending.value))
                twin_bit[node] = last_twin.get(signature, 0)
                last_twin[signature] = bit_at[node]
    # Unknown-outcome operations the model lets wait (increments, whose effect
    # no later write hides) are tried only once no other operation fits.
    defer = getattr(model, "defer_unknown", None)
    deferred = [
        op is not None and op.end is None and callable(defer) and bool(defer(op))
        for op in op_at
    ]
    read_only = getattr(model, "read_only", None)
    pure = [op is not None and callable(read_only) and bool(read_only(op)) for op in op_at]
    rescuers = _rescuers(model, size, nxt, op_at, pure, match, bit_at) if growth else None
    may_grow_into = model.may_grow_into if rescuers is not None else None

    state = init_state
    linearized = 0
    memo: set[tuple[int, Hashable]] = set()
    # The stack of linearized calls is a linked list of immutable cells
    # (node, state before, rest): a snapshot of the deepest point is O(1).
    stack: tuple[int, Hashable, Any] | None = None
    depth = 0
    best_depth = -1
    best_stack: tuple[int, Hashable, Any] | None = None
    best_state: Hashable = init_state
    blocked = -1
    steps = 0
    budget = SLICE_STEPS
    entry = nxt[0]
    late = False  # False: try the operations in time order; True: then the deferred ones
    while entry != -1:
        # Scan the calls before the first return: the operations that may take
        # effect next (deferred ones only once the others are exhausted).
        # A legal pure one (one that never changes the state, like a read) is
        # taken at once: no pending operation must precede it (their returns
        # come after its call) and it changes no state the others see, so
        # placing it first loses nothing; and if that fails, every other choice
        # here fails too. Otherwise the first legal call in time order whose
        # outcome is not in the memo is taken; once one is found, only pure
        # calls are still tried.
        chosen = -1
        chosen_state: Hashable = None
        chosen_seen: tuple[int, Hashable] | None = None
        dead = False
        while is_call[entry]:
            if deferred[entry] is not late:
                pass
            elif pure[entry]:
                budget -= 1
                legal, new_state = (tries[entry](state) if tries is not None
                                    else step(state, op_at[entry]))
                if legal:
                    seen = (linearized | bit_at[entry], new_state)
                    if seen in memo:
                        dead = True  # this pure choice failed before: so does the level
                    else:
                        chosen, chosen_state, chosen_seen = entry, new_state, seen
                    break
                if may_grow_into is not None:
                    # Every operation that may still come before this read only
                    # grows the state, and the read's value cannot grow from
                    # here: no order of what is left can place it.
                    needed = rescuers[entry]  # type: ignore[index]
                    if needed & linearized == needed and not may_grow_into(state, op_at[entry]):
                        dead = True
                        if depth > best_depth:
                            best_depth, best_stack, best_state = depth, stack, state
                            blocked = op_of[entry]
                        break
            elif chosen < 0:
                twin = twin_bit[entry]
                if not twin or linearized & twin:
                    budget -= 1
                    legal, new_state = (tries[entry](state) if tries is not None
                                        else step(state, op_at[entry]))
                    if legal:
                        seen = (linearized | bit_at[entry], new_state)
                        if seen not in memo:
                            chosen, chosen_state, chosen_seen = entry, new_state, seen
                            if late:
                                break  # the late pass tries no pure call
            entry = nxt[entry]
        else:
            if may_grow_into is not None and not late:
                # The same test for the first pure operation not yet invoked
                # here: orders of the operations before it need not be tried
                # if none can reach its value.
                ahead, left = nxt[entry], LOOKAHEAD
                while ahead != -1 and left:
                    if pure[ahead]:
                        needed = rescuers[ahead]  # type: ignore[index]
                        if needed & linearized == needed and not may_grow_into(
                                state, op_at[ahead]):
                            dead = True
                            if depth > best_depth:
                                best_depth, best_stack, best_state = depth, stack, state
                                blocked = op_of[ahead]
                        break
                    ahead, left = nxt[ahead], left - 1
        if budget <= 0:
            steps += SLICE_STEPS - budget
            budget = SLICE_STEPS
            yield
        if chosen >= 0 and not dead:
            assert chosen_seen is not None
            memo.add(chosen_seen)
            stack = (chosen, state, stack)
            depth += 1
            state = chosen_state
            linearized = chosen_seen[0]
            # Lift the call, then its return, out of the list.
            before, after = prv[chosen], nxt[chosen]
            nxt[before] = after
            prv[after] = before
            ret = match[chosen]
            before, after = prv[ret], nxt[ret]
            nxt[before] = after
            if after != -1:
                prv[after] = before
            entry = nxt[0]
            late = False
            continue
        if not dead:
            if endless[entry]:
                break  # every ok operation is placed; unknown ones may never have happened
            if not late:
                late = True  # nothing else fits here: try the deferred ones
                entry = nxt[0]
                continue
            if depth > best_depth:
                best_depth, best_stack, best_state, blocked = depth, stack, state, op_of[entry]
        # Backtrack; a pure operation's level fails with it (see above).
        while True:
            if stack is None:
                failure = _failure(ops, op_of, steps + SLICE_STEPS - budget, best_stack,
                                   best_state, blocked)
                failure.pruned = rescuers is not None
                return failure
            top, state, stack = stack
            depth -= 1
            linearized ^= bits[op_of[top]]
            # Unlift in reverse order: the return first, then the call.
            ret = match[top]
            nxt[prv[ret]] = ret
            after = nxt[ret]
            if after != -1:
                prv[after] = ret
            nxt[prv[top]] = top
            prv[nxt[top]] = top
            if not pure[top]:
                break
        entry = nxt[top]
        late = deferred[top]
    return SearchOutcome(True, steps + SLICE_STEPS - budget, state=state)


def _steppers(model: Any, op_at: list[Operation | None]) -> list[Any] | None:
    """Per node, ``model.stepper(op)``: ``state -> (legal, next state)`` for its operation.

    None when the model has no stepper of its own (only :meth:`Model.stepper`'s
    default, which would only wrap ``step``): the search then calls ``step``.
    """
    prepare = getattr(model, "stepper", None)
    if not callable(prepare) or getattr(type(model), "stepper", None) is Model.stepper:
        return None
    return [None if op is None else prepare(op) for op in op_at]


def _rescuers(
    model: Any,
    size: int,
    nxt: list[int],
    op_at: list[Operation | None],
    pure: list[bool],
    match: list[int],
    bit_at: list[int],
) -> list[int] | None:
    """For each pure call node: the operations that could still make it reachable.

    A bitmask per node of the *rescuers* of a pure operation: the operations
    that neither are pure nor grow (``model.grows``) and either completed
    before it was invoked (linearized by the time it is due) or are
    concurrent with it and may set a state that grows into its value
    (``model.may_lead_to``: a write of ``"x"`` may lead to a read of
    ``"xy"``, never to one of ``"yx"``). Once every rescuer is linearized,
    only growth can come before it. None when the model cannot prune that
    way, or nothing here grows.
    """
    grows = getattr(model, "grows", None)
    if not callable(grows) or not callable(getattr(model, "may_grow_into", None)):
        return None
    calls = [node for node in range(size) if op_at[node] is not None and not pure[node]]
    growing = {node for node in calls if grows(op_at[node])}
    if not growing or len(calls) == size // 2:  # nothing grows, or nothing is pure
        return None
    reset = [False] * size
    for node in calls:
        reset[node] = node not in growing
    lead_to: Callable[[Any, Any], bool] = getattr(model, "may_lead_to", None) or _maybe
    call_of_return = {match[node]: node for node in range(size) if op_at[node] is not None}
    masks = [0] * size
    returned = 0  # resets that returned: linearized by the time a later pure one is due
    pending_pure: dict[int, None] = {}  # pure calls invoked and not yet returned
    pending_resets: dict[int, None] = {}  # resets invoked and not yet returned
    node = nxt[0]
    while node != -1:
        if op_at[node] is not None:
            if pure[node]:
                pending_pure[node] = None
                masks[node] = returned | sum(
                    bit_at[r] for r in pending_resets if lead_to(op_at[r], op_at[node]))
            elif reset[node]:
                pending_resets[node] = None
                for reader in pending_pure:
                    if lead_to(op_at[node], op_at[reader]):
                        masks[reader] |= bit_at[node]
        else:
            called = call_of_return[node]
            if pure[called]:
                del pending_pure[called]
            elif reset[called]:
                del pending_resets[called]
                returned |= bit_at[called]
        node = nxt[node]
    return masks


def _maybe(op: Any, read: Any) -> bool:
    """``may_lead_to`` of a model that has none: always perhaps."""
    return True


def _failure(
    ops: Sequence[Operation],
    op_of: list[int],
    steps: int,
    stack: tuple[int, Hashable, Any] | None,
    final_state: Hashable,
    blocked: int,
) -> SearchOutcome:
    cells: list[tuple[int, Hashable]] = []
    while stack is not None:
        node, before, stack = stack
        cells.append((op_of[node], before))
    cells.reverse()
    # The state after an operation is the state before the next one.
    afters = [before for _, before in cells[1:]] + [final_state] if cells else []
    return SearchOutcome(
        legal=False,
        steps=steps,
        prefix=[(ops[i], after) for (i, _), after in zip(cells, afters, strict=True)],
        blocked=ops[blocked] if blocked >= 0 else None,
        state=final_state,
    )
