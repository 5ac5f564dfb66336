"""Gather finished runs into ``results/<suite>/`` (small, committed files only).

Files written (everything the tables, plots and README need, so those can be
rebuilt from ``results/`` alone, without the run folders):

* ``metrics.csv`` / ``metrics.json`` -- one row per (dataset, model, seed,
  protocol, domain, scenario, metric, k): every metric, K and group of every run.
* ``runs.json`` -- per run: status, wall/train seconds, best epoch, config
  source, the exact resolved config and its key; plus package versions.
* ``curves.csv`` -- per epoch: loss, validation selection score, epoch seconds.
* ``significance.json`` -- paired tests per headline cell (see
  :mod:`gnnrec.bench.significance`).
* ``projection.csv`` -- a 2-D PCA of one model's item embeddings (item, domain, pc1, pc2).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gnnrec.bench.runner import RunRecord, package_versions, read_log
from gnnrec.bench.significance import cell_groups, compare
from gnnrec.bench.suites import Headline, Suite, model_is_ours
from gnnrec.data.schema import Dataset
from gnnrec.utils.files import atomic_write_text, write_json

METRIC_COLUMNS = ["dataset", "model", "seed", "protocol", "domain", "scenario", "metric", "k",
                  "value", "n_groups"]
PROJECTION_MAX_ITEMS = 4000


def _protocol_dirs(rec: RunRecord) -> list[tuple[str, Path]]:
    out = [("full", rec.spec.run_dir / "test")]
    if "sampled" in rec.spec.protocols:
        out.append(("sampled", rec.spec.run_dir / "test_sampled"))
    return out


def metrics_frame(records: list[RunRecord]) -> pd.DataFrame:
    """Long frame (:data:`METRIC_COLUMNS`) of the test metrics of every finished run."""
    rows = []
    for rec in records:
        if rec.status != "done":
            continue
        for proto, folder in _protocol_dirs(rec):
            t = pd.read_csv(folder / "metrics.csv")
            t = t[t["metric"] != "coverage"] if proto == "sampled" else t
            rows.append(t.assign(dataset=rec.spec.dataset, model=rec.spec.model,
                                 seed=rec.spec.seed, protocol=proto)[METRIC_COLUMNS])
    if not rows:
        return pd.DataFrame(columns=METRIC_COLUMNS)
    return pd.concat(rows, ignore_index=True)


def nested_metrics(metrics: pd.DataFrame) -> list[dict[str, Any]]:
    """Per run and protocol: ``{"<domain>/<scenario>": {"<metric>@<k>": value}}`` (NaN -> None)."""
    out = []
    for (dataset, model, seed, proto), g in metrics.groupby(["dataset", "model", "seed", "protocol"],
                                                            sort=False):
        cells: dict[str, dict[str, float | None]] = {}
        for r in g.itertuples(index=False):
            name = f"{r.metric}@{r.k}" if r.k else r.metric
            v = float(r.value)
            cells.setdefault(f"{r.domain}/{r.scenario}", {})[name] = None if np.isnan(v) else v
        out.append({"dataset": dataset, "model": model, "seed": int(seed), "protocol": proto,
                    "values": cells})
    return out


def curves_frame(records: list[RunRecord]) -> pd.DataFrame:
    """Per-epoch training log rows of every finished run."""
    rows = []
    for rec in records:
        if rec.status != "done":
            continue
        for ev in read_log(rec.spec.run_dir):
            if ev.get("event") != "epoch":
                continue
            rows.append({"dataset": rec.spec.dataset, "model": rec.spec.model,
                         "seed": rec.spec.seed, "stage": ev.get("stage"), "epoch": ev.get("epoch"),
                         "loss": ev.get("loss"), "val_score": ev.get("score"),
                         "epoch_s": ev.get("epoch_s"),
                         **{f"val_{g}": v for g, v in (ev.get("val") or {}).items()}})
    return pd.DataFrame(rows)


def runs_info(records: list[RunRecord]) -> list[dict[str, Any]]:
    out = []
    for rec in records:
        s = rec.spec
        item = {"dataset": s.dataset, "model": s.model, "seed": s.seed, "key": s.key,
                "status": rec.status, "cached": rec.cached, "config_source": s.config_source,
                "transform": s.transform, "run_dir": str(s.run_dir), "config": s.config.to_dict()}
        for k in ("wall_s", "train_s", "best_valid", "best_epoch", "finished", "resumed"):
            if k in rec.info:
                item[k] = rec.info[k]
        if rec.wall_s is not None and "wall_s" not in item:
            item["wall_s"] = round(rec.wall_s, 2)
        if rec.error:
            item["error"] = rec.error
        out.append(item)
    return out


def _per_group(rec: RunRecord, protocol: str, metric: str, k: int) -> pd.DataFrame | None:
    from gnnrec.eval import load_result

    folder = rec.spec.run_dir / ("test" if protocol == "full" else "test_sampled")
    if not (folder / "per_group.parquet").is_file():
        return None
    return load_result(folder).per_group(metric, k)


def _cell_frames(done: list[RunRecord], dataset: str, model: str, h: Headline
                 ) -> list[pd.DataFrame]:
    """One per-group frame per finished seed of ``model`` on ``dataset``, restricted to cell ``h``."""
    runs = sorted((r for r in done if r.spec.dataset == dataset and r.spec.model == model),
                  key=lambda r: r.spec.seed)
    fs = [_per_group(r, h.protocol, h.metric, h.k) for r in runs]
    return [cell_groups(f, h.domain, h.scenario) for f in fs if f is not None]


def significance(suite: Suite, records: list[RunRecord], metrics: pd.DataFrame) -> list[dict]:
    """Paired comparisons on every headline cell (means over seeds).

    Each entry compares ``ours`` (the best of gnnrec's models) with ``other``:
    ``kind`` "baseline" -- the strongest baseline; ``kind`` "reference" --
    ``suite.reference`` (when it ran and is not itself the best).
    """
    out = []
    done = [r for r in records if r.status == "done"]
    for dataset, h in suite.headline:
        cell = metrics[(metrics["dataset"] == dataset) & (metrics["protocol"] == h.protocol)
                       & (metrics["metric"] == h.metric) & (metrics["k"] == h.k)
                       & (metrics["domain"] == h.domain) & (metrics["scenario"] == h.scenario)]
        if cell.empty:
            continue
        means = cell.groupby("model")["value"].mean()
        ours = means[[m for m in means.index if model_is_ours(m)]]
        base = means[[m for m in means.index if not model_is_ours(m)]]
        if ours.empty:
            continue
        best = str(ours.idxmax())
        pairs = [] if base.empty else [("baseline", str(base.idxmax()))]
        if suite.reference in means.index and suite.reference != best:
            pairs.append(("reference", suite.reference))
        fa = _cell_frames(done, dataset, best, h)
        for kind, other in pairs:
            fb = _cell_frames(done, dataset, other, h)
            if not fa or not fb:
                continue
            out.append({"dataset": dataset, "label": h.label, "protocol": h.protocol,
                        "metric": h.metric, "k": h.k, "domain": h.domain, "scenario": h.scenario,
                        "kind": kind, "ours": best, "other": other,
                        "ours_mean": float(means[best]), "other_mean": float(means[other]),
                        **compare(fa, fb)})
    return out


def item_projection(records: list[RunRecord], datasets: dict[str, Dataset],
                    seed: int = 0) -> tuple[pd.DataFrame, dict[str, Any]] | None:
    """PCA (2-D, via SVD of the centred matrix) of one model's item embeddings, first dataset.

    The model is the first of gnnrec's own models (registry order) that reads item
    text, else the first of its own models, else the first trained baseline.
    """
    from gnnrec.models.registry import MODELS, model_class
    from gnnrec.train import load_run

    done = {(r.spec.dataset, r.spec.model): r for r in sorted(
        (r for r in records if r.status == "done"), key=lambda r: -r.spec.seed)}
    ours = sorted((m for m in MODELS if model_class(m).ours), key=lambda m: not model_class(m).needs_text)
    candidates = ours + [m for m in MODELS if m not in ours and model_class(m).trainable]
    for dataset in datasets:
        for model in candidates:
            rec = done.get((dataset, model))
            if rec is None:
                continue
            ds = datasets[dataset]
            run = load_run(rec.spec.run_dir, device="cpu", ds=ds)
            _, v = run.model.embeddings()
            x = v.detach().cpu().numpy().astype(np.float64)
            x = x - x.mean(0, keepdims=True)
            _, s, vt = np.linalg.svd(x, full_matrices=False)
            pcs = x @ vt[:2].T
            var = (s ** 2) / max((s ** 2).sum(), 1e-12)
            rng = np.random.default_rng(seed)
            idx = np.arange(len(x)) if len(x) <= PROJECTION_MAX_ITEMS else np.sort(
                rng.choice(len(x), PROJECTION_MAX_ITEMS, replace=False))
            frame = pd.DataFrame({"item_id": ds.items["item_id"].to_numpy()[idx],
                                  "domain": ds.items["domain"].to_numpy()[idx],
                                  "pc1": pcs[idx, 0].round(5), "pc2": pcs[idx, 1].round(5)})
            meta = {"dataset": dataset, "model": model, "seed": rec.spec.seed,
                    "explained_variance": [round(float(var[0]), 4), round(float(var[1]), 4)],
                    "items_shown": int(len(idx)), "items_total": int(len(x))}
            return frame, meta
    return None


def write_results(suite: Suite, records: list[RunRecord], out_dir: Path,
                  datasets: dict[str, Dataset], command: str, budget: str,
                  projection: bool = True) -> pd.DataFrame:
    """Write every data file of ``results/<suite>/`` (see module docstring); returns metrics."""
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics = metrics_frame(records)
    metrics["value"] = metrics["value"].astype(float).round(6)
    atomic_write_text(out_dir / "metrics.csv", metrics.to_csv(index=False))
    write_json(out_dir / "metrics.json", {"suite": suite.name, "runs": nested_metrics(metrics)})
    write_json(out_dir / "runs.json", {"suite": suite.name, "description": suite.description,
                                        "budget": budget, "command": command,
                                        "versions": package_versions(),
                                        "runs": runs_info(records)})
    curves = curves_frame(records)
    atomic_write_text(out_dir / "curves.csv", curves.to_csv(index=False))
    write_json(out_dir / "significance.json", significance(suite, records, metrics))
    if projection:
        proj = item_projection(records, datasets)
        if proj is not None:
            atomic_write_text(out_dir / "projection.csv", proj[0].to_csv(index=False))
            write_json(out_dir / "projection.json", proj[1])
    atomic_write_text(out_dir / "suite.json", json.dumps(
        {"name": suite.name, "headline": [[d, h.__dict__] for d, h in suite.headline]}, indent=1))
    return metrics
