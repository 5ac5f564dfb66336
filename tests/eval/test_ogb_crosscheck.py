"""MRR and Hits@K agree with ogb's link-prediction Evaluator on the same scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from ogb.linkproppred import Evaluator

from gnnrec.eval import evaluate
from gnnrec.eval.plan import get_plan
from gnnrec.eval.sampled import sample_negatives
from tests.conftest import make_tiny


def _ogb(pos: np.ndarray, neg: np.ndarray) -> dict[str, np.ndarray]:
    out = Evaluator(name="ogbl-citation2").eval({"y_pred_pos": torch.as_tensor(pos),
                                                 "y_pred_neg": torch.as_tensor(neg)})
    return {k: v.numpy() for k, v in out.items()}


def _full_pos_neg(ds, u, v, d):
    """Per warm test group of domain d: the truth score and every unmasked non-truth score."""
    blk = ds.item_block(d)
    pos, neg = [], []
    t = ds.test[(ds.test["domain"] == d) & (ds.test["scenario"] == "warm")].sort_values("user")
    for user, item in zip(t["user"], t["item"]):
        seen = set(ds.train.query("user == @user")["item"]) | set(ds.valid.query("user == @user")["item"])
        s = u[user] @ v[blk].T
        cand = [j for j in range(blk.start, blk.stop) if j not in seen and j != item]
        pos.append(u[user] @ v[item])
        neg.append(s[np.asarray(cand) - blk.start])
    return np.asarray(pos), np.stack(neg)


def test_full_ranking_matches_ogb_without_ties():
    ds = make_tiny(seed=3)
    rng = np.random.default_rng(0)
    u = rng.normal(size=(ds.n_users, 6)).astype(np.float32)
    v = rng.normal(size=(ds.n_items, 6)).astype(np.float32)
    res = evaluate(u, v, ds, ks=(1, 3, 10), scenarios=["warm"], bootstrap=0)
    for d, dom in enumerate(ds.domains):
        pos, neg = _full_pos_neg(ds, u, v, d)
        ref = _ogb(pos, neg)
        g = res.groups[res.groups["domain"] == dom]
        np.testing.assert_allclose(g["mrr"].to_numpy(), ref["mrr_list"], rtol=1e-6)
        for k in (1, 3, 10):
            np.testing.assert_array_equal(g[f"hr@{k}"].to_numpy(), ref[f"hits@{k}_list"])


def test_sampled_protocol_matches_ogb_and_is_pessimistic_on_ties():
    ds = make_tiny(seed=4)
    rng = np.random.default_rng(1)
    u = rng.normal(size=(ds.n_users, 6)).astype(np.float32)
    v = rng.normal(size=(ds.n_items, 6)).astype(np.float32)
    v_tied = np.round(v, 0)                   # coarse scores: many ties with the positive
    for items, exact in ((v, True), (v_tied, False)):
        res = evaluate(u, items, ds, protocol="sampled", n_negatives=20, seed=5,
                       sampled_ks=(1, 3, 10), bootstrap=0)
        plan = get_plan(ds, "test")
        inter = pd.concat([ds.train, ds.valid, ds.test])
        seen = inter.groupby("user")["item"].apply(set).to_dict()
        ours, ref_mrr, ref_hits = [], [], {k: [] for k in (1, 3, 10)}
        for d in range(len(ds.domains)):
            rows = np.flatnonzero(plan.g_dom[plan.rows["group"]] == d)   # < 1024: one chunk
            users, pos_items = plan.rows["user"][rows], plan.rows["item"][rows]
            neg = sample_negatives(plan, d, users, 20, 5, 0)
            for user, row in zip(users, neg):            # never an item the user touched
                assert not set(row) & set(seen.get(int(user), ()))
            s_pos = np.einsum("nd,nd->n", u[users], items[pos_items])
            s_neg = np.einsum("nd,nkd->nk", u[users], items[neg])
            ref = _ogb(s_pos, s_neg)
            ours.append(1 + (s_neg >= s_pos[:, None]).sum(1))      # pessimistic rank
            ref_mrr.append(ref["mrr_list"])
            for k in ref_hits:
                ref_hits[k].append(ref[f"hits@{k}_list"])
        rank, ref_a = np.concatenate(ours), np.concatenate(ref_mrr)
        # the evaluator averages rows per (user, domain) group, then groups
        assert res.groups["mrr"].mean() == pytest.approx(_group_mean(plan, 1 / rank), rel=1e-9)
        for k in ref_hits:
            assert res.groups[f"hr@{k}"].mean() == pytest.approx(
                _group_mean(plan, (rank <= k).astype(float)), rel=1e-9)
        if exact:
            np.testing.assert_allclose(1 / rank, ref_a, rtol=1e-6)
            for k, ref_k in ref_hits.items():
                np.testing.assert_array_equal(rank <= k, np.concatenate(ref_k))
        else:     # ogb averages optimistic and pessimistic ranks; ours is pessimistic
            assert (1 / rank <= ref_a + 1e-12).all() and (1 / rank < ref_a).any()


def _group_mean(plan, per_row):
    rows = np.concatenate([np.flatnonzero(plan.g_dom[plan.rows["group"]] == d)
                           for d in range(len(plan.domains))])
    g = plan.rows["group"][rows]
    return (np.bincount(g, weights=per_row) / np.bincount(g)).mean()
