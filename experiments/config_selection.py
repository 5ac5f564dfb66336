"""Configuration sweep with selection on the validation split only.

Rounds 4 and 8 and the popularity-head candidates of rounds 1 and 6 studied knobs
that were refuted and have left the library (``model.pop_bias``, ``domain_heads``,
``text_proj``, ``user_id``, ``layer_weights``, ``user_text``, ``lexical_min_df``):
rerun them at the commit recorded in experiments/README.md.

Trains each candidate (a base YAML config + dotted overrides) once, then
writes ``results/selection-<dataset>/table.md`` and ``selection.csv``: the
validation selection score (mean NDCG@20 over the four domain x scenario
groups, the trainer's early-stopping score) and the best epoch of every
candidate, and its test NDCG@20 / Recall@20 per group. The candidate with the
highest validation score is marked; test numbers are shown for the record and
never used to choose. Runs live under ``--runs-dir`` (resumable: a candidate
whose ``summary.json`` exists is read, not retrained).

    python experiments/config_selection.py --study amazon-ao            # the amazon-ao sweep
    python experiments/config_selection.py --study amazon-ao --list     # the candidates only
    python experiments/config_selection.py --study amazon-ao-lexical    # round 2: model.lexical
    python experiments/config_selection.py --study amazon-ao-round3     # round 3 on round 2's winner
    python experiments/config_selection.py --study amazon-ao-round5     # round 5: learning rate, batch size
    python experiments/config_selection.py --study amazon-ao-round6     # round 6: the loss
    python experiments/config_selection.py --study amazon-ao-round7     # round 7: L2, hops, cold_sim, norm_exp
    python experiments/config_selection.py --study amazon-ao-round10    # round 10: cross-domain item map
    python experiments/config_selection.py --study amazon-ao-round12    # round 12: 256 dims, 2 layers, with the map
    python experiments/config_selection.py --study amazon-ao-round13    # round 13: a warm-pair map
    python experiments/config_selection.py --study ml1m-cd-cross-map    # round 10's map on ML-1M-CD
    python experiments/config_selection.py --study ml1m-cd-warm-map     # round 13's warm map on ML-1M-CD
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# study -> (base config, overrides that restore the pre-selection starting point, dataset label,
#           [(candidate name, overrides)])
_AO_TEXT = "configs/amazon_ao/cd_lightgcn_text.yaml"
_SOFTMAX = ["train.loss=softmax", "train.negatives=64"]     # + train.temperature
_ONE_MAP = ["model.cross_map_lambda_warm=null", "model.cross_map_warm=null"]   # rounds 12-13: one map for all pairs
_NO_MAP = ["model.cross_map=0", *_ONE_MAP]                  # rounds 1-10: no item map (round 10 adds it)


def _on_committed(label: str, cands: list[tuple[str, list[str]]]
                  ) -> tuple[str, list[str], str, list[tuple[str, list[str]]]]:
    """A study of rounds 3-10: the committed amazon-ao text config without round 10's item map."""
    return (_AO_TEXT, _NO_MAP, label, cands)


