"""Study 12: ``gnnrec forget`` on ML-1M-CD -- the membership check and what forgetting costs.

``--users`` users (seeded, among users with at least 20 train rows) are forgotten from copies of
a trained run (``RUN``, e.g. the flagship): once warm-started (the default: their ID rows and the
ID rows of the items they touched re-initialised, ``--epochs`` epochs of fine-tuning) and once
with ``--full-retrain`` (a model that never saw them, same config and seed). For their held-in
items (their train items), each left out in turn from a fold-in of the rest of their history,
:func:`gnnrec.export.quality.heldin_report` measures MRR / hit@20 / rank percentile under the
original run, the warm forget and the full retrain; the paired bootstrap CI of the per-user
difference (warm - full retrain) says whether the forgotten model still knows them, and
(original - full retrain) that the check has power. Test NDCG@20 and seconds of each.

    python experiments/forget_membership.py runs/live/flagship --out results/forget-ml1m-cd
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

from gnnrec.data import load_dataset
from gnnrec.export.contract import load_export
from gnnrec.export.quality import heldin_report


def paired_ci(a: dict[str, list[float]], b: dict[str, list[float]], col: int = 0, n_boot: int = 2000,
              seed: int = 0) -> dict[str, float]:
    users = sorted(set(a) & set(b))
    d = np.array([a[u][col] - b[u][col] for u in users])
    rng = np.random.default_rng(seed)
    boot = d[rng.integers(0, len(d), (n_boot, len(d)))].mean(axis=1)
    return {"mean": round(float(d.mean()), 4), "ci95": [round(float(np.percentile(boot, 2.5)), 4),
                                                       round(float(np.percentile(boot, 97.5)), 4)]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run")
    p.add_argument("--users", type=int, default=60)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--runs", default="runs/live")
    p.add_argument("--out", default="results/forget-ml1m-cd")
    args = p.parse_args(argv)
    from gnnrec.eval import evaluate
    from gnnrec.export.forget import forget

    run = Path(args.run)
    exp0 = load_export(run / "export")
    ds = load_dataset(exp0.manifest["dataset"]["name"])
    counts = np.bincount(ds.train["user"].to_numpy(), minlength=ds.n_users)
    pool = np.flatnonzero(counts >= 20)
    chosen = np.sort(np.random.default_rng(0).choice(pool, args.users, replace=False))
    ids = ds.users["user_id"].to_numpy()[chosen].tolist()
    train = ds.train_matrix()
    iid = ds.items["item_id"].tolist()
    histories = {u: [iid[j] for j in train[k].indices] for u, k in zip(ids, chosen)}
    runs = Path(args.runs)
    secs = {}
    for mode in ("warm", "full"):
        target = runs / f"forget_{mode}"
        if not (target / "forget.json").is_file():
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(run, target, ignore=shutil.ignore_patterns("updates"))
            t0 = time.perf_counter()
            forget(target, ids, full_retrain=mode == "full", epochs=args.epochs, progress=False)
            (target / "wall_s.txt").write_text(f"{time.perf_counter() - t0:.1f}\n")
        secs[mode] = float((target / "wall_s.txt").read_text())
    exps = {"original": exp0, "forget (warm)": load_export(runs / "forget_warm" / "export"),
            "forget (full retrain)": load_export(runs / "forget_full" / "export")}
    rep = {k: heldin_report(e, histories) for k, e in exps.items()}
    kept = load_dataset(str(runs / "forget_full" / "data"))
    quality = {}
    for k, e in exps.items():
        from gnnrec.eval import align_export
        u, v, pu, _, _ = align_export(e, kept)
        res = evaluate(u, v, kept, split="test", ks=(20,), bootstrap=0)
        quality[k] = {f"{d}/{s}": round(float(res.value("ndcg", 20, domain=d, scenario=s)), 4)
                      for d in kept.domains for s in ("warm", "cold")}
    out = {"run": str(run), "users": len(ids), "epochs": args.epochs,
           "seconds": {"forget (warm)": secs["warm"], "forget (full retrain)": secs["full"]},
           "forget_json": json.loads((runs / "forget_warm" / "forget.json").read_text()),
           "heldin": {k: {m: round(v[m], 4) for m in ("mrr", "hit@20", "percentile")} for k, v in rep.items()},
           "mrr_difference_vs_full_retrain": {
               "original": paired_ci(rep["original"]["per_user"], rep["forget (full retrain)"]["per_user"]),
               "forget (warm)": paired_ci(rep["forget (warm)"]["per_user"],
                                          rep["forget (full retrain)"]["per_user"])},
           "test_ndcg@20_remaining_users": quality}
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "figures.json").write_text(json.dumps(out, indent=2) + "\n")
    cells = list(next(iter(quality.values())))
    md = [f"# gnnrec forget on {ds.name}: membership check", "",
          f"{len(ids)} users (seeded, >= 20 train rows) forgotten from copies of `{run}`. Held-in items: "
          f"each of their train items left out of a fold-in of the rest of their history and ranked in "
          f"its domain. Reproduce: `python experiments/forget_membership.py {args.run} --users {args.users} "
          f"--epochs {args.epochs} --out {args.out}`.", "",
          "| model | seconds | held-in MRR | hit@20 | rank percentile | MRR - full retrain (95% CI) |",
          "|---|---|---|---|---|---|"]
    for k in exps:
        h = out["heldin"][k]
        diff = out["mrr_difference_vs_full_retrain"].get(k)
        md.append(f"| {k} | {out['seconds'].get(k, '')} | {h['mrr']:.4f} | {h['hit@20']:.4f} | "
                  f"{h['percentile']:.4f} | " + (f"{diff['mean']:+.4f} [{diff['ci95'][0]:+.4f}, "
                                                 f"{diff['ci95'][1]:+.4f}]" if diff else "") + " |")
    md += ["", "Test NDCG@20 of the remaining users:", "", "| model | " + " | ".join(cells) + " |",
           "|---" * (1 + len(cells)) + "|"]
    md += [f"| {k} | " + " | ".join(f"{q[c]:.4f}" for c in cells) + " |" for k, q in quality.items()]
    (Path(args.out) / "table.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
