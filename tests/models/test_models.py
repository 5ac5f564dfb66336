"""Model maths on tiny data: block structure of single-domain LightGCN, text initialisation of
cold items, popularity order, text-only equivalence, lexical terms, degree exponent; samplers and
losses. The contract every model shares is in test_contract.py."""

from __future__ import annotations

import numpy as np
import torch

from gnnrec.models import build_model
from gnnrec.text import text_only_embeddings
from gnnrec.train.losses import bpr_loss, softmax_loss
from gnnrec.train.sampling import NegativeSampler
from tests.conftest import make_tiny
from tests.helpers import model_ctx


def test_single_domain_lightgcn_is_block_exact_and_isolated(tiny):
    torch.manual_seed(0)
    m = build_model(model_ctx(tiny, "lightgcn", dim=4, layers=2))
    u, v = m.embeddings()
    assert u.shape[1] == 8
    a, b = tiny.item_block("a"), tiny.item_block("b")
    assert (v[a, 4:] == 0).all() and (v[b, :4] == 0).all()
    # the domain-b part of the graph cannot change domain-a scores
    ds2 = make_tiny()
    keep = ~((ds2.train["domain"] == 1) & (ds2.train.index % 3 == 0))
    ds2.train = ds2.train[keep].reset_index(drop=True)
    torch.manual_seed(0)
    m2 = build_model(model_ctx(ds2, "lightgcn", dim=4, layers=2))
    u2, v2 = m2.embeddings()
    assert torch.allclose(u @ v[a].T, u2 @ v2[a].T, atol=1e-6)
    assert not torch.allclose(u @ v[b].T, u2 @ v2[b].T, atol=1e-6)


def test_joint_lightgcn_mixes_domains(tiny):
    torch.manual_seed(0)
    m = build_model(model_ctx(tiny, "cd-lightgcn", dim=4, layers=2))
    with torch.no_grad():
        m.item_emb[tiny.item_block("b")] += 1.0        # change only domain-b items ...
    u, _ = m.embeddings()
    torch.manual_seed(0)
    u0, _ = build_model(model_ctx(tiny, "cd-lightgcn", dim=4, layers=2)).embeddings()
    cold_a = tiny.valid.query("scenario == 'cold' and domain == 0")["user"].unique()
    assert not torch.allclose(u[cold_a], u0[cold_a])     # ... and cold users of domain a move


def test_cold_items_use_text_only():
    ds = make_tiny()
    used = set(ds.train["item"])
    cold = [i for i in range(ds.n_items) if i not in used]
    if not cold:                                          # make one item cold
        i0 = int(ds.train["item"].iat[0])
        ds.train = ds.train[ds.train["item"] != i0].reset_index(drop=True)
        cold = [i0]
    torch.manual_seed(0)
    m = build_model(model_ctx(ds, "cd-lightgcn-text", dim=4, layers=1))
    proj = m.item_proj(m.text[cold[0]])
    assert torch.allclose(m().items0[cold[0]], proj)
    with torch.no_grad():
        m.item_emb[cold[0]] += 5
    assert torch.allclose(m().items0[cold[0]], proj)
    assert torch.allclose(m.layer0_rows(torch.tensor([0]), torch.tensor(cold))[1][0], proj)


def test_pop_and_text_only(tiny):
    m = build_model(model_ctx(tiny, "pop"))
    _, v = m.embeddings()
    counts = np.bincount(tiny.train.drop_duplicates(["user", "item"])["item"], minlength=tiny.n_items)
    assert np.array_equal(np.argsort(-v[:, 0].numpy(), kind="stable"), np.argsort(-counts, kind="stable"))
    ctx = model_ctx(tiny, "text-only")
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
    u = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    p = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    n = torch.tensor([[[0.0, 1.0], [9.0, 0.0]], [[1.0, 0.0], [0.0, 9.0]]])
    ok = torch.tensor([[True, False], [True, False]])
    kept = n[:, :1]
    assert torch.allclose(bpr_loss(u, p, n, ok), bpr_loss(u, p, kept))
    assert torch.allclose(softmax_loss(u, p, n, 0.5, neg_ok=ok), softmax_loss(u, p, kept, 0.5))
    assert bpr_loss(u, p, n) > bpr_loss(u, p, n, ok) + 1


def test_lexical_terms_tie_items_across_domains(tiny):
    """model.lexical: x_i T is added to the item layer 0; items sharing a title term share rows
    of T, in the full-graph and the sampled (row) layer 0 alike."""
    torch.manual_seed(0)
    m = build_model(model_ctx(tiny, "cd-lightgcn-text", dim=4, layers=1, lexical=True))
    # tiny titles "title <domain> <j>": only the two-digit numbers occur in two items (a10 / b10 ...)
    a10, b10 = tiny.item_block("a").start + 10, tiny.item_block("b").start + 10
    bag = m.term_bag()
    assert bag.shape == (tiny.n_items, 4)
    assert torch.allclose(bag[a10], bag[b10]) and bag[a10].abs().sum() > 0
    assert (bag[tiny.item_block("a").start + 3] == 0).all()         # "3": one-character token
    plain = build_model(model_ctx(tiny, "cd-lightgcn-text", dim=4, layers=1))
    assert m.term_bag.weight.shape[0] == 2 and plain.term_bag is None
    emb = m()
    uid, iid = torch.tensor([0, 3, 7]), torch.tensor([a10, b10, 2])
    u_rows, i_rows = m.layer0_rows(uid, iid)
    assert torch.allclose(i_rows, emb.items0[iid], atol=1e-6)
    assert torch.allclose(u_rows, emb.users0[uid], atol=1e-6)


def test_norm_exp_graph_is_used_for_training_and_scoring(tiny):
    """model.norm_exp: the model propagates over D^-g A D^-g / s, also on the epoch graphs of
    simulated cold start; the default exponent reuses the cached LightGCN matrix."""
    from gnnrec.graph import domain_adjacency, joint_adjacency
    tr = tiny.train
    u, i, d = tr["user"].to_numpy(), tr["item"].to_numpy(), tr["domain"].to_numpy()
    m = build_model(model_ctx(tiny, "cd-lightgcn-text", dim=4, layers=2, norm_exp=0.3))
    want = joint_adjacency(u, i, tiny.n_users, tiny.n_items, 0.3).toarray()
    assert np.allclose(m.adj.to_dense().numpy(), want)
    keep = ~((tr["user"] == 5) & (tr["domain"] == 0)).to_numpy()
    m.train()
    m.simulate_cold(keep)
    sim = joint_adjacency(u[keep], i[keep], tiny.n_users, tiny.n_items, 0.3).toarray()
    assert np.allclose(m._train_adj.to_dense().numpy(), sim)
    single = build_model(model_ctx(tiny, "lightgcn", dim=4, layers=2, norm_exp=0.0))
    want = domain_adjacency(u, i, d, tiny.n_users, tiny.n_items, 2, 0.0).toarray()
    assert np.allclose(single.adj.to_dense().numpy(), want)
    default = build_model(model_ctx(tiny, "cd-lightgcn", dim=4, layers=2))
    assert default.adj is default.graph.joint_adj