# what the second round changed in configs/amazon_ao/cd_lightgcn_text.yaml, undone for both rounds
_BEFORE_ROUND2 = ["model.lexical=false", "model.dim=64", "model.norm_exp=0.5", "model.item_id=true"]
STUDIES: dict[str, tuple[str, list[str], str, list[tuple[str, list[str]]]]] = {
    "amazon-ao": (_AO_TEXT,
                  _BEFORE_ROUND2 + _NO_MAP + ["train.cold_sim=0", "train.reg=0.0001"],
                  "amazon-ao", [
        ("aot_base", []),
        ("aot_sm", [*_SOFTMAX, "train.temperature=0.1"]),
        ("aot_cs5", ["train.cold_sim=0.5"]),
        ("aot_cs10", ["train.cold_sim=1.0"]),
        ("aot_cs5_sm", ["train.cold_sim=0.5", *_SOFTMAX, "train.temperature=0.1"]),
        ("aot_cs5_l4", ["train.cold_sim=0.5", "model.layers=4"]),
        ("aot_cs5_d128", ["train.cold_sim=0.5", "model.dim=128"]),
        ("aot_cs5_neg4", ["train.cold_sim=0.5", "train.negatives=4"]),
        ("aot_cs5_noid", ["train.cold_sim=0.5", "model.item_id=false"]),
        ("aot_cs5_reg", ["train.cold_sim=0.5", "train.reg=0.001"]),
        ("aot_cs5_reg_e60", ["train.cold_sim=0.5", "train.reg=0.001", "train.epochs=60"]),
    ]),
    # second round: learned term embeddings over the titles' TF-IDF (model.lexical) on top of the
    # first round's winner (aot_cs5_reg = this study's aol_base)
    "amazon-ao-lexical": (_AO_TEXT, _BEFORE_ROUND2 + _NO_MAP,
                          "amazon-ao-lexical", [
        ("aol_base", []),
        ("aol_lex", ["model.lexical=true"]),
        ("aol_lex_d128", ["model.lexical=true", "model.dim=128"]),
        ("aol_lex_d128_g03", ["model.lexical=true", "model.dim=128", "model.norm_exp=0.3"]),
        ("aol_lex_d128_g03_noid", ["model.lexical=true", "model.dim=128", "model.norm_exp=0.3",
                                   "model.item_id=false"]),
        ("aol_lex_d128_g02_noid", ["model.lexical=true", "model.dim=128", "model.norm_exp=0.2",
                                   "model.item_id=false"]),
    ]),
    # third round: one change at a time on the second round's winner (= the committed config,
    # aor3_base = aol_lex_d128_g03_noid): more hops, more width, more simulated cold start
    "amazon-ao-round3": _on_committed("amazon-ao-round3", [
        ("aor3_base", []),
        ("aor3_l4", ["model.layers=4"]),
        ("aor3_d256", ["model.dim=256"]),
        ("aor3_cs75", ["train.cold_sim=0.75"]),
    ]),
    # the base row is round 4's run (same config and seed: the run is deterministic)
    "amazon-ao-round5": _on_committed("amazon-ao-round5", [
        ("aor4_base", []),
        ("aor5_lr2", ["train.lr=0.002"]),
        ("aor5_lr10", ["train.lr=0.01"]),
        ("aor5_bs2k", ["train.batch_size=2048"]),
    ]),
    # sixth round, same base: the loss -- sampled softmax over 64 uniform same-domain negatives
    # (round 1 tried it on the pre-lexical base at temperature 0.1), BPR with 4 negatives, and
    # the softmax with the domain popularity head (softmax lifts warm users, drops cold ones),
    # then at a softer temperature, and early-stopped on the validation cold groups only
    "amazon-ao-round6": _on_committed("amazon-ao-round6", [
        ("aor4_base", []),
        ("aor6_sm", [*_SOFTMAX, "train.temperature=0.2"]),
        ("aor6_neg4", ["train.negatives=4"]),
    ]),
    # seventh round, same base: what might move the cold groups -- stronger L2, fewer hops, less
    # simulated cold start, a degree exponent between rounds 2's 0.3 and LightGCN's 0.5
    "amazon-ao-round7": _on_committed("amazon-ao-round7", [
        ("aor4_base", []),
        ("aor7_reg3", ["train.reg=0.003"]),
        ("aor7_l2", ["model.layers=2"]),
        ("aor7_cs25", ["train.cold_sim=0.25"]),
        ("aor7_g04", ["model.norm_exp=0.4"]),
    ]),
    "amazon-ao-round10": _on_committed("amazon-ao-round10", [
        ("aor4_base", []),
        ("aor10_cm2", ["model.cross_map=0.2", "model.cross_map_lambda=1000"]),
        ("aor10_cm3_l300", ["model.cross_map=0.3", "model.cross_map_lambda=300"]),
        ("aor10_cm2_l100", ["model.cross_map=0.2", "model.cross_map_lambda=100"]),
    ]),
    # round 12 on the committed config (with the map): the valid winners of rounds 3 and 7 again
    "amazon-ao-round12": (_AO_TEXT, _ONE_MAP, "amazon-ao-round12", [
        ("aor10_cm2_l100", []),
        ("aor12_d256", ["model.dim=256"]),
        ("aor12_l2", ["model.layers=2"]),
    ]),
    # round 13, same base: warm (user, domain) pairs get their own, sharper map (gnnrec.models.cross_map)
    "amazon-ao-round13": (_AO_TEXT, _ONE_MAP, "amazon-ao-round13", [
        ("aor10_cm2_l100", []),
        ("aor13_w1_a3", ["model.cross_map_lambda_warm=1", "model.cross_map_warm=0.3"]),
        ("aor13_w03_a5", ["model.cross_map_lambda_warm=0.3", "model.cross_map_warm=0.5"]),
    ]),
    # round 13's warm-pair map on the ML-1M-CD text config (committed: one map)
    "ml1m-cd-warm-map": ("configs/ml1m_cd/cd_lightgcn_text.yaml", [], "ml1m-cd-warm-map", [
        ("mlcm_cm2_l100", []),
        ("mlwm_w1_a3", ["model.cross_map_lambda_warm=1", "model.cross_map_warm=0.3"]),
        ("mlwm_w10_a3", ["model.cross_map_lambda_warm=10", "model.cross_map_warm=0.3"]),
    ]),
    # the round-10 winner's map on the ML-1M-CD text config (whose 3-seed targets it already meets)
    "ml1m-cd-cross-map": ("configs/ml1m_cd/cd_lightgcn_text.yaml", ["model.cross_map=0"],
                          "ml1m-cd-cross-map", [
        ("mlcm_base", []),
        ("mlcm_cm2_l100", ["model.cross_map=0.2", "model.cross_map_lambda=100"]),
        ("mlcm_cm2", ["model.cross_map=0.2", "model.cross_map_lambda=1000"]),
    ]),
}
METRICS = (("ndcg", 20), ("recall", 20))


