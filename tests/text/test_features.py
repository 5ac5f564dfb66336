"""item/user text features: shapes, the on-disk cache and its invalidation, the CLI."""

from __future__ import annotations

import json
import logging
import time

import numpy as np
import pytest

from gnnrec.data.schema import Dataset
from gnnrec.data.store import save_prepared
from gnnrec.text import (UNAVAILABLE, TextEncoder, item_text_features, item_texts,
                         user_text_features)
from gnnrec.text.cache import EmbeddingCache

from ..conftest import make_tiny
from .conftest import model_copy


def _with_items(ds: Dataset, **cols) -> Dataset:
    items = ds.items.drop(columns=ds.text_columns).assign(**cols)
    return Dataset(name=ds.name, users=ds.users, items=items, domains=ds.domains,
                   train=ds.train, valid=ds.valid, test=ds.test)


def test_item_features_aligned_and_cached(encoder, tmp_path, caplog):
    ds = make_tiny()
    feats = item_text_features(ds, encoder=encoder, cache_dir=tmp_path, progress=False)
    assert feats.item.shape == (ds.n_items, 384) and feats.item.dtype == np.float32
    assert feats.dim == 384 and len(feats.key) == 64 and "MiniLM" in feats.model_id
    np.testing.assert_allclose(np.linalg.norm(feats.item, axis=1), 1.0, atol=1e-5)
    texts, template = item_texts(ds)
    assert template == "{title}" and texts[3] == ds.items["title"].iat[3]
    np.testing.assert_allclose(feats.item[3], encoder.encode([texts[3]], progress=False)[0],
                               atol=2e-5)                     # row i is item i
    assert not feats.stats["from_cache"]
    t0 = time.perf_counter()
    again = item_text_features(ds, encoder=encoder, cache_dir=tmp_path, progress=False)
    assert time.perf_counter() - t0 < 1.0 and again.stats["from_cache"]
    assert again.key == feats.key and np.array_equal(again.item, feats.item)
    with pytest.raises(AttributeError):
        _ = feats.user


def test_any_change_invalidates_the_cache(encoder, tmp_path):
    ds = make_tiny(n_items=(6, 6))
    base = item_text_features(ds, encoder=encoder, cache_dir=tmp_path, progress=False)
    other_tpl = item_text_features(ds, encoder=encoder, cache_dir=tmp_path, progress=False,
                                   template="Item: {title}")
    assert other_tpl.key != base.key and not other_tpl.stats["from_cache"]
    changed = _with_items(ds, title=list(ds.items["title"].iloc[:-1]) + ["something else"])
    assert item_text_features(changed, encoder=encoder, cache_dir=tmp_path,
                              progress=False).key != base.key
    cache = EmbeddingCache(tmp_path)
    ident = encoder.identity(cache.file_digest)
    assert TextEncoder(max_length=32).identity(cache.file_digest) != ident
    assert TextEncoder(pooling="cls").identity(cache.file_digest) != ident
    folder = model_copy(tmp_path / "m")                  # same weights, edited config
    cfg = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**cfg, "layer_norm_eps": 1e-6}))
    assert TextEncoder(folder).identity(cache.file_digest)["files"] != ident["files"]


@pytest.mark.parametrize("damage", ["flip", "truncate", "json", "missing"])
def test_corrupted_cache_is_detected_and_recomputed(encoder, tmp_path, caplog, damage):
    ds = make_tiny(n_items=(6, 6))
    first = item_text_features(ds, encoder=encoder, cache_dir=tmp_path, progress=False)
    npy, meta = EmbeddingCache(tmp_path).paths(first.key)
    raw = bytearray(npy.read_bytes())
    if damage == "flip":
        raw[-7] ^= 0x55                                 # one float changes, shape intact
        npy.write_bytes(bytes(raw))
    elif damage == "truncate":
        npy.write_bytes(bytes(raw[:-100]))
    elif damage == "json":
        meta.write_text(meta.read_text()[:40])
    else:
        npy.unlink()
    with caplog.at_level(logging.WARNING, logger="gnnrec.text.cache"):
        again = item_text_features(ds, encoder=encoder, cache_dir=tmp_path, progress=False)
    assert "corrupted" in caplog.text and not again.stats["from_cache"]
    np.testing.assert_allclose(again.item, first.item, atol=1e-6)
    assert item_text_features(ds, encoder=encoder, cache_dir=tmp_path,
                              progress=False).stats["from_cache"]      # repaired


def test_no_text_means_none_not_random_vectors(encoder, tmp_path, caplog):
    ds = make_tiny()
    ids_only = Dataset(name="ids", users=ds.users, items=ds.items[["item_id", "domain"]],
                       domains=ds.domains, train=ds.train, valid=ds.valid, test=ds.test)
    blank = _with_items(ds, title="")
    with caplog.at_level(logging.INFO, logger="gnnrec.text.features"):
        assert item_text_features(ids_only, encoder=encoder, cache_dir=tmp_path) is None
        assert item_text_features(blank, encoder=encoder, cache_dir=tmp_path) is None
        assert user_text_features(ds, encoder=encoder, cache_dir=tmp_path) is None
    assert caplog.text.count(UNAVAILABLE) == 3


def test_partly_empty_items_get_zero_rows(encoder, tmp_path):
    ds = make_tiny(n_items=(6, 6))
    part = _with_items(ds, title=["Heat", "", "Alien", None, "Pen", " "] * 2)
    feats = item_text_features(part, encoder=encoder, cache_dir=tmp_path, progress=False)
    assert feats.empty.tolist() == [False, True, False, True, False, True] * 2
    assert not feats.item[feats.empty].any() and feats.stats["empty"] == 6


def test_user_profile_features(encoder, tmp_path):
    ds = make_tiny(n_users=20)
    users = ds.users.assign(age=["25", "1"] * 10, gender=["F", "M"] * 10,
                            occupation=[str(i) for i in range(20)])
    with_profile = Dataset(name="ml1m-cd", users=users, items=ds.items, domains=ds.domains,
                           train=ds.train, valid=ds.valid, test=ds.test)
    feats = user_text_features(with_profile, encoder=encoder, cache_dir=tmp_path,
                               progress=False)
    assert feats.user.shape == (20, 384) and feats.entity == "user"
    assert feats.template == "User: {gender}, age {age}, {occupation}"
    ref = encoder.encode(["User: female, age 25-34, programmer"], progress=False)[0]
    np.testing.assert_allclose(feats.user[12], ref, atol=2e-5)   # ML-1M codes decoded
    with pytest.raises(AttributeError):
        _ = feats.item


def test_embed_command_fills_then_reads_the_cache(tmp_path, capsys):
    from gnnrec.cli import main

    ds = make_tiny(n_items=(6, 6))
    folder = tmp_path / "tinyprep"
    save_prepared(ds, folder)
    args = ["embed", str(folder), "--device", "cpu", "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "item: dim 384, count 12, computed in" in out and "items/s on cpu, fp32" in out
    assert main(args) == 0
    assert "item: dim 384, count 12, loaded from cache in" in capsys.readouterr().out
    assert main(["embed", str(folder), "--model", str(tmp_path / "nope" / "x")]) == 2
    assert main(["embed", str(folder), "--template", "{nonexistent}"]) == 2
