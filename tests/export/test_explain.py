"""Explanations faithful to the score (gnnrec.export.terms / explain).

The LightGCN history terms are checked against an independent expansion of
the propagation (dense matrix powers of the model's adjacency): history terms
+ the user's own row + every other node's part == the exported user vector,
and the explanation's remainder is exactly the other nodes' part. Every
explanation adds up to the score /recommend serves; a fold-in user's has no
remainder; item-item models decompose through an identity term.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from gnnrec.export.build import build_export
from gnnrec.export.contract import load_export, write_export
from gnnrec.export.explain import deletion_check
from gnnrec.export.query import Retriever
from gnnrec.export.terms import HistoryTerm, terms_user_matrix
from gnnrec.models.cross_map import pair_std
from gnnrec.models.registry import build_model
from gnnrec.train import export_model
from tests.helpers import model_ctx

VARIANTS = [
    ("cd-lightgcn", {}),
    ("cd-lightgcn-text", {"cross_map": 0.5, "cross_map_rank": 4}),
    ("cd-lightgcn", {"norm_exp": 0.3, "cross_map": 0.5, "cross_map_lambda_warm": 3.0, "cross_map_rank": 3}),
    ("lightgcn-text", {}),
]


pytestmark = pytest.mark.usefixtures("one_thread")


def _model(ds, name, cfg, seed=0):
    torch.manual_seed(seed)
    m = build_model(model_ctx(ds, name, dim=8, layers=3, **cfg))
    m.eval()
    return m


def _other_nodes(m, ds) -> np.ndarray:
    """sum over nodes n outside u's history and u itself of P[n(u), n] E0[n], in export columns,
    from dense powers of the model's adjacency: (n_users, export dim)."""
    a = m.adj.to_dense().numpy().astype(np.float64)
    p = sum(np.linalg.matrix_power(a, k) for k in range(m.layers + 1)) / (m.layers + 1)
    with torch.no_grad():
        u0, i0 = m.layer0_rows()
        e0 = torch.cat([u0, i0]).numpy().astype(np.float64)
        scale = 1.0
        if m.cross_head is not None:
            out = m.propagate(torch.cat([u0, i0]), m.adj)
            scale = 1.0 / float(pair_std(out[:m.n_user_nodes], out[m.n_user_nodes:],
                                         m.cross_head.pair_users, m.cross_head.pair_items))
    nu = m.n_user_nodes
    r = ds.train_matrix().toarray() > 0
    dim = m.embeddings()[0].shape[1]
    out = np.zeros((ds.n_users, dim))
    for node in range(nu):
        u, d = node % ds.n_users, node // ds.n_users
        hist = r[u] if m.joint else r[u] & (ds.item_domain() == d)
        keep = np.ones(len(p), bool)
        keep[node] = False
        keep[nu + np.flatnonzero(hist)] = False
        lo = 0 if m.joint else d * m.dim
        out[u, lo:lo + m.dim] = scale * (p[node, keep] @ e0[keep])
    return out


@pytest.mark.parametrize("name,cfg", VARIANTS)
def test_lightgcn_terms_plus_other_nodes_are_the_user_vectors(tiny, name, cfg):
    m = _model(tiny, name, cfg)
    u = m.embeddings()[0].numpy()
    terms = m.history_terms()
    assert {t.name for t in terms} >= {"graph", "user_id"}
    assert ("user_text" in {t.name for t in terms}) == m.uses_text
    explained = terms_user_matrix(terms, tiny.n_users, u.shape[1])
    assert np.abs(explained + _other_nodes(m, tiny) - u).max() < 1e-5 * max(1.0, np.abs(u).max())
    # every item-row weight sits on a train item of that user
    train = tiny.train_matrix()
    for t in terms:
        if t.rows == "item":
            assert (t.weights.multiply(train) != t.weights).nnz == 0


@pytest.mark.parametrize("name,cfg", VARIANTS)
def test_explanations_add_up_to_the_served_score_and_the_remainder_is_the_other_nodes(tiny, tmp_path, name, cfg):
    m = _model(tiny, name, cfg)
    write_export(export_model(m, tiny), tmp_path / "e")
    exp = load_export(tmp_path / "e")                         # the terms survive the file round trip
    rec = Retriever(exp)
    other = _other_nodes(m, tiny)
    for user in ("u0", "u1", "u7", "u23"):                    # u0/u1: cold in a/b; the others warm
        ui = exp.user_ids.index(user)
        for domain in ("a", "b"):
            served = rec.recommend(domain, 4, user=user).items
            for it in served:
                e = rec.explain(it["item_id"], user=user, top=3)
                assert e["score"] == it["score"] and e["method"] == "terms" and e["exact"]
                total = (sum(c["contribution"] for c in e["contributions"]) + e["other_history"]["contribution"]
                         + sum(e["parts"].values()) + e["remainder"])
                assert abs(total - e["score"]) < 1e-5
                row = exp.item_ids.index(it["item_id"])
                assert abs(e["remainder"] - other[ui] @ exp.item_emb[row]) < 1e-5 * max(1, abs(e["score"]))
                assert e["history_items"] == len(exp.seen[ui].indices)


