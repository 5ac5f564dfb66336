"""Train -> `gnnrec export` -> evaluate_export reproduces the run's own test evaluation."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from gnnrec.cli import main
from gnnrec.data.store import save_prepared
from gnnrec.eval import evaluate_export
from gnnrec.export.contract import load_export
from gnnrec.export.query import Retriever
from gnnrec.eval import evaluate
from gnnrec.train import load_config, train_run
from tests.conftest import make_tiny


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A cd-lightgcn run on the tiny dataset (4 epochs, dim 16), without its own export."""
    tmp_path = tmp_path_factory.mktemp("run")
    save_prepared(make_tiny(), tmp_path / "tiny")
    cfg = load_config(None, [f"dataset={tmp_path / 'tiny'}", f"runs_dir={tmp_path / 'runs'}",
                             "name=tiny_lgcn", "model.name=cd-lightgcn", "model.dim=16",
                             "train.epochs=4", "train.batch_size=64", "device=cpu"])
    return train_run(cfg, progress=False, export=False)


def _table(res) -> pd.DataFrame:
    return res.table.set_index(["domain", "scenario", "metric", "k"])["value"].sort_index()


def test_export_reproduces_run_metrics_and_records_the_contract(run, tiny, tmp_path, capsys):
    out = tmp_path / "export"
    assert main(["export", str(run.run_dir), "--out", str(out)]) == 0
    ks = tuple(run.config.eval.ks)
    again = evaluate_export(out, run.ds, split="test", ks=ks)
    a, b = _table(run.test), _table(again)
    assert list(a.index) == list(b.index)
    both_nan = a.isna() & b.isna()
    assert (both_nan | ((a - b).abs() <= 1e-6)).all(), (a - b).abs().max()

    m = json.loads((out / "manifest.json").read_text())
    assert m["model"] == "cd-lightgcn" and m["score"] == "dot" and m["dim"] == 16
    assert m["config"]["train"]["epochs"] == 4
    assert m["dataset"] == {"name": "tiny", "fingerprint": tiny.fingerprint()}
    assert np.isclose(m["metrics"]["ndcg@20"]["all/all"], run.test.value("ndcg", 20))
    assert m["foldin"]["rule"] in m["foldin"]["ratios"]
    # the run's test metrics are exactly what the export ranks: known users via the CLI
    capsys.readouterr()
    assert main(["recommend", str(out), "--user", "u5", "--domain", "a", "--k", "3", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown == json.loads(json.dumps(Retriever(load_export(out)).recommend(
        "a", 3, user="u5").to_dict()))


def test_int8_export_records_its_validation_loss(run, tmp_path):
    out = tmp_path / "export8"
    assert main(["export", str(run.run_dir), "--out", str(out), "--dtype", "int8",
                 "--foldin-rule", "lightgcn"]) == 0
    m = json.loads((out / "manifest.json").read_text())
    q = m["quantization"]
    assert q["dtype"] == "int8" and q["split"] == "valid" and q["metric"] == "ndcg@20"
    as_read = evaluate_export(load_export(out), run.ds, split="valid", ks=(20,), bootstrap=0)
    assert abs(as_read.value("ndcg", 20) - q["int8"]["all"]) <= 1e-6
    u, v = run.model.embeddings()
    f32_model = evaluate(u, v, run.ds, split="valid", ks=(20,), bootstrap=0)
    assert abs(q["float32"]["all"] - f32_model.value("ndcg", 20)) <= 1e-6
    assert abs(q["change"]["all"] - (q["int8"]["all"] - q["float32"]["all"])) <= 1e-6
    assert m["foldin"] == {"rule": "lightgcn", "description": m["foldin"]["description"]}
