"""From a trained run to a complete export: manifest, fold-in rule, quantisation loss.

:func:`complete_export` fills an :class:`Export` (as made by
``gnnrec.train.export_model``) with everything the contract promises: the
resolved config, the dataset name and fingerprint, the test metrics, the
fold-in rule (chosen on the validation cold-start users unless given) with
its measured ratios, and -- for float16/int8 -- the validation NDCG@20 change.
:func:`export_run` does the whole ``gnnrec export RUN_DIR`` job.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

from gnnrec.data.schema import Dataset
from gnnrec.export.contract import Export, write_export
from gnnrec.export.foldin import RULES, describe

log = logging.getLogger(__name__)


def metrics_summary(result: Any) -> dict[str, Any]:
    """Compact JSON of an EvalResult: ``{split, "<metric>@<k>": {"<domain>/<scenario>": value}}``."""
    out: dict[str, Any] = {"split": result.split, "protocol": result.protocol}
    for r in result.table.itertuples(index=False):
        name = f"{r.metric}@{r.k}" if r.k else r.metric
        if not (isinstance(r.value, float) and math.isnan(r.value)):
            out.setdefault(name, {})[f"{r.domain}/{r.scenario}"] = round(float(r.value), 6)
    return out


def complete_export(exp: Export, ds: Dataset, *, config: dict[str, Any] | None = None,
                    test_result: Any = None, dtype: str = "float32",
                    foldin_rule: str = "auto") -> Export:
    """Fill ``exp.manifest`` in place (see module docstring) and return ``exp``.

    ``foldin_rule="auto"`` measures every rule on the validation cold-start
    users (needs cold rows in ``ds.valid``; falls back to ``mean`` without).
    """
    from gnnrec.export.quality import choose_foldin_rule, foldin_report, quantization_report
    m = exp.manifest
    m["dataset"] = {"name": ds.name, "fingerprint": ds.fingerprint()}
    m.pop("dataset_fingerprint", None)
    if config is not None:
        m["config"] = config
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


def export_run(run_dir: str | os.PathLike, out: str | os.PathLike, dtype: str = "float32",
               faiss: str | None = None, parquet: bool = False, foldin_rule: str = "auto",
               device: str = "auto", overwrite: bool = False) -> dict[str, Any]:
    """Load a run, export its final embeddings to ``out``; returns the manifest written."""
    from gnnrec.eval import evaluate, load_result
    from gnnrec.train import export_model, load_run
    from gnnrec.utils.files import read_json
    if Path(out).exists() and not overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite (overwrite=True) to replace it")
    if foldin_rule != "auto" and foldin_rule not in RULES:
        raise ValueError(f"unknown fold-in rule {foldin_rule!r}; expected auto or one of {sorted(RULES)}")
    run = load_run(run_dir, device=device)
    exp = export_model(run.model, run.ds, run_name=run.config.get("name"))
    test_dir = Path(run_dir) / "test"
    if (test_dir / "metrics.json").is_file():
        test = load_result(test_dir)
    else:
        test = evaluate(exp.user_emb, exp.item_emb, run.ds, split="test",
                        ks=tuple(run.config["eval"]["ks"]))
    complete_export(exp, run.ds, config=run.config, test_result=test, dtype=dtype,
                    foldin_rule=foldin_rule)
    write_export(exp, out, dtype=dtype, faiss=faiss, parquet=parquet, overwrite=overwrite)
    return read_json(Path(out) / "manifest.json")
