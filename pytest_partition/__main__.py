"""``python -m pytest_partition check HISTORY``: check a saved history from the command line.

``check`` reads a history (our JSON Lines, or Jepsen's / Knossos' EDN; or an
artifacts folder holding ``history.jsonl``), checks that it is linearizable,
prints the verdict and its explanation, and with ``--timeline OUT.html``
writes the HTML timeline with the verdict and the blamed operations marked.

Exit status, for scripts and CI:

- 0: linearizable;
- 1: not linearizable;
- 2: bad input: a file that cannot be read or parsed, invokes and
  completions that do not pair up, a history with no client operation, an
  operation the model does not know, a bad argument, a timeline that cannot
  be written. One line on stderr names the bad part and what is accepted;
- 3: unknown: the search reached ``--time-limit`` (or the checker could not
  run) before it found an order or a violation. Neither a pass nor a
  failure: raise the limit, or check fewer operations.

Without ``--model`` the model is inferred from the operations (and the
output says so): only increments and reads make a ``counter``; deletes,
appends or increments among writes make a ``kv``; otherwise a ``register``
per key.

This module may import the domain model, the checkers and the reports, never
pytest or the harness: checking a file starts no process.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from .checkers import LinearizabilityResult, ModelError, linearizable
from .checkers.model_base import DELETES, INCREMENTS, READS
from .checkers.models import IGNORED_CALLS, resolve_model
from .durations import SECONDS_OR_ZERO_ACCEPTED, seconds_problem
from .history import History, HistoryError, Operation
from .report import write_timeline

__all__ = ["EXIT_BAD_INPUT", "EXIT_LINEARIZABLE", "EXIT_NOT_LINEARIZABLE", "EXIT_UNKNOWN",
           "infer_model", "main"]

EXIT_LINEARIZABLE = 0
EXIT_NOT_LINEARIZABLE = 1
EXIT_BAD_INPUT = 2  # argparse's own status for a usage error, so every bad input says 2
EXIT_UNKNOWN = 3
MODELS = ("register", "kv", "counter")
DEFAULT_TIME_LIMIT = 60.0
ARTIFACT_HISTORIES = ("history.jsonl", "cluster/history.jsonl")

_EPILOG = """\
exit status: 0 linearizable, 1 not linearizable, 2 bad input, 3 unknown (the
search reached --time-limit before it decided).
"""


class BadInput(Exception):
    """Input the command cannot check; the message names the bad part (exit 2)."""


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line on stderr (exit 2), without the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see --help)\n")


def _time_limit(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if seconds_problem(value, zero_ok=True) is not None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time limit; accepted: {SECONDS_OR_ZERO_ACCEPTED} "
            "(0: no limit)")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m pytest_partition",
                     description="Command-line tools of pytest-partition.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    check = commands.add_parser(
        "check", help="check a saved history: linearizable or not",
        description="Check that a saved history is linearizable, print the verdict and "
                    "its explanation, and optionally write the HTML timeline.",
        epilog=_EPILOG)
    check.add_argument("history", metavar="HISTORY",
                       help="a history file: JSON Lines, or Jepsen/Knossos EDN; or an "
                            "artifacts folder holding history.jsonl")
    check.add_argument("--model", choices=MODELS,
                       help="the model to check against (default: inferred from the "
                            "operations)")
    check.add_argument("--timeline", metavar="OUT.html", type=Path,
                       help="write the HTML timeline here, with the verdict and the blamed "
                            "operations marked")
    check.add_argument("--time-limit", metavar="SECONDS", type=_time_limit,
                       default=DEFAULT_TIME_LIMIT,
                       help=f"give up after this long and report unknown, exit 3 (default: "
                            f"{DEFAULT_TIME_LIMIT:g}; 0: no limit)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (see the module doc)."""
    args = _parser().parse_args(argv)
    try:
        return _check(Path(args.history), args.model, args.timeline, args.time_limit or None)
    except BadInput as error:
        print(f"python -m pytest_partition check: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("python -m pytest_partition check: interrupted", file=sys.stderr)
        return 130


def _say(line: str) -> None:
    """Print ``line``; when the reader went away (``| head``), drop the rest quietly."""
    try:
        print(line, flush=True)
    except BrokenPipeError:
        # Point stdout at /dev/null, so that the interpreter's last flush does not fail too;
        # the exit status still tells the verdict.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _check(source: Path, model: str | None, timeline: Path | None,
           time_limit: float | None) -> int:
    path = _history_file(source)
    try:
        history = History.load(path)
        operations = history.operations()
    except HistoryError as error:
        raise BadInput(str(error)) from None
    if not operations:
        raise BadInput(f"{path}: no client operation to check ({len(history)} event(s), none "
                       "of a client); a history holds invoke and ok/fail/info events of client "
                       "processes")
    if model is None:
        model, why = infer_model(operations)
        said = f"model: {model}, inferred ({why}); --model chooses another"
    else:
        said = f"model: {model} (given)"
    problem = _model_problem(history, operations, model)
    if problem:
        raise BadInput(problem)

    _say(f"history: {path}: {_summary(history, operations)}")
    _say(said)
    result = linearizable(operations, model, time_limit=time_limit)
    _say(result.explain())
    if timeline is not None:
        _say(f"timeline: {_write(history, timeline, result, path)}")
    if result.valid is True:
        return EXIT_LINEARIZABLE
    if result.valid is False:
        return EXIT_NOT_LINEARIZABLE
    _say(f"exit {EXIT_UNKNOWN}: unknown, neither a pass nor a failure; a longer --time-limit "
         "may decide it")
    return EXIT_UNKNOWN


