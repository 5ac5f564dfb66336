"""Export contract: round trips per dtype, manifest content, tamper/truncation refusal."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from gnnrec.export.contract import (Export, ExportError, load_export, quantize, roundtrip,
                                    write_export)
from tests.export.helpers import random_export


@pytest.mark.parametrize("dtype,tol", [("float32", 0.0), ("float16", 2e-3), ("int8", 0.02)])
def test_roundtrip_per_dtype(tiny, tmp_path, dtype, tol):
    exp = random_export(tiny)
    write_export(exp, tmp_path / "e", dtype=dtype)
    back = load_export(tmp_path / "e")
    assert back.user_ids == exp.user_ids and back.item_ids == exp.item_ids
    assert back.user_emb.dtype == np.float32
    err = np.abs(back.item_emb - exp.item_emb).max() / np.abs(exp.item_emb).max()
    assert err <= tol
    assert (back.seen != exp.seen).nnz == 0
    assert list(back.items["title"]) == list(tiny.items["title"])
    np.testing.assert_array_equal(back.item_emb, roundtrip(exp.item_emb, dtype))


def test_int8_uses_per_row_scales(tmp_path):
    x = np.array([[1.0, -0.5, 0.25], [100.0, 50.0, -25.0], [0.0, 0.0, 0.0]], np.float32)
    q, scale = quantize(x, "int8")
    assert q.dtype == np.int8 and scale.shape == (3,)
    np.testing.assert_allclose(scale[:2], [1 / 127, 100 / 127], rtol=1e-6)
    np.testing.assert_allclose(roundtrip(x, "int8"), x, atol=100 / 127 / 2 + 1e-6)


def test_manifest_carries_the_contract(tiny, tmp_path):
    exp = random_export(tiny, config={"lr": 0.01}, metrics={"test": {"ndcg@20": 0.1}})
    write_export(exp, tmp_path / "e", dtype="int8")
    m = json.loads((tmp_path / "e" / "manifest.json").read_text())
    for key in ("model", "config", "dataset", "dim", "score", "metrics", "created",
                "gnnrec_version", "files", "foldin", "domains"):
        assert key in m, key
    assert m["score"] == "dot" and m["dim"] == 8 and m["dtype"] == "int8"
    assert m["dataset"]["fingerprint"] == tiny.fingerprint()
    assert m["foldin"]["rule"] == "mean"
    on_disk = {p.name for p in (tmp_path / "e").iterdir()} - {"manifest.json"}
    assert set(m["files"]) == on_disk
    assert {"user_scales.npy", "item_scales.npy", "seen.npz", "items.tsv"} <= on_disk


@pytest.mark.parametrize("victim", ["item_embeddings.npy", "item_ids.txt", "seen.npz", "items.tsv"])
def test_tampered_or_truncated_file_is_refused(tiny, tmp_path, victim):
    write_export(random_export(tiny), tmp_path / "e")
    path = tmp_path / "e" / victim
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ExportError, match=rf"{victim}.*sha256.*re-export"):
        load_export(tmp_path / "e")


def test_changed_byte_missing_file_and_missing_manifest(tiny, tmp_path):
    write_export(random_export(tiny), tmp_path / "e")
    path = tmp_path / "e" / "user_embeddings.npy"
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(ExportError, match="sha256"):
        load_export(tmp_path / "e")
    load_export(tmp_path / "e", verify=False)             # same shape: loads unverified
    (tmp_path / "e" / "seen.npz").unlink()
    with pytest.raises(ExportError, match="missing"):
        load_export(tmp_path / "e")
    (tmp_path / "e" / "manifest.json").unlink()
    plain = load_export(tmp_path / "e")          # no manifest: a plain embedding folder, unverified
    assert plain.manifest["plain"] and plain.user_emb.shape[0] == tiny.n_users
    (tmp_path / "e" / "item_ids.txt").unlink()
    with pytest.raises(ExportError, match="neither a gnnrec export nor a plain embedding folder"):
        load_export(tmp_path / "e")


def test_truncated_npy_refused_even_unverified(tiny, tmp_path):
    write_export(random_export(tiny), tmp_path / "e")
    path = tmp_path / "e" / "item_embeddings.npy"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ExportError, match="not a readable .npy"):
        load_export(tmp_path / "e", verify=False)


def test_inconsistent_exports_are_rejected(tiny):
    exp = random_export(tiny)
    with pytest.raises(ExportError, match="row-aligned"):
        Export(exp.user_ids[:-1], exp.item_ids, exp.user_emb, exp.item_emb)
    with pytest.raises(ExportError, match="dimension"):
        Export(exp.user_ids, exp.item_ids, exp.user_emb[:, :4], exp.item_emb)
    bad = exp.item_emb.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ExportError, match="NaN"):
        Export(exp.user_ids, exp.item_ids, exp.user_emb, bad)
    with pytest.raises(ExportError, match="duplicate"):
        Export(exp.user_ids, exp.item_ids[:1] * len(exp.item_ids), exp.user_emb, exp.item_emb)


def test_crash_during_write_keeps_old_export(tiny, tmp_path, monkeypatch):
    write_export(random_export(tiny, seed=1), tmp_path / "e")
    before = load_export(tmp_path / "e").item_emb

    def boom(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr("gnnrec.export.contract.sp.save_npz", boom)
    with pytest.raises(OSError):
        write_export(random_export(tiny, seed=2), tmp_path / "e")
    np.testing.assert_array_equal(load_export(tmp_path / "e").item_emb, before)
    assert [p.name for p in tmp_path.iterdir()] == ["e"]


def test_parquet_and_faiss_extras(tiny, tmp_path):
    pytest.importorskip("faiss")
    exp = random_export(tiny)
    write_export(exp, tmp_path / "e", faiss="exact", parquet=True)
    m = json.loads((tmp_path / "e" / "manifest.json").read_text())
    assert set(m["extras"]["faiss"]["domains"]) == {"a", "b"}
    assert "index/a.faiss" in m["files"]
    t = pq.read_table(tmp_path / "e" / "items.parquet")
    assert t.column("id").to_pylist() == exp.item_ids
    np.testing.assert_array_equal(np.stack(t.column("vector").to_numpy(zero_copy_only=False)),
                                  exp.item_emb)
    (tmp_path / "e" / "index" / "b.faiss").write_bytes(b"junk")
    with pytest.raises(ExportError, match="b.faiss"):
        load_export(tmp_path / "e")


def test_export_gets_umask_permissions(tiny, tmp_path):
    import os
    import stat
    old = os.umask(0o022)
    try:
        write_export(random_export(tiny), tmp_path / "e")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "e").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "e" / "manifest.json").stat().st_mode) == 0o644
