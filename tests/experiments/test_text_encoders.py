"""experiments/text_encoders.py: table cells and the per-model validation score it reports."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from tests.experiments.helpers import load_experiment


def test_cell_shows_std_only_over_several_seeds() -> None:
    cell = load_experiment("text_encoders")._cell
    assert cell(pd.DataFrame({"mean": [0.05], "std": [0.0], "n_seeds": [1]})) == "0.0500"
    assert cell(pd.DataFrame({"mean": [0.05], "std": [0.002], "n_seeds": [3]})) == "0.0500 ± 0.0020"


def test_valid_scores_average_seeds_and_skip_runs_without_one(tmp_path: Path) -> None:
    runs = [{"model": "cd-lightgcn-text", "seed": 0, "best_valid": 0.05},
            {"model": "cd-lightgcn-text", "seed": 1, "best_valid": 0.07},
            {"model": "text-only", "seed": 0, "status": "failed"}]
    path = tmp_path / "runs.json"
    path.write_text(json.dumps({"suite": "s", "runs": runs}))
    scores = load_experiment("text_encoders")._valid_scores(path)
    assert scores.keys() == {"cd-lightgcn-text"}
    assert abs(scores["cd-lightgcn-text"] - 0.06) < 1e-12
