"""Score ensemble of trained runs, still one inner product.

Runs ``r = 1..R`` with final embeddings ``(U_r, V_r)`` are combined as

    U = [U_1 / s_1 | ... | U_R / s_R],   V = [V_1 | ... | V_R],   U[u] . V[i] = sum_r (U_r[u] . V_r[i]) / s_r

where ``s_r`` is the standard deviation of run r's scores over a fixed sample
of (user, item) pairs (so each run counts equally), i.e. an equal-weight
average of standardised scores that an ANN index can serve as one
``sum_r dim_r``-dimensional model. No weight is fitted: nothing is chosen on test.

    python experiments/ensemble.py runs/bench/amazon-ao/amazon-ao/cd-lightgcn-text__s{0,1,2}__*
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

GROUP_ORDER = ("warm", "cold")


def combined(run_dirs: list[str], sample: int = 4096, seed: int = 0):
    """(dataset, U, V) of the equal-weight ensemble of ``run_dirs`` (same dataset)."""
    from gnnrec.models.cross_map import pair_std
    from gnnrec.train.run import load_run

    ds, users, items = None, [], []
    for rd in run_dirs:
        run = load_run(rd, device="cpu", ds=ds)
        if ds is not None and run.ds.fingerprint() != ds.fingerprint():
            raise SystemExit(f"{rd} was trained on another dataset than {run_dirs[0]}")
        if ds is None:
            ds = run.ds
            gen = torch.Generator().manual_seed(seed)            # a fixed uniform pair sample
            pu = torch.randint(0, ds.n_users, (sample,), generator=gen)
            pi = torch.randint(0, ds.n_items, (sample,), generator=gen)
        with torch.no_grad():
            u, v = (t.float().cpu() for t in run.model.embeddings())
        users.append((u / pair_std(u, v, pu, pi)).numpy())
        items.append(v.numpy())
    return ds, np.hstack(users).astype(np.float32), np.hstack(items).astype(np.float32)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", help="run folders (runs/<name>) of one dataset")
    p.add_argument("--splits", default="valid,test")
    a = p.parse_args()
    from gnnrec.eval import evaluate

    ds, u, v = combined(a.runs)
    print(f"ensemble of {len(a.runs)} runs, dim {u.shape[1]}, dataset {ds.name}")
    for split in a.splits.split(","):
        res = evaluate(u, v, ds, split=split, ks=(20,), bootstrap=0)
        cells = [f"{d}/{s} {res.value('ndcg', 20, domain=d, scenario=s):.4f} / "
                 f"{res.value('recall', 20, domain=d, scenario=s):.4f}"
                 for d in ds.domains for s in GROUP_ORDER]
        print(f"{split:5s} NDCG@20 / Recall@20: " + "; ".join(cells))


if __name__ == "__main__":
    main()
