"""Study 4: which text encoder initialises the items? Bundled MiniLM vs any local model folder.

Each encoder is ``NAME=PATH`` where PATH is a local Hugging Face model folder
(config.json, tokenizer files, weights; loaded offline by transformers through
:mod:`gnnrec.text`) or ``bundled`` for the packaged all-MiniLM-L6-v2. For every
encoder the script trains ``text-only`` (zero-shot: no training, scores =
cosine of user-mean and item text vectors) and ``cd-lightgcn-text`` with
``text.model=PATH`` -- a config override, so each encoder's runs get their own
cache keys and its embeddings their own sha256 cache entry.

Plugging in another encoder: put (or pip-install) the model folder anywhere
locally, e.g. ``/models/all-mpnet-base-v2``, then

    python experiments/text_encoders.py --suite ml1m-cd \\
        --encoder minilm=bundled --encoder mpnet=/models/all-mpnet-base-v2

(the same override works for a single run: ``gnnrec train CONFIG text.model=/models/...``).
Writes ``results/text-encoders-<suite>/`` (table.md, headline.md, encoders.csv).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from gnnrec.bench import run_suite
from gnnrec.utils.files import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
MODELS = ["text-only", "cd-lightgcn-text"]


def _cell(hit: pd.DataFrame) -> str:
    """``mean ± std`` over seeds (``mean`` alone for one seed)."""
    mean, std, n = hit["mean"].iat[0], hit["std"].iat[0], hit["n_seeds"].iat[0]
    return f"{mean:.4f}" if pd.isna(std) or n < 2 else f"{mean:.4f} ± {std:.4f}"


def _valid_scores(runs_json: Path) -> dict[str, float]:
    """model -> mean over seeds of the best validation score (the selection criterion)."""
    runs = json.loads(runs_json.read_text(encoding="utf-8"))["runs"]
    vals: dict[str, list[float]] = {}
    for r in runs:
        if r.get("best_valid") is not None:
            vals.setdefault(r["model"], []).append(float(r["best_valid"]))
    return {m: sum(v) / len(v) for m, v in vals.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", default="ml1m-cd", choices=["ml1m-cd", "ml100k-cd", "amazon-ao"])
    ap.add_argument("--encoder", action="append", default=None, metavar="NAME=PATH",
                   help="repeatable; PATH = local model folder or 'bundled' (default: minilm=bundled)")
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--budget", default="full", choices=["smoke", "full"])
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args()
    encoders = [e.split("=", 1) for e in (args.encoder or ["minilm=bundled"])]
    rows, valid = [], {}
    for name, path in encoders:
        if path != "bundled" and not Path(path).is_dir():
            raise SystemExit(f"--encoder {name}={path}: {path} is not a folder; give a local "
                             f"Hugging Face model folder (config.json + tokenizer + weights)")
        ovs = [] if path == "bundled" else [f"text.model={Path(path).resolve()}"]
        out = run_suite(args.suite, MODELS, args.seeds, args.budget, ROOT / "runs" / "bench",
                        ROOT / "runs" / "bench" / "encoder-results", ROOT / "configs", ovs,
                        out_name=f"{args.suite}-{name}", report_only=args.report_only,
                        projection=False, progress=False)
        s = pd.read_csv(out.out_dir / "summary.csv")
        rows.append(s.assign(encoder=name, encoder_path=path))
        valid[name] = _valid_scores(out.out_dir / "runs.json")
    frame = pd.concat(rows, ignore_index=True)
    out_dir = ROOT / "results" / f"text-encoders-{args.suite}"
    out_dir.mkdir(parents=True, exist_ok=True)
    keep = frame[(frame["protocol"] == "full") & (frame["k"] == 20) & frame["metric"].isin(["ndcg", "recall"])
                 & (frame["domain"] != "all") & (frame["scenario"] != "all")]
    atomic_write_text(out_dir / "encoders.csv", keep.to_csv(index=False))
    cells = sorted({(d, s) for d, s in zip(keep["domain"], keep["scenario"])}, key=lambda x: (x[1], x[0]))
    lines = ["| encoder | model | valid | " + " | ".join(f"{d}/{s} NDCG@20" for d, s in cells) + " |",
             "|" + "---|" * (3 + len(cells))]
    for name, _ in encoders:
        for model in MODELS:
            sub = keep[(keep["encoder"] == name) & (keep["model"] == model) & (keep["metric"] == "ndcg")]
            vals = []
            for d, s in cells:
                hit = sub[(sub["domain"] == d) & (sub["scenario"] == s)]
                vals.append(_cell(hit) if len(hit) else "–")
            v = valid[name].get(model)
            lines.append(f"| {name} | {model} | " + ("–" if v is None else f"{v:.4f}") + " | "
                         + " | ".join(vals) + " |")
    enc_args = " ".join(f"--encoder {n}={p}" for n, p in encoders)
    text = "\n".join([f"### Text encoder choice on `{args.suite}`", "",
                      f"Test split, NDCG@20 (mean ± std over {args.seeds} seed(s)), budget `{args.budget}`; "
                      "`valid` = the run's best validation score (mean NDCG@20 of the groups, the "
                      "selection criterion), averaged over seeds; "
                      "encoders: " + ", ".join(f"{n} = `{p}`" for n, p in encoders) + ".", "",
                      *lines, "",
                      *(["Only one encoder was compared: no second local model folder was "
                         "available on the machine that produced this table (no hub access), so "
                         "it shows the bundled MiniLM's zero-shot and trained figures only.", ""]
                        if len(encoders) == 1 else []),
                      f"Reproduce: `python experiments/text_encoders.py --suite {args.suite} "
                      f"--seeds {args.seeds} {enc_args}`. To plug in another encoder, pass "
                      "`--encoder NAME=/path/to/hf-model-folder` (see the script's docstring).", ""])
    atomic_write_text(out_dir / "table.md", text)
    atomic_write_text(out_dir / "headline.md", text)
    print(text)


if __name__ == "__main__":
    main()