def test_a_cold_users_explanation_is_cross_domain(tiny):
    m = _model(tiny, "cd-lightgcn-text", {"cross_map": 0.5, "cross_map_rank": 4})
    rec = Retriever(export_model(m, tiny))
    top = rec.recommend("a", 1, user="u0").items[0]["item_id"]           # u0 is cold in a
    e = rec.explain(top, user="u0", top=3)
    assert {c["domain"] for c in e["contributions"]} == {"b"}
    assert e["because"].startswith("recommended in a (rank 1) because you liked ") and "(b)" in e["because"]
    assert e["rank"] == 1
    # the cross-domain map only ever credits items outside the target domain
    assert all("cross_map_b" not in c["parts"] for c in e["contributions"])


@pytest.mark.parametrize("rule", ["mean", "lightgcn", "unit_mean"])
def test_foldin_explanations_are_exact_with_no_remainder(tiny, rule):
    from tests.export.helpers import random_export
    exp = random_export(tiny, foldin_rule=rule)
    rec = Retriever(exp)
    hist = ["b1", "b4", "b7", "a2"]
    res = rec.recommend("a", 3, history=hist)
    for it in res.items:
        e = rec.explain(it["item_id"], history=hist, top=10)
        assert e["method"] == "foldin" and e["exact"] and e["score"] == it["score"]
        assert abs(e["remainder"]) < 1e-5
        assert sorted(c["item_id"] for c in e["contributions"]) == sorted(hist)


def test_item_item_models_decompose_through_an_identity_term(tiny):
    """EASE (Steck 2019, closed form): U = R (the history row), V[i] = W[:, i]; the score
    sum_j R[u, j] W[j, i] is one identity term over the history."""
    r = tiny.train_matrix().toarray().astype(np.float64)
    g = r.T @ r + 5.0 * np.eye(tiny.n_items)
    p = np.linalg.inv(g)
    w = -p / np.diag(p)[None, :]
    np.fill_diagonal(w, 0.0)
    exp = build_export(tiny, r, w.T, model="ease (test)", explain={"method": "terms"})
    exp.terms = [HistoryTerm("item_item", "item", sp.csr_matrix(r), None, 0, "EASE weight W[j, i]")]
    rec = Retriever(exp)
    for user in ("u3", "u0"):
        ui = exp.user_ids.index(user)
        for it in rec.recommend("b", 3, user=user).items:
            e = rec.explain(it["item_id"], user=user, top=50)
            i = exp.item_ids.index(it["item_id"])
            assert e["exact"] and abs(e["remainder"]) < 1e-6
            got = {c["item_id"]: c["contribution"] for c in e["contributions"]}
            want = {exp.item_ids[j]: w[j, i] for j in np.flatnonzero(r[ui])}
            assert got.keys() == want.keys()
            assert all(abs(got[k] - want[k]) < 1e-5 for k in got)


def test_models_that_cannot_be_decomposed_say_so(tiny):
    mf = build_model(model_ctx(tiny, "mf", text=False, dim=8))
    rec = Retriever(export_model(mf, tiny))
    it = rec.recommend("a", 1, user="u5").items[0]
    e = rec.explain(it["item_id"], user="u5")
    assert e["method"] == "projection" and not e["exact"] and "not a sum over the history" in e["note"]
    total = sum(c["contribution"] for c in e["contributions"]) + e["other_history"]["contribution"] + e["remainder"]
    assert abs(total - e["score"]) < 1e-5
    pop = build_model(model_ctx(tiny, "pop", text=False))
    rec = Retriever(export_model(pop, tiny))
    e = rec.explain("a3", user="u5")
    assert e["method"] == "none" and e["contributions"] == [] and e["remainder"] == e["score"]
    assert "same for every user" in e["note"]
    e = rec.explain("a3", history=["b1", "b2"])                  # a fold-in cannot make popularity personal
    assert e["method"] == "none"


def test_deletion_of_the_top_contributor_lowers_the_score_more_than_a_random_one(tiny):
    m = _model(tiny, "cd-lightgcn-text", {"cross_map": 0.5, "cross_map_rank": 4})
    rec = Retriever(export_model(m, tiny))
    cold = tiny.valid[tiny.valid["scenario"] == "cold"]
    users = cold.drop_duplicates(["user", "domain"])
    hist = [tiny.train_matrix()[u].indices for u in users["user"]]
    doms = [tiny.domains[d] for d in users["domain"]]
    res = deletion_check(rec, [[rec.item_ids[j] for j in h] for h in hist], doms)
    assert res["users"] == len(users)
    assert res["top_drop"] > res["random_drop"]
