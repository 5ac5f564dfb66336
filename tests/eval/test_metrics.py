"""Hand-computed rankings: ties, |truth| > K, masking, perfect and reversed scorers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from gnnrec.data.schema import DataError
from gnnrec.eval import evaluate
from tests.conftest import make_tiny
from tests.eval.helpers import hand_dataset

L2 = math.log2


def _one_user(scores, train, truth, valid=()):
    """1 user, 1 domain of len(scores) items; user vector [1], item vector [score]."""
    ds = hand_dataset((len(scores),), 1, [(0, i) for i in train], [(0, i, "warm") for i in truth],
                      [(0, i, "warm") for i in valid])
    return ds, np.ones((1, 1), np.float32), np.asarray(scores, np.float32)[:, None]


def test_hand_ranking_with_ties_and_mask():
    # item0 is a masked train positive with the top score; truth {1, 3} ties with non-truth 5.
    # ranked list: 2 (7), 5 (5), 1 (5), 3 (5), 4 (1)  -> truth ranks 3 and 4 (ties pessimistic)
    ds, u, v = _one_user([10, 5, 7, 5, 1, 5], train=[0], truth=[1, 3])
    r = evaluate(u, v, ds, ks=(3, 5), bootstrap=0)
    def val(m, k=None):
        return r.value(m, k, domain="d0", scenario="warm")

    idcg2 = 1 + 1 / L2(3)
    assert val("recall", 3) == pytest.approx(0.5)
    assert val("precision", 3) == pytest.approx(1 / 3)
    assert val("hr", 3) == 1.0
    assert val("ndcg", 3) == pytest.approx((1 / L2(4)) / idcg2)
    assert val("map", 3) == pytest.approx(0.5 * (1 / 3))
    assert val("mrr") == pytest.approx(1 / 3)
    assert val("recall", 5) == pytest.approx(1.0)
    assert val("precision", 5) == pytest.approx(2 / 5)
    assert val("ndcg", 5) == pytest.approx((1 / L2(4) + 1 / L2(5)) / idcg2)
    assert val("map", 5) == pytest.approx(0.5 * (1 / 3 + 2 / 4))
    # the masked top item is never listed: coverage counts items 2, 5, 1 at K=3
    assert val("coverage", 3) == pytest.approx(3 / 6)


def test_tie_between_truth_and_negative_is_not_optimistic():
    # every item scores the same: truth must rank after all 3 unmasked negatives
    ds, u, v = _one_user([1, 1, 1, 1, 1], train=[0], truth=[4])
    r = evaluate(u, v, ds, ks=(1, 3, 4), bootstrap=0)
    assert r.value("mrr") == pytest.approx(1 / 4)
    assert r.value("hr", 3) == 0.0 and r.value("hr", 4) == 1.0
    assert r.value("ndcg", 4) == pytest.approx(1 / L2(5))


def test_truth_larger_than_k_uses_min_in_idcg():
    # truth {0,1,2} all ranked on top, K=2: NDCG must be 1 (IDCG over min(|T|,K)=2), recall 2/3
    ds, u, v = _one_user([9, 8, 7, 1, 2, 3], train=[], truth=[0, 1, 2])
    r = evaluate(u, v, ds, ks=(2,), bootstrap=0)
    assert r.value("ndcg", 2) == pytest.approx(1.0)
    assert r.value("recall", 2) == pytest.approx(2 / 3)
    assert r.value("precision", 2) == pytest.approx(1.0)
    assert r.value("map", 2) == pytest.approx(1.0)


def test_valid_positives_masked_only_when_scoring_test():
    # item 1 (valid positive, top score) is masked on test, but it is the truth on valid
    ds, u, v = _one_user([0, 9, 5, 1], train=[0], truth=[2], valid=[1])
    assert evaluate(u, v, ds, split="test", ks=(1,), bootstrap=0).value("hr", 1) == 1.0
    assert evaluate(u, v, ds, split="valid", ks=(1,), bootstrap=0).value("hr", 1) == 1.0
    ds2, u2, v2 = _one_user([0, 5, 9, 1], train=[0], truth=[2], valid=[1])
    # on valid, test item 2 is not masked (future), so it outranks the valid truth
    assert evaluate(u2, v2, ds2, split="valid", ks=(1,), bootstrap=0).value("mrr") == 0.5


def test_truth_that_is_also_a_train_positive_stays_truth():
    ds, u, v = _one_user([1, 9, 5], train=[1], truth=[1])
    assert evaluate(u, v, ds, ks=(1,), bootstrap=0).value("hr", 1) == 1.0


def test_empty_split_is_rejected():
    ds = hand_dataset((3,), 1, [(0, 0)], [])
    with pytest.raises(DataError, match="empty"):
        evaluate(np.ones((1, 1)), np.ones((3, 1)), ds, bootstrap=0)


def _indicator(ds, split, sign):
    """User vectors = +-(sum of one-hot truth items): truth scores +-1, everything else 0."""
    df = ds.split(split)
    u = np.zeros((ds.n_users, ds.n_items), np.float32)
    u[df["user"].to_numpy(), df["item"].to_numpy()] = sign
    return u, np.eye(ds.n_items, dtype=np.float32)


def test_perfect_scorer_gets_one():
    ds = make_tiny()
    u, v = _indicator(ds, "test", 1.0)
    r = evaluate(u, v, ds, ks=(1, 5, 10), bootstrap=0)
    for m, k in (("ndcg", 1), ("ndcg", 10), ("hr", 5), ("map", 10), ("mrr", None), ("recall", 10)):
        assert r.value(m, k) == pytest.approx(1.0), (m, k)
    g = r.groups
    sizes = ds.test.groupby(["domain", "user"]).size()          # groups are sorted domain, user
    assert list(g["user_index"]) == list(sizes.index.get_level_values("user"))
    assert np.allclose(g["recall@1"], 1 / sizes.to_numpy())


def test_reversed_scorer_gets_the_minimum():
    ds = make_tiny()
    u, v = _indicator(ds, "test", -1.0)
    r = evaluate(u, v, ds, ks=(1, 3), bootstrap=0)
    for m in ("ndcg", "hr", "recall", "precision", "map"):
        assert r.value(m, 3) == 0.0, m
    # MRR minimum: the best truth item sits right after every unmasked non-truth item
    for _, row in r.groups.iterrows():
        d = ds.domain_index(row["domain"])
        n_d = ds.item_block(d).stop - ds.item_block(d).start
        uidx = row["user_index"]                      # noqa: F841 (read by the queries as @uidx)
        masked = set(ds.train.query("user == @uidx and domain == @d")["item"]) | \
            set(ds.valid.query("user == @uidx and domain == @d")["item"])
        n_truth = len(ds.test.query("user == @uidx and domain == @d"))
        assert row["mrr"] == pytest.approx(1 / (n_d - len(masked) - n_truth + 1))


def test_batch_size_and_filters_do_not_change_values():
    ds = make_tiny()
    rng = np.random.default_rng(1)
    u, v = rng.normal(size=(ds.n_users, 4)), rng.normal(size=(ds.n_items, 4))
    a = evaluate(u, v, ds, ks=(5, 10), bootstrap=0)
    b = evaluate(u, v, ds, ks=(5, 10), bootstrap=0, batch_size=3)
    assert np.allclose(a.table["value"], b.table["value"], equal_nan=True)
    c = evaluate(u, v, ds, ks=(5, 10), bootstrap=0, domains=["b"], scenarios=["warm"])
    assert c.value("ndcg", 5, "b", "warm") == pytest.approx(a.value("ndcg", 5, "b", "warm"))
    assert set(c.groups["domain"]) == {"b"}


def test_bootstrap_ci_is_seeded_and_brackets_the_mean():
    ds = make_tiny()
    rng = np.random.default_rng(2)
    u, v = rng.normal(size=(ds.n_users, 4)), rng.normal(size=(ds.n_items, 4))
    a = evaluate(u, v, ds, ks=(5,), bootstrap=200, seed=3)
    b = evaluate(u, v, ds, ks=(5,), bootstrap=200, seed=3)
    c = evaluate(u, v, ds, ks=(5,), bootstrap=200, seed=4)
    row = a.table.query("metric == 'ndcg' and domain == 'all' and scenario == 'all'").iloc[0]
    assert row["ci_low"] <= row["value"] <= row["ci_high"] and row["ci_low"] < row["ci_high"]
    assert a.table["ci_low"].equals(b.table["ci_low"])
    assert not a.table["ci_low"].equals(c.table["ci_low"])


def test_plan_is_built_once_per_dataset_and_split(monkeypatch):
    import gnnrec.eval.plan as plan_mod
    ds = make_tiny(seed=7)
    u, v = np.ones((ds.n_users, 1)), np.arange(ds.n_items, dtype=float)[:, None]
    first = evaluate(u, v, ds, split="valid", bootstrap=0)
    assert plan_mod.get_plan(ds, "valid") is plan_mod.get_plan(ds, "valid")

    def boom(*a, **k):
        raise AssertionError("plan rebuilt")
    monkeypatch.setattr(plan_mod, "build_plan", boom)
    again = evaluate(u, v, ds, split="valid", bootstrap=0)
    assert first.table["value"].equals(again.table["value"])
    with pytest.raises(AssertionError, match="rebuilt"):
        evaluate(u, v, make_tiny(seed=8), split="valid", bootstrap=0)   # other data: new plan


def test_one_pass_full_and_sampled_equal_separate_calls():
    from gnnrec.eval import evaluate_many
    ds = make_tiny(seed=9)
    rng = np.random.default_rng(3)
    u, v = rng.normal(size=(ds.n_users, 4)), rng.normal(size=(ds.n_items, 4))
    present = np.ones(ds.n_users, bool)
    present[[1, 4]] = False
    kw = dict(ks=(3, 10), n_negatives=7, seed=2, bootstrap=30, batch_size=5,
              scenarios=["warm"], present_users=present)
    both = evaluate_many(u, v, ds, protocols=("full", "sampled"), **kw)
    for proto in ("full", "sampled"):
        alone = evaluate(u, v, ds, protocol=proto, **kw)
        pd.testing.assert_frame_equal(both[proto].table, alone.table)
        pd.testing.assert_frame_equal(both[proto].groups, alone.groups)
