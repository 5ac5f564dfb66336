"""From RecBole's number to gnnrec's: one embedding folder scored under protocols that change one
thing at a time (test split of ML-1M-CD, NDCG@20, torch.topk tie order as in RecBole).

    A  RecBole's protocol: one row per test user, all of the user's test positives (both domains)
       pooled, every item of both domains a candidate, train+valid masked, mean over users.
    B  as A, split into the users that have a cold domain and those that have none.
    C  one row per (user, domain) group, candidates = the group's domain only (gnnrec's candidate
       set and rows), mean per domain x scenario: gnnrec's table up to tie handling.

Runs in gnnrec's environment::

    python experiments/peers/protocol_bridge.py experiments/peers/runs/*/embeddings \
        --out results/peers/protocol_bridge.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

DATA = Path("/work/shared/data/ml1m-cd")
K = 20


def ndcg_rows(scores: torch.Tensor, pos: list[np.ndarray], k: int = K) -> np.ndarray:
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    top = torch.topk(scores, k, dim=1).indices.numpy()
    out = np.empty(len(pos))
    for r, p in enumerate(pos):
        hit = np.isin(top[r], p)
        out[r] = (hit * disc).sum() / disc[:min(len(p), k)].sum()
    return out


def bridge(folder: Path, tables: dict) -> dict:
    uids = Path(folder, "user_ids.txt").read_text().split()
    iids = Path(folder, "item_ids.txt").read_text().split()
    U = torch.from_numpy(np.load(folder / "user_embeddings.npy").astype(np.float32))
    V = torch.from_numpy(np.load(folder / "item_embeddings.npy").astype(np.float32))
    upos, ipos = {u: k for k, u in enumerate(uids)}, {i: k for k, i in enumerate(iids)}
    train, valid, test, items = (tables[k] for k in ("train", "valid", "test", "items"))
    dom_of = dict(zip(items["item_id"], items["domain"]))
    item_dom = np.array([dom_of[i] for i in iids])
    seen = pd.concat([train, valid]).groupby("user_id")["item_id"].agg(list)
    cold_users = set(test.query("scenario == 'cold'")["user_id"])   # a cold group in test
    res: dict = {}
    # A / B: RecBole's rows
    by_user = test.groupby("user_id")["item_id"].agg(list)
    users = [u for u in by_user.index if u in upos]
    vals = np.empty(len(users))
    for s in range(0, len(users), 512):
        bu = users[s:s + 512]
        sc = U[[upos[u] for u in bu]] @ V.T
        for r, u in enumerate(bu):
            m = [ipos[i] for i in seen.get(u, []) if i in ipos]
            if m:
                sc[r, m] = -np.inf
        vals[s:s + 512] = ndcg_rows(sc, [np.array([ipos[i] for i in by_user[u] if i in ipos]) for u in bu])
    has_cold = np.array([u in cold_users for u in users])
    res["A_recbole_rows_all_items"] = {"ndcg@20": round(float(vals.mean()), 4), "rows": len(users)}
    res["B_users_with_a_cold_domain"] = {"ndcg@20": round(float(vals[has_cold].mean()), 4),
                                         "rows": int(has_cold.sum())}
    res["B_users_without"] = {"ndcg@20": round(float(vals[~has_cold].mean()), 4), "rows": int((~has_cold).sum())}
    # C: gnnrec's rows and candidate sets (topk ties, not gnnrec's pessimistic ties)
    groups = test.groupby(["user_id", "domain", "scenario"])["item_id"].agg(list)
    for dom in ("action", "drama"):
        cand = np.flatnonzero(item_dom == dom)
        local = {g: k for k, g in enumerate(cand)}
        Vd = V[cand]
        for scen in ("cold", "warm"):
            g = groups.xs((dom, scen), level=("domain", "scenario"))
            gu = [u for u in g.index if u in upos]
            v = np.empty(len(gu))
            for s in range(0, len(gu), 512):
                bu = gu[s:s + 512]
                sc = U[[upos[u] for u in bu]] @ Vd.T
                for r, u in enumerate(bu):
                    m = [local[ipos[i]] for i in seen.get(u, []) if i in ipos and ipos[i] in local]
                    if m:
                        sc[r, m] = -np.inf
                v[s:s + 512] = ndcg_rows(sc, [np.array([local[ipos[i]] for i in g[u] if i in ipos])
                                              for u in bu])
            res[f"C_{dom}/{scen}"] = {"ndcg@20": round(float(v.mean()), 4), "rows": len(gu)}
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", nargs="+")
    ap.add_argument("--out")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rd = {k: pd.read_csv(DATA / f"{k}.tsv", sep="\t", dtype=str) for k in ("train", "valid", "test", "items")}
    out = {}
    for f in args.folders:
        name = Path(f).parent.name
        out[name] = bridge(Path(f), rd)
        print(name, json.dumps(out[name]), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
