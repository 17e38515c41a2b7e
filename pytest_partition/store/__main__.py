"""``python -m pytest_partition.store --mode cp|ap [--bug NAME]``: run one store node.

The node follows the node contract: it reads ``PARTITION_NODE``,
``PARTITION_PORT``, ``PARTITION_PEERS``, ``PARTITION_DATA_DIR`` and
``PARTITION_CLUSTER_TOKEN`` from the environment, serves XML-RPC on
127.0.0.1, and exits when its stdin closes.

The token is required: a node that accepted peer traffic without one would
take orders from any local process (or from another cluster's nodes, on a
reused port), and a harness that forgot to pass it would not notice.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import zlib
from collections.abc import Mapping
from typing import Any

from . import ap, raft
from .server import StoreHTTPServer

# The protocol modules define their planted bugs; the plugin checks against
# the same tuples.
CP_BUGS = raft.BUGS
AP_BUGS = ap.BUGS


def _token(parser: argparse.ArgumentParser, environ: Mapping[str, str]) -> str:
    token = environ.get("PARTITION_CLUSTER_TOKEN", "")
    if not token:
        parser.error("PARTITION_CLUSTER_TOKEN is missing or empty: the reference store refuses "
                     "peer messages that do not carry the cluster's token, so every node of a "
                     "cluster needs the same secret, for example from "
                     "python -c 'import secrets; print(secrets.token_hex(16))' "
                     "(pytest-partition sets one per cluster)")
    return token


def _environment(parser: argparse.ArgumentParser,
                 environ: Mapping[str, str]) -> tuple[str, int, dict[str, str], str]:
    missing = [v for v in ("PARTITION_NODE", "PARTITION_PORT", "PARTITION_PEERS",
                           "PARTITION_DATA_DIR") if v not in environ]
    if missing:
        parser.error(f"missing environment variable(s) {', '.join(missing)}: this program is "
                     "started by pytest-partition (see the node contract)")
    try:
        port = int(environ["PARTITION_PORT"])
        peers = json.loads(environ["PARTITION_PEERS"])
        if not isinstance(peers, dict):
            raise ValueError("PARTITION_PEERS must be a JSON object")
    except ValueError as error:
        parser.error(f"bad node environment: {error}")
    return environ["PARTITION_NODE"], port, {str(k): str(v) for k, v in peers.items()}, \
        environ["PARTITION_DATA_DIR"]


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Parse arguments, start the runtime and the server, serve until stdin closes.

    ``argv`` defaults to the command line and ``environ`` to ``os.environ``;
    the zygote (:mod:`.zygote`) calls this in each node it forks.
    """
    parser = argparse.ArgumentParser(prog="python -m pytest_partition.store",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("cp", "ap"), required=True)
    parser.add_argument("--bug", default=None,
                        help=f"a planted bug: cp: {', '.join(CP_BUGS)}; ap: {', '.join(AP_BUGS)}")
    parser.add_argument("--tick-ms", type=int, default=10, help="protocol tick (default 10)")
    args = parser.parse_args(argv)
    bugs = CP_BUGS if args.mode == "cp" else AP_BUGS
    if args.bug is not None and args.bug not in bugs:
        parser.error(f"--bug {args.bug!r} is not a planted bug of {args.mode} mode; "
                     f"choose one of {', '.join(bugs)}")
    env = os.environ if environ is None else environ
    name, port, peers, data_dir = _environment(parser, env)
    token = _token(parser, env)
    # The harness's seed for this node makes elections repeat when a test is
    # replayed with the same seed; without one, every start differs.
    given = env.get("PARTITION_SEED", "")
    seed = int(given) if given.isdigit() else zlib.crc32(f"{name}:{os.getpid()}".encode())
    runtime: Any
    if args.mode == "cp":
        from .cp_runtime import CpRuntime
        runtime = CpRuntime(name, peers, data_dir, token=token, bug=args.bug, seed=seed,
                            tick_ms=args.tick_ms)
    else:
        from .ap_runtime import ApRuntime
        runtime = ApRuntime(name, peers, data_dir, token=token, bug=args.bug, seed=seed,
                            tick_ms=args.tick_ms)
    server = StoreHTTPServer(port, runtime, runtime.log, peer_token=token)
    runtime.log(f"{args.mode} node serving on 127.0.0.1:{port}"
                + (f" with planted bug {args.bug}" if args.bug else "")
                + f"; peers {', '.join(sorted(peers)) or 'none'}")
    runtime.start()

    def exit_at_eof() -> None:
        # The node contract: no node outlives its test process.
        while sys.stdin.buffer.read(4096):
            pass
        server.shutdown()

    threading.Thread(target=exit_at_eof, name="stdin", daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        runtime.stop()
        server.server_close()
        runtime.log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