def _history_file(source: Path) -> Path:
    """The history in ``source``: the file itself, or the one in an artifacts folder."""
    if not source.is_dir():
        return source
    for name in ARTIFACT_HISTORIES:
        if (source / name).is_file():
            return source / name
    looked = " or ".join(str(source / name) for name in ARTIFACT_HISTORIES)
    raise BadInput(f"{source} is a folder without a history (looked for {looked}); give a "
                   "history file (JSON Lines or Jepsen EDN) or an artifacts folder")


def infer_model(operations: Sequence[Operation]) -> tuple[str, str]:
    """The built-in model that fits ``operations``, and why, in words."""
    fs = sorted({op.f for op in operations} - IGNORED_CALLS)
    changes = {f for f in fs if f not in READS}
    if changes and changes <= INCREMENTS:
        why = "only increments and reads"
        model = "counter"
    elif changes & (INCREMENTS | DELETES | {"append"}):
        why = f"{', '.join(sorted(changes & (INCREMENTS | DELETES | {'append'})))} among writes"
        model = "kv"
    else:
        why, model = "reads, writes and cas", "register"
    return model, f"the operations are {', '.join(fs)}: {why}"


def _model_problem(history: History, operations: Sequence[Operation], name: str) -> str | None:
    """The first operation ``name`` cannot interpret, as a one-line error; None if none.

    The checker would call the history "unknown" for it; for a file, it is bad
    input: the wrong model, or a malformed operation, at a line we can name.
    """
    model = resolve_model(name)
    ignores = getattr(model, "ignores", None)
    considered = [op for op in operations
                  if op.type != "fail" and not (callable(ignores) and ignores(op))]
    partition = getattr(model, "partition", None)
    parts = partition(considered) if callable(partition) else [considered]
    for part in parts:
        for op in part:
            try:
                model.step(model.init(), op)
            except ModelError as error:
                return (f"{history.source(op.invoke_index)}: {error} (here: --model "
                        f"{', '.join(MODELS[:-1])} or {MODELS[-1]})")
    return None


def _summary(history: History, operations: Sequence[Operation]) -> str:
    tally = {"ok": 0, "fail": 0, "info": 0}
    for op in operations:
        tally[op.type] = tally.get(op.type, 0) + 1
    nodes = sorted({op.node for op in operations if op.node is not None})
    processes = len({op.process for op in operations})
    kinds: dict[str, int] = {}
    for event in history.faults():
        if event.type != "invoke":  # a fault is in force once its call returned
            kinds[event.f] = kinds.get(event.f, 0) + 1
    faults = sum(kinds.values())
    shown = f" ({', '.join(f'{n} {f}' for f, n in kinds.items())})" if kinds else ""
    where = f" on {', '.join(nodes)}" if nodes else ""
    return (f"{len(operations)} operation(s) ({tally['ok']} ok, {tally['fail']} fail, "
            f"{tally['info']} info) by {processes} process(es){where}; "
            f"{faults} fault event(s){shown}")


def _write(history: History, target: Path, result: LinearizabilityResult, path: Path) -> str:
    try:
        written = write_timeline(history, target, title=path.name, blamed=result.culprits,
                                 verdict=result.explain().split("\n", 1)[0])
    except OSError as error:
        raise BadInput(f"cannot write the timeline to {target}: "
                       f"{error.strerror or error}") from None
    if result.culprits:
        return f"{written} (opens on the blamed operation)"
    return str(written)


if __name__ == "__main__":
    raise SystemExit(main())
