"""The samples of docs/concepts.md that are not taken from examples/, run for real."""

import threading
import xmlrpc.client
from xmlrpc.server import SimpleXMLRPCServer


def test_a_local_call_and_a_remote_call():
    def stock(item):
        return {"dryer": 60}.get(item, 0)

    print(stock("dryer"))                       # a local call: a jump inside one process

    server = SimpleXMLRPCServer(("127.0.0.1", 0), logRequests=False)
    server.register_function(stock)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]

    remote = xmlrpc.client.ServerProxy(f"http://127.0.0.1:{port}")
    print(remote.stock("dryer"))                # a remote call: a request, then a reply

    assert stock("dryer") == remote.stock("dryer") == 60
    server.shutdown()
    server.server_close()
