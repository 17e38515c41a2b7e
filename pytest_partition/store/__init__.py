"""The reference replicated key-value store shipped as the default system under test.

Run it as ``python -m pytest_partition.store --mode cp|ap [--bug NAME]``; it
follows the node contract (see ``docs/node-contract.md``). The protocol code is
pure (``raft.py`` for CP, ``crdt.py``/``ap.py`` for AP); ``server.py`` wires it to
XML-RPC, the peer links and a timer.
"""
