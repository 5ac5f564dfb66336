"""Full-ranking evaluation at platform size (issue 27): 100k test users over a 100k-item domain.

Builds a two-domain dataset in memory (``--users`` users, ``--items`` items in
domain ``big`` plus a small second domain, ``--train`` train positives per user,
one test positive per user in ``big``), random ``--dim`` vectors, and times
``gnnrec.eval.evaluate`` (full ranking, K <= 50, no bootstrap) with the peak
resident memory of the process. Prints a JSON line (also appended to
``--out``/results.jsonl).

    python benchmarks/eval_scale.py --users 100000 --items 100000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd


def dataset(users: int, items: int, train: int, seed: int = 0):
    from gnnrec.data.schema import Dataset

    rng = np.random.default_rng(seed)
    small = 100
    item_ids = [f"b{j}" for j in range(items)] + [f"s{j}" for j in range(small)]
    items_df = pd.DataFrame({"item_id": item_ids, "domain": ["big"] * items + ["small"] * small})
    u = np.repeat(np.arange(users), train + 1)
    i = rng.integers(0, items, len(u))
    rows = pd.DataFrame({"user": u, "item": i}).drop_duplicates()
    last = rows.groupby("user").tail(1)
    tr = rows.drop(last.index)
    extra = pd.DataFrame({"user": np.arange(users), "item": items + rng.integers(0, small, users)})
    tr = pd.concat([tr, extra], ignore_index=True)

    def table(df, scen=None):
        out = pd.DataFrame({"user": df["user"].to_numpy(), "item": df["item"].to_numpy(),
                            "domain": (df["item"].to_numpy() >= items).astype(np.int64),
                            "rating": 1.0, "timestamp": np.arange(len(df))})
        if scen:
            out["scenario"] = scen
        return out
    return Dataset(name="eval-scale", users=pd.DataFrame({"user_id": [f"u{k}" for k in range(users)]}),
                   items=items_df, domains=["big", "small"], train=table(tr),
                   valid=table(last.iloc[:0], "warm"), test=table(last, "warm"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--users", type=int, default=100_000)
    p.add_argument("--items", type=int, default=100_000)
    p.add_argument("--train", type=int, default=10, help="train positives per user")
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "scale")
    a = p.parse_args()
    import torch

    from gnnrec.eval import evaluate
    if a.threads:
        torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    ds = dataset(a.users, a.items, a.train)
    rng = np.random.default_rng(1)
    u = rng.standard_normal((ds.n_users, a.dim), dtype=np.float32)
    v = rng.standard_normal((ds.n_items, a.dim), dtype=np.float32)
    build = time.perf_counter() - t0
    t1, c1 = time.perf_counter(), time.process_time()
    res = evaluate(u, v, ds, split="test", ks=(10, 20, 50), bootstrap=0, domains=["big"], progress=False)
    wall, cpu = time.perf_counter() - t1, time.process_time() - c1
    rec = {"bench": "eval_scale", "test_users": int(res.meta["n_groups"]), "domain_items": a.items,
           "dim": a.dim, "ks": [10, 20, 50], "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
           "build_s": round(build, 1), "ndcg@20": round(res.value("ndcg", 20), 6),
           "peak_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20, 2),
           "threads": torch.get_num_threads(), "load_avg_1m": round(os.getloadavg()[0], 1)}
    a.out.mkdir(parents=True, exist_ok=True)
    with open(a.out / "results.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(rec) + "\n")
    print(json.dumps(rec))


if __name__ == "__main__":
    main()
