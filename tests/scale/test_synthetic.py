"""Synthetic generator: sizes, determinism, power-law degrees, split protocol, planted taste."""

from __future__ import annotations

import numpy as np
import pytest

from gnnrec.data.schema import DataError
from gnnrec.data.registry import load_dataset
from gnnrec.data.synthetic import SynthConfig, generate, load_item_features, save_synthetic

CFG = SynthConfig(users=3000, items=1200, domains=3, edges=60_000, seed=7)


@pytest.fixture(scope="module")
def syn():
    return generate(CFG)


def test_sizes_and_determinism(syn):
    ds = syn.dataset
    assert (ds.n_users, ds.n_items, len(ds.domains)) == (3000, 1200, 3)
    assert len(ds.train) + len(ds.valid) + len(ds.test) == 60_000
    pairs = ds.train.user * ds.n_items + ds.train.item
    assert pairs.is_unique
    again = generate(CFG)
    assert again.dataset.fingerprint() == ds.fingerprint()
    assert np.array_equal(again.item_features, syn.item_features)
    other = generate(SynthConfig(**{**CFG.__dict__, "seed": 8}))
    assert other.dataset.fingerprint() != ds.fingerprint()


def test_power_law_degrees(syn):
    tr = syn.dataset.train
    udeg = np.bincount(tr.user, minlength=3000)
    ideg = np.bincount(tr.item, minlength=1200)
    assert udeg.max() > 10 * np.median(udeg[udeg > 0])
    assert ideg.max() > 5 * np.median(ideg[ideg > 0])


def test_split_protocol(syn):
    ds = syn.dataset
    train_ud = set(zip(ds.train.user, ds.train.domain))
    for split in (ds.valid, ds.test):
        cold = split[split.scenario == "cold"]
        warm = split[split.scenario == "warm"]
        assert len(cold) > 0 and len(warm) > 0
        assert not set(zip(cold.user, cold.domain)) & train_ud      # cold: nothing in train there
        assert set(zip(warm.user, warm.domain)) <= train_ud
        assert not warm.duplicated(["user", "domain"]).any()          # one warm row per (u, d)
        assert set(cold.user) <= set(ds.train.user)                   # other domains still known
    assert not set(zip(ds.valid[ds.valid.scenario == "cold"].user, ds.valid.domain)) & \
        set(zip(ds.test[ds.test.scenario == "cold"].user, ds.test.domain))


def _hit_rate(scores: np.ndarray, truth_items: np.ndarray, k: int = 20) -> float:
    top = np.argsort(-scores, axis=1)[:, :k]
    return float((top == truth_items[:, None]).any(axis=1).mean())


def test_cross_domain_taste_is_learnable(syn):
    """Cold users: planted tastes matter, and their OTHER domains' item features carry them."""
    ds = syn.dataset
    cold = ds.test[(ds.test.scenario == "cold") & (ds.test.domain == 0)]
    blk = ds.item_block(0)
    feats, tr = syn.item_features, ds.train
    sums = np.zeros((ds.n_users, feats.shape[1]), np.float32)
    np.add.at(sums, tr.user.to_numpy(), feats[tr.item.to_numpy()])
    cnt = np.bincount(tr.user, minlength=ds.n_users)[:, None]
    profile = (sums / np.maximum(cnt, 1))[cold.user.to_numpy()]      # other domains only
    truth = cold.item.to_numpy() - blk.start
    log_pop = np.log1p(np.bincount(tr.item, minlength=ds.n_items)[blk])
    pop = _hit_rate(np.broadcast_to(log_pop, (len(cold), len(log_pop))), truth)
    oracle = _hit_rate(log_pop + CFG.beta * syn.user_factors[cold.user.to_numpy()]
                       @ syn.item_factors[blk].T, truth)
    transfer = _hit_rate(log_pop + 0.05 * profile @ feats[blk].T, truth)
    assert oracle > 2.0 * pop
    assert transfer > 1.2 * pop


def test_bad_sizes_are_clear_errors():
    with pytest.raises(DataError, match="--edges"):
        SynthConfig(users=10, items=10, edges=1000)
    with pytest.raises(DataError, match="--users"):
        SynthConfig(users=0)


def test_folder_round_trip(tmp_path):
    syn = generate(SynthConfig(users=300, items=100, edges=3000))
    save_synthetic(tmp_path / "s", syn)
    ds = load_dataset(tmp_path / "s")
    assert ds.fingerprint() == syn.dataset.fingerprint()
    assert np.array_equal(load_item_features(tmp_path / "s"), syn.item_features)
