"""Cluster: the nodes, their network, and the test's handle on both.

``with Cluster(nodes=3, command=[...]) as cluster:`` starts a proxy process and
the nodes (in parallel, each following the node contract), waits until every
node answers ``ping()``, and on exit stops everything it started, whatever
happened in between. The pytest fixture is a thin adapter over this class.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import re
import secrets
import shlex
import shutil
import signal
import tempfile
import threading
import time
import warnings
import xmlrpc.client
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from .checkers import converged
from .client import Client, Outcome, rpc_call
from .durations import check_seconds
from .environment import child_env
from .errors import (
    ArgumentError,
    ClusterError,
    NodeContractWarning,
    NodeStartError,
    NotConverged,
    NotServed,
    SpecError,
    UnknownNode,
    reported_at_the_call,
)
from .history import NEMESIS, Event, History
from .nemesis import Nemesis, as_nemesis
from .network import CLIENT, Network
from .node import (
    MODES,
    Node,
    bug_problem,
    default_command,
    env_problem,
    free_port,
    method_problem,
    node_names,
)
from .schedule import Schedule
from .seeds import derive_rng, derive_seed
from .topology import Link, Partition, all_links, parse_links, parse_spec, validate_spec
from .waiting import until
from .zygote import shared_zygote

if TYPE_CHECKING:
    from .run import RunResult

__all__ = ["MODES", "Cluster", "Node", "NotConverged", "Runner", "default_command"]

_PLACEHOLDER = re.compile(r"\{(name|port|peers|data_dir)\}")
_STOP_GRACE = 3.0


#: What :meth:`Cluster.run` hands a run to: ``pytest_partition.run.run``,
#: called as ``runner(cluster, workload, **options)``.
Runner = Callable[..., "RunResult"]


class Cluster:
    """A set of nodes behind a controllable network, plus a recorded history.

    ``nodes`` is a count (names ``n1..nN``) or a list of names. ``command``
    runs your own node program (a list or a shell-like string; the
    placeholders ``{name}``, ``{port}``, ``{peers}``, ``{data_dir}`` are
    filled in); without it the reference store runs in ``mode`` with ``bug``.
    ``spec`` is the partition that :meth:`partitioned` applies by default.
    ``on_fault`` is called with every fault event (the plugin forwards it to
    the ``pytest_partition_fault`` hook).
    """

    #: The run layer's ``run()``, which :meth:`run` delegates to; importing
    #: :mod:`pytest_partition.run` sets it (``from pytest_partition import
    #: Cluster`` does): the harness does not import the layer that drives it.
    runner: ClassVar[Runner | None] = None

    @reported_at_the_call
    def __init__(
        self,
        nodes: int | Sequence[str] = 3,
        *,
        mode: str = "cp",
        bug: str | None = None,
        command: Sequence[str] | str | None = None,
        workdir: str | Path | None = None,
        seed: int | None = None,
        spec: str | None = None,
        start_timeout: float = 10.0,
        client_timeout: float = 1.0,
        ping_method: str = "ping",
        env: Mapping[str, str] | None = None,
        keep_workdir: bool = False,
        on_fault: Callable[[Cluster, Event], None] | None = None,
    ) -> None:
        self.names = node_names(nodes)
        if mode not in MODES:
            raise ArgumentError(f"mode {mode!r} is not one of {', '.join(MODES)}")
        if command is not None and bug is not None:
            raise ArgumentError(
                f"bug={bug!r} plants a bug in the reference store; it cannot apply to your "
                "own command= (drop one of them)"
            )
        start_timeout = check_seconds(start_timeout, "start_timeout")
        client_timeout = check_seconds(client_timeout, "client_timeout")
        # The same rules as the markers' (settings.py), which add where a
        # value came from.
        for name, value, problem in (
                ("bug", bug, None if bug is None else bug_problem(mode, bug)),
                ("ping_method", ping_method, method_problem(ping_method)),
                ("env", env, None if env is None else env_problem(env))):
            if problem is not None:
                raise ArgumentError(f"{name}={value!r} {problem}")
        if spec is not None:
            validate_spec(spec, self.names)  # a bad spec fails now, not at partition()
        self.mode = mode
        self.bug = bug
        self.command = _command_list(command) if command is not None else default_command(mode, bug)
        self.seed = seed if seed is not None else random.SystemRandom().randrange(2**32)
        self.rng = random.Random(self.seed)
        self.spec = spec
        self.start_timeout = start_timeout
        self.client_timeout = client_timeout
        self.ping_method = ping_method
        self.extra_env = dict(env or {})
        self.on_fault = on_fault
        self.on_progress: Callable[[str], None] | None = None
        self.runs: list[RunResult] = []
        #: Every nemesis started against this cluster, in order (:meth:`start_nemesis`).
        self.nemeses: list[Nemesis] = []
        #: A recorded schedule to apply instead of drawing new faults: the
        #: n-th nemesis started replays its n-th run (``--partition-replay``).
        self.replay: Schedule | None = None
        self.history = History()
        self.partition_now: Partition | None = None
        self.nodes: dict[str, Node] = {}
        # The nodes' shared secret for their peer traffic (the node contract).
        # Not derived from the seed: a seed is printed for replays.
        self._token = secrets.token_hex(16)
        self._workdir_arg = Path(workdir) if workdir is not None else None
        self._keep_workdir = keep_workdir
        self._own_workdir = False
        self.workdir = self._workdir_arg or Path(".")
        self._network: Network | None = None
        self._lock = threading.RLock()
        self._process_ids = itertools.count()
        self._process_lock = threading.Lock()
        self._started = False
        self._stopped = False

    # -- lifecycle ---------------------------------------------------------------

    def __enter__(self) -> Cluster:
        self.start()
        return self

    def __exit__(self, kind: object, *rest: object) -> None:
        errors = self.stop_nemeses()
        self.stop()
        if errors and kind is None:  # (an exception in flight says more)
            raise errors[0]

    def start(self) -> None:
        """Start the network and every node; return when all answer ``ping()``.

        On failure everything started so far is stopped and
        :class:`NodeStartError` says which node, its exit code and its log.
        """
        if self._started:
            raise ClusterError("cluster already started; a Cluster runs once")
        self._started = True
        try:
            self._start()
        except BaseException:
            # A node that failed to start may not watch its stdin yet: no grace.
            self.stop(grace=0.0)
            raise

    def _start(self) -> None:
        if self._workdir_arg is None:
            remove_stale_workdirs(Path(tempfile.gettempdir()))
            self.workdir = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX))
            (self.workdir / OWNER_FILE).write_text(_process_identity(os.getpid()) or "",
                                                   encoding="ascii")
            self._own_workdir = True
        else:
            self.workdir = self._workdir_arg
            self.workdir.mkdir(parents=True, exist_ok=True)
        if self._forks():
            shared_zygote()  # (the first one imports the store while the proxy starts)
        self._network = Network(seed=self.seed, log_path=self.workdir / "proxy.log")
        # Every link listens before any node port is picked: a port handed out
        # then cannot be one of the proxy's own, so no link can end up
        # forwarding to itself (which multiplies connections until the proxy
        # runs out of descriptors).
        for src, dst in all_links(self.names):
            self._network.add_link(src, dst, 0)
        for name in self.names:
            self._network.add_link(CLIENT, name, 0)
        for name in self.names:
            data_dir = self.workdir / name / "data"
            data_dir.mkdir(parents=True, exist_ok=True)
            self.nodes[name] = Node(name, free_port(), self.workdir / f"{name}.log", data_dir)
            self._network.set_upstream(name, self.nodes[name].port)
        for node in self.nodes.values():
            self._spawn(node)
        self._wait_ready(list(self.nodes.values()))
        if self.mode == "cp" and self.reference_store:
            # The reference store refuses everything until it has a leader,
            # and a follower until it has heard from it: a test should start
            # with a cluster that serves, on every node.
            self.wait_leader(self.start_timeout)
            self._wait_followers(self.start_timeout)

    def stop(self, grace: float = _STOP_GRACE) -> None:
        """Stop every node and the network; remove the work dir if it was ours.

        Nodes get ``grace`` seconds to exit at their stdin's EOF, then SIGKILL.
        """
        if self._stopped:
            return
        self.stop_nemeses()  # (their errors: see stop_nemeses; the nodes go anyway)
        self._stopped = True
        with self._lock:
            nodes = list(self.nodes.values())
            for node in nodes:
                node.release()
            deadline = time.monotonic() + grace
            deaf = []
            for node in nodes:
                process = node.process
                self._forget(node.reap(deadline - time.monotonic()))
                if grace > 0 and process is not None and process.returncode == -signal.SIGKILL:
                    deaf.append(node.name)
            if deaf:
                _warn_deaf(self.command, deaf, grace)
            if self._network is not None:
                self._network.close()
            if self._own_workdir and not self._keep_workdir:
                shutil.rmtree(self.workdir, ignore_errors=True)

    @property
    def network(self) -> Network:
        """The network controller (links, cuts, latency)."""
        self._require_running()
        assert self._network is not None
        return self._network

    def _require_running(self) -> None:
        if self._stopped:
            raise ClusterError("the cluster is stopped: its nodes and network are gone "
                               "(a Cluster runs once; make a new one)")
        if self._network is None:
            raise ClusterError("the cluster is not started: call start(), or use "
                               "'with Cluster(...) as cluster:'")

    # -- processes ---------------------------------------------------------------

    def _env(self, node: Node) -> dict[str, str]:
        peers = {
            peer: f"127.0.0.1:{self.network.port(node.name, peer)}"
            for peer in self.names
            if peer != node.name
        }
        env = child_env({**os.environ, **self.extra_env})
        env.update(
            PARTITION_NODE=node.name,
            PARTITION_PORT=str(node.port),
            PARTITION_PEERS=json.dumps(peers),
            PARTITION_DATA_DIR=str(node.data_dir),
            PARTITION_SEED=str(derive_seed(self.seed, "node", node.name)),
            PARTITION_CLUSTER_TOKEN=self._token,
            PYTHONUNBUFFERED="1",
        )
        return env

    def _argv(self, node: Node, env: Mapping[str, str]) -> list[str]:
        values = {
            "name": node.name,
            "port": str(node.port),
            "peers": env["PARTITION_PEERS"],
            "data_dir": str(node.data_dir),
        }
        return [_PLACEHOLDER.sub(lambda m: values[m.group(1)], arg) for arg in self.command]

    def _forks(self) -> bool:
        """Reference-store nodes are forked from a zygote; users' commands run as they are."""
        return self.command == default_command(self.mode, self.bug)

    def _spawn(self, node: Node) -> None:
        env = self._env(node)
        self.network.watch(node.spawn(self._argv(node, env), env, fork=self._forks()))

    def _wait_ready(self, nodes: list[Node]) -> None:
        pending = {node.name: node for node in nodes}
        port_retries = dict.fromkeys(pending, 0)
        deadline = time.monotonic() + self.start_timeout

        def all_ready() -> bool:
            for name, node in list(pending.items()):
                assert node.process is not None
                code = node.process.poll()
                if code is not None:
                    if node.address_in_use() and port_retries[name] < 3:
                        # Another process took the port between our probe and
                        # the node's bind: give the node a fresh port.
                        port_retries[name] += 1
                        self._discard(node)
                        node.port = free_port()
                        self.network.set_upstream(name, node.port)
                        self._spawn(node)
                        continue
                    raise NodeStartError(name, "exited before it was ready", exit_code=code,
                                         log_tail=node.log_tail())
                budget = min(0.5, max(deadline - time.monotonic(), 0.01))
                outcome = rpc_call(node.port, self.ping_method, (), budget, node=name)
                if outcome.type == "ok" and node.owns_port() is not False:
                    # (An answer from a program that took the port first is
                    # not our node's: it will fail to bind, and be retried.)
                    del pending[name]
                elif isinstance(outcome.exception, xmlrpc.client.Fault):
                    # It answers, but not to ping: waiting longer will not help.
                    raise NodeStartError(
                        name,
                        f"answered {self.ping_method}() with {outcome.error}; the node must "
                        f"serve {self.ping_method}() (or configure another ping method)",
                        exit_code=None,
                        log_tail=node.log_tail(),
                    )
            return not pending

        # A forked node answers within milliseconds: look often at first.
        if not until(all_ready, self.start_timeout, first_wait=0.002, max_wait=0.05,
                     growth=1.5):
            name, node = next(iter(pending.items()))
            raise NodeStartError(
                name,
                f"did not answer {self.ping_method}() on port {node.port} within "
                f"{self.start_timeout:g} s (still waiting for: {', '.join(pending)})",
                exit_code=node.process.poll() if node.process else None,
                log_tail=node.log_tail(),
            )

    def _discard(self, node: Node) -> None:
        self._forget(node.discard())

    def _forget(self, pid: int | None) -> None:
        # The proxy process no longer needs to kill this one at our death.
        if pid is not None and self._network is not None:
            with contextlib.suppress(ClusterError):
                self._network.unwatch(pid)

    def _node(self, name: str) -> Node:
        self._require_running()
        if name not in self.nodes:
            raise UnknownNode(f"unknown node {name!r}; the cluster's nodes are "
                              f"{', '.join(self.names)}")
        return self.nodes[name]

    def kill(self, node: str) -> None:
        """SIGKILL the node (and its process group); connections to it are refused."""
        with self._lock:
            target = self._node(node)
            if not target.running:
                raise ClusterError(f"node {node} is not running")
            self._discard(target)
            self.network.node_down(node)
            self._fault("kill", node=node)

    def restart(self, node: str) -> None:
        """Start the node again with its data dir (killing it first if it runs)."""
        with self._lock:
            target = self._node(node)
            if target.running:
                self._discard(target)
                self.network.node_down(node)
            self._spawn(target)
            self._wait_ready([target])
            self.network.node_up(node)
            self._fault("restart", node=node)

    def pause(self, node: str) -> None:
        """SIGSTOP the node: it keeps its sockets but does nothing."""
        with self._lock:
            target = self._node(node)
            if not target.running or target.process is None:
                raise ClusterError(f"node {node} is not running")
            target.signal(signal.SIGSTOP)
            target.paused = True
            self._fault("pause", node=node)

    def resume(self, node: str) -> None:
        """SIGCONT a paused node."""
        with self._lock:
            target = self._node(node)
            if target.process is None or not target.running:
                raise ClusterError(f"node {node} is not running")
            target.signal(signal.SIGCONT)
            target.paused = False
            self._fault("resume", node=node)

    # -- network faults ---------------------------------------------------------

    @reported_at_the_call
    def partition(self, spec: str | None = None, kind: str = "drop", *,
                  rng: random.Random | None = None) -> Partition:
        """Cut the links ``spec`` describes (replacing any current cut).

        Without ``spec``, the cluster's default spec (the test's
        ``@pytest.mark.partition``) applies. In force when this returns.
        Random specs draw from ``rng`` (default: the cluster's seeded rng).
        """
        chosen = spec if spec is not None else self.spec
        if chosen is None:
            raise SpecError(
                "no partition spec: pass one (e.g. 'A,B|C'), or mark the test with "
                "@pytest.mark.partition(...)"
            )
        with self._lock:
            part = parse_spec(chosen, self.names, rng=rng or self.rng,
                              leader=self._leader_soon)
            self.network.cut(part.cut, kind)
            self.partition_now = part
            self._fault("partition", value={**part.to_dict(), "kind": kind})
        return part

    def heal(self) -> None:
        """Remove every cut; held bytes flow again."""
        with self._lock:
            self.network.heal()
            self.partition_now = None
            self._fault("heal")

    @contextlib.contextmanager
    def partitioned(self, spec: str | None = None, kind: str = "drop") -> Iterator[Partition]:
        """Partition for the duration of a ``with`` block; heal on exit."""
        part = self.partition(spec, kind)
        try:
            yield part
        finally:
            if not self._stopped:
                self.heal()

    @reported_at_the_call
    def isolate(self, node: str, kind: str = "drop") -> Partition:
        """Cut ``node`` off from every other node, both ways."""
        self._node(node)
        return self.partition(f"isolate:{node}", kind)

    @reported_at_the_call
    def set_latency(self, ms: float, jitter_ms: float = 0.0,
                    links: str | Iterable[Link] | None = None) -> None:
        """Delay traffic on ``links`` (default: every node-to-node link)."""
        chosen = all_links(self.names) if links is None else parse_links(links, self.names)
        with self._lock:
            self.network.set_latency(chosen, ms, jitter_ms)
            self._fault("latency", value={"ms": ms, "jitter_ms": jitter_ms,
                                          "links": [list(link) for link in chosen]})

    @reported_at_the_call
    def start_nemesis(self, nemesis: Nemesis | str | Sequence[str], *,
                      interval: float | None = None, heal_interval: float | None = None,
                      duration: float | None = None, hold: float = 0.0) -> Nemesis:
        """Start a fault schedule against this cluster (seeded from its seed).

        ``nemesis`` is a spec name, a list of them, or a :class:`Nemesis`.
        When the cluster has a :attr:`replay` schedule, the nemesis applies
        that schedule's next run instead, exactly. Stop it with ``stop()``.
        """
        chosen = as_nemesis(nemesis, interval, heal_interval)
        number = len(self.nemeses)
        if self.replay is not None:
            chosen = Nemesis.replay(self.replay.runs[number] if number < len(self.replay.runs)
                                    else [])
        chosen.start(self, derive_rng(self.seed, "nemesis", number), duration=duration,
                     hold=hold)
        self.nemeses.append(chosen)
        return chosen

    def stop_nemeses(self) -> list[ClusterError]:
        """Stop every nemesis started against this cluster (each ends its fault);
        return the errors they met, which :meth:`Nemesis.stop` would raise."""
        errors = []
        for nemesis in self.nemeses:
            try:
                nemesis.stop()
            except ClusterError as error:
                errors.append(error)
        return errors

    @property
    def schedule(self) -> Schedule:
        """What the nemeses started against this cluster applied, one run each."""
        return Schedule([nemesis.schedule for nemesis in self.nemeses], seed=self.seed)

    def leader(self) -> str | None:
        """The node that reports itself leader in ``role()`` (highest term wins)."""
        best: tuple[int, str] | None = None
        for name in self.running_nodes():
            if self.nodes[name].paused:
                continue
            outcome = self._rpc(name, "role", timeout=0.5)
            if outcome.type != "ok":
                if _unserved(outcome.exception, "role"):
                    # Waiting cannot make a missing method appear: say so now.
                    raise NotServed(
                        f"node {name} does not serve role() ({outcome.error}): finding the "
                        "leader (isolate:leader, wait_leader) asks each node's role(), "
                        "which returns 'leader' or another role (see the node contract); "
                        "or name the node to isolate (isolate:NODE)")
                continue
            role, term = _parse_role(outcome.value)
            if role == "leader" and (best is None or term > best[0]):
                best = (term, name)
        return best[1] if best else None

    def _leader_soon(self) -> str | None:
        # isolate:leader right after a heal may meet an election in progress:
        # give the cluster a moment to elect rather than fail the fault.
        try:
            return self.wait_leader(timeout=5.0)
        except NotServed:
            raise
        except ClusterError:
            return None

    @reported_at_the_call
    def wait_leader(self, timeout: float = 10.0) -> str:
        """Wait until a node reports itself leader in ``role()``; return its name."""
        timeout = check_seconds(timeout, "wait_leader timeout")
        # A fresh reference cluster elects within tens of milliseconds.
        leader = until(self.leader, timeout, first_wait=0.004, max_wait=0.1, growth=1.5)
        if leader is None:
            raise ClusterError(f"no node reported itself leader within {timeout:g} s")
        return leader

    def _wait_followers(self, timeout: float) -> None:
        """Wait until every node's ``role()`` names one leader (the reference store's
        ``{"role", "term", "leader"}``)."""
        def one_leader() -> bool:
            named = set()
            for name in self.running_nodes():
                outcome = self._rpc(name, "role", timeout=0.5)
                if outcome.type != "ok" or not isinstance(outcome.value, dict):
                    return False
                named.add(outcome.value.get("leader"))
            return len(named) == 1 and None not in named

        if not until(one_leader, timeout, first_wait=0.004, max_wait=0.1, growth=1.5):
            raise ClusterError(f"the nodes did not agree on a leader within {timeout:g} s")

    def _fault(self, f: str, *, node: str | None = None, value: Any = None) -> Event:
        event = self.history.append(process=NEMESIS, type="info", f=f, node=node, value=value)
        if self.on_fault is not None:
            self.on_fault(self, event)
        return event

    # -- clients --------------------------------------------------------------------

    def running_nodes(self) -> list[str]:
        """The names of the nodes running now (paused ones included)."""
        self._require_running()
        return [name for name, node in self.nodes.items() if node.running]

    def _rpc(self, name: str, method: str, *args: Any, timeout: float = 1.0) -> Outcome:
        """One unrecorded call to ``name`` through its client link."""
        return rpc_call(self.network.port(CLIENT, name), method, args, timeout, node=name)

    def _next_process(self) -> int:
        with self._process_lock:
            return next(self._process_ids)

    @reported_at_the_call
    def client(self, node: str, timeout: float | None = None,
               methods: Mapping[str, str] | None = None) -> Client:
        """A recording client pinned to ``node`` through its client link.

        ``methods`` maps recorded names to the service's own method names
        (``{"get": "fetch"}``), so the built-in models check its history.
        """
        self._node(node)
        for name, method in (methods or {}).items():
            for what, value in (("name", name), ("method", method)):
                problem = method_problem(value)
                if problem is not None:
                    raise ArgumentError(f"methods: the {what} {value!r} {problem}")
        return Client(
            node,
            self.network.port(CLIENT, node),
            self.history,
            process_ids=self._next_process,
            timeout=timeout if timeout is not None else self.client_timeout,
            methods=methods,
        )

    @reported_at_the_call
    def call(self, node: str, method: str, *args: Any, timeout: float = 1.0) -> Any:
        """Call a node without recording it (plumbing: state, role, stats)."""
        outcome = self._rpc(self._node(node).name, method, *args, timeout=timeout)
        if outcome.exception is not None:
            raise outcome.exception
        return outcome.value

    @reported_at_the_call
    def states(self, method: str = "state", timeout: float = 1.0) -> dict[str, Any]:
        """Each running node's ``state()``; a node that fails maps to its error."""
        result: dict[str, Any] = {}
        for name in self.running_nodes():
            outcome = self._rpc(name, method, timeout=timeout)
            result[name] = (outcome.value if outcome.type == "ok"
                            else _Failed(outcome.error, _unserved(outcome.exception, method)))
        return result

    @reported_at_the_call
    def wait_converged(self, timeout: float = 5.0, method: str = "state") -> dict[str, Any]:
        """Wait until every running node's ``state()`` is equal; return that state.

        On timeout raises :class:`NotConverged` (an AssertionError) with a
        per-node diff of the keys that differ. When every node's ``stats()``
        returns a mapping with a ``"fingerprint"`` (a digest of its whole
        replica), the fingerprints must be equal too.
        """
        timeout = check_seconds(timeout, "wait_converged timeout")
        last: dict[str, Any] = {}

        def fingerprints() -> dict[str, Any] | None:
            """Each running node's replica fingerprint; None if one offers none."""
            prints: dict[str, Any] = {}
            for name in self.running_nodes():
                outcome = self._rpc(name, "stats")
                if outcome.type != "ok" or not isinstance(outcome.value, dict) or (
                        "fingerprint" not in outcome.value):
                    return None
                prints[name] = outcome.value["fingerprint"]
            return prints

        def agreed() -> bool:
            nonlocal last
            before = fingerprints()
            last = self.states(method, timeout=min(1.0, timeout))
            for name, value in last.items():
                if isinstance(value, _Failed) and value.unserved:
                    # Waiting cannot make a missing method appear.
                    raise NotServed(
                        f"node {name} does not serve {method}() ({value.error}); "
                        f"wait_converged() compares each node's {method}(): a method "
                        "returning the node's data (see the node contract)")
            values = list(last.values())
            if not values or any(isinstance(v, _Failed) for v in values) or any(
                v != values[0] for v in values[1:]
            ):
                return False
            # Equal states can hide different replicas (one holds A's sale,
            # another C's: both read 59). A node whose stats() gives a
            # "fingerprint" of its whole replica lets us tell. The states must
            # also be read between two equal sets of fingerprints: otherwise a
            # merge just after reading them could make the fingerprints agree
            # while the states returned are from before it.
            if before is None:
                return True
            after = fingerprints()
            return after is not None and after == before and len(set(after.values())) <= 1

        if not until(agreed, timeout):
            raise NotConverged(_describe_divergence(last, timeout))
        return next(iter(last.values())) if last else {}

    @reported_at_the_call
    def run(self, workload: str | Callable[..., Any] | Any = "register", *, clients: int = 30,
            duration: float = 5.0, nemesis: Nemesis | str | list[str] | None = None,
            keys: int | None = None, rate: float | None = 15.0,
            client_timeout: float | None = None, settle_timeout: float = 5.0,
            hold: float | None = None, methods: Mapping[str, str] | None = None,
            model: Any = None) -> RunResult:
        """Run concurrent recording clients while a nemesis acts; see :mod:`pytest_partition.run`.

        ``workload`` is ``"register"``, ``"kv"`` or ``"counter"``, or your own
        generator ``generate(rng) -> (method, args)`` with ``model=``;
        ``methods`` maps the workload's operation names to your service's
        (``{"get": "fetch"}``); ``nemesis`` a spec name (``"random-halves"``), a
        list of them, or a :class:`Nemesis`. The run ends with the last cut
        held past the system's timeouts (``hold``), a heal, and a read of
        every key on every node. Returns a
        :class:`~pytest_partition.run.RunResult` with ``.assert_cp()``,
        ``.assert_ap()``, ``.availability``, ``.verdict`` and ``.schedule``.
        """
        self._require_running()
        runner = type(self).runner  # (from the class: a function, not a method)
        if runner is None:
            raise ClusterError("no runner: import pytest_partition.run (it sets Cluster.runner), "
                               "or take Cluster from pytest_partition")
        result = runner(self, workload, clients=clients, duration=duration, nemesis=nemesis,
                        keys=keys, rate=rate, client_timeout=client_timeout,
                        settle_timeout=settle_timeout, hold=hold, methods=methods,
                        model=model, progress=self.on_progress)
        self.runs.append(result)
        return result

    @property
    def reference_store(self) -> bool:
        """True when the nodes run the reference store (not a command of yours)."""
        return self.command == default_command(self.mode, self.bug)

    def __repr__(self) -> str:
        if self.reference_store:
            what = f"mode={self.mode}" + (f" bug={self.bug}" if self.bug else "")
        else:
            what = f"command={shlex.join(self.command)!r}"
        return f"<Cluster {','.join(self.names)} {what} seed={self.seed}>"


