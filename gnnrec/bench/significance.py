"""Paired significance tests: best of our models vs the strongest baseline, per headline cell.

Over users: for each model, a (user, domain) group's value is averaged over
the seeds; the two models' values are paired by group (same users, same
split) and compared with scipy's Wilcoxon signed-rank test and the paired
t-test (two-sided). Over seeds: the per-seed cell means, paired by seed
(paired t-test and Wilcoxon; with 3 seeds the Wilcoxon p-value cannot go
below 0.25, which the footnote states). Beside the p-values, the relative
difference of the means with a paired percentile bootstrap CI over the user
groups (:func:`relative_ci`): "+16% [+4%, +29%]" says how far a target such as
"beat X by 20%" is inside the resolution of the test groups.
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


def relative_ci(a: np.ndarray, b: np.ndarray, replicates: int = 2000, seed: int = 0,
                level: float = 0.95, chunk: int = 250) -> dict[str, float | None]:
    """``mean(a) / mean(b) - 1`` and its paired percentile bootstrap CI.

    ``a``, ``b``: (n,) values of the same n groups (pairs). Each replicate draws
    n pair indices with replacement and recomputes the ratio of means on the
    drawn pairs, so the correlation of a and b within a group is kept (a paired
    CI is much narrower than two independent ones when the models agree per
    user). ``None`` entries when ``mean(b)`` is 0 or there are fewer than 2 pairs.
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape:
        raise ValueError(f"paired samples must have equal shapes, got {a.shape} and {b.shape}")
    n = len(a)
    if n < 2 or b.mean() <= 0:
        return {"value": None, "ci_low": None, "ci_high": None, "level": level}
    rng = np.random.default_rng(seed)
    ratios = []
    for start in range(0, replicates, chunk):                # (chunk, n) index draws at a time
        idx = rng.integers(0, n, size=(min(chunk, replicates - start), n))
        ratios.append(a[idx].mean(1) / np.maximum(b[idx].mean(1), 1e-300))
    r = np.concatenate(ratios) - 1.0
    lo, hi = np.quantile(r, [(1 - level) / 2, (1 + level) / 2])
    return {"value": float(a.mean() / b.mean() - 1), "ci_low": float(lo), "ci_high": float(hi),
            "level": level}


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
    va, vb = ua.loc[common].to_numpy(), ub.loc[common].to_numpy()
    n = min(len(groups_a), len(groups_b))
    seeds = paired_tests(np.array([f["value"].mean() for f in groups_a[:n]]),
                         np.array([f["value"].mean() for f in groups_b[:n]]))
    return {"users": paired_tests(va, vb), "seeds": seeds, "relative": relative_ci(va, vb)}


def fmt_relative(rel: dict[str, Any]) -> str:
    """``+16.3% [95% CI +4.1%, +29.0%]`` (or ``n/a``) of a :func:`relative_ci` result."""
    if rel.get("value") is None:
        return "n/a"
    return (f"{100 * rel['value']:+.1f}% [{100 * rel['level']:.0f}% CI {100 * rel['ci_low']:+.1f}%, "
            f"{100 * rel['ci_high']:+.1f}%]")


def fmt_p(p: float | None) -> str:
    if p is None:
        return "n/a"
    return f"{p:.1e}" if p < 1e-3 else f"{p:.3f}"
