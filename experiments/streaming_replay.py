"""Study 9: live updates on ML-1M-CD -- a streaming replay against a retrained model.

The cold-start users of ML-1M-CD (valid and test) have every target-domain positive held out.
Each user's first half of those positives (by timestamp) is fed to the served export as live
interactions (``Retriever.interact``: fold-in, no training); NDCG@20 is measured on the second
half, the first half masked like train rows. The reference is the same config retrained with
the first halves in its train rows. Reported per split: no update (the export as it is), the
live update (``delta``: U[u] + a_u (f(H + N) - f(H)), the served rule), a pure fold-in of the
whole history (``refold``: f(H + N), for comparison), the retrained model, and the ratio
live / retrained.

    python experiments/streaming_replay.py runs/live/flagship --out results/streaming-ml1m-cd

The retrained run is cached under ``--runs`` (default runs/live) as ``<run>_stream_retrain``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from gnnrec.data import load_dataset
from gnnrec.data.schema import Dataset
from gnnrec.eval import evaluate
from gnnrec.export.contract import load_export
from gnnrec.export.foldin import foldin_vector
from gnnrec.export.query import Retriever


def stream_split(ds: Dataset, splits: tuple[str, ...] = ("valid", "test")) -> tuple[Dataset, pd.DataFrame]:
    """(dataset with each cold (user, domain)'s first half of held-out rows, by (timestamp, item),
    moved into train; the moved rows). The second halves stay held out, still marked cold."""
    moved, tables = [], {}
    for s in splits:
        t = ds.split(s)
        cold = t[t["scenario"] == "cold"].sort_values(["user", "domain", "timestamp", "item"], kind="stable")
        rank = cold.groupby(["user", "domain"]).cumcount().to_numpy()
        size = cold.groupby(["user", "domain"])["item"].transform("size").to_numpy()
        first = cold[rank < size // 2]
        moved.append(first)
        tables[s] = t.drop(index=first.index).reset_index(drop=True)
    feed = pd.concat(moved)
    train = pd.concat([ds.train, feed.drop(columns="scenario")], ignore_index=True)
    other = {s: ds.split(s) for s in ("valid", "test") if s not in tables}
    out = Dataset(name=ds.name, users=ds.users, items=ds.items, domains=list(ds.domains), train=train,
                  protocol={**ds.protocol, "stream": "first half of each cold user's held-out rows in train"},
                  **tables, **other)
    return out, feed.sort_values(["timestamp", "user", "item"], kind="stable")


def cold_ndcg(u: np.ndarray, v: np.ndarray, ds: Dataset, split: str) -> dict[str, float]:
    res = evaluate(u, v, ds, split=split, ks=(20,), bootstrap=0, scenarios=["cold"])
    out = {"all": float(res.value("ndcg", 20, scenario="cold"))}
    for d in ds.domains:
        out[d] = float(res.value("ndcg", 20, domain=d, scenario="cold"))
    return {k: round(x, 4) for k, x in out.items()}


def retrain(run_dir: Path, ds2: Dataset, runs: Path) -> Path:
    from gnnrec.train import train_run
    from gnnrec.train.config import resolve
    from gnnrec.train.run import _read_run_config
    cfg = resolve(_read_run_config(run_dir / "config.yaml"))
    name = f"{cfg.name}_stream_retrain"
    target = runs / name
    if (target / "summary.json").is_file():
        return target
    cfg = cfg.replace(name=name, runs_dir=str(runs))
    train_run(cfg, ds=ds2, overwrite=True, progress=False)
    return target


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="a trained run folder (its export/ is served)")
    p.add_argument("--runs", default="runs/live", help="where the retrained run is cached")
    p.add_argument("--out", default="results/streaming-ml1m-cd")
    args = p.parse_args(argv)
    run = Path(args.run)
    exp = load_export(run / "export")
    ds = load_dataset(exp.manifest["dataset"]["name"])
    ds2, feed = stream_split(ds)
    rec = Retriever(exp)
    uid, iid = ds.users["user_id"].to_numpy(), ds.items["item_id"].to_numpy()
    t0 = time.perf_counter()
    for u, i in zip(feed["user"], feed["item"]):
        rec.interact(str(uid[u]), str(iid[i]))
    feed_s = time.perf_counter() - t0
    users = sorted(set(feed["user"]))
    u_live = exp.user_emb.copy()
    u_refold = exp.user_emb.copy()
    for u in users:
        u_live[u] = rec.user_vector(str(uid[u])).vec
        rows = np.union1d(exp.seen[u].indices, ds2.train_matrix()[u].indices)
        u_refold[u] = foldin_vector(rows, exp.item_emb, rec.foldin_rule, rec.degrees, exp.foldin_map,
                                    rec.item_domain)
    ret_dir = retrain(run, ds2, Path(args.runs))
    ret = load_export(ret_dir / "export")
    summary = json.loads((ret_dir / "summary.json").read_text())
    out = {"run": str(run), "dataset": ds.name, "foldin_rule": rec.foldin_rule,
           "fed_interactions": int(len(feed)), "users": len(users),
           "ms_per_interaction": round(feed_s / len(feed) * 1e3, 3),
           "retrain_s": summary.get("train_s"), "splits": {}}
    for s in ("valid", "test"):
        row = {"no_update": cold_ndcg(exp.user_emb, exp.item_emb, ds2, s),
               "live_delta": cold_ndcg(u_live, exp.item_emb, ds2, s),
               "live_refold": cold_ndcg(u_refold, exp.item_emb, ds2, s),
               "retrained": cold_ndcg(ret.user_emb, ret.item_emb, ds2, s)}
        row["ratio_live_to_retrained"] = {k: round(row["live_delta"][k] / row["retrained"][k], 4)
                                          for k in row["retrained"]}
        out["splits"][s] = row
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "figures.json").write_text(json.dumps(out, indent=2) + "\n")
    md = [f"# Streaming replay on {ds.name}: live fold-in updates vs a retrained model", "",
          f"Each cold user's first half of held-out target-domain positives (by time) is fed as live "
          f"interactions ({out['fed_interactions']} interactions, {out['users']} users, "
          f"{out['ms_per_interaction']} ms each); NDCG@20 on the second half (cold groups). "
          f"Retrained: `{ret_dir}` ({out['retrain_s']} s). Reproduce: "
          f"`python experiments/streaming_replay.py {args.run} --out {args.out}`.", "",
          "| split | cells | no update | live (delta, served) | live (refold) | retrained | live / retrained |",
          "|---|---|---|---|---|---|---|"]
    for s, row in out["splits"].items():
        for cell in row["retrained"]:
            md.append(f"| {s} | {cell} | {row['no_update'][cell]:.4f} | {row['live_delta'][cell]:.4f} | "
                      f"{row['live_refold'][cell]:.4f} | {row['retrained'][cell]:.4f} | "
                      f"{row['ratio_live_to_retrained'][cell]:.3f} |")
    (Path(args.out) / "table.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
