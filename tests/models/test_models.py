"""Model maths on tiny data: shapes, block structure of single-domain LightGCN, text
initialisation of cold items, popularity order, text-only equivalence; samplers and losses."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from gnnrec.graph import Graph
from gnnrec.models import Batch, ModelContext, build_model
from gnnrec.text import TextFeatures, text_only_embeddings
from gnnrec.train.losses import softmax_loss
from gnnrec.train.sampling import NegativeSampler, PositiveSampler
from tests.conftest import make_tiny

MINE = ["pop", "mf", "lightgcn", "cd-lightgcn", "lightgcn-text", "cd-lightgcn-text", "text-only"]


def _feats(ds, dim=12, seed=0) -> TextFeatures:
    v = np.random.default_rng(seed).normal(size=(ds.n_items, dim)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return TextFeatures(vectors=v, entity="item", model_id="random-unit-vectors", key="t",
                        template="{title}", empty=np.zeros(ds.n_items, bool))


def _ctx(ds, name, **cfg) -> ModelContext:
    feats = _feats(ds)
    return ModelContext(ds=ds, graph=Graph(ds, feats.item), device=torch.device("cpu"),
                        config={"name": name, **cfg}, text=feats.item, extra={"text_features": feats})


@pytest.mark.parametrize("name", MINE)
def test_shapes_and_layer0(name, tiny):
    torch.manual_seed(0)
    m = build_model(_ctx(tiny, name))
    u, v = m.embeddings()
    assert u.shape[0] == tiny.n_users and v.shape[0] == tiny.n_items and u.shape[1] == v.shape[1]
    assert u.dtype == torch.float32 and torch.isfinite(u).all() and torch.isfinite(v).all()
    if m.trainable:
        m()
        b = Batch(users=torch.tensor([0, 5]), pos=torch.tensor([1, 20]), neg=torch.tensor([[2], [21]]),
                  domain=torch.tensor([0, 1]))
        rows = m.layer0(b)
        assert [r.shape[0] for r in rows] == [2, 2, 2] and rows[0].requires_grad


def test_single_domain_lightgcn_is_block_exact_and_isolated(tiny):
    torch.manual_seed(0)
    m = build_model(_ctx(tiny, "lightgcn", dim=4, layers=2))
    u, v = m.embeddings()
    assert u.shape[1] == 8
    a, b = tiny.item_block("a"), tiny.item_block("b")
    assert (v[a, 4:] == 0).all() and (v[b, :4] == 0).all()
    # the domain-b part of the graph cannot change domain-a scores
    ds2 = make_tiny()
    keep = ~((ds2.train["domain"] == 1) & (ds2.train.index % 3 == 0))
    ds2.train = ds2.train[keep].reset_index(drop=True)
    torch.manual_seed(0)
    m2 = build_model(_ctx(ds2, "lightgcn", dim=4, layers=2))
    u2, v2 = m2.embeddings()
    assert torch.allclose(u @ v[a].T, u2 @ v2[a].T, atol=1e-6)
    assert not torch.allclose(u @ v[b].T, u2 @ v2[b].T, atol=1e-6)


def test_joint_lightgcn_mixes_domains(tiny):
    torch.manual_seed(0)
    m = build_model(_ctx(tiny, "cd-lightgcn", dim=4, layers=2))
    with torch.no_grad():
        m.item_emb[tiny.item_block("b")] += 1.0        # change only domain-b items ...
    u, _ = m.embeddings()
    torch.manual_seed(0)
    u0, _ = build_model(_ctx(tiny, "cd-lightgcn", dim=4, layers=2)).embeddings()
    cold_a = tiny.valid.query("scenario == 'cold' and domain == 0")["user"].unique()
    assert not torch.allclose(u[cold_a], u0[cold_a])     # ... and cold users of domain a move


def test_cold_items_use_text_only():
    ds = make_tiny()
    ds.items = ds.items.copy()
    used = set(ds.train["item"])
    cold = [i for i in range(ds.n_items) if i not in used]
    if not cold:                                          # make one item cold
        i0 = int(ds.train["item"].iat[0])
        ds.train = ds.train[ds.train["item"] != i0].reset_index(drop=True)
        cold = [i0]
    torch.manual_seed(0)
    m = build_model(_ctx(ds, "cd-lightgcn-text", dim=4, layers=1))
    e0 = m.layer0_all()[m.n_user_nodes + cold[0]]
    proj = m.item_proj[0](m.text[cold[0]])
    assert torch.allclose(e0, proj)
    with torch.no_grad():
        m.item_emb[cold[0]] += 5
    assert torch.allclose(m.layer0_all()[m.n_user_nodes + cold[0]], proj)


def test_pop_and_text_only(tiny):
    m = build_model(_ctx(tiny, "pop"))
    _, v = m.embeddings()
    counts = np.bincount(tiny.train.drop_duplicates(["user", "item"])["item"], minlength=tiny.n_items)
    assert np.array_equal(np.argsort(-v[:, 0].numpy(), kind="stable"), np.argsort(-counts, kind="stable"))
    ctx = _ctx(tiny, "text-only")
    u, v = build_model(ctx).embeddings()
    ru, rv = text_only_embeddings(tiny, ctx.extra["text_features"])
    assert np.allclose(u.numpy(), ru) and np.allclose(v.numpy(), rv)


def test_negative_sampler_excludes_positives_and_stays_in_domain(tiny):
    s = NegativeSampler(tiny, torch.device("cpu"), bitmap_limit=0)     # searchsorted path
    s2 = NegativeSampler(tiny, torch.device("cpu"))                     # bitmap path
    users = torch.as_tensor(tiny.train["user"].to_numpy().copy())
    doms = torch.as_tensor(tiny.train["domain"].to_numpy().copy())
    item_dom = torch.as_tensor(tiny.item_domain())
    pos = set(zip(tiny.train["user"], tiny.train["item"]))
    for sampler in (s, s2):
        neg = sampler.sample(users, doms, 5, torch.Generator().manual_seed(0))
        assert neg.shape == (len(users), 5)
        assert (item_dom[neg] == doms[:, None]).all()
        assert not any((int(u), int(i)) in pos for u, row in zip(users, neg) for i in row)


def test_balanced_and_target_sampling_proportions(tiny):
    ds = make_tiny()
    ds.train = ds.train[~((ds.train["domain"] == 1) & (ds.train["user"] % 2 == 0))].reset_index(drop=True)
    n_a = int((ds.train["domain"] == 0).sum())
    g = torch.Generator().manual_seed(0)
    bal = PositiveSampler(ds, torch.device("cpu"), "balanced")
    dom = bal.domains[torch.cat([bal.epoch_order(g) for _ in range(200)])]
    assert abs((dom == 0).float().mean().item() - 0.5) < 0.02
    tgt = PositiveSampler(ds, torch.device("cpu"), "target", target_domains=["b"], target_weight=3.0)
    dom = tgt.domains[torch.cat([tgt.epoch_order(g) for _ in range(200)])]
    n_b = len(ds.train) - n_a
    expect = 3 * n_b / (3 * n_b + n_a)
    assert abs((dom == 1).float().mean().item() - expect) < 0.02


def test_softmax_loss_masks_inbatch_candidates():
    u = torch.tensor([[1.0, 0.0]])
    p = torch.tensor([[1.0, 0.0]])
    n = torch.tensor([[[0.0, 1.0]]])
    cand = torch.tensor([[5.0, 0.0]])
    masked = softmax_loss(u, p, n, 1.0, cand, torch.tensor([[False]]))
    plain = softmax_loss(u, p, n, 1.0)
    assert torch.allclose(masked, plain)
    unmasked = softmax_loss(u, p, n, 1.0, cand, torch.tensor([[True]]))
    assert unmasked > plain + 3


def test_dropped_negatives_leave_the_loss():
    """neg_ok=False removes a negative: BPR averages the kept terms, softmax masks the logit."""
    from gnnrec.train.losses import bpr_loss

    u = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    p = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    n = torch.tensor([[[0.0, 1.0], [9.0, 0.0]], [[1.0, 0.0], [0.0, 9.0]]])
    ok = torch.tensor([[True, False], [True, False]])
    kept = n[:, :1]
    assert torch.allclose(bpr_loss(u, p, n, ok), bpr_loss(u, p, kept))
    assert torch.allclose(softmax_loss(u, p, n, 0.5, neg_ok=ok), softmax_loss(u, p, kept, 0.5))
    assert bpr_loss(u, p, n) > bpr_loss(u, p, n, ok) + 1


def test_pop_bias_head_is_an_exact_inner_product(tiny):
    """score = U . V + w_{active(u, d), d} * f_i, as one inner product of the exported vectors."""
    torch.manual_seed(0)
    plain = build_model(_ctx(tiny, "cd-lightgcn-text"))
    torch.manual_seed(0)
    m = build_model(_ctx(tiny, "cd-lightgcn-text", pop_bias=True))
    with torch.no_grad():
        m.pop_head.w.copy_(torch.tensor([[0.5, 0.7], [2.0, 3.0]]))
    u0, v0 = plain.embeddings()
    u, v = m.embeddings()
    n_dom = len(tiny.domains)
    assert u.shape[1] == u0.shape[1] + n_dom
    assert torch.allclose(u[:, :-n_dom], u0) and torch.allclose(v[:, :-n_dom], v0)
    tr = tiny.train
    deg = np.bincount(tr["item"], minlength=tiny.n_items)
    dom = tiny.item_domain()
    cold_user = int(tiny.valid.loc[tiny.valid["scenario"] == "cold", "user"].iloc[0])
    cold_dom = int(tiny.valid.loc[(tiny.valid["scenario"] == "cold") & (tiny.valid["user"] == cold_user),
                                  "domain"].iloc[0])
    for i in range(tiny.n_items):
        d = dom[i]
        f = np.log1p(deg[i]) / np.log1p(deg[dom == d]).max()
        w = m.pop_head.w[1 if d == cold_dom else 0, d].item()
        assert abs((u[cold_user] @ v[i] - u0[cold_user] @ v0[i]).item() - w * f) < 1e-5
    # simulated cold start switches the user's weight to the cold one
    keep = ~((tr["user"] == 5) & (tr["domain"] == 0)).to_numpy()
    m.train()
    m.simulate_cold(keep)
    us, _ = m()
    assert us[5, -n_dom].item() == pytest.approx(2.0) and us[5, -n_dom + 1].item() == pytest.approx(0.7)


def test_lexical_terms_tie_items_across_domains(tiny):
    """model.lexical: x_i T is added to the item layer 0; items sharing a title term share rows
    of T, in the full-graph and the mini-batch layer 0 alike."""
    from gnnrec.train.minibatch import _lightgcn_rows
    torch.manual_seed(0)
    m = build_model(_ctx(tiny, "cd-lightgcn-text", dim=4, layers=1, lexical=True))
    # tiny titles "title <domain> <j>": only the two-digit numbers occur in two items (a10 / b10 ...)
    a10, b10 = tiny.item_block("a").start + 10, tiny.item_block("b").start + 10
    bag = m.term_bag()
    assert bag.shape == (tiny.n_items, 4)
    assert torch.allclose(bag[a10], bag[b10]) and bag[a10].abs().sum() > 0
    assert (bag[tiny.item_block("a").start + 3] == 0).all()         # "3": one-character token
    plain = build_model(_ctx(tiny, "cd-lightgcn-text", dim=4, layers=1))
    assert m.term_bag.weight.shape[0] == 2 and plain.term_bag is None
    m()
    uid, iid = torch.tensor([0, 3, 7]), torch.tensor([a10, b10, 2])
    u_rows, i_rows = _lightgcn_rows(m, uid, iid)
    e0 = m.layer0_all()
    assert torch.allclose(i_rows, e0[m.n_user_nodes + iid], atol=1e-6)
    assert torch.allclose(u_rows, e0[uid], atol=1e-6)


def test_user_id_false_makes_users_functions_of_their_items(tiny):
    """model.user_id=false: no user table; a user's layer 0 is the projected mean text of its items,
    so two users with the same train items get the same final vector."""
    torch.manual_seed(0)
    m = build_model(_ctx(tiny, "cd-lightgcn-text", dim=4, layers=2, user_id=False))
    assert m.user_emb is None and not any("user_emb" in n for n, _ in m.named_parameters())
    ds = make_tiny()
    tr = ds.train
    dup = tr[tr["user"] == 3].assign(user=4)                        # user 4 := user 3's items
    ds.train = pd.concat([tr[tr["user"] != 4], dup], ignore_index=True)
    torch.manual_seed(0)
    m = build_model(_ctx(ds, "cd-lightgcn-text", dim=4, layers=2, user_id=False))
    u, _ = m.embeddings()
    assert torch.allclose(u[3], u[4], atol=1e-6) and not torch.allclose(u[3], u[5])
    torch.manual_seed(0)
    no_text = build_model(_ctx(ds, "cd-lightgcn", dim=4, layers=2, user_id=False))
    assert (no_text.layer0_all()[: ds.n_users] == 0).all()


def test_norm_exp_graph_is_used_for_training_and_scoring(tiny):
    """model.norm_exp: the model propagates over D^-g A D^-g / s, also on the epoch graphs of
    simulated cold start; the default exponent reuses the cached LightGCN matrix."""
    from gnnrec.graph import domain_adjacency, joint_adjacency
    tr = tiny.train
    u, i, d = tr["user"].to_numpy(), tr["item"].to_numpy(), tr["domain"].to_numpy()
    m = build_model(_ctx(tiny, "cd-lightgcn-text", dim=4, layers=2, norm_exp=0.3))
    want = joint_adjacency(u, i, tiny.n_users, tiny.n_items, 0.3).toarray()
    assert np.allclose(m.adj.to_dense().numpy(), want)
    keep = ~((tr["user"] == 5) & (tr["domain"] == 0)).to_numpy()
    m.train()
    m.simulate_cold(keep)
    sim = joint_adjacency(u[keep], i[keep], tiny.n_users, tiny.n_items, 0.3).toarray()
    assert np.allclose(m._train_adj.to_dense().numpy(), sim)
    single = build_model(_ctx(tiny, "lightgcn", dim=4, layers=2, norm_exp=0.0))
    want = domain_adjacency(u, i, d, tiny.n_users, tiny.n_items, 2, 0.0).toarray()
    assert np.allclose(single.adj.to_dense().numpy(), want)
    default = build_model(_ctx(tiny, "cd-lightgcn", dim=4, layers=2))
    assert default.adj is default._ctx.graph.joint_adj
