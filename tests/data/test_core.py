"""Canonical data model, prepared-folder store and frozen-split loaders."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gnnrec.data.frozen import load_cd_folder, load_disencdr_pair
from gnnrec.data.schema import DataError, Dataset
from gnnrec.data.store import load_prepared, save_prepared
from tests.conftest import SHARED, needs_shared


def test_items_are_contiguous_domain_blocks(tiny):
    dom = tiny.item_domain()
    assert (np.diff(dom) >= 0).all()
    blk = tiny.item_block("b")
    assert (tiny.items["domain"].iloc[blk] == "b").all()
    assert blk.stop - blk.start == 12


def test_train_matrix_is_binary_over_the_train_rows(tiny):
    tr = tiny.train
    tiny.train = pd.concat([tr, tr.iloc[:3]], ignore_index=True)     # three repeated pairs
    r = tiny.train_matrix(np.int8)
    assert r.shape == (tiny.n_users, tiny.n_items) and r.dtype == np.int8
    assert r.nnz == len(tr.drop_duplicates(["user", "item"])) and set(r.data) == {1}
    assert r[int(tr["user"].iloc[0]), int(tr["item"].iloc[0])] == 1
    assert tiny.train_matrix().dtype == np.float32


def test_store_roundtrip_and_tamper(tiny, tmp_path):
    folder = save_prepared(tiny, tmp_path / "tiny")
    again = load_prepared(folder)
    assert again.fingerprint() == tiny.fingerprint()
    pd.testing.assert_frame_equal(again.test, tiny.test)
    with open(folder / "train.parquet", "ab") as f:
        f.write(b"x")
    with pytest.raises(DataError, match="sha256"):
        load_prepared(folder)


def test_crash_during_write_leaves_no_folder(tiny, tmp_path, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("disk full")
    monkeypatch.setattr(pd.DataFrame, "to_parquet", boom)
    with pytest.raises(RuntimeError):
        save_prepared(tiny, tmp_path / "x")
    assert not (tmp_path / "x").exists()
    assert list(tmp_path.iterdir()) == []


def test_domain_mismatch_is_rejected(tiny):
    bad = tiny.train.copy()
    bad.loc[0, "domain"] = 1 - bad.loc[0, "domain"]
    with pytest.raises(DataError, match="belongs to"):
        Dataset(name="bad", users=tiny.users, items=tiny.items, domains=tiny.domains,
                train=bad, valid=tiny.valid, test=tiny.test)


@needs_shared("ml1m-cd")
def test_frozen_ml1m_cd_counts():
    ds, inputs = load_cd_folder(SHARED / "ml1m-cd")
    assert (len(ds.train), len(ds.valid), len(ds.test)) == (500_925, 36_077, 38_279)
    assert ds.n_items == 3883 and ds.domains == ["action", "drama"]
    assert len(inputs) == 5
    cold = ds.test[ds.test.scenario == "cold"]
    # cold users have no train rows in their cold domain
    pairs = set(zip(cold.user, cold.domain))
    assert not any((u, d) in pairs for u, d in zip(ds.train.user, ds.train.domain))


@needs_shared("amazon-disencdr")
def test_disencdr_pair_namespaces_items():
    ds, _ = load_disencdr_pair(SHARED / "amazon-disencdr", "sport_cloth")
    assert ds.domains == ["sport", "cloth"]
    assert ds.items["item_id"].iloc[0].startswith("sport:")
    assert len(ds.test) == 8326 + 7540
    assert set(ds.valid.scenario) == {"warm"}
    tr = set(zip(ds.train.user, ds.train.item))
    assert not any(p in tr for p in zip(ds.valid.user, ds.valid.item))
