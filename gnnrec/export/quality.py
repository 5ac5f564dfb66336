"""Serving-side quality checks measured with :mod:`gnnrec.eval` on the exported vectors.

* :func:`quantization_report` -- NDCG@20 on the validation split of the
  float32 vectors and of the same vectors after a ``dtype`` round trip
  (what a reader of a float16/int8 export sees); the change is recorded in the
  manifest.
* :func:`foldin_report` -- for the cold-start users of a split, NDCG@20 of
  their trained user vectors vs of user vectors folded in from their train
  items (every domain) by a rule of :mod:`gnnrec.export.foldin`; the ratio
  says how much of the model's quality an unknown user with the same history
  gets from the export alone.
* :func:`choose_foldin_rule` -- the rule with the best validation ratio.
* :func:`complete_export` -- all of the above (and the test metrics) written
  into an export's manifest: what training and ``gnnrec export`` do before
  writing an export.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Sequence

import numpy as np

from gnnrec.data.schema import Dataset
from gnnrec.export.contract import Export, roundtrip
from gnnrec.export.foldin import RULES, describe, foldin_matrix, item_degrees

log = logging.getLogger(__name__)

METRIC, K = "ndcg", 20


def _aligned(exp: Export, ds: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """(user_emb, item_emb) reordered to ``ds``'s indices; every id must be present."""
    from gnnrec.eval import align_export
    u, v, pu, pi, _ = align_export(exp, ds)
    if not (pu.all() and pi.all()):
        raise ValueError(f"the export lacks {int((~pu).sum())} users / {int((~pi).sum())} items "
                         f"of {ds.name}; quality checks need an export of this exact dataset")
    return u, v


def _cells(res: Any, ds: Dataset, scenarios: Sequence[str]) -> dict[str, float]:
    """``{"all": x, "<domain>/<scenario>": x, ...}`` of NDCG@20 (NaN cells left out)."""
    out = {"all": res.value(METRIC, K)}
    for d in ds.domains:
        for s in scenarios:
            try:
                out[f"{d}/{s}"] = res.value(METRIC, K, domain=d, scenario=s)
            except KeyError:
                continue
    return {c: round(float(v), 6) for c, v in out.items() if not math.isnan(v)}


def quantization_report(exp: Export, ds: Dataset, dtype: str, split: str = "valid") -> dict[str, Any]:
    """NDCG@20 on ``split`` for float32 vs ``dtype``-round-tripped vectors, and the change."""
    from gnnrec.eval import evaluate
    u, v = _aligned(exp, ds)
    kw = dict(split=split, ks=(K,), bootstrap=0)
    base = _cells(evaluate(u, v, ds, **kw), ds, ("warm", "cold"))
    lossy = _cells(evaluate(roundtrip(u, dtype), roundtrip(v, dtype), ds, **kw), ds, ("warm", "cold"))
    return {"dtype": dtype, "split": split, "metric": f"{METRIC}@{K}",
            "float32": base, dtype: lossy,
            "change": {c: round(lossy[c] - base[c], 6) for c in base if c in lossy},
            "relative_change": round((lossy["all"] - base["all"]) / base["all"], 6)
            if base["all"] else None}


def foldin_report(exp: Export, ds: Dataset, rules: Sequence[str] = tuple(RULES),
                  split: str = "valid") -> dict[str, Any]:
    """Cold-start NDCG@20 on ``split``: trained user vectors vs fold-in by each rule.

    The cold users of ``split`` get ``foldin_matrix(train history, V, rule)``
    (their train items are all in the other domains; with the export's fold-in
    map, its exact linear part); everyone else keeps the trained vector, so the
    cold cells compare like with like.
    """
    from gnnrec.eval import evaluate
    u, v = _aligned(exp, ds)
    rows = ds.split(split)
    cold = np.unique(rows.loc[rows["scenario"] == "cold", "user"].to_numpy())
    if len(cold) == 0:
        raise ValueError(f"{ds.name}/{split} has no cold-start rows to measure fold-in on")
    r = ds.train_matrix(np.int8)
    hist = r[cold]
    deg = item_degrees(r, ds.n_items)
    kw = dict(split=split, ks=(K,), bootstrap=0, scenarios=["cold"])
    trained = _cells(evaluate(u, v, ds, **kw), ds, ("cold",))
    out: dict[str, Any] = {"split": split, "metric": f"{METRIC}@{K}", "users": int(len(cold)),
                           "trained": trained, "rules": {}}
    for rule in rules:
        uf = u.copy()
        uf[cold] = foldin_matrix(hist, v, rule, deg, exp.foldin_map, ds.items["domain"].to_numpy())
        folded = _cells(evaluate(uf, v, ds, **kw), ds, ("cold",))
        out["rules"][rule] = {"foldin": folded,
                              "ratio": {c: round(folded[c] / trained[c], 4)
                                        for c in trained if trained[c] > 0 and c in folded}}
    return out


def choose_foldin_rule(report: dict[str, Any]) -> str:
    """The rule of a :func:`foldin_report` with the highest overall ratio."""
    return max(report["rules"], key=lambda r: report["rules"][r]["ratio"].get("all", -1.0))


def metrics_summary(result: Any) -> dict[str, Any]:
    """Compact JSON of an EvalResult: ``{split, "<metric>@<k>": {"<domain>/<scenario>": value}}``."""
    out: dict[str, Any] = {"split": result.split, "protocol": result.protocol}
    for r in result.table.itertuples(index=False):
        name = f"{r.metric}@{r.k}" if r.k else r.metric
        if not (isinstance(r.value, float) and math.isnan(r.value)):
            out.setdefault(name, {})[f"{r.domain}/{r.scenario}"] = round(float(r.value), 6)
    return out


def complete_export(exp: Export, ds: Dataset, *, test_result: Any = None, dtype: str = "float32",
                    foldin_rule: str = "auto") -> Export:
    """Fill ``exp.manifest`` in place and return ``exp``: the test metrics, the fold-in
    rule with its measured ratios and, for float16/int8, the quantisation change.

    ``foldin_rule="auto"`` measures every rule on the validation cold-start
    users (needs cold rows in ``ds.valid``; falls back to ``mean`` without).
    """
    m = exp.manifest
    if test_result is not None:
        m["metrics"] = metrics_summary(test_result)
    has_cold = bool((ds.valid["scenario"] == "cold").any())
    if foldin_rule == "auto" and has_cold:
        rep = foldin_report(exp, ds, split="valid")
        rule = choose_foldin_rule(rep)
        m["foldin"] = {**describe(rule), "selected_on": "valid cold-start users, NDCG@20 ratio "
                       "fold-in / trained user vectors",
                       "users": rep["users"], "trained": rep["trained"],
                       "ratios": {r: v["ratio"] for r, v in rep["rules"].items()}}
        log.info("fold-in rule %s (valid cold NDCG@20 ratio %s)", rule,
                 rep["rules"][rule]["ratio"].get("all"))
    else:
        m["foldin"] = describe("mean" if foldin_rule == "auto" else foldin_rule)
    if dtype != "float32":
        m["quantization"] = quantization_report(exp, ds, dtype)
        log.info("%s export: valid NDCG@20 change %s", dtype, m["quantization"]["change"]["all"])
    return exp
