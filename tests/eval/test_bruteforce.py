"""Full-ranking metrics against a slow, obviously-correct reference on random tied scores."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gnnrec.eval import evaluate
from tests.conftest import make_tiny


def _reference(ds, u, v, split, ks):
    """Per (domain, user): explicit sorted list, non-truth before truth among equal scores."""
    df = ds.split(split)
    out = {}
    for (d, user), grp in df.groupby(["domain", "user"]):
        blk = ds.item_block(int(d))
        masked = set(ds.train.query("user == @user and domain == @d")["item"])
        if split == "test":
            masked |= set(ds.valid.query("user == @user and domain == @d")["item"])
        truth = set(grp["item"])
        masked -= truth
        items = [i for i in range(blk.start, blk.stop) if i not in masked]
        items.sort(key=lambda i: (-float(u[user] @ v[i]), i in truth))
        ranks = sorted(r + 1 for r, i in enumerate(items) if i in truth)
        m = {"mrr": 1 / ranks[0]}
        for k in ks:
            hits = [r for r in ranks if r <= k]
            m[f"recall@{k}"] = len(hits) / len(truth)
            m[f"precision@{k}"] = len(hits) / k
            m[f"hr@{k}"] = float(bool(hits))
            idcg = sum(1 / math.log2(i + 2) for i in range(min(len(truth), k)))
            m[f"ndcg@{k}"] = sum(1 / math.log2(r + 1) for r in hits) / idcg
            m[f"map@{k}"] = sum((j + 1) / r for j, r in enumerate(hits)) / min(len(truth), k)
        out[(int(d), int(user))] = m
    return out


@pytest.mark.parametrize("seed", range(6))
def test_matches_reference_with_heavy_ties(seed):
    ds = make_tiny(seed=seed, n_users=16)
    rng = np.random.default_rng(seed)
    u = rng.integers(-2, 3, size=(ds.n_users, 2)).astype(np.float32)     # few distinct scores
    v = rng.integers(-2, 3, size=(ds.n_items, 2)).astype(np.float32)
    split = ("valid", "test")[seed % 2]
    ks = (1, 3, 5)
    res = evaluate(u, v, ds, split=split, ks=ks, bootstrap=0, batch_size=1 + seed)
    ref = _reference(ds, u, v, split, ks)
    g = res.groups
    assert len(g) == len(ref)
    for _, row in g.iterrows():
        want = ref[(ds.domain_index(row["domain"]), int(row["user_index"]))]
        for name, val in want.items():
            assert row[name] == pytest.approx(val, abs=1e-12), (name, row["user"], row["domain"])
