"""Baseline exports, evaluate_export round trip, save/load, and the CLI end to end."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from gnnrec.cli import main
from gnnrec.data.store import save_prepared
from gnnrec.eval import evaluate, evaluate_export, load_result
from gnnrec.eval.baselines import popularity_export
from gnnrec.export.contract import load_export, write_export


def test_popularity_export_orders_items_by_train_degree(tiny):
    exp = popularity_export(tiny)
    pairs = tiny.train.drop_duplicates(["user", "item"])
    degree = np.bincount(pairs["item"], minlength=tiny.n_items)          # distinct train users
    assert exp.dim == 1 and (exp.user_emb == 1).all() and exp.manifest["model"] == "pop"
    np.testing.assert_allclose(exp.item_emb[:, 0], np.log1p(degree), rtol=1e-6)
    for d in range(len(tiny.domains)):
        blk = tiny.item_block(d)
        order = np.argsort(-exp.item_emb[blk, 0], kind="stable")
        assert (np.diff(degree[blk][order]) <= 0).all()                 # descending train degree


def test_evaluate_export_matches_evaluate_on_aligned_rows(tiny, tmp_path):
    exp = popularity_export(tiny)
    write_export(exp, tmp_path / "pop")
    # shuffle the export's rows: alignment by id must undo it
    back = load_export(tmp_path / "pop")
    perm = np.random.default_rng(0).permutation(len(back.item_ids))
    back.item_ids = [back.item_ids[j] for j in perm]
    back.item_emb = back.item_emb[perm]
    back.items = back.items.iloc[perm].reset_index(drop=True)
    a = evaluate_export(back, tiny, ks=(5,), bootstrap=0)
    b = evaluate(exp.user_emb, exp.item_emb, tiny, ks=(5,), bootstrap=0)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert a.meta["export"]["model"] == "pop"


def test_save_and_load_result(tiny, tmp_path):
    exp = popularity_export(tiny)
    r = evaluate(exp.user_emb, exp.item_emb, tiny, ks=(5, 10), bootstrap=50)
    r.save(tmp_path / "res")
    meta = json.loads((tmp_path / "res" / "metrics.json").read_text())
    assert meta["dataset"]["fingerprint"] == tiny.fingerprint()
    assert meta["evaluator_version"] and meta["params"]["bootstrap"] == 50
    assert {"domain", "scenario", "metric", "k", "value", "ci_low", "ci_high", "n_groups"} <= \
        set(meta["metrics"][0])
    back = load_result(tmp_path / "res")
    assert back.value("ndcg", 10, "a", "cold") == pytest.approx(r.value("ndcg", 10, "a", "cold"))
    pd.testing.assert_frame_equal(back.per_group("hr", 5), r.per_group("hr", 5))
    with pytest.raises(KeyError, match="cells"):
        r.value("ndcg", 7)


def test_cli_baseline_and_evaluate(tiny, tmp_path, capsys):
    save_prepared(tiny, tmp_path / "tiny")
    assert main(["baseline", "pop", "--dataset", str(tmp_path / "tiny"),
                 "--out", str(tmp_path / "pop")]) == 0
    assert main(["evaluate", str(tmp_path / "pop"), "--dataset", str(tmp_path / "tiny"),
                 "--ks", "5,10", "--protocol", "both", "--negatives", "9", "--bootstrap", "20",
                 "--out", str(tmp_path / "ev"), "-q"]) == 0
    out = capsys.readouterr().out
    assert "NDCG@10" in out and "HR@5" in out and "can rank models differently" in out
    assert "full ranking" in out and "sampled" in out
    for proto in ("full", "sampled"):
        table = pd.read_csv(tmp_path / "ev" / proto / "metrics.csv")
        assert len(table) and table["value"].notna().any()
    assert main(["evaluate", str(tmp_path / "pop"), "--dataset", str(tmp_path / "tiny"),
                 "--split", "valid", "--ks", "3", "--scenarios", "cold", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "tiny / valid" in out and " warm " not in out
    assert main(["evaluate", str(tmp_path / "nope"), "--dataset", str(tmp_path / "tiny")]) == 2
    assert "no such export folder" in capsys.readouterr().err
