"""Aggregation of per-group values into the domain x scenario table, and :class:`EvalResult`.

Every metric except ``coverage`` is a mean over (user, domain) groups. Rows of
the table are the cells ``(domain, scenario)`` present in the split plus the
aggregates ``(domain, "all")``, ``("all", scenario)`` and ``("all", "all")``.

Confidence intervals: a seeded stratified percentile bootstrap -- ``bootstrap``
replicates resample the groups of every base (domain, scenario) cell with
replacement; an aggregate cell's replicate pools the replicates of its base
cells with the same replicate index; the 95% interval is the 2.5/97.5
percentile of the replicate means. ``coverage@K`` (share of the cell's
catalogue appearing in at least one top-K list) is a set statistic and has no
interval. ``pop_pct@K`` (mean popularity percentile of the listed items) is
undefined for groups whose user is absent from an export; they are left out
of its mean and of its ``n_groups``.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gnnrec.eval.plan import SCEN_NAMES, GroupScores, Plan
from gnnrec.utils.files import atomic_write_text, write_json

ALL = "all"
TABLE_COLUMNS = ["domain", "scenario", "metric", "k", "value", "ci_low", "ci_high", "n_groups"]


def split_name(name: str) -> tuple[str, int]:
    """``"ndcg@20" -> ("ndcg", 20)``; ``"mrr" -> ("mrr", 0)`` (0 = uncut)."""
    metric, _, k = name.partition("@")
    return metric, int(k) if k else 0


def _cells(plan: Plan, groups: np.ndarray) -> list[tuple[str, str, list[tuple[int, int]]]]:
    """(domain, scenario, [base (d, s) cells]) for every reported row, in table order."""
    present = sorted({(int(d), int(s)) for d, s in zip(plan.g_dom[groups], plan.g_scen[groups])})
    out = []
    doms = sorted({d for d, _ in present})
    for d in doms:
        mine = [c for c in present if c[0] == d]
        out += [(plan.domains[d], SCEN_NAMES[s], [(d, s)]) for _, s in mine]
        out.append((plan.domains[d], ALL, mine))
    for s in sorted({s for _, s in present}):
        out.append((ALL, SCEN_NAMES[s], [c for c in present if c[1] == s]))
    out.append((ALL, ALL, present))
    return out


def _resample_counts(plan: Plan, groups: np.ndarray, bootstrap: int, seed: int,
                     cell: tuple[int, int]) -> np.ndarray:
    """(bootstrap, n) float32 multiplicities of a with-replacement resample of ``groups``.

    Seeded by (seed, cell); cached on the plan, so evaluating the same split
    every epoch draws them once.
    """
    n = len(groups)
    key = ("boot", cell, bootstrap, seed, n, hash(groups.tobytes()))
    if key not in plan._dev:
        rng = np.random.default_rng([seed, cell[0], cell[1]])
        draw = rng.integers(0, n, size=(bootstrap, n)) + n * np.arange(bootstrap)[:, None]
        plan._dev[key] = np.bincount(draw.ravel(), minlength=bootstrap * n).reshape(
            bootstrap, n).astype(np.float32)
    return plan._dev[key]


def summarize(plan: Plan, gs: GroupScores, ks: tuple[int, ...], bootstrap: int,
              seed: int) -> pd.DataFrame:
    """The long metric table (columns :data:`TABLE_COLUMNS`) of ``gs``."""
    names = list(gs.values)
    vals = np.stack([gs.values[n] for n in names], axis=1) if names else np.zeros((0, 0))
    finite = ~np.isnan(vals)
    v0 = np.where(finite, vals, 0.0)
    g_dom, g_scen = plan.g_dom[gs.groups], plan.g_scen[gs.groups]
    base: dict[tuple[int, int], dict[str, np.ndarray]] = {}
    for d, s in sorted({(int(a), int(b)) for a, b in zip(g_dom, g_scen)}):
        rows = np.flatnonzero((g_dom == d) & (g_scen == s))
        n = len(rows)
        cell = {"n": np.array(n), "sum": v0[rows].sum(0), "cnt": finite[rows].sum(0).astype(float)}
        if bootstrap > 0:
            w = _resample_counts(plan, gs.groups[rows], bootstrap, seed, (d, s))
            cell["bs_sum"] = (w @ v0[rows].astype(np.float32)).astype(np.float64)
            cell["bs_cnt"] = (w @ finite[rows].astype(np.float32)).astype(np.float64)
        base[(d, s)] = cell
    records = []
    for dom, scen, members in _cells(plan, gs.groups):
        parts = [base[c] for c in members]
        n_groups = int(sum(p["n"] for p in parts))
        cnt = sum(p["cnt"] for p in parts)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = sum(p["sum"] for p in parts) / cnt
            if bootstrap > 0:
                reps = sum(p["bs_sum"] for p in parts) / sum(p["bs_cnt"] for p in parts)
                lo_hi = np.nanpercentile(reps, [2.5, 97.5], axis=0) if np.isfinite(reps).any() \
                    else np.full((2, len(names)), np.nan)
            else:
                lo_hi = np.full((2, len(names)), np.nan)
        for j, name in enumerate(names):
            metric, k = split_name(name)
            records.append((dom, scen, metric, k, float(mean[j]), float(lo_hi[0, j]),
                            float(lo_hi[1, j]), int(cnt[j])))
        dom_ids = sorted({d for d, _ in members if d in gs.covered})
        size = sum(int(plan.item_offsets[d + 1] - plan.item_offsets[d]) for d in dom_ids)
        for j, k in enumerate(ks if dom_ids else ()):
            hit = sum(int(np.logical_or.reduce([gs.covered[d][s, j] for dd, s in members
                                                 if dd == d]).sum()) for d in dom_ids)
            records.append((dom, scen, "coverage", k, hit / size, math.nan, math.nan, n_groups))
    table = pd.DataFrame.from_records(records, columns=TABLE_COLUMNS)
    return table.astype({"k": "int64", "n_groups": "int64"})


@dataclass
class EvalResult:
    """Metrics of one evaluation.

    ``table``: long DataFrame (:data:`TABLE_COLUMNS`; ``k`` = 0 for uncut
    metrics such as ``mrr``). ``groups``: one row per evaluated (user, domain)
    group -- ``user`` (raw id), ``user_index``, ``domain``, ``scenario`` and one
    column per ``metric@k``. ``meta``: protocol parameters, dataset
    fingerprint, evaluator version, missing-row counts, timing.
    """

    protocol: str
    split: str
    ks: tuple[int, ...]
    table: pd.DataFrame
    groups: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)

    def value(self, metric: str, k: int | None = None, domain: str = ALL,
              scenario: str = ALL) -> float:
        """One figure, e.g. ``value("ndcg", 20, domain="action", scenario="cold")``.

        ``k=None`` (or 0) addresses uncut metrics (``mrr``). Raises KeyError
        (listing what exists) when the cell or metric is absent.
        """
        t = self.table
        hit = t[(t["metric"] == metric) & (t["k"] == (k or 0)) & (t["domain"] == domain)
                & (t["scenario"] == scenario)]
        if hit.empty:
            cells = sorted(set(zip(t["domain"], t["scenario"])))
            mets = sorted({f"{m}@{k}" if k else m for m, k in zip(t["metric"], t["k"])})
            raise KeyError(f"no {metric}{'@' + str(k) if k else ''} for domain={domain!r}, "
                           f"scenario={scenario!r}; cells {cells}, metrics {mets}")
        return float(hit["value"].iat[0])

    def per_group(self, metric: str, k: int | None = None) -> pd.DataFrame:
        """Per-(user, domain) values: columns user, domain, scenario, value."""
        col = f"{metric}@{k}" if k else metric
        if col not in self.groups:
            raise KeyError(f"no per-group metric {col!r}; have "
                           f"{[c for c in self.groups.columns if c not in _GROUP_KEYS]}")
        return self.groups.loc[:, ["user", "domain", "scenario", col]].rename(columns={col: "value"})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: meta plus every table row (NaN -> None)."""
        rows = self.table.astype(object).where(self.table.notna(), None).to_dict("records")
        return {**self.meta, "protocol": self.protocol, "split": self.split, "ks": list(self.ks),
                "metrics": rows}

    def save(self, folder: str | os.PathLike, per_group: bool = True) -> Path:
        """Write ``metrics.json``, ``metrics.csv`` and (``per_group``) ``per_group.parquet``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        write_json(folder / "metrics.json", self.to_dict())
        atomic_write_text(folder / "metrics.csv", self.table.to_csv(index=False))
        if per_group:
            self.groups.to_parquet(folder / "per_group.parquet", index=False)
        return folder

    def format(self) -> str:
        """Readable terminal tables: domain x scenario rows, metric@K columns, group counts."""
        from gnnrec.eval.report import format_result
        return format_result(self)

    def __str__(self) -> str:
        return self.format()


_GROUP_KEYS = ("user", "user_index", "domain", "scenario")


def load_result(folder: str | os.PathLike) -> EvalResult:
    """Read back a folder written by :meth:`EvalResult.save`."""
    folder = Path(folder)
    meta = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    table = pd.read_csv(folder / "metrics.csv", keep_default_na=True)
    pg = folder / "per_group.parquet"
    groups = pd.read_parquet(pg) if pg.is_file() else pd.DataFrame(columns=list(_GROUP_KEYS))
    meta.pop("metrics", None)
    return EvalResult(protocol=meta.pop("protocol"), split=meta.pop("split"),
                      ks=tuple(meta.pop("ks")), table=table, groups=groups, meta=meta)
