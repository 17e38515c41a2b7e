"""Options, ini keys and markers resolved into one settings object.

Every option is a ``--partition-NAME`` flag and a ``partition_NAME`` ini key.
Precedence, lowest first: built-in default < ini < command line < marker;
markers of one kind merge per argument, the closest (test, then class, then
module) winning. Values are checked by the same rules wherever they come
from, so a bad value gets the same clear message.
"""

from __future__ import annotations

import argparse
import os
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .durations import SECONDS_ACCEPTED, SECONDS_OR_ZERO_ACCEPTED, seconds_problem
from .errors import ArgumentError
from .node import MODES, bug_problem, env_problem, method_problem, node_names

__all__ = [
    "CLUSTER_MARKER_ARGS",
    "NEMESIS_MARKER_ARGS",
    "OPTIONS",
    "MarkerArgs",
    "MarkerError",
    "Option",
    "Settings",
    "cluster_kwargs",
    "merge_marker_args",
    "nemesis_settings",
    "partition_marker_specs",
]

def parse_seed(text: str) -> int | str:
    """An integer seed, or ``last``."""
    value = str(text).strip()
    if value == "last":
        return value
    try:
        seed = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a seed: give a non-negative integer, or 'last' to replay "
            "the previous run's seed"
        ) from None
    if seed < 0:
        raise argparse.ArgumentTypeError(f"seed {seed} is negative; give an integer >= 0")
    return seed


def parse_mode(text: str) -> str:
    """``cp`` or ``ap``."""
    value = str(text).strip().lower()
    if value not in MODES:
        raise argparse.ArgumentTypeError(f"{text!r} is not a mode; choose {' or '.join(MODES)}")
    return value


