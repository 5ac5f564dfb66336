"""Markdown and CSV tables of a suite, rebuilt from ``results/<suite>/`` alone.

``summary.csv``: mean, std (sample, ddof=1; 0 for one seed) and seed count
per (dataset, model, protocol, domain, scenario, metric, k).
``table.md``: the headline table (mean ± std over seeds, best mean per column
in bold, significance footnotes), then NDCG@20/Recall@20 for every domain x
scenario group, the sampled protocol where the suite has it, and per-run wall
times, statuses and package versions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gnnrec.bench.significance import fmt_p, fmt_relative
from gnnrec.bench.suites import model_is_ours
from gnnrec.models.registry import MODELS
from gnnrec.utils.files import atomic_write_text

KEYS = ["dataset", "model", "protocol", "domain", "scenario", "metric", "k"]


def summarize(metrics: pd.DataFrame) -> pd.DataFrame:
    """Mean/std/n over seeds of the long metric frame."""
    if metrics.empty:
        return pd.DataFrame(columns=KEYS + ["mean", "std", "n_seeds"])
    g = metrics.groupby(KEYS, sort=False)["value"]
    out = g.agg(mean="mean", std=lambda s: float(s.std(ddof=1)) if len(s) > 1 else 0.0,
                n_seeds="count").reset_index()
    return out


def model_order(models: list[str]) -> list[str]:
    """Registry order (floors first), unknown names last."""
    known = [m for m in MODELS if m in models]
    return known + sorted(m for m in models if m not in known)


def metric_label(metric: str, k: int) -> str:
    name = {"ndcg": "NDCG", "recall": "Recall", "hr": "HR", "mrr": "MRR", "precision": "Prec",
            "map": "MAP"}.get(metric, metric)
    return f"{name}@{k}" if k else name


def _fmt(mean: float, std: float, n: int, bold: bool) -> str:
    if mean is None or np.isnan(mean):
        return "n/a"
    s = f"{mean:.4f} ± {std:.4f}" if n > 1 else f"{mean:.4f}"
    return f"**{s}**" if bold else s


def pivot_md(summary: pd.DataFrame, columns: list[tuple[str, dict[str, Any]]],
             models: list[str], extra: dict[str, dict[str, str]] | None = None,
             notes: dict[str, str] | None = None) -> str:
    """A markdown table: one row per model, one column per (label, selector) with bold maxima.

    ``selector`` holds KEYS values (without ``model``); ``extra`` adds trailing
    plain columns {column: {model: text}}; ``notes`` maps a column label to a
    footnote mark appended to its header.
    """
    cells: dict[str, dict[str, tuple[float, float, int]]] = {}
    for label, sel in columns:
        m = np.ones(len(summary), bool)
        for k, v in sel.items():
            m &= (summary[k] == v).to_numpy()
        sub = summary[m].set_index("model")
        cells[label] = {mo: (float(r["mean"]), float(r["std"]), int(r["n_seeds"]))
                        for mo, r in sub.iterrows()}
    heads = ["model"] + [lab + (notes or {}).get(lab, "") for lab, _ in columns] + list(extra or {})
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for mo in models:
        row = [mo + ("" if model_is_ours(mo) else " †")]
        for label, _ in columns:
            col = cells[label]
            best = max((v[0] for v in col.values() if not np.isnan(v[0])), default=None)
            if mo in col:
                mean, std, n = col[mo]
                row.append(_fmt(mean, std, n, best is not None and np.isclose(mean, best)))
            else:
                row.append("–")
        for _, vals in (extra or {}).items():
            row.append(vals.get(mo, "–"))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def headline_k(out_dir: Path) -> int:
    """K of the suite's first full-ranking headline cell (20 when there is none)."""
    meta = json.loads((out_dir / "suite.json").read_text(encoding="utf-8"))
    return next((h["k"] for _, h in meta["headline"] if h["protocol"] == "full" and h["k"]), 20)


def _short(dataset: str) -> str:
    return dataset.replace("amazon-disencdr-", "")


