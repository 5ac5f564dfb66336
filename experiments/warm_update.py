"""Study 11: ``gnnrec update`` (warm start on appended interactions) against a full retrain.

ML-1M-CD's train rows are cut at a time: the latest ``--share`` (default 10%) by timestamp
become the appended interactions, the rest the base dataset (same users, items, valid and test).
A base run trains on the base data (the flagship config); ``gnnrec update`` then warm-starts
from its last checkpoint on the appended rows for ``--epochs`` epochs; the reference is the
same config trained from scratch on all the rows (``--full RUN``, e.g. runs/live/flagship).
Reported: training seconds and test NDCG@20 per group for the base model (stale), the update
and the full retrain.

    python experiments/warm_update.py --full runs/live/flagship --out results/warm-update-ml1m-cd
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

from gnnrec.data import load_dataset
from gnnrec.data.schema import Dataset
from gnnrec.data.store import save_prepared
from gnnrec.eval import evaluate
from gnnrec.export.contract import load_export


def cut(ds: Dataset, share: float) -> tuple[Dataset, pd.DataFrame]:
    """(base dataset, appended rows as a user_id/item_id/domain/rating/timestamp table)."""
    tr = ds.train.sort_values(["timestamp", "user", "item"], kind="stable")
    n_new = int(round(share * len(tr)))
    base, new = tr.iloc[:-n_new], tr.iloc[-n_new:]
    rows = pd.DataFrame({"user_id": ds.users["user_id"].to_numpy()[new["user"].to_numpy()],
                         "item_id": ds.items["item_id"].to_numpy()[new["item"].to_numpy()],
                         "domain": [ds.domains[d] for d in new["domain"]],
                         "rating": new["rating"].to_numpy(), "timestamp": new["timestamp"].to_numpy()})
    out = Dataset(name=ds.name, users=ds.users, items=ds.items, domains=list(ds.domains),
                  train=base.sort_index().reset_index(drop=True), valid=ds.valid, test=ds.test,
                  protocol={**ds.protocol, "cut": f"latest {share:.0%} of train rows held back"})
    return out, rows


def groups(exp, ds: Dataset) -> dict[str, float]:
    from gnnrec.eval import align_export
    u, v, _, _, _ = align_export(exp, ds)
    res = evaluate(u, v, ds, split="test", ks=(20,), bootstrap=0)
    return {f"{d}/{s}": round(float(res.value("ndcg", 20, domain=d, scenario=s)), 4)
            for d in ds.domains for s in ("warm", "cold")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--full", required=True, help="the run trained on all rows (e.g. runs/live/flagship)")
    p.add_argument("--share", type=float, default=0.1)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--runs", default="runs/live")
    p.add_argument("--out", default="results/warm-update-ml1m-cd")
    args = p.parse_args(argv)
    from gnnrec.train import train_run
    from gnnrec.train.config import resolve
    from gnnrec.train.run import _read_run_config
    from gnnrec.train.update import update_run

    full = Path(args.full)
    cfg = resolve(_read_run_config(full / "config.yaml"))
    ds = load_dataset(cfg.dataset)
    base_ds, rows = cut(ds, args.share)
    runs = Path(args.runs)
    data = (runs / "data" / "warm_update_base").resolve()
    if not (data / "manifest.json").is_file():
        save_prepared(base_ds, data)
    rows_path = runs / "data" / "warm_update_appended.tsv"
    rows.to_csv(rows_path, sep="\t", index=False)
    base = runs / "warm_update_base"
    if not (base / "summary.json").is_file():
        train_run(cfg.replace(name=base.name, runs_dir=str(runs), dataset=str(data)), overwrite=True,
                  progress=False)
    upd = runs / f"warm_update_e{args.epochs}"
    if not (upd / "summary.json").is_file():
        t0 = time.perf_counter()
        update_run(base, rows_path, name=upd.name, epochs=args.epochs, overwrite=True, progress=False)
        wall = time.perf_counter() - t0
        (upd / "wall_s.txt").write_text(f"{wall:.1f}\n")
    summ = {k: json.loads((r / "summary.json").read_text()) for k, r in
            (("base", base), ("update", upd), ("full", full))}
    out = {"dataset": ds.name, "appended_rows": int(len(rows)), "share": args.share, "epochs": args.epochs,
           "train_s": {k: v["train_s"] for k, v in summ.items()},
           "update_wall_s": float((upd / "wall_s.txt").read_text()) if (upd / "wall_s.txt").is_file() else None,
           "test_ndcg@20": {"base (stale, no update)": groups(load_export(base / "export"), ds),
                            "update (warm start)": groups(load_export(upd / "export"), ds),
                            "full retrain": groups(load_export(full / "export"), ds)}}
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "figures.json").write_text(json.dumps(out, indent=2) + "\n")
    cells = list(out["test_ndcg@20"]["full retrain"])
    md = [f"# gnnrec update vs a full retrain ({ds.name})", "",
          f"The latest {args.share:.0%} of train rows by time ({len(rows)} rows) are appended to a run "
          f"trained on the rest; `gnnrec update` warm-starts from its last checkpoint for {args.epochs} "
          f"epochs. Test NDCG@20. Reproduce: `python experiments/warm_update.py --full {args.full} "
          f"--epochs {args.epochs} --out {args.out}`.", "",
          "| model | train s | " + " | ".join(cells) + " |", "|---" * (2 + len(cells)) + "|"]
    for label, key in (("base (stale, no update)", "base"), ("update (warm start)", "update"),
                       ("full retrain", "full")):
        md.append(f"| {label} | {out['train_s'][key]} | "
                  + " | ".join(f"{out['test_ndcg@20'][label][c]:.4f}" for c in cells) + " |")
    (Path(args.out) / "table.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