def _run(base: str, name: str, overrides: list[str], runs_dir: Path, threads: int | None) -> Path:
    from gnnrec.train import load_config, train_run

    run_dir = runs_dir / name
    if (run_dir / "summary.json").is_file():
        return run_dir
    extra = [f"name={name}", f"runs_dir={runs_dir}"] + ([f"train.threads={threads}"] if threads else [])
    cfg = load_config(ROOT / base, overrides + extra)
    train_run(cfg, overwrite=True, progress=False, export=False)
    return run_dir


def _fmt(x: float) -> str:
    return "–" if math.isnan(x) else f"{x:.4f}"


def _valid_split(val: dict[str, float]) -> dict[str, float]:
    """Mean validation NDCG@20 of the cold and of the warm groups (``"<domain>/<scenario>"`` keys)."""
    out = {}
    for scen in ("cold", "warm"):
        v = [x for g, x in val.items() if g.endswith("/" + scen)]
        out[f"valid_{scen}"] = sum(v) / len(v) if v else float("nan")
    return out


def _row(run_dir: Path) -> dict:
    events = [json.loads(x) for x in (run_dir / "log.jsonl").read_text().splitlines()]
    best = max((e for e in events if e.get("event") == "epoch" and "score" in e), key=lambda e: e["score"])
    # the mean of the four groups at the kept epoch (the run's own score); a run that early-stopped
    # on a subset (eval.select_scenarios / select_domains) was validated on that subset only:
    # no four-group mean, so it cannot be the selected row
    split = _valid_split(best["val"])
    full = not any(math.isnan(v) for v in split.values())
    row = {"valid": sum(best["val"].values()) / len(best["val"]) if full else math.nan,
           "best_epoch": best["epoch"], **split}
    with open(run_dir / "test" / "metrics.csv", newline="") as f:
        for rec in csv.DictReader(f):
            if rec["scenario"] in ("warm", "cold") and (rec["metric"], int(rec["k"])) in METRICS:
                row[f"{rec['domain']}/{rec['scenario']} {rec['metric']}@{rec['k']}"] = float(rec["value"])
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--study", choices=sorted(STUDIES), default="amazon-ao")
    p.add_argument("--runs-dir", default=str(ROOT / "runs" / "selection"))
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--list", action="store_true", help="print the candidates and exit")
    a = p.parse_args()
    base, start, label, cands = STUDIES[a.study]
    if a.list:
        for name, ov in cands:
            print(name, " ".join(start + ov))
        return
    runs_dir = Path(a.runs_dir)
    rows = []
    for name, ov in cands:
        rows.append({"candidate": name, "overrides": " ".join(ov) or "(base)",
                     **_row(_run(base, name, start + ov, runs_dir, a.threads))})
    best = max((r for r in rows if not math.isnan(r["valid"])), key=lambda r: r["valid"])
    cols = sorted({k for r in rows for k in r if "@" in k})
    out = ROOT / "results" / f"selection-{label}"
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "selection.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["candidate", "overrides", "valid", "valid_cold", "valid_warm",
                                           "best_epoch", *cols])
        w.writeheader()
        w.writerows(rows)
    lines = [f"### Configuration selection on `{label}` (valid only)", "",
             f"Base config `{base}` " + (f"with `{' '.join(start)}` (the starting point before this sweep)"
                                       if start else "as committed") + ", "
             "then each candidate's overrides; one seed (0) per candidate. `valid` = mean NDCG@20 over the four "
             "validation groups at the kept epoch (the early-stopping score, unless the overrides set "
             "`eval.select_*`), "
             "`cold` / `warm` its means over the cold and the warm "
             "groups at that epoch; the selected candidate (highest `valid`) is "
             "in bold. Test columns are for the record only (NDCG@20 / Recall@20).", "",
             "| candidate | overrides | valid | cold / warm | epoch | "
             + " | ".join(c.split(" ")[0] for c in cols[::2]) + " |",
             "|---|---|---|---|---|" + "---|" * (len(cols) // 2)]
    groups = sorted({c.split(" ")[0] for c in cols})
    for r in rows:
        name = f"**{r['candidate']}**" if r is best else r["candidate"]
        cells = [f"{r.get(g + ' ndcg@20', float('nan')):.4f} / {r.get(g + ' recall@20', float('nan')):.4f}"
                 for g in groups]
        lines.append(f"| {name} | `{r['overrides']}` | {_fmt(r['valid'])} | "
                     f"{_fmt(r['valid_cold'])} / {_fmt(r['valid_warm'])} | {r['best_epoch']} | "
                     + " | ".join(cells) + " |")
    lines += ["", f"Reproduce: `python experiments/config_selection.py --study {a.study}`"]
    (out / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
