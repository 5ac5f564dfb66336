"""Study 8: explanations on ML-1M-CD -- faithfulness and the deletion test.

On an export of a trained run (the flagship: ``gnnrec train configs/ml1m_cd/cd_lightgcn_text.yaml``),
for the valid cold-start users of ML-1M-CD (all their positives in the target domain are held
out; their train items are in the other domain):

* faithfulness -- each user's top-10 items in the cold domain are explained (trained vectors,
  exact history terms); contributions + named parts + remainder must equal the served score
  (max |error| reported), and the shares are summarised (history, own ID row, remainder =
  other nodes within L hops);
* deletion -- for the fold-in of each user's history (the export's rule), the top recommended
  item's top contributor is removed and the fold-in score drop compared with the expected drop
  when a uniformly random history item is removed (:func:`gnnrec.export.explain.deletion_check`).

    python experiments/explain_faithfulness.py runs/live/flagship/export --out results/explain-ml1m-cd
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from gnnrec.data import load_dataset
from gnnrec.export.explain import deletion_check
from gnnrec.export.query import Retriever


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("export")
    p.add_argument("--dataset", default="ml1m-cd")
    p.add_argument("--split", default="valid")
    p.add_argument("--top", type=int, default=10, help="items explained per user")
    p.add_argument("--out", default="results/explain-ml1m-cd")
    args = p.parse_args(argv)
    ds = load_dataset(args.dataset)
    rec = Retriever.load(args.export)
    t = ds.split(args.split)
    cold = t[t["scenario"] == "cold"].drop_duplicates(["user", "domain"])
    train = ds.train_matrix().tocsr()
    uid = ds.users["user_id"].tolist()
    errs, hist_share, own_share, rem_share, cross = [], [], [], [], []
    t0 = time.perf_counter()
    for u, d in zip(cold["user"], cold["domain"]):
        dom = ds.domains[d]
        for it in rec.recommend(dom, args.top, user=uid[u]).items:
            e = rec.explain(it["item_id"], user=uid[u], top=5)
            hist = sum(c["contribution"] for c in e["contributions"]) + e["other_history"]["contribution"]
            total = hist + sum(e["parts"].values()) + e["remainder"]
            errs.append(abs(total - it["score"]))
            hist_share.append(hist / e["score"])
            own_share.append(sum(e["parts"].values()) / e["score"])
            rem_share.append(e["remainder"] / e["score"])
            cross.append(all(c["domain"] != dom for c in e["contributions"]))
    explain_s = time.perf_counter() - t0
    histories = [[rec.item_ids[j] for j in train[u].indices] for u in cold["user"]]
    t0 = time.perf_counter()
    dele = deletion_check(rec, histories, [ds.domains[d] for d in cold["domain"]])
    dele_s = time.perf_counter() - t0
    out = {"export": args.export, "dataset": args.dataset, "split": args.split,
           "cold_users": int(len(cold)), "explained": len(errs), "method": rec.explain(
               rec.recommend(ds.domains[0], 1, user=uid[0]).items[0]["item_id"], user=uid[0])["method"],
           "faithfulness": {"max_abs_error": float(np.max(errs)),
                            "median_share": {"history": float(np.median(hist_share)),
                                             "own_id_row": float(np.median(own_share)),
                                             "remainder": float(np.median(rem_share))},
                            "top5_all_from_other_domain": float(np.mean(cross)),
                            "ms_per_explanation": round(explain_s / len(errs) * 1e3, 3)},
           "deletion": {**dele, "seconds": round(dele_s, 1)}}
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "figures.json").write_text(json.dumps(out, indent=2) + "\n")
    f, dl = out["faithfulness"], out["deletion"]
    md = [f"# Explanations on {args.dataset} ({args.split} cold-start users)", "",
          f"Export: `{args.export}`; method `{out['method']}`. Reproduce: "
          f"`python experiments/explain_faithfulness.py {args.export} --out {args.out}`.", "",
          "| figure | value |", "|---|---|",
          f"| explanations (top-{args.top} of {out['cold_users']} users) | {out['explained']} |",
          f"| max abs(contributions + parts + remainder - served score) | {f['max_abs_error']:.2e} |",
          f"| median share of the score: history items | {f['median_share']['history']:.3f} |",
          f"| median share: the user's own ID row | {f['median_share']['own_id_row']:.3f} |",
          f"| median share: remainder (other nodes within L hops) | {f['median_share']['remainder']:.3f} |",
          f"| top-5 contributors all from the user's other domain | {f['top5_all_from_other_domain']:.3f} |",
          f"| ms per explanation | {f['ms_per_explanation']} |",
          f"| deletion: users (fold-in rule `{dl['rule']}`) | {dl['users']} |",
          f"| mean score drop, top contributor removed | {dl['top_drop']:.5f} |",
          f"| mean score drop, random history item removed | {dl['random_drop']:.5f} |",
          f"| ratio | {dl['ratio']:.2f} |",
          f"| share of users where the top contributor's drop is larger | {dl['top_beats_random']:.3f} |", ""]
    (Path(args.out) / "table.md").write_text("\n".join(md))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