def _whole_number(text: str, what: str, low: int, high: int | None) -> int:
    """``text`` as an integer from ``low`` to ``high``, or an error naming ``what``."""
    accepted = f"an integer >= {low}" if high is None else f"an integer from {low} to {high}"
    try:
        number = int(str(text).strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a {what}; accepted: {accepted}") from None
    if number < low or (high is not None and number > high):
        raise argparse.ArgumentTypeError(f"{what} {number} is out of range; accepted: "
                                         f"{accepted}")
    return number


def parse_count(text: str) -> int:
    """A node count >= 1."""
    return _whole_number(text, "node count", 1, None)


def parse_runs(text: str) -> int:
    """How many runs' artifacts to keep: 1 to 1000."""
    return _whole_number(text, "number of runs", 1, 1000)


def parse_seconds(text: str) -> float:
    """A number of seconds > 0 and <= :data:`~pytest_partition.durations.MAX_SECONDS`."""
    try:
        seconds = float(str(text).strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of seconds; accepted: {SECONDS_ACCEPTED}") from None
    problem = seconds_problem(seconds)
    if problem is not None:
        raise argparse.ArgumentTypeError(f"{text!r} {problem}; accepted: {SECONDS_ACCEPTED}")
    return seconds


def parse_command(text: str) -> list[str]:
    """A shell-like command line."""
    try:
        argv = shlex.split(str(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"cannot split command {text!r}: {error}") from None
    if not argv:
        raise argparse.ArgumentTypeError("the command is empty")
    return argv


def parse_path(text: str) -> str:
    """A directory path (created when needed)."""
    value = str(text).strip()
    if not value:
        raise argparse.ArgumentTypeError("the directory path is empty")
    return value


def parse_bool(text: str) -> bool:
    """true/false, yes/no, 1/0, on/off."""
    value = str(text).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not a boolean (true or false)")


def parse_tries(text: str) -> int:
    """How many tries a shrink candidate must fail: 1 to 20."""
    return _whole_number(text, "number of tries", 1, 20)


def parse_method(text: str) -> str:
    """An XML-RPC method name."""
    value = str(text).strip()
    if method_problem(value) is not None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a method name")
    return value


@dataclass(frozen=True)
class Option:
    """One setting: its flag, ini key, parser, default and help."""

    name: str
    help: str
    parse: Callable[[str], Any]
    default: Any
    flag_only: bool = False  # a switch: --partition-NAME takes no value

    @property
    def flag(self) -> str:
        return f"--partition-{self.name}"

    @property
    def ini(self) -> str:
        return "partition_" + self.name.replace("-", "_")

    @property
    def dest(self) -> str:
        return self.ini


OPTIONS: tuple[Option, ...] = (
    Option("seed", "run seed: an integer, or 'last' for the previous run's seed "
           "(default: random, shown in the header)", parse_seed, None),
    Option("mode", "store mode when a test's cluster marker gives none: cp or ap (default cp)",
           parse_mode, "cp"),
    Option("nodes", "node count when a test's cluster marker gives none (default 3)",
           parse_count, 3),
    Option("command", "node command for clusters without command= (a shell-like string; "
           "placeholders {name} {port} {peers} {data_dir}); default: the reference store",
           parse_command, None),
    Option("start-timeout", "seconds to wait for every node to answer ping() "
           "(> 0 and <= 3600; default 10)", parse_seconds, 10.0),
    Option("client-timeout", "default timeout of recording clients in seconds "
           "(> 0 and <= 3600; default 1.0)", parse_seconds, 1.0),
    Option("ping-method", "XML-RPC method that says a node is ready (default ping)",
           parse_method, "ping"),
    Option("artifacts", "folder for each partition test's history, node logs, timeline and "
           "result.json (default: .partition/artifacts/run-* under the rootdir, one "
           "folder per pytest run)", parse_path, None),
    Option("keep-runs", "how many runs' artifacts to keep in .partition/artifacts (1-1000; "
           "default 5; older run folders are removed)", parse_runs, 5),
    Option("keep-artifacts", "keep the artifacts of passing tests too (default: only failed)",
           parse_bool, False, flag_only=True),
    Option("replay", "apply exactly the faults of this schedule.json (or of the artifacts "
           "folder that holds one) instead of drawing new ones", parse_path, None),
    Option("shrink", "when a test that applied faults fails, re-run it with smaller fault "
           "schedules and report the smallest that still fails", parse_bool, False,
           flag_only=True),
    Option("shrink-budget", "seconds a test's shrinking may take (> 0 and <= 3600; "
           "default 120)", parse_seconds, 120.0),
    Option("shrink-tries", "a smaller schedule counts as failing when it fails this many "
           "tries in a row (1-20; default 2)", parse_tries, 2),
    Option("no-remember", "do not replay the smallest failing schedule of each test that "
           "pytest's cache remembers from an earlier run", parse_bool, False, flag_only=True),
)


@dataclass(frozen=True)
class Settings:
    """The resolved options of one pytest run."""

    seed: int
    mode: str
    nodes: int
    command: list[str] | None
    start_timeout: float
    client_timeout: float
    ping_method: str
    artifacts: str | None
    keep_artifacts: bool
    keep_runs: int = 5
    replay: str | None = None
    shrink: bool = False
    shrink_budget: float = 120.0
    shrink_tries: int = 2
    no_remember: bool = False
    #: True when the seed came from the command line or the ini file.
    seed_given: bool = False

    @classmethod
    def resolve(cls, cli: Mapping[str, Any], ini: Mapping[str, str],
                last_seed: Callable[[], int | None], new_seed: Callable[[], int]) -> Settings:
        """Combine command line values (already parsed) and ini strings.

        Raises ValueError naming the ini key or flag when a value is bad.
        """
        values: dict[str, Any] = {}
        for option in OPTIONS:
            value = cli.get(option.dest)
            if option.flag_only and value is False:
                value = None  # a switch left off does not override the ini key
            if value is None and ini.get(option.ini):
                try:
                    value = option.parse(ini[option.ini])
                except argparse.ArgumentTypeError as error:
                    raise ValueError(f"ini key {option.ini}: {error}") from None
            values[option.name.replace("-", "_")] = option.default if value is None else value
        seed = values["seed"]
        values["seed_given"] = seed is not None
        if seed == "last":
            seed = last_seed()
            if seed is None:
                raise ValueError(
                    "--partition-seed=last: no previous run seed is recorded in pytest's "
                    "cache; run once without it (or give an integer seed)"
                )
        elif seed is None:
            seed = new_seed()
        values["seed"] = seed
        return cls(**values)


# -- markers -----------------------------------------------------------------

CLUSTER_MARKER_ARGS = (
    "nodes", "mode", "bug", "command", "start_timeout", "client_timeout", "ping_method", "env",
)
NEMESIS_MARKER_ARGS = ("spec", "interval", "heal_interval")
#: One marker as read from a test: where it sits (for messages), its args, its kwargs.
Mark = tuple[str, tuple[Any, ...], Mapping[str, Any]]


class MarkerError(ArgumentError):
    """A marker (or ``cluster_factory``) argument that cannot be used.

    The message names the marker, the argument and what would be accepted.
    """


@dataclass(frozen=True)
class MarkerArgs:
    """The arguments of one kind of marker, merged over the markers of a test.

    ``values`` holds, for each argument, the value given by the closest
    marker that gives it; ``origins`` says where that marker sits, for
    messages (``"@pytest.mark.cluster"`` on the test itself,
    ``"@pytest.mark.cluster of test_x.py"`` on its module).
    """

    name: str
    values: Mapping[str, Any]
    origins: Mapping[str, str]

    def where(self, argument: str) -> str:
        """Where ``argument`` was given (the marker's name when it was not)."""
        return self.origins.get(argument, f"@pytest.mark.{self.name}")

    def bad(self, argument: str, reason: str) -> MarkerError:
        """An error naming the marker, the argument and its value, then ``reason``."""
        return MarkerError(f"{self.where(argument)}: {argument}={self.values[argument]!r} {reason}")


def merge_marker_args(name: str, marks: Sequence[Mark], positional: Sequence[str],
                      accepted: Sequence[str]) -> MarkerArgs:
    """Merge the markers called ``name`` of one test, given closest first.

    Per argument the closest marker wins (the test's own, then its class's,
    then its module's); farther markers fill in what closer ones leave out.
    Positional arguments are named by ``positional``. Raises
    :class:`MarkerError` for an unknown argument or one given twice.
    """
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for where, args, kwargs in reversed(marks):  # farthest first: closer ones overwrite
        given = dict(kwargs)
        if len(args) > len(positional):
            raise MarkerError(
                f"{where} takes at most {len(positional)} positional argument(s) "
                f"({', '.join(positional)}), got {args!r}"
            )
        for key, value in zip(positional, args):
            if key in given:
                raise MarkerError(f"{where}: {key} given both positionally and by name")
            given[key] = value
        unknown = sorted(set(given) - set(accepted))
        if unknown:
            raise MarkerError(
                f"{where}: unknown argument(s) {', '.join(unknown)}; accepted: "
                f"{', '.join(accepted)}"
            )
        values.update(given)
        origins.update(dict.fromkeys(given, where))
    return MarkerArgs(name, values, origins)


def cluster_kwargs(given: MarkerArgs, settings: Settings) -> dict[str, Any]:
    """Keyword arguments for :class:`~pytest_partition.Cluster` from merged cluster markers.

    Arguments the markers leave out come from ``settings`` (the options).
    Raises :class:`MarkerError` naming the argument, its marker and what is
    accepted, so that a bad value fails before any process starts.
    """
    values = given.values
    result: dict[str, Any] = {
        "nodes": values.get("nodes", settings.nodes),
        "mode": values.get("mode", settings.mode),
        "bug": values.get("bug"),
        "start_timeout": values.get("start_timeout", settings.start_timeout),
        "client_timeout": values.get("client_timeout", settings.client_timeout),
        "ping_method": values.get("ping_method", settings.ping_method),
        "env": _env(given),
    }
    nodes = result["nodes"]
    if isinstance(nodes, bool) or not (
            isinstance(nodes, int)
            or (isinstance(nodes, (list, tuple)) and all(isinstance(n, str) for n in nodes))):
        raise given.bad("nodes", "is not accepted; accepted: a count (an integer >= 1) or a "
                                 "list of node names")
    try:
        node_names(nodes)
    except ValueError as error:
        raise MarkerError(f"{given.where('nodes')}: {error}") from None
    mode = result["mode"]
    if not (isinstance(mode, str) and mode in MODES):
        raise given.bad("mode", f"is not accepted; accepted: {', '.join(MODES)}")
    for name in ("start_timeout", "client_timeout"):
        if name in values:
            problem = seconds_problem(values[name])
            if problem is not None:
                raise given.bad(name, f"{problem}; accepted: {SECONDS_ACCEPTED}")
            result[name] = float(values[name])
    if "ping_method" in values:
        problem = method_problem(values["ping_method"])
        if problem is not None:
            raise given.bad("ping_method", problem)
        result["ping_method"] = values["ping_method"].strip()
    bug = result["bug"]
    command = values.get("command")
    if command is not None:
        result["command"] = _command(given)
        if bug is not None:
            elsewhere = given.where("command")
            also = "" if elsewhere == given.where("bug") else f" (set by {elsewhere})"
            raise given.bad(
                "bug", f"cannot be combined with command={command!r}{also}: bug= plants a bug "
                "in the reference store, command= runs your own program; drop one of them "
                "(or set it to None)")
    elif settings.command is not None and bug is None:
        # --partition-command gives way to a marker's bug= (which needs the store).
        result["command"] = list(settings.command)
    if bug is not None:
        problem = bug_problem(mode, bug)
        if problem is not None:
            raise given.bad("bug", problem)
    return result


def _command(given: MarkerArgs) -> list[str]:
    """The ``command`` argument as a list of strings, or a MarkerError saying why not."""
    command = given.values["command"]
    accepted = "accepted: a non-empty list of arguments (strings or paths), or a shell-like string"
    if isinstance(command, str):
        try:
            argv = parse_command(command)
        except argparse.ArgumentTypeError as error:
            raise given.bad("command", f"is not accepted: {error}; {accepted}") from None
    elif isinstance(command, (list, tuple)) and all(
            isinstance(part, (str, os.PathLike, int)) and not isinstance(part, bool)
            for part in command):
        argv = [str(part) for part in command]
    else:
        raise given.bad("command", f"is not accepted; {accepted}")
    if not argv:
        raise given.bad("command", f"is not accepted: the command is empty; {accepted}")
    if not argv[0].strip():
        raise given.bad("command", f"is not accepted: its program (the first argument) is "
                                   f"empty; {accepted}")
    return argv


def _env(given: MarkerArgs) -> dict[str, str] | None:
    """The ``env`` argument checked: variable names to strings, none of the contract's."""
    env = given.values.get("env")
    if env is None:
        return None
    problem = env_problem(env)
    if problem is not None:
        raise given.bad("env", problem)
    return dict(env)


def nemesis_settings(given: MarkerArgs) -> tuple[list[str], float | None, float | None]:
    """Specs, interval and heal interval of merged nemesis markers (an interval of
    None: windows of random length with a long tail, as a Nemesis draws them).

    Raises :class:`MarkerError` naming the argument and what is accepted.
    """
    values = given.values
    if "spec" not in values:
        raise MarkerError("@pytest.mark.nemesis needs a spec (or a list of specs), e.g. "
                          "@pytest.mark.nemesis('random-halves')")
    spec = values["spec"]
    if isinstance(spec, str):
        specs = [spec]
    elif isinstance(spec, (list, tuple)) and spec and all(isinstance(s, str) for s in spec):
        specs = list(spec)
    else:
        raise given.bad("spec", "is not accepted; accepted: a partition spec or a list of them, "
                                "e.g. 'random-halves' or ['A,B|C', 'isolate:leader']")
    interval = values.get("interval")
    if interval is not None:
        problem = seconds_problem(interval)
        if problem is not None:
            raise given.bad("interval", f"{problem}; accepted: {SECONDS_ACCEPTED}, or None "
                                        "(windows of random length)")
    heal_interval = values.get("heal_interval")
    if heal_interval is not None:
        problem = seconds_problem(heal_interval, zero_ok=True)
        if problem is not None:
            raise given.bad("heal_interval", f"{problem}; accepted: {SECONDS_OR_ZERO_ACCEPTED}")
    return (specs, None if interval is None else float(interval),
            None if heal_interval is None else float(heal_interval))


def partition_marker_specs(args: tuple[Any, ...], kwargs: Mapping[str, Any],
                           where: str = "@pytest.mark.partition") -> list[str]:
    """The specs of ``@pytest.mark.partition(*specs)``, checked for type."""
    unknown = sorted(set(kwargs))
    if unknown:
        raise MarkerError(
            f"{where}: unknown argument(s) {', '.join(unknown)}; give the specs as positional "
            "strings, e.g. @pytest.mark.partition('A,B|C', 'A|B,C')"
        )
    if not args:
        raise MarkerError(f"{where} needs at least one spec, e.g. 'A,B|C'")
    for spec in args:
        if not isinstance(spec, str):
            raise MarkerError(f"{where}: spec {spec!r} must be a string, e.g. 'A,B|C'")
    return list(args)
