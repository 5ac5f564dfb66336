"""Graph builders: normalisation, propagation maths and gradient, hetero view, facts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gnnrec.graph import Graph, propagate, user_text_mean


def _dense_ref(a: torch.Tensor, x: torch.Tensor, layers: int) -> torch.Tensor:
    d = a.to_dense()
    out, cur = x.clone(), x
    for _ in range(layers):
        cur = d @ cur
        out = out + cur
    return out / (layers + 1)


def test_joint_adjacency_is_symmetric_normalised(tiny):
    g = Graph(tiny)
    a = g.joint_adj.to_dense()
    n = tiny.n_users + tiny.n_items
    assert a.shape == (n, n)
    assert torch.allclose(a, a.T)
    assert a[: tiny.n_users, : tiny.n_users].abs().sum() == 0          # bipartite
    deg = (a > 0).sum(1).float()
    u, i = int(tiny.train["user"].iat[0]), int(tiny.train["item"].iat[0])
    expect = 1 / np.sqrt(deg[u].item() * deg[tiny.n_users + i].item())
    assert abs(a[u, tiny.n_users + i].item() - expect) < 1e-6


def test_degree_exponent_keeps_symmetry_and_unit_spectral_radius(tiny):
    """D^-g A D^-g / s: symmetric for any g, spectral radius 1, g = 0 -> raw A scaled, and
    g = 0.5 is exactly LightGCN's matrix."""
    from gnnrec.graph import joint_adjacency
    u, i = tiny.train["user"].to_numpy(), tiny.train["item"].to_numpy()
    half = joint_adjacency(u, i, tiny.n_users, tiny.n_items, 0.5).toarray()
    assert np.allclose(half, Graph(tiny).joint_adj.to_dense().numpy())
    raw = (joint_adjacency(u, i, tiny.n_users, tiny.n_items, 0.0).toarray() > 0)
    for g in (0.0, 0.25, 0.5, 0.8):
        a = joint_adjacency(u, i, tiny.n_users, tiny.n_items, g).toarray().astype(np.float64)
        assert np.allclose(a, a.T)
        assert abs(np.abs(np.linalg.eigvalsh(a)).max() - 1.0) < 1e-4, g
    a0 = joint_adjacency(u, i, tiny.n_users, tiny.n_items, 0.0).toarray()
    assert np.allclose(a0[raw], a0[raw][0])                             # every edge weighs the same
    deg = raw.sum(1)
    a3 = joint_adjacency(u, i, tiny.n_users, tiny.n_items, 0.25).toarray()
    (r, c) = np.argwhere(raw)[0]
    (r2, c2) = next((x, y) for x, y in np.argwhere(raw) if deg[x] * deg[y] != deg[r] * deg[c])
    assert np.isclose(a3[r, c] / a3[r2, c2], (deg[r2] * deg[c2] / (deg[r] * deg[c])) ** 0.25, rtol=1e-5)
    with pytest.raises(ValueError, match="exponent"):
        joint_adjacency(u, i, tiny.n_users, tiny.n_items, 1.5)


def test_domain_adjacency_never_crosses_domains(tiny):
    g = Graph(tiny)
    a = g.domain_adj.to_dense()
    item_dom = tiny.item_domain()
    for d in range(2):
        users = slice(d * tiny.n_users, (d + 1) * tiny.n_users)
        other_items = tiny.n_users * 2 + np.flatnonzero(item_dom != d)
        assert a[users][:, other_items].abs().sum() == 0


def test_propagate_matches_dense_forward_and_backward(tiny):
    a = Graph(tiny).joint_adj
    x = torch.randn(a.shape[0], 5, requires_grad=True)
    y = propagate(a, x, 3)
    x2 = x.detach().clone().requires_grad_()
    ref = _dense_ref(a, x2, 3)
    assert torch.allclose(y, ref, atol=1e-5)
    w = torch.randn_like(y)
    (y * w).sum().backward()
    (ref * w).sum().backward()
    assert torch.allclose(x.grad, x2.grad, atol=1e-5)


def test_hetero_and_facts(tiny):
    text = np.random.default_rng(0).normal(size=(tiny.n_items, 8)).astype(np.float32)
    g = Graph(tiny, item_text=text)
    h = g.hetero
    assert set(h.node_types) == {"user", "item_a", "item_b"}
    ei = h["user", "interacts", "item_b"].edge_index
    blk = tiny.item_block("b")
    tr = tiny.train[tiny.train["domain"] == 1]
    assert ei.shape[1] == len(set(zip(tr["user"], tr["item"])))
    assert torch.equal(h["item_b"].x, torch.from_numpy(text[blk]))
    um = user_text_mean(tiny, text)
    u = int(tr["user"].iat[0])
    items = tiny.train.loc[tiny.train["user"] == u, "item"].unique()
    assert np.allclose(um[u], text[items].mean(0), atol=1e-5)
    f = g.facts
    assert f["nodes"]["item_a"] == 15 and f["bridge_users"] == 32
    assert f["cold"]["a"]["users"] == 4 and f["cold"]["a"]["with_other_domain"] == 1.0
