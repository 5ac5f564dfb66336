"""Quality table from finished runs: test NDCG@20 / Recall@20 per domain x scenario.

    .venv/bin/python benchmarks/quality_table.py runs/ml1m_cd_pop runs/ml1m_cd_cd_lightgcn_text ...

Each argument is a run folder written by ``gnnrec train`` (its ``test/`` holds the
gnnrec.eval result of the epoch selected on the validation split). Folders whose
names differ only by a ``_s<seed>`` suffix are averaged (seeds); prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict
from pathlib import Path

from gnnrec.eval import load_result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", help="run folders")
    p.add_argument("--k", type=int, default=20)
    a = p.parse_args()
    rows: dict[str, list] = defaultdict(list)
    groups: list[str] = []
    for run in map(Path, a.runs):
        summary = json.loads((run / "summary.json").read_text())
        res = load_result(run / "test")
        vals = {}
        for g in summary["test"]:
            d, s = g.split("/")
            vals[g] = (res.value("ndcg", a.k, domain=d, scenario=s), res.value("recall", a.k, domain=d, scenario=s))
            if g not in groups:
                groups.append(g)
        rows[f"{summary['model']} ({re.sub(r'_s[0-9]+$', '', run.name)})"].append(vals)
    print("| model | seeds | " + " | ".join(f"{g} NDCG@{a.k} / Recall@{a.k}" for g in groups) + " |")
    print("|---|---|" + "---|" * len(groups))
    for model, runs in rows.items():
        cells = []
        for g in groups:
            got = [r[g] for r in runs if g in r]
            cells.append(f"{sum(x[0] for x in got) / len(got):.4f} / {sum(x[1] for x in got) / len(got):.4f}"
                         if got else "-")
        print(f"| {model} | {len(runs)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
