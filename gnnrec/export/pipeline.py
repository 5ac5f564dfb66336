"""``gnnrec export RUN_DIR``: a trained run's final embeddings as a complete export folder.

:func:`export_run` loads the run (:func:`gnnrec.train.load_run`), builds its
export (:func:`gnnrec.train.export_model`), fills the manifest
(:func:`gnnrec.export.quality.complete_export`: test metrics, fold-in rule
chosen on the validation cold-start users, quantisation change) and writes it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from gnnrec.eval import evaluate, load_result
from gnnrec.export.contract import ExportError, write_export
from gnnrec.export.foldin import RULES
from gnnrec.export.quality import complete_export
from gnnrec.train import export_model, load_run
from gnnrec.utils.files import check_output_dir, read_json


def export_run(run_dir: str | os.PathLike, out: str | os.PathLike, dtype: str = "float32",
               faiss: str | None = None, parquet: bool = False, foldin_rule: str = "auto",
               device: str = "auto", overwrite: bool = False) -> dict[str, Any]:
    """Load a run, export its final embeddings to ``out``; returns the manifest written."""
    check_output_dir(out, overwrite)          # before the run is loaded and fold-in is measured
    if foldin_rule != "auto" and foldin_rule not in RULES:
        raise ExportError(f"unknown fold-in rule {foldin_rule!r}; expected auto or one of {sorted(RULES)}")
    run = load_run(run_dir, device=device)
    exp = export_model(run.model, run.ds, run.config)
    test_dir = Path(run_dir) / "test"
    if (test_dir / "metrics.json").is_file():
        test = load_result(test_dir)
    else:
        test = evaluate(exp.user_emb, exp.item_emb, run.ds, split="test", ks=tuple(run.config.eval.ks))
    complete_export(exp, run.ds, test_result=test, dtype=dtype, foldin_rule=foldin_rule)
    write_export(exp, out, dtype=dtype, faiss=faiss, parquet=parquet, overwrite=overwrite)
    return read_json(Path(out) / "manifest.json")
