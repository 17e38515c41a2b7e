"""Seeds derived from one run seed, so that one number replays a whole run.

Every consumer of randomness (a test's cluster, its nemesis, each workload
worker) gets its own :class:`random.Random` seeded from the run seed and a
label. Labels keep the streams independent: a test that partitions by hand
does not shift the nemesis' choices, and adding a worker does not change what
the others do.
"""

from __future__ import annotations

import hashlib
import random


def derive_seed(seed: int, *labels: object) -> int:
    """A 32-bit seed determined by ``seed`` and the labels, and by nothing else."""
    text = ":".join([str(seed), *map(str, labels)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


def derive_rng(seed: int, *labels: object) -> random.Random:
    """A :class:`random.Random` of its own for one consumer of randomness."""
    return random.Random(derive_seed(seed, *labels))
