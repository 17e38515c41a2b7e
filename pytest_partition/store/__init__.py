"""The reference replicated key-value store shipped as the default system under test.

Run it as ``python -m pytest_partition.store --mode cp|ap [--bug NAME]``; it
follows the node contract (see ``docs/node-contract.md``). The protocol code is
pure (``raft.py`` for CP, ``crdt.py``/``ap.py`` for AP). ``cp_runtime.py`` and
``ap_runtime.py`` wire it to the disk (``persist.py``), a timer (``runtime.py``)
and the peer links (``transport.py``); ``server.py`` serves XML-RPC to clients
and peer messages to the runtime.
"""