def _headline_columns(suite_meta: dict, multi: bool) -> list[tuple[str, dict[str, Any]]]:
    cols = []
    for dataset, h in suite_meta["headline"]:
        at = metric_label(h["metric"], h["k"])
        tag = "" if h["protocol"] == "full" else " (sampled)"
        label = f"{_short(dataset) + ': ' if multi else ''}{h['domain']}/{h['scenario']} {at}{tag}"
        cols.append((label, {"dataset": dataset, "protocol": h["protocol"], "domain": h["domain"],
                             "scenario": h["scenario"], "metric": h["metric"], "k": h["k"]}))
    return cols


def _sig_notes(sig: list[dict], columns: list[tuple[str, dict]]) -> tuple[dict[str, str], list[str]]:
    marks: dict[str, list[str]] = {}
    lines = []
    for i, s in enumerate(sig, 1):
        for label, sel in columns:
            if all(s.get(k) == v for k, v in sel.items() if k != "dataset") and \
                    s["dataset"] == sel["dataset"]:
                marks.setdefault(label, []).append(str(i))
        u, se = s["users"], s["seeds"]
        over_seeds = (f"paired over {se['n']} seeds: t-test p={fmt_p(se['ttest_p'])}, Wilcoxon "
                      f"p={fmt_p(se['wilcoxon_p'])}" + (" (3 pairs: Wilcoxon cannot go below 0.25)"
                                                          if se["n"] == 3 else "")
                      if se["n"] > 1 else "one seed: no test over seeds")
        who = ("the suite's reference" if s.get("kind") == "reference"
              else "strongest baseline")
        rel = f" {fmt_relative(s['relative'])};" if s.get("relative") else ""
        lines.append(
            f"[{i}] {s['dataset']} {s['label']}: {s['ours']} ({s['ours_mean']:.4f}) vs {who} "
            f"{s['other']} ({s['other_mean']:.4f}):{rel} paired over {u['n']} user groups "
            f"(per-user values averaged over seeds): Wilcoxon p={fmt_p(u['wilcoxon_p'])}, "
            f"t-test p={fmt_p(u['ttest_p'])}; {over_seeds}.")
    return {k: f" [{','.join(v)}]" for k, v in marks.items()}, lines


