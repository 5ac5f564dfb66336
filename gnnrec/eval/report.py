"""Terminal rendering of an :class:`~gnnrec.eval.result.EvalResult`."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from gnnrec.eval.result import EvalResult

_LABEL = {"recall": "Recall", "ndcg": "NDCG", "hr": "HR", "precision": "Prec", "map": "MAP",
          "coverage": "Cov", "pop_pct": "Pop%", "mrr": "MRR"}
_FULL_ORDER = ("recall", "ndcg", "hr", "precision", "map", "coverage", "pop_pct")
SAMPLED_NOTE = ("note: sampled metrics (1 positive vs N sampled negatives) can rank models "
                "differently from full ranking (Krichene & Rendle 2020); read them beside the "
                "full-ranking table.")


def _fmt(v: float, metric: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.1f}" if metric == "pop_pct" else f"{v:.4f}"


def _shown_cells(t: pd.DataFrame) -> list[tuple[str, str]]:
    """Table cells, without aggregate rows that repeat a single base cell."""
    cells = list(dict.fromkeys(zip(t["domain"], t["scenario"])))
    base = [(d, s) for d, s in cells if d != "all" and s != "all"]
    n_scen = {d: sum(1 for dd, _ in base if dd == d) for d, _ in base}
    one_scen = len({s for _, s in base}) == 1
    return [(d, s) for d, s in cells
            if not (s == "all" and d != "all" and n_scen.get(d) == 1)
            and not (d == "all" and s != "all" and one_scen)]


def _block(res: "EvalResult", columns: list[tuple[str, int]], with_ci: tuple[str, int] | None
           ) -> str:
    t = res.table
    cells = _shown_cells(t)
    rows = []
    for dom, scen in cells:
        sub = t[(t["domain"] == dom) & (t["scenario"] == scen)]
        n = int(sub["n_groups"].max()) if len(sub) else 0
        row = {"domain": dom, "scenario": scen, "groups": n}
        for metric, k in columns:
            hit = sub[(sub["metric"] == metric) & (sub["k"] == k)]
            label = _LABEL[metric] + (f"@{k}" if k else "")
            row[label] = _fmt(float(hit["value"].iat[0]), metric) if len(hit) else "-"
        if with_ci is not None:
            m, k = with_ci
            hit = sub[(sub["metric"] == m) & (sub["k"] == k)]
            if len(hit) and not math.isnan(float(hit["ci_low"].iat[0])):
                row[f"95% CI {_LABEL[m]}@{k}"] = (f"[{hit['ci_low'].iat[0]:.4f}, "
                                                   f"{hit['ci_high'].iat[0]:.4f}]")
        rows.append(row)
    return pd.DataFrame(rows).to_string(index=False)


def format_result(res: "EvalResult") -> str:
    """Header line, then one table per K (full) or one table (sampled)."""
    m = res.meta
    ds = m.get("dataset", {})
    p = m.get("params", {})
    head = (f"{ds.get('name', '?')} / {res.split} -- {res.protocol} ranking"
            + (f" vs {p.get('n_negatives')} sampled negatives" if res.protocol == "sampled" else
               f" over each domain's items, masked: {p.get('masked')}")
            + f"; {m.get('n_groups', '?')} (user, domain) groups; evaluator {m.get('evaluator_version')}"
            + f"; dataset {str(ds.get('fingerprint', ''))[:12]}")
    lines = [head]
    if m.get("missing_groups"):
        lines.append(f"WARNING: {m['missing_users']} users ({m['missing_groups']} groups) have no "
                     f"vector in the export and count as misses")
    if m.get("missing_items"):
        lines.append(f"WARNING: {m['missing_items']} dataset items have no vector and are never ranked")
    if m.get("k_exceeds_catalogue"):
        lines.append(f"note: K exceeds the catalogue of {m['k_exceeds_catalogue']}")
    if res.protocol == "sampled":
        cols = [("mrr", 0)] + [(x, k) for x in ("ndcg", "hr") for k in res.ks]
        lines += [_block(res, cols, ("ndcg", max(res.ks))), SAMPLED_NOTE]
    else:
        for i, k in enumerate(res.ks):
            cols = ([("mrr", 0)] if i == 0 else []) + [(x, k) for x in _FULL_ORDER]
            lines += [f"\n@{k}", _block(res, cols, ("ndcg", k))]
        lines.append("MRR: reciprocal rank of the first hit in the whole list; Cov: share of the "
                     "catalogue in some top-K list; Pop%: mean popularity percentile of listed items")
    return "\n".join(lines)
