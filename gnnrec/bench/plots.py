"""Plots of a suite (matplotlib, Agg backend), each saved as PNG and SVG under ``plots/``.

* ``groups_<dataset>``: NDCG@K (K of the suite's full-ranking headline, 20) per model and
  domain x scenario group, bars = mean over seeds, error bars = std over seeds.
* ``cold_vs_warm_<dataset>``: per model and domain, warm NDCG@20 (x) against
  cold NDCG@20 (y), error bars = std over seeds.
* ``curves_<dataset>``: validation selection score (mean valid NDCG@20 of the
  selection groups) per epoch, one line per model, seed 0 (all stages in order).
* ``items_pca``: 2-D PCA of one model's item embeddings coloured by domain.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from gnnrec.models.registry import MODELS  # noqa: E402
from gnnrec.bench.tables import headline_k, model_order, summarize  # noqa: E402


def _save(fig, folder: Path, name: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for ext in ("png", "svg"):
        p = folder / f"{name}.{ext}"
        # fixed SVG element ids and no date: an unchanged plot rewrites to the same bytes
        with plt.rc_context({"svg.hashsalt": name}):
            fig.savefig(p, dpi=110, bbox_inches="tight",
                        metadata={"Date": None} if ext == "svg" else None)
        out.append(p)
    plt.close(fig)
    return out


def _colors(models: list[str]) -> dict[str, tuple]:
    """One fixed colour per model name across every plot (registry order, then the rest)."""
    cmap = plt.get_cmap("tab10")
    known = list(MODELS)
    extra = [m for m in models if m not in known]
    return {m: cmap((known.index(m) if m in known else len(known) + extra.index(m)) % 10) for m in models}


def plot_groups(summary: pd.DataFrame, dataset: str, folder: Path, metric: str = "ndcg",
                k: int = 20) -> list[Path]:
    s = summary[(summary["dataset"] == dataset) & (summary["protocol"] == "full")
                & (summary["metric"] == metric) & (summary["k"] == k)
                & (summary["domain"] != "all") & (summary["scenario"] != "all")]
    if s.empty:
        return []
    groups = sorted({(d, sc) for d, sc in zip(s["domain"], s["scenario"])})
    models = model_order(sorted(s["model"].unique()))
    col = _colors(models)
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(groups) + 0.4 * len(models)), 4))
    w = 0.8 / len(models)
    x = np.arange(len(groups))
    for j, m in enumerate(models):
        sub = s[s["model"] == m].set_index(["domain", "scenario"])
        mean = [sub["mean"].get(g, np.nan) for g in groups]
        std = [sub["std"].get(g, 0.0) for g in groups]
        ax.bar(x + (j - (len(models) - 1) / 2) * w, mean, w, yerr=std, capsize=2, label=m,
               color=col[m])
    ax.set_xticks(x, [f"{d}/{sc}" for d, sc in groups])
    ax.set_ylabel(f"{metric.upper() if metric != 'recall' else 'Recall'}@{k} (test)")
    ax.set_title(f"{dataset}: {metric}@{k} per group (mean ± std over seeds)")
    ax.legend(fontsize=7, ncol=min(3, len(models)), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, folder, f"groups_{dataset}")


def plot_cold_warm(summary: pd.DataFrame, dataset: str, folder: Path, k: int = 20) -> list[Path]:
    s = summary[(summary["dataset"] == dataset) & (summary["protocol"] == "full")
                & (summary["metric"] == "ndcg") & (summary["k"] == k) & (summary["domain"] != "all")]
    if not {"warm", "cold"} <= set(s["scenario"]):
        return []
    models = model_order(sorted(s["model"].unique()))
    col = _colors(models)
    doms = sorted(set(s["domain"]))
    marks = dict(zip(doms, "osD^v"))
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for m in models:
        for d in doms:
            sub = s[(s["model"] == m) & (s["domain"] == d)].set_index("scenario")
            if not {"warm", "cold"} <= set(sub.index):
                continue
            ax.errorbar(sub.at["warm", "mean"], sub.at["cold", "mean"], xerr=sub.at["warm", "std"],
                        yerr=sub.at["cold", "std"], fmt=marks[d], color=col[m], capsize=2,
                        label=f"{m} ({d})")
    ax.set_xlabel(f"warm NDCG@{k} (test)")
    ax.set_ylabel(f"cold NDCG@{k} (test)")
    ax.set_title(f"{dataset}: cold-start vs warm users")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, ncol=2, frameon=False, loc="best")
    return _save(fig, folder, f"cold_vs_warm_{dataset}")


def plot_curves(curves: pd.DataFrame, dataset: str, folder: Path) -> list[Path]:
    if curves.empty or "val_score" not in curves:
        return []
    c = curves[(curves["dataset"] == dataset) & curves["val_score"].notna()]
    if c.empty:
        return []
    seed = int(c["seed"].min())
    c = c[c["seed"] == seed]
    models = model_order(sorted(c["model"].unique()))
    col = _colors(models)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for m in models:
        sub = c[c["model"] == m]
        # epochs counted across stages in order (emcdr: mf, then mapping); eval_every may skip some
        last = sub.groupby("stage", sort=False)["epoch"].max()
        offset = sub["stage"].map(last.cumsum() - last).to_numpy()
        ax.plot(sub["epoch"].to_numpy() + offset, sub["val_score"].to_numpy(), marker=".",
                color=col[m], label=m)
    ax.set_xlabel("epoch (all training stages in order)")
    ax.set_ylabel("validation selection score (eval.metric@eval.k)")
    ax.set_title(f"{dataset}: training curves, seed {seed}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, frameon=False)
    return _save(fig, folder, f"curves_{dataset}")


def plot_projection(proj: pd.DataFrame, meta: dict, folder: Path) -> list[Path]:
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for i, (d, sub) in enumerate(proj.groupby("domain", sort=True)):
        ax.scatter(sub["pc1"], sub["pc2"], s=4, alpha=0.5, label=f"{d} ({len(sub)})",
                   color=plt.get_cmap("Set1")(i), rasterized=True)
    ev = meta.get("explained_variance", [np.nan, np.nan])
    ax.set_xlabel(f"PC1 ({100 * ev[0]:.1f}% var)")
    ax.set_ylabel(f"PC2 ({100 * ev[1]:.1f}% var)")
    ax.set_title(f"{meta['dataset']}: item embeddings of {meta['model']} (PCA)")
    ax.legend(markerscale=3, frameon=False)
    return _save(fig, folder, "items_pca")


def render_plots(out_dir: Path) -> list[Path]:
    """Every plot of ``results/<suite>/`` from its data files; returns the written paths."""
    metrics = pd.read_csv(out_dir / "metrics.csv")
    summary = summarize(metrics)
    curves_p = out_dir / "curves.csv"
    curves = pd.read_csv(curves_p) if curves_p.is_file() and curves_p.stat().st_size > 1 \
        else pd.DataFrame()
    folder = out_dir / "plots"
    k = headline_k(out_dir)
    paths: list[Path] = []
    for dataset in summary["dataset"].unique() if not summary.empty else []:
        paths += plot_groups(summary, dataset, folder, k=k)
        paths += plot_cold_warm(summary, dataset, folder, k=k)
        paths += plot_curves(curves, dataset, folder)
    if (out_dir / "projection.csv").is_file():
        meta = json.loads((out_dir / "projection.json").read_text(encoding="utf-8"))
        paths += plot_projection(pd.read_csv(out_dir / "projection.csv"), meta, folder)
    return paths
