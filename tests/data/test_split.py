"""Cleaning and split invariants, property-based over random multi-domain logs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gnnrec.data.clean import clean, drop_duplicates, kcore
from gnnrec.data.schema import DataError, RawData
from gnnrec.data.split import (CDProtocol, check_split, cold_start_split, half_of, leave_one_out,
                               random_split)


def make_raw(seed: int, n_users: int = 30, n_domains: int = 2, items_per_domain: int = 12,
             rows_per_user: int = 20) -> RawData:
    """Random log with duplicates and equal timestamps (to exercise tie-breaking)."""
    rng = np.random.default_rng(seed)
    domains = [f"d{k}" for k in range(n_domains)]
    items = pd.DataFrame({"item_id": [f"i{d}_{j}" for d in range(n_domains)
                                      for j in range(items_per_domain)],
                          "domain": [domains[d] for d in range(n_domains)
                                     for _ in range(items_per_domain)]})
    n = n_users * rows_per_user
    item = rng.integers(0, len(items), n)
    inter = pd.DataFrame({"user": np.repeat(np.arange(n_users), rows_per_user), "item": item,
                          "domain": item // items_per_domain,
                          "rating": rng.integers(1, 6, n).astype(np.float32),
                          "timestamp": rng.integers(0, 15, n)})
    users = pd.DataFrame({"user_id": [f"u{k}" for k in range(n_users)]})
    return RawData(name="rand", users=users, items=items, domains=domains, interactions=inter)


def _latest_positive(raw: RawData, ds, threshold: float) -> dict:
    """(user, domain) -> item the protocol must put in test: max (timestamp, raw item id)."""
    pos = raw.interactions[raw.interactions.rating >= threshold].copy()
    pos["iid"] = raw.items["item_id"].to_numpy()[pos["item"].to_numpy()]
    last = pos.sort_values(["timestamp", "iid"]).groupby(["user", "domain"]).tail(1)
    return {(u, d): i for u, d, i in zip(last.user, last.domain, last.item)}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n_domains=st.integers(2, 3),
       bridge_min=st.integers(1, 4), frac=st.sampled_from([0.1, 0.2, 0.3]),
       threshold=st.sampled_from([1.0, 3.0, 4.0]))
def test_cold_start_split_invariants(seed, n_domains, bridge_min, frac, threshold):
    raw, _ = clean(make_raw(seed, n_domains=n_domains))
    p = CDProtocol(threshold=threshold, bridge_min=bridge_min, cold_fraction=frac, seed=seed)
    try:
        ds = cold_start_split(raw, p)
    except DataError as e:                       # too few bridge users for the fraction
        assert "bridge users" in str(e)
        return
    check_split(ds)                              # leak / warm / cold consistency
    tr_pairs = set(zip(ds.train.user, ds.train.item))
    tr_ud = set(zip(ds.train.user, ds.train.domain))
    for s in ("valid", "test"):
        t = ds.split(s)
        assert not tr_pairs & set(zip(t.user, t.item))
        cold = t[t.scenario == "cold"]
        assert not tr_ud & set(zip(cold.user, cold.domain))
    # every positive lands in exactly one split; nothing else does
    assert len(ds.train) + len(ds.valid) + len(ds.test) == int((raw.interactions.rating >= threshold).sum())
    # warm test rows are each (user, domain)'s latest positive, one per group
    latest = _latest_positive(raw, ds, threshold)
    wt = ds.test[ds.test.scenario == "warm"]
    assert not wt.duplicated(["user", "domain"]).any()
    assert all(latest[(u, d)] == i for u, d, i in zip(wt.user, wt.domain, wt.item))
    # cold groups are disjoint across domains and halved by the (user, domain) hash
    cold = pd.concat([ds.valid.assign(s="valid"), ds.test.assign(s="test")])
    cold = cold[cold.scenario == "cold"].drop_duplicates(["user", "domain"])
    assert not cold.user.duplicated().any()
    assert all(half_of(ds.users.user_id.iat[u], ds.domains[d]) == s
               for u, d, s in zip(cold.user, cold.domain, cold.s))
    # deterministic for a seed
    assert cold_start_split(raw, p).fingerprint() == ds.fingerprint()


def test_seed_changes_the_cold_groups():
    raw, _ = clean(make_raw(3, n_users=200))
    a = cold_start_split(raw, CDProtocol(threshold=1, bridge_min=2, seed=0))
    b = cold_start_split(raw, CDProtocol(threshold=1, bridge_min=2, seed=1))
    assert a.protocol["cold_users"] == b.protocol["cold_users"]
    assert a.fingerprint() != b.fingerprint()


def test_pinned_groups_override_the_seeded_choice():
    raw, _ = clean(make_raw(5))
    pinned = {("u3", "d0"): "valid", ("u4", "d1"): "test"}
    ds = cold_start_split(raw, CDProtocol(threshold=1), pinned=pinned)
    cold = ds.valid[ds.valid.scenario == "cold"]
    assert set(zip(cold.user, cold.domain)) == {(3, 0)}
    assert set(zip(*[ds.test[ds.test.scenario == "cold"][c] for c in ("user", "domain")])) == {(4, 1)}
    with pytest.raises(DataError, match="absent"):
        cold_start_split(raw, pinned={("nobody", "d0"): "test"})


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_loo_and_random_split_invariants(seed):
    raw, _ = clean(make_raw(seed))
    loo = leave_one_out(raw, warm_min=3)
    rnd = random_split(raw, (0.7, 0.15, 0.15), seed=seed)
    for ds in (loo, rnd):
        check_split(ds)
        assert len(ds.train) + len(ds.valid) + len(ds.test) == len(raw.interactions)
    latest = _latest_positive(raw, loo, threshold=-1)
    assert all(latest[(u, d)] == i for u, d, i in zip(loo.test.user, loo.test.domain, loo.test.item))
    assert random_split(raw, (0.7, 0.15, 0.15), seed=seed).fingerprint() == rnd.fingerprint()


def test_random_split_keeps_history_in_train():
    raw, _ = clean(make_raw(1))
    ds = random_split(raw, (0.0, 0.5, 0.5), seed=0)       # nothing drawn for train
    assert len(ds.valid) == len(ds.test) == 0
    assert ds.protocol["moved_to_train_no_history"] == len(raw.interactions)
    with pytest.raises(DataError, match="summing to 1"):
        random_split(raw, (0.5, 0.5, 0.5))


def test_duplicates_keep_the_latest_timestamp():
    inter = pd.DataFrame({"user": [0, 0, 0, 1], "item": [5, 5, 5, 5], "domain": 0,
                          "rating": [1.0, 5.0, 3.0, 2.0], "timestamp": [10, 30, 20, 1]})
    out, dropped = drop_duplicates(inter)
    assert dropped == 2
    assert out[out.user == 0].rating.item() == 5.0 and len(out) == 2


def test_kcore_is_a_fixed_point_per_domain():
    raw = make_raw(2, n_users=40, rows_per_user=6)
    raw, _ = clean(raw)
    core = kcore(raw.interactions, 3)
    assert 0 < len(core) < len(raw.interactions)
    for d in core.domain.unique():
        sub = core[core.domain == d]
        assert sub.groupby("user").size().min() >= 3 and sub.groupby("item").size().min() >= 3
    cleaned, report = clean(raw, threshold=2, k=2)
    assert report["rows_after_threshold"] > report["rows_out"] > 0
    assert (cleaned.interactions.rating >= 2).all()


def test_threshold_that_drops_everything_is_an_error():
    with pytest.raises(DataError, match="no interactions left"):
        clean(make_raw(0), threshold=99)
