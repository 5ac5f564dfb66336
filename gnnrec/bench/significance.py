"""Paired significance tests: best of our models vs the strongest baseline, per headline cell.

Over users: for each model, a (user, domain) group's value is averaged over
the seeds; the two models' values are paired by group (same users, same
split) and compared with scipy's Wilcoxon signed-rank test and the paired
t-test (two-sided). Over seeds: the per-seed cell means, paired by seed
(paired t-test and Wilcoxon; with 3 seeds the Wilcoxon p-value cannot go
below 0.25, which the footnote states).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats


def _p(fn, a: np.ndarray, b: np.ndarray) -> float | None:
    d = a - b
    if len(d) < 2 or np.allclose(d, 0):
        return None
    try:
        p = float(fn(a, b).pvalue)
    except ValueError:
        return None
    return None if math.isnan(p) else p


def paired_tests(a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    """Two-sided Wilcoxon signed-rank and paired t-test of ``a`` vs ``b`` (same length)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape:
        raise ValueError(f"paired samples must have equal shapes, got {a.shape} and {b.shape}")
    return {"n": int(len(a)), "mean_a": float(a.mean()) if len(a) else None,
            "mean_b": float(b.mean()) if len(b) else None,
            "wilcoxon_p": _p(stats.wilcoxon, a, b), "ttest_p": _p(stats.ttest_rel, a, b)}


def cell_groups(per_group: pd.DataFrame, domain: str, scenario: str) -> pd.DataFrame:
    """Rows of a per-group frame (user, domain, scenario, value, ...) in a table cell."""
    m = np.ones(len(per_group), bool)
    if domain != "all":
        m &= (per_group["domain"] == domain).to_numpy()
    if scenario != "all":
        m &= (per_group["scenario"] == scenario).to_numpy()
    return per_group[m]


def compare(groups_a: list[pd.DataFrame], groups_b: list[pd.DataFrame]) -> dict[str, Any]:
    """Tests of model A vs B on one cell; each list holds one per-group frame per seed.

    Frames have columns user, domain, value (already restricted to the cell).
    Seeds are paired by position (seed i of A with seed i of B).
    """
    def by_user(frames: list[pd.DataFrame]) -> pd.Series:
        allf = pd.concat(frames, ignore_index=True)
        return allf.groupby(["user", "domain"])["value"].mean()

    ua, ub = by_user(groups_a), by_user(groups_b)
    common = ua.index.intersection(ub.index)
    users = paired_tests(ua.loc[common].to_numpy(), ub.loc[common].to_numpy())
    n = min(len(groups_a), len(groups_b))
    seeds = paired_tests(np.array([f["value"].mean() for f in groups_a[:n]]),
                         np.array([f["value"].mean() for f in groups_b[:n]]))
    return {"users": users, "seeds": seeds}


def fmt_p(p: float | None) -> str:
    if p is None:
        return "n/a"
    return f"{p:.1e}" if p < 1e-3 else f"{p:.3f}"
