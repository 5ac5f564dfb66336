"""Study 10: three domains (ML-1M-3D) -- do bridge users carry preferences to a third domain?

Two measurements on the exports of the ``ml1m-3d`` suite's runs (``gnnrec benchmark --suite
ml1m-3d``), for the cold-start users of each domain C (test split; their C positives are all
held out, their train rows are in the two other domains A and B):

1. **one source at a time** -- each cold user of C is folded in (the export's rule) from their
   A items only, from their B items only, and from both; NDCG@20 on their C positives, against
   the popularity floor. A source that carries preferences to C lifts its fold-in above popularity.
2. **through the third domain** (``--transitive``) -- the flagship is trained again on a copy of
   the train rows with no user in both A and C: every user with train rows in both loses one
   side (a seeded coin; the cold users of C have no C rows and keep their A rows), so A and C
   share no bridge user and the cross-domain map learns no A -> C weight. The A-only fold-in of
   C's cold users can then only reach C through B (users of A and B, users of B and C). Reported
   beside the full graph's A-only fold-in and popularity, for every ordered pair (A, C).

    python experiments/three_domains.py --results results/ml1m-3d --out results/three-domains-ml1m-3d \\
        [--transitive action:drama]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from gnnrec.data import load_dataset
from gnnrec.data.schema import Dataset
from gnnrec.eval import evaluate
from gnnrec.export.contract import Export, load_export
from gnnrec.export.foldin import foldin_matrix, item_degrees, rule_of


def source_foldin(exp: Export, ds: Dataset, split: str = "test") -> pd.DataFrame:
    """NDCG@20 of C's cold users from their A-only / B-only / all train items (rows: target C,
    source, value), plus popularity."""
    from gnnrec.eval import align_export
    u, v, _, _, _ = align_export(exp, ds)
    rule, deg = rule_of(exp.manifest), item_degrees(exp.seen, len(exp.item_ids))
    train = ds.train_matrix().tocsr()
    dom = ds.item_domain()
    t = ds.split(split)
    rows = []
    pop_u = np.ones((ds.n_users, 1), np.float32)
    pop_v = np.log1p(np.asarray(train.sum(axis=0)).ravel()).astype(np.float32)[:, None]
    for c, cname in enumerate(ds.domains):
        cold = np.unique(t[(t["scenario"] == "cold") & (t["domain"] == c)]["user"].to_numpy())
        for label, sources in [(ds.domains[a], [a]) for a in range(len(ds.domains)) if a != c] + \
                [("all other domains", [a for a in range(len(ds.domains)) if a != c])]:
            keep = np.isin(dom, sources).astype(np.float32)
            hist = train[cold] @ sp.diags(keep)
            uf = u.copy()
            uf[cold] = foldin_matrix(hist, v, rule, deg, exp.foldin_map, ds.items["domain"].to_numpy())
            res = evaluate(uf, v, ds, split=split, ks=(20,), bootstrap=0, domains=[cname], scenarios=["cold"])
            rows.append({"target": cname, "source": label, "users": len(cold),
                         "ndcg@20": res.value("ndcg", 20, domain=cname, scenario="cold")})
        res = evaluate(pop_u, pop_v, ds, split=split, ks=(20,), bootstrap=0, domains=[cname], scenarios=["cold"])
        rows.append({"target": cname, "source": "popularity", "users": len(cold),
                     "ndcg@20": res.value("ndcg", 20, domain=cname, scenario="cold")})
    return pd.DataFrame(rows)


def block_layout(exp: Export) -> bool:
    """True when the item vectors of different domains use disjoint columns (per-domain user
    blocks: EMCDR, BiTGCF, one-graph-per-domain LightGCN). A fold-in from one domain's items then
    has zeros in every other domain's block and scores nothing there: such models are left out
    of the one-source measurement (their cold users' vectors come from a mapping, not a fold-in)."""
    dom = exp.item_domains()
    support = [np.abs(exp.item_emb[dom == d]).sum(axis=0) > 0 for d in exp.domains()]
    return all(not (a & b).any() for i, a in enumerate(support) for b in support[i + 1:])


def run_export(run_dir: Path, ds: Dataset) -> Export:
    """A finished run's export (benchmark runs keep no export/ folder: built from the best
    checkpoint, with the fold-in rule chosen on the validation cold users as `gnnrec export` does)."""
    if (run_dir / "export" / "manifest.json").is_file():
        return load_export(run_dir / "export")
    from gnnrec.export.quality import complete_export
    from gnnrec.train import export_model, load_run
    run = load_run(run_dir, device="cpu", ds=ds)
    return complete_export(export_model(run.model, ds, run.config), ds)


def without_pair(ds: Dataset, a: int, c: int, seed: int = 0) -> tuple[Dataset, dict]:
    """``ds`` with no train user in both domains a and c (module docstring)."""
    tr = ds.train
    has = tr.groupby("user")["domain"].agg(lambda d: {int(x) for x in d})
    both = np.array([u for u, d in has.items() if a in d and c in d])
    coin = np.random.default_rng(seed).random(len(both)) < 0.5
    drop_a, drop_c = set(both[coin].tolist()), set(both[~coin].tolist())
    out = tr[~((tr["domain"] == a) & tr["user"].isin(drop_a)) & ~((tr["domain"] == c) & tr["user"].isin(drop_c))]
    keep = {}
    for s in ("valid", "test"):          # warm rows of (user, domain) pairs that lost every train row go
        t = ds.split(s)
        pairs = set(zip(out["user"], out["domain"]))
        ok = (t["scenario"] == "cold") | pd.Series([(u, d) in pairs for u, d in zip(t["user"], t["domain"])])
        keep[s] = t[ok.to_numpy()].reset_index(drop=True)
    new = Dataset(name=ds.name, users=ds.users, items=ds.items, domains=list(ds.domains),
                  train=out.reset_index(drop=True), valid=keep["valid"], test=keep["test"],
                  protocol={**ds.protocol, "no_bridge": [ds.domains[a], ds.domains[c]]})
    return new, {"bridges_split": int(len(both)), "lost_a": len(drop_a), "lost_c": len(drop_c),
                 "train_rows_removed": int(len(tr) - len(out))}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", default="results/ml1m-3d", help="the suite's results folder (runs.json)")
    p.add_argument("--out", default="results/three-domains-ml1m-3d")
    p.add_argument("--transitive", action="append", default=[], metavar="A:C",
                   help="train the flagship without A-C bridge users and fold in C's cold users from A")
    p.add_argument("--transitive-models", default="cd-lightgcn-text,cd-lightgcn",
                   help="models retrained without the A-C bridge users (the ID-only one has no text "
                        "path between the domains)")
    p.add_argument("--runs", default="runs/live")
    args = p.parse_args(argv)
    runs = json.loads((Path(args.results) / "runs.json").read_text())["runs"]
    ds = load_dataset("ml1m-3d")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    tables, skipped = [], []
    for r in runs:
        if r["status"] != "done" or r["model"] == "pop" or r["seed"] != 0:
            continue
        exp = run_export(Path(r["run_dir"]), ds)
        if block_layout(exp):
            skipped.append(r["model"])
            continue
        t = source_foldin(exp, ds)
        t.insert(0, "model", r["model"])
        tables.append(t)
        print(r["model"], "done", flush=True)
    one = pd.concat(tables, ignore_index=True)
    one.to_csv(out_dir / "one_source.csv", index=False)
    trans = []
    for pair in args.transitive:
        a_name, c_name = pair.split(":")
        a, c = ds.domains.index(a_name), ds.domains.index(c_name)
        from gnnrec.train import train_run
        from gnnrec.train.config import resolve
        ds2, info = without_pair(ds, a, c)
        for model in args.transitive_models.split(","):
            base = next(r for r in runs if r["model"] == model and r["seed"] == 0)
            cfg = resolve(base["config"])
            name = f"ml1m3d_no_{a_name}_{c_name}_{model}"
            run_dir = Path(args.runs) / name
            if not (run_dir / "summary.json").is_file():
                train_run(cfg.replace(name=name, runs_dir=args.runs), ds=ds2, overwrite=True, progress=False)
            t = source_foldin(load_export(run_dir / "export"), ds2)
            full = one[(one["model"] == model)]
            for src in (a_name, ds.domains[3 - a - c], "popularity"):
                got = t[(t["target"] == c_name) & (t["source"] == src)]["ndcg@20"].iat[0]
                ref = full[(full["target"] == c_name) & (full["source"] == src)]["ndcg@20"].iat[0]
                trans.append({"model": model, "pair": f"{a_name} -/- {c_name}", "target": c_name,
                              "source": src, "full graph": ref, "no A-C bridge": got, **info})
    md = ["# Three domains (ML-1M-3D): preferences carried to a third domain", "",
          "Test cold-start users of each target domain, folded in (each export's rule) from one source "
          "domain at a time; NDCG@20 on their target positives. Reproduce: "
          f"`python experiments/three_domains.py --results {args.results} --out {args.out}"
          + "".join(f" --transitive {x}" for x in args.transitive) + "`."
          + (f" Left out: {', '.join(skipped)} (per-domain user blocks: a fold-in from another domain's "
             f"items scores nothing in the target; their cold users' vectors come from a mapping)."
             if skipped else ""), ""]
    piv = one.pivot_table(index=["model", "target"], columns="source", values="ndcg@20").reset_index()
    cols = [c for c in piv.columns if c not in ("model", "target")]
    md += ["| model | target | " + " | ".join(cols) + " |", "|---" * (2 + len(cols)) + "|"]
    for _, row in piv.iterrows():
        md.append(f"| {row['model']} | {row['target']} | " + " | ".join(
            "" if pd.isna(row[c]) else f"{row[c]:.4f}" for c in cols) + " |")
    if trans:
        tt = pd.DataFrame(trans)
        tt.to_csv(out_dir / "transitive.csv", index=False)
        md += ["", "## Without any A-C bridge user (retrained on train rows where no user has both A and C)", "",
               "| model | A -/- C | fold-in source | full graph | no A-C bridge |", "|---|---|---|---|---|"]
        for _, row in tt.iterrows():
            md.append(f"| {row['model']} | {row['pair']} | {row['source']} | {row['full graph']:.4f} | "
                      f"{row['no A-C bridge']:.4f} |")
        md += ["", f"Bridges split: {trans[0]['bridges_split']} users lost one side "
               f"({trans[0]['train_rows_removed']} train rows)."]
    (out_dir / "table.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
