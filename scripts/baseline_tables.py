"""Print Markdown tables of trained runs (test split) for the baseline comparison.

Full-ranking table (ML-1M-CD style: one row per run, NDCG@20 / Recall@20 per
domain x scenario) from each run's saved ``test/`` result::

    python scripts/baseline_tables.py full runs/hgt runs/emcdr runs/bitgcf

Sampled-protocol table (DisenCDR/CDRIB/UniCDR: each test positive against 999
sampled items of its domain; MRR, NDCG@5/10, HR@1/5/10 per domain) with the
full-ranking NDCG@20 / HR@20 beside it; the model is rebuilt from its best
checkpoint (``gnnrec.train.load_run``) and scored by ``gnnrec.eval.core``::

    python scripts/baseline_tables.py sampled runs/sc_cd_lightgcn runs/sc_hgt runs/sc_bitgcf
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from gnnrec.eval import evaluate, load_result
from gnnrec.train import load_run


def _model_name(run: Path) -> str:
    cfg = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))
    return f"{cfg['model']['name']} ({run.name})"


def full_table(runs: list[Path]) -> str:
    res = {run: load_result(run / "test") for run in runs}
    cells = [(d, s) for r in res.values() for d, s in
             sorted(set(zip(r.table["domain"], r.table["scenario"])))
             if d != "all" and s != "all"]
    cells = list(dict.fromkeys(cells))
    head = "| model | " + " | ".join(f"{d}/{s} NDCG@20 | {d}/{s} Recall@20" for d, s in cells) + " |"
    lines = [head, "|" + "---|" * (1 + 2 * len(cells))]
    for run, r in res.items():
        vals = []
        for d, s in cells:
            for m in ("ndcg", "recall"):
                try:
                    vals.append(f"{r.value(m, 20, domain=d, scenario=s):.4f}")
                except KeyError:
                    vals.append("-")
        lines.append(f"| {_model_name(run)} | " + " | ".join(vals) + " |")
    return "\n".join(lines)


def sampled_table(runs: list[Path], seed: int) -> str:
    cols = [("mrr", None), ("ndcg", 5), ("ndcg", 10), ("hr", 1), ("hr", 5), ("hr", 10)]
    head = ("| model | target | " + " | ".join(f"{m.upper()}@{k}" if k else m.upper() for m, k in cols)
            + " | full NDCG@20 | full HR@20 |")
    lines = [head, "|" + "---|" * (4 + len(cols))]
    for run in runs:
        loaded = load_run(run, device="cpu")
        u, v = loaded.model.embeddings()
        ds = loaded.ds
        sampled = evaluate(u, v, ds, split="test", protocol="sampled", seed=seed, bootstrap=0)
        full = load_result(run / "test")
        for dom in ds.domains:
            vals = [f"{sampled.value(m, k, domain=dom):.4f}" for m, k in cols]
            vals += [f"{full.value('ndcg', 20, domain=dom):.4f}", f"{full.value('hr', 20, domain=dom):.4f}"]
            lines.append(f"| {_model_name(run)} | {dom} | " + " | ".join(vals) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("protocol", choices=("full", "sampled"))
    p.add_argument("runs", nargs="+", type=Path, help="run folders written by `gnnrec train`")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampled negatives (default 0)")
    args = p.parse_args(argv)
    missing = [str(r) for r in args.runs if not (r / "test").is_dir()]
    if missing:
        p.error(f"not finished runs (no test/ result): {missing}")
    print(full_table(args.runs) if args.protocol == "full" else sampled_table(args.runs, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
