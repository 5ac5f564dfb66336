"""The main job after the data step: text -> train -> evaluate vs popularity -> export -> top-10.

:func:`run_pipeline` is what ``gnnrec demo`` runs on ml100k-cd: it embeds the
item texts with the bundled model, trains the text-initialised cross-domain
LightGCN (selected on validation NDCG@20), fits popularity, prints the test
table of both (NDCG@20 / Recall@20 per domain x scenario), writes the export
folder and shows one cold-start user's top-10 in the target domain with titles.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from gnnrec.data.schema import Dataset

DEMO_MODEL: dict[str, Any] = {"name": "cd-lightgcn-text", "dim": 64, "layers": 3}
DEMO_TRAIN: dict[str, Any] = {"epochs": 20, "batch_size": 8192, "lr": 0.01, "reg": 1e-4,
                              "loss": "bpr", "eval_every": 2, "patience": 3}


def _table(results: dict[str, Any], ds: Dataset) -> str:
    lines = [f"{'model':<18}" + "".join(f"{d + '/' + s:>22}" for d in ds.domains for s in ("warm", "cold")),
             f"{'':<18}" + "".join(f"{'NDCG@20  Recall@20':>22}" for _ in ds.domains for _ in (0, 1))]
    for name, res in results.items():
        cells = []
        for d in ds.domains:
            for s in ("warm", "cold"):
                try:
                    cells.append(f"{res.value('ndcg', 20, domain=d, scenario=s):>11.4f}"
                                 f"{res.value('recall', 20, domain=d, scenario=s):>11.4f}")
                except (KeyError, ValueError):
                    cells.append(f"{'-':>22}")
        lines.append(f"{name:<18}" + "".join(cells))
    return "\n".join(lines)


def show_top10(model, ds: Dataset, domain: str | None = None) -> str:
    """Top-10 of one cold-start test user in ``domain`` (default: the last domain), with titles."""
    test = ds.test
    cold = test[test["scenario"] == "cold"]
    dom = domain or (ds.domains[int(cold["domain"].iat[0])] if len(cold) else ds.domains[-1])
    d = ds.domain_index(dom)
    rows = cold[cold["domain"] == d] if len(cold) else test[test["domain"] == d]
    user = int(rows["user"].iat[0])
    truth = set(rows.loc[rows["user"] == user, "item"].tolist())
    u, v = model.embeddings()
    blk = ds.item_block(d)
    scores = (v[blk] @ u[user]).cpu().numpy()
    seen = ds.train.loc[(ds.train["user"] == user) & (ds.train["domain"] == d), "item"].to_numpy()
    scores[seen - blk.start] = -np.inf
    top = np.argsort(-scores, kind="stable")[:10] + blk.start
    titles = ds.items["title"].astype(str) if "title" in ds.items else ds.items["item_id"]
    other = ds.train[(ds.train["user"] == user) & (ds.train["domain"] != d)]
    out = [f"user {ds.users['user_id'].iat[user]} ({'cold' if len(cold) else 'warm'} in {dom}: "
           f"{len(other)} train items in other domains, none in {dom})",
           "  a few of their other-domain items: " + "; ".join(titles.iloc[other['item'].to_numpy()[:3]])]
    for rank, i in enumerate(top, 1):
        mark = "  <- in their test set" if i in truth else ""
        out.append(f"  {rank:>2}. {titles.iat[i]}{mark}")
    return "\n".join(out)


def run_pipeline(ds: Dataset, runs_dir: str | Path = "runs", epochs: int | None = None) -> int:
    """Run the steps of the module docstring on ``ds``; prints progress and results."""
    from gnnrec.text import item_text_features
    from gnnrec.train import resolve, train_run

    t0 = time.perf_counter()
    feats = item_text_features(ds, device="auto")
    if feats is None:
        print(f"[demo] {ds.name} has no item text; the text model cannot run")
        return 2
    print(f"[demo] item texts embedded: {feats.item.shape} ({feats.model_id}) "
          f"in {time.perf_counter() - t0:.1f}s")
    results, runs = {}, {}
    for model in ({"name": "pop"}, DEMO_MODEL):
        train = {**DEMO_TRAIN, **({"epochs": epochs} if epochs else {})}
        cfg = resolve({"name": f"demo_{ds.name}_{model['name']}".replace("-", "_"),
                       "dataset": ds.name, "runs_dir": str(runs_dir), "model": model,
                       "train": train})
        t1 = time.perf_counter()
        res = train_run(cfg, overwrite=True, ds=ds, feats=feats, progress=True)
        print(f"[demo] {model['name']}: best valid NDCG@20 {res.best_score:.4f} "
              f"in {time.perf_counter() - t1:.1f}s; export in {res.run_dir / 'export'}")
        results[model["name"]], runs[model["name"]] = res.test, res
    print("[demo] test split (selection on valid only):")
    print(_table(results, ds))
    print("[demo] " + show_top10(runs[DEMO_MODEL["name"]].model, ds).replace("\n", "\n[demo] "))
    print(f"[demo] pipeline done in {time.perf_counter() - t0:.1f}s")
    return 0