def render_tables(out_dir: Path) -> str:
    """Write ``summary.csv`` and ``table.md`` of ``out_dir``; returns the markdown."""
    metrics = pd.read_csv(out_dir / "metrics.csv")
    runs = json.loads((out_dir / "runs.json").read_text(encoding="utf-8"))
    suite_meta = json.loads((out_dir / "suite.json").read_text(encoding="utf-8"))
    sig = json.loads((out_dir / "significance.json").read_text(encoding="utf-8"))
    summary = summarize(metrics)
    atomic_write_text(out_dir / "summary.csv", summary.round({"mean": 6, "std": 6}).to_csv(index=False))
    models = model_order(sorted({r["model"] for r in runs["runs"]}))
    datasets = list(dict.fromkeys(r["dataset"] for r in runs["runs"]))
    seeds = sorted({r["seed"] for r in runs["runs"]})
    walls = _wall(runs["runs"])
    status = _status(runs["runs"])
    md = [f"# Benchmark `{runs['suite']}`", "",
          f"{runs['description']}. Test split; mean ± std over the finished runs of seeds {seeds} "
          f"(sample std; the runs column counts finished and pending runs); "
          f"best mean per column in **bold**; † marks baselines. Budget: `{runs['budget']}`.", "",
          f"Reproduce: `{runs['command']}`", ""]
    cols = _headline_columns(suite_meta, multi=len(datasets) > 1)
    notes, foot = _sig_notes(sig, cols)
    head = [pivot_md(summary, cols, models, {"s/run": walls, "runs": status}, notes), ""]
    if foot:
        head += ["Significance (best of gnnrec's models vs the strongest baseline and vs the suite's "
                 "reference model; two-sided tests; relative difference of the means with a 95% "
                 "paired bootstrap CI over the user groups):", ""]
        head += [f"- {x}" for x in foot] + [""]
    md += ["## Headline", ""] + head
    _write_headline(out_dir, runs, seeds, head)
    for dataset in datasets:
        full = summary[(summary["dataset"] == dataset) & (summary["protocol"] == "full")]
        cells = full[full["scenario"] != "all"][["domain", "scenario"]].drop_duplicates()
        cells = [tuple(x) for x in cells.itertuples(index=False) if x[0] != "all"]
        k = headline_k(out_dir)
        for metric in ("ndcg", "recall"):
            cols = [(f"{d}/{s}", {"dataset": dataset, "protocol": "full", "domain": d,
                                  "scenario": s, "metric": metric, "k": k}) for d, s in cells]
            md += [f"## {dataset}: {metric_label(metric, k)} per group (full ranking)", "",
                   pivot_md(summary, cols, models), ""]
        samp = summary[(summary["dataset"] == dataset) & (summary["protocol"] == "sampled")]
        if not samp.empty:
            doms = [d for d in samp["domain"].unique() if d != "all"]
            cols = [(f"{d} {metric_label(m, k)}", {"dataset": dataset, "protocol": "sampled",
                                                  "domain": d, "scenario": "all", "metric": m,
                                                  "k": k})
                    for d in doms for m, k in (("mrr", 0), ("ndcg", 5), ("ndcg", 10), ("hr", 1),
                                               ("hr", 5), ("hr", 10))]
            md += [f"## {dataset}: sampled protocol (1 test positive vs 999 sampled negatives)",
                   "", pivot_md(summary, cols, models), ""]
    md += ["## Runs", "", "| dataset | model | seed | status | wall s | best epoch | config |",
           "|---|---|---|---|---|---|---|"]
    for r in runs["runs"]:
        err = f" ({r['error'].splitlines()[0][:80]})" if r.get("error") else ""
        md.append(f"| {r['dataset']} | {r['model']} | {r['seed']} | {r['status']}{err} | "
                  f"{r.get('wall_s') or '–'} | {r.get('best_epoch') or '–'} | {r['config_source']} |")
    v = runs["versions"]
    md += ["", "Environment: " + ", ".join(f"{k} {v[k]}" for k in v), ""]
    text = "\n".join(md)
    atomic_write_text(out_dir / "table.md", text)
    return text


def _wall(runs: list[dict]) -> dict[str, str]:
    by: dict[str, list[float]] = {}
    for r in runs:
        if r["status"] == "done" and r.get("wall_s") is not None:
            by.setdefault(r["model"], []).append(float(r["wall_s"]))
    return {m: f"{np.mean(v):.0f}" for m, v in by.items()}


def _status(runs: list[dict]) -> dict[str, str]:
    by: dict[str, dict[str, int]] = {}
    for r in runs:
        by.setdefault(r["model"], {}).setdefault(r["status"], 0)
        by[r["model"]][r["status"]] += 1
    return {m: ", ".join(f"{n} {s}" for s, n in d.items()) for m, d in by.items()}


def _write_headline(out_dir: Path, runs: dict, seeds: list[int], head: list[str]) -> None:
    """``headline.md``: the part of a suite's results shown in the README."""
    plots = sorted(p.name for p in (out_dir / "plots").glob("*.png")) if (out_dir / "plots").is_dir() else []
    v = runs["versions"]
    lines = [f"### `{runs['suite']}`: {runs['description']}", "",
             f"Test split, mean ± std over the finished runs of seeds {seeds} (the runs column "
             f"counts them; a single run shows no ±), budget `{runs['budget']}`; † = baseline; "
             f"full tables: [results/{out_dir.name}/table.md](results/{out_dir.name}/table.md).", "",
             *head,
             f"Reproduce: `{runs['command']}`  ",
             f"Ran on: {v.get('cpu_count')}-core CPU ({v.get('processor')}), GPU: {v.get('cuda')}, "
             f"torch {v.get('torch')}, python {v.get('python')}.", ""]
    if plots:
        lines += ["Plots: " + ", ".join(f"[{p[:-4]}](results/{out_dir.name}/plots/{p})" for p in plots), ""]
    atomic_write_text(out_dir / "headline.md", "\n".join(lines))
