"""The cross-domain item map at platform size (issue 27): time and memory of ``cross_map_blocks``.

A random binary train matrix of ``--users`` users and two domains of ``--items``
items each (``--edges`` interactions, power-law item popularity, every user
active in both domains with probability ``--bridge``) is mapped at rank
``--rank``; beyond ``DENSE_MAX_SIDE`` unknowns the map is the low-rank ridge
(sparse products only). Prints wall and CPU seconds and the peak resident
memory, and appends a JSON line to ``--out``/results.jsonl.

    python benchmarks/cross_map_scale.py --users 1000000 --items 100000 --edges 20000000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp


def random_matrix(users: int, items: int, edges: int, bridge: float, seed: int) -> tuple[sp.csr_matrix,
                                                                                           np.ndarray]:
    """(R (users, 2 * items) binary CSR, item_domain (2 * items,)) with Zipf-like item popularity."""
    rng = np.random.default_rng(seed)
    pop = 1.0 / np.arange(1, items + 1) ** 0.8
    pop /= pop.sum()
    u = rng.integers(0, users, edges)
    both = rng.random(users) < bridge
    dom = np.where(both[u], rng.integers(0, 2, edges), u % 2)
    i = rng.choice(items, size=edges, p=pop) + dom * items
    r = sp.csr_matrix((np.ones(edges, np.float32), (u, i)), shape=(users, 2 * items))
    r.data[:] = 1.0
    return r, np.repeat([0, 1], items)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--users", type=int, default=1_000_000)
    p.add_argument("--items", type=int, default=100_000, help="items per domain")
    p.add_argument("--edges", type=int, default=20_000_000)
    p.add_argument("--bridge", type=float, default=0.5, help="share of users active in both domains")
    p.add_argument("--rank", type=int, default=256)
    p.add_argument("--lam", type=float, default=100.0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "scale")
    a = p.parse_args()
    import torch

    from gnnrec.models.cross_map import cross_map_blocks
    if a.threads:
        torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    r, dom = random_matrix(a.users, a.items, a.edges, a.bridge, 0)
    build_s = time.perf_counter() - t0
    t1, c1 = time.perf_counter(), time.process_time()
    blocks = cross_map_blocks(r, dom, a.lam, a.rank)
    um, im = blocks.users, blocks.items
    wall, cpu = time.perf_counter() - t1, time.process_time() - c1
    rec = {"bench": "cross_map", "users": a.users, "items_per_domain": a.items, "nnz": int(r.nnz),
           "rank": a.rank, "lambda": a.lam, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
           "build_s": round(build_s, 1), "peak_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                                           / 2 ** 20, 2),
           "user_block": list(um.shape), "item_block": list(im.shape), "threads": torch.get_num_threads(),
           "load_avg_1m": round(os.getloadavg()[0], 1)}
    a.out.mkdir(parents=True, exist_ok=True)
    with open(a.out / "results.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(rec) + "\n")
    print(json.dumps(rec))


if __name__ == "__main__":
    main()
