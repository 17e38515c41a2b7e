"""Options, ini keys and markers resolved into one settings object.

Every option is a ``--partition-NAME`` flag and a ``partition_NAME`` ini key.
Precedence, lowest first: built-in default < ini < command line < marker.
Values are parsed by the same functions wherever they come from, so a bad
value gets the same clear message.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .cluster import MODES
from .node import node_names

__all__ = [
    "CLUSTER_MARKER_ARGS",
    "OPTIONS",
    "Option",
    "Settings",
    "cluster_kwargs",
    "nemesis_marker",
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


def parse_count(text: str) -> int:
    """A node count >= 1."""
    try:
        count = int(str(text).strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a node count (an integer >= 1)") from None
    if count < 1:
        raise argparse.ArgumentTypeError(f"node count {count} must be >= 1")
    return count


def parse_seconds(text: str) -> float:
    """A positive number of seconds."""
    try:
        seconds = float(str(text).strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"{text!r} seconds must be > 0")
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


def parse_method(text: str) -> str:
    """An XML-RPC method name."""
    value = str(text).strip()
    if not value or any(c.isspace() for c in value):
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
    Option("start-timeout", "seconds to wait for every node to answer ping() (default 10)",
           parse_seconds, 10.0),
    Option("client-timeout", "default timeout of recording clients in seconds (default 1.0)",
           parse_seconds, 1.0),
    Option("ping-method", "XML-RPC method that says a node is ready (default ping)",
           parse_method, "ping"),
    Option("artifacts", "folder for each partition test's history, node logs, timeline and "
           "result.json (default: partition-artifacts under pytest's basetemp)",
           parse_path, None),
    Option("keep-artifacts", "keep the artifacts of passing tests too (default: only failed)",
           parse_bool, False, flag_only=True),
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


CLUSTER_MARKER_ARGS = (
    "nodes", "mode", "bug", "command", "start_timeout", "client_timeout", "ping_method", "env",
)


def cluster_kwargs(args: tuple[Any, ...], kwargs: Mapping[str, Any],
                   settings: Settings) -> dict[str, Any]:
    """Keyword arguments for :class:`~pytest_partition.Cluster` from a cluster marker.

    ``@pytest.mark.cluster(3)`` and ``@pytest.mark.cluster(nodes=3)`` are the
    same; unknown or ill-typed arguments raise ValueError naming them.
    """
    where = "@pytest.mark.cluster"
    if len(args) > 1:
        raise ValueError(f"{where} takes at most one positional argument (nodes), got {args!r}")
    given = dict(kwargs)
    if args:
        if "nodes" in given:
            raise ValueError(f"{where}: nodes given both positionally and by name")
        given["nodes"] = args[0]
    unknown = sorted(set(given) - set(CLUSTER_MARKER_ARGS))
    if unknown:
        raise ValueError(
            f"{where}: unknown argument(s) {', '.join(unknown)}; accepted: "
            f"{', '.join(CLUSTER_MARKER_ARGS)}"
        )
    result: dict[str, Any] = {
        "nodes": given.get("nodes", settings.nodes),
        "mode": given.get("mode", settings.mode),
        "bug": given.get("bug"),
        "start_timeout": given.get("start_timeout", settings.start_timeout),
        "client_timeout": given.get("client_timeout", settings.client_timeout),
        "ping_method": given.get("ping_method", settings.ping_method),
        "env": given.get("env"),
    }
    try:
        node_names(result["nodes"])
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None
    if result["mode"] not in MODES:
        raise ValueError(f"{where}: mode {result['mode']!r} is not one of {', '.join(MODES)}")
    if result["bug"] is not None and not isinstance(result["bug"], str):
        raise ValueError(f"{where}: bug must be a string naming a planted bug")
    for name in ("start_timeout", "client_timeout"):
        if not isinstance(result[name], (int, float)) or result[name] <= 0:
            raise ValueError(f"{where}: {name} must be a positive number of seconds")
    if result["env"] is not None and not isinstance(result["env"], Mapping):
        raise ValueError(f"{where}: env must be a mapping of variable names to strings")
    if "command" in given and given["command"] is not None:
        command = given["command"]
        if isinstance(command, str):
            command = parse_command(command)
        elif not (isinstance(command, (list, tuple)) and command):
            raise ValueError(f"{where}: command must be a non-empty list of arguments")
        result["command"] = [str(part) for part in command]
    elif settings.command is not None and result["bug"] is None:
        result["command"] = list(settings.command)
    return result


def nemesis_marker(args: tuple[Any, ...],
                   kwargs: Mapping[str, Any]) -> tuple[list[str], float, float | None]:
    """Specs, interval and heal interval of ``@pytest.mark.nemesis(spec, interval=...)``."""
    where = "@pytest.mark.nemesis"
    unknown = sorted(set(kwargs) - {"interval", "heal_interval"})
    if unknown:
        raise ValueError(f"{where}: unknown argument(s) {', '.join(unknown)}; accepted: "
                         "a spec (or a list of specs), interval=, heal_interval=")
    if len(args) != 1:
        raise ValueError(f"{where} takes one spec or a list of specs, e.g. "
                         "@pytest.mark.nemesis('random-halves', interval=0.5)")
    specs = [args[0]] if isinstance(args[0], str) else list(args[0])
    if not specs or not all(isinstance(spec, str) for spec in specs):
        raise ValueError(f"{where}: spec {args[0]!r} must be a string or a list of strings")
    interval = kwargs.get("interval", 0.5)
    heal_interval = kwargs.get("heal_interval")
    if not isinstance(interval, (int, float)) or interval <= 0:
        raise ValueError(f"{where}: interval must be a positive number of seconds")
    if heal_interval is not None and (not isinstance(heal_interval, (int, float))
                                      or heal_interval < 0):
        raise ValueError(f"{where}: heal_interval must be a number of seconds >= 0")
    return specs, float(interval), None if heal_interval is None else float(heal_interval)


def partition_marker_specs(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> list[str]:
    """The specs of ``@pytest.mark.partition(*specs)``, checked for type."""
    unknown = sorted(set(kwargs))
    if unknown:
        raise ValueError(
            f"@pytest.mark.partition: unknown argument(s) {', '.join(unknown)}; give the "
            "specs as positional strings, e.g. @pytest.mark.partition('A,B|C', 'A|B,C')"
        )
    if not args:
        raise ValueError("@pytest.mark.partition needs at least one spec, e.g. 'A,B|C'")
    for spec in args:
        if not isinstance(spec, str):
            raise ValueError(f"@pytest.mark.partition: spec {spec!r} must be a string")
    return list(args)