class _Failed:
    """A state() call that did not answer (``unserved``: the node has no such method)."""

    def __init__(self, error: str | None, unserved: bool = False) -> None:
        self.error = error or "no answer"
        self.unserved = unserved

    def __repr__(self) -> str:
        return f"<state() failed: {self.error}>"


def _unserved(exception: BaseException | None, method: str) -> bool:
    """True when a fault says the node has no ``method`` at all."""
    if not isinstance(exception, xmlrpc.client.Fault):
        return False
    # -32601 is XML-RPC's "method not found"; Python's SimpleXMLRPCServer
    # says it in words, with fault code 1.
    return exception.faultCode == -32601 or (
        f'method "{method}" is not supported' in str(exception.faultString))


def _describe_divergence(states: Mapping[str, Any], timeout: float) -> str:
    lines = [f"replicas did not converge within {timeout:g} s"]
    for name, state in states.items():
        if isinstance(state, _Failed):
            lines.append(f"  {name}: state() failed: {state.error}")
    maps = {n: s for n, s in states.items() if not isinstance(s, _Failed)}
    if maps and all(isinstance(s, Mapping) for s in maps.values()):
        result = converged(maps)
        lines.append(result.explain(max_keys=20) if not result.valid else
                     "their state() values are equal, but their stats() fingerprints differ "
                     "(the replicas hold different data behind the same values)")
    else:
        lines.extend(f"  {name}: {state!r}" for name, state in maps.items())
    return "\n".join(lines)


