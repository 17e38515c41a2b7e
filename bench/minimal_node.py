"""The smallest node that follows the node contract: the bench's system under test."""

import os
import sys
import threading
from xmlrpc.server import SimpleXMLRPCServer


def main() -> None:
    server = SimpleXMLRPCServer(("127.0.0.1", int(os.environ["PARTITION_PORT"])),
                                logRequests=False, allow_none=True)
    server.register_function(lambda: "pong", "ping")
    server.register_function(lambda key: key, "echo")

    def exit_at_eof() -> None:
        while sys.stdin.buffer.read(1024):
            pass
        os._exit(0)

    threading.Thread(target=exit_at_eof, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
