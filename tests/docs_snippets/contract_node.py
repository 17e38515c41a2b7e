"""A minimal node that follows the node contract (shown whole in docs/node-contract.md).

One process, one dict, no replication: it shows the contract and nothing else.
"""

import json
import os
import sys
import threading
import xmlrpc.client
from xmlrpc.server import SimpleXMLRPCServer

NAME = os.environ["PARTITION_NODE"]                 # this node's name
PORT = int(os.environ["PARTITION_PORT"])            # serve XML-RPC here, on 127.0.0.1
PEERS = json.loads(os.environ["PARTITION_PEERS"])   # {peer: "127.0.0.1:PORT"}: proxy links
PATH = os.path.join(os.environ["PARTITION_DATA_DIR"], "data.json")   # kept across restarts

data = {}
if os.path.exists(PATH):
    with open(PATH) as file:
        data = json.load(file)


def ping():
    return "pong"                                   # ready: the test may begin


def put(key, value):
    if not isinstance(key, str):
        raise xmlrpc.client.Fault(400, "key must be a string")   # invalid: no effect
    data[key] = value
    with open(PATH, "w") as file:
        json.dump(data, file)
    return True


def get(key):
    return data.get(key)


def state():
    return data                                     # what wait_converged() compares


def role():
    leader = min([NAME, *PEERS])                    # a fixed leader, for isolate:leader
    return {"role": "leader" if NAME == leader else "follower", "term": 1}


def exit_at_eof():
    while sys.stdin.buffer.read(1024):              # the test process holds the other end
        pass
    os._exit(0)


server = SimpleXMLRPCServer(("127.0.0.1", PORT), allow_none=True, logRequests=False)
for function in (ping, put, get, state, role):
    server.register_function(function)
threading.Thread(target=exit_at_eof, daemon=True).start()
print(f"{NAME} serving on {PORT}, peers {sorted(PEERS)}", flush=True)   # to NAME.log
server.serve_forever()