#: Work dirs of clusters made without one: ``partition-XXXX`` in the temp dir,
#: each holding the identity of the process that owns it.
WORKDIR_PREFIX = "partition-"
OWNER_FILE = ".owner"


def _process_identity(pid: int) -> str | None:
    """``pid`` and its start time (pids are reused), or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return None
    return f"{pid} {stat.rsplit(')', 1)[1].split()[19]}"  # field 22: start time


def remove_stale_workdirs(tempdir: Path) -> list[Path]:
    """Remove the work dirs left by clusters whose process died without stopping
    them (a script killed with SIGKILL), as pytest rotates its basetemp; return them.

    A dir counts as stale only when its owner file names a process that is gone
    (or another process now has its pid): dirs of running scripts, and dirs
    without an owner file, are left alone.
    """
    removed = []
    for folder in tempdir.glob(f"{WORKDIR_PREFIX}*"):
        try:
            owner = (folder / OWNER_FILE).read_text(encoding="ascii").strip()
        except OSError:
            continue
        pid = owner.split()[0] if owner else ""
        if not pid.isdigit() or _process_identity(int(pid)) == owner:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


_WARNED_DEAF: set[str] = set()


def _warn_deaf(command: Sequence[str], names: list[str], grace: float) -> None:
    """Warn once per node program that ignores the end of its input."""
    python = Path(command[0]).name.startswith("python")
    program = " ".join(command[:3] if command[1:2] == ["-m"] else command[:2]) if python \
        else command[0]
    if program in _WARNED_DEAF:
        return
    _WARNED_DEAF.add(program)
    warnings.warn(NodeContractWarning(
        f"node(s) {', '.join(names)} ({program}) did not exit within {grace:g} s of the end "
        "of their standard input, so they were killed, and every cluster stop waits that "
        "long: a node must exit when its stdin reaches EOF (the node contract)"),
        stacklevel=3)


def _parse_role(value: Any) -> tuple[str, int]:
    if isinstance(value, str):
        return value.lower(), 0
    if isinstance(value, dict):
        return str(value.get("role", "")).lower(), int(value.get("term", 0) or 0)
    if isinstance(value, (list, tuple)) and value:
        term = value[1] if len(value) > 1 and isinstance(value[1], int) else 0
        return str(value[0]).lower(), term
    return "", 0


def _command_list(command: Sequence[str] | str) -> list[str]:
    argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
    if not argv:
        raise ArgumentError("command is empty; give the program and its arguments as a list")
    return argv


