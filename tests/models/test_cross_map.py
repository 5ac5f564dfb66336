"""Cross-domain item map (gnnrec.models.cross_map): the ridge solution, its low-rank
factorisation and the exact inner product the joint LightGCN models append at scoring time."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from gnnrec.models import build_model
from gnnrec.models.cross_map import CrossMapHead, cross_map_blocks, pair_std, randomized_svd
from tests.helpers import model_ctx as _ctx


def _matrix(n_users: int, n_items: int, density: float, seed: int) -> sp.csr_matrix:
    r = sp.random(n_users, n_items, density=density, format="csr", random_state=seed, dtype=np.float32)
    r.data[:] = 1.0
    return r


def _ridge(r: sp.csr_matrix, item_domain: np.ndarray, d: int, lam: float) -> np.ndarray:
    """Dense primal ridge map W_d = (S^T S + lam I)^-1 S^T T over users with rows on both sides."""
    x = r.toarray().astype(np.float64)
    s, t = x[:, item_domain != d], x[:, item_domain == d]
    both = (s.sum(1) > 0) & (t.sum(1) > 0)
    s, t = s[both], t[both]
    return np.linalg.solve(s.T @ s + lam * np.eye(s.shape[1]), s.T @ t)


@pytest.mark.parametrize("n_users", [15, 60])       # 15: dual (user Gram), 60: primal (item Gram)
def test_full_rank_blocks_reproduce_the_ridge_scores(n_users):
    rng = np.random.default_rng(0)
    item_domain = np.repeat([0, 1], [20, 14])
    rng.shuffle(item_domain)
    r = _matrix(n_users, len(item_domain), 0.2, seed=n_users)
    um, im, _ = cross_map_blocks(r, item_domain, lam=3.0, rank=20)
    assert um.shape == (n_users, 40) and im.shape == (len(item_domain), 40)
    scores = um @ im.T                                     # (n_users, n_items)
    x = r.toarray()
    for d in (0, 1):
        w = _ridge(r, item_domain, d, 3.0)
        want = x[:, item_domain != d] @ w                  # every user, d's items
        assert np.allclose(scores[:, item_domain == d], want, atol=1e-4)
        # an item's vector lives in its own domain's block only
        assert (im[item_domain == d][:, 20 * (1 - d):20 * (2 - d)] == 0).all()


def test_low_rank_map_keeps_the_top_singular_values():
    rng = np.random.default_rng(1)
    w = rng.normal(size=(40, 5)) @ rng.normal(size=(5, 30)) + 1e-3 * rng.normal(size=(40, 30))
    wt = torch.from_numpy(w)
    a, sig, b = randomized_svd(lambda x: wt @ x, lambda y: wt.T @ y, w.shape, rank=5, seed=0)
    assert np.allclose(sig, np.linalg.svd(w, compute_uv=False)[:5], rtol=1e-6)
    assert np.abs((a * sig) @ b.T - w).max() < 1e-2


def test_cold_users_get_scores_from_their_other_domain():
    """A user with rows in domain 0 only scores domain-1 items through the bridge users; a
    user without any row scores nothing."""
    item_domain = np.repeat([0, 1], [6, 6])
    rows = [(u, i) for u in range(8) for i in (u % 3, 6 + u % 3)]        # bridge users: i <-> 6 + i
    rows += [(8, 1)]                                                    # user 8: domain 0 only
    users, items = zip(*rows)
    r = sp.csr_matrix((np.ones(len(rows), np.float32), (users, items)), shape=(10, 12))
    um, im, _ = cross_map_blocks(r, item_domain, lam=1.0, rank=6)
    s = um @ im.T
    assert np.argmax(s[8, 6:]) == 1                        # item 1's partner, 7
    assert np.allclose(s[9], 0.0)


def test_in_sample_users_get_their_own_items_back_as_lambda_falls():
    """The identity of the module docstring: for a fitted user u,
    s_u W = T_u - lam e_u^T (K + lam I)^-1 T, so a small lambda returns u's own target items
    (when the source histories of the fitted users are linearly independent)."""
    r = _matrix(15, 50, 0.25, seed=3)                     # 15 users, 30 source items: K invertible
    item_domain = np.repeat([0, 1], [30, 20])
    x = r.toarray().astype(np.float64)
    s, t = x[:, :30], x[:, 30:]
    both = (s.sum(1) > 0) & (t.sum(1) > 0)
    s, t = s[both], t[both]
    k = s @ s.T
    for lam in (10.0, 0.01):
        pred = s @ _ridge(r, item_domain, 1, lam)
        assert np.allclose(pred, t - lam * np.linalg.solve(k + lam * np.eye(len(k)), t), atol=1e-8)
    assert np.abs(s @ _ridge(r, item_domain, 1, 1e-4) - t).max() < 1e-2


def _pairs(r: sp.csr_matrix, item_domain: np.ndarray) -> np.ndarray:
    """(n_users, D) bool: user has train rows in domain d (warm pair)."""
    act = np.zeros((r.shape[0], int(item_domain.max()) + 1), bool)
    coo = r.tocoo()
    act[coo.row, item_domain[coo.col]] = True
    return act


def _scores(head: CrossMapHead) -> np.ndarray:
    return (head.user_map @ head.item_map.T).numpy()


def test_warm_pairs_can_have_their_own_weight_and_lambda():
    """Same lambda: one map (D*k dims), warm pairs' blocks reweighted; two lambdas: two stacked
    maps (2*D*k), cold pairs scored by the first, warm pairs by the second, each standardised."""
    n_users, rank = 30, 20
    item_domain = np.repeat([0, 1], [20, 14])
    r = _matrix(n_users, len(item_domain), 0.2, seed=4)
    warm = _pairs(r, item_domain)
    dom = item_domain
    one = CrossMapHead(r, item_domain, alpha=0.4, lam=3.0, rank=rank)
    same = CrossMapHead(r, item_domain, alpha=0.4, lam=3.0, rank=rank, warm_alpha=0.4, warm_lam=3.0)
    assert one.n_maps == same.n_maps == 1 and torch.equal(one.user_map, same.user_map)
    half = CrossMapHead(r, item_domain, alpha=0.4, lam=3.0, rank=rank, warm_alpha=0.2)
    assert half.user_map.shape == (n_users, 2 * rank) and half.n_maps == 1
    s1, sh = _scores(one), _scores(half)
    for d in (0, 1):
        cols = dom == d
        assert np.allclose(sh[warm[:, d]][:, cols], 0.5 * s1[warm[:, d]][:, cols], atol=1e-6)
        assert np.allclose(sh[~warm[:, d]][:, cols], s1[~warm[:, d]][:, cols], atol=1e-6)

    two = CrossMapHead(r, item_domain, alpha=0.4, lam=3.0, rank=rank, warm_alpha=0.6, warm_lam=0.1)
    assert two.n_maps == 2 and two.user_map.shape == (n_users, 4 * rank)
    st = _scores(two)
    x = r.toarray()
    for lam, alpha, rows in ((3.0, 0.4, ~warm), (0.1, 0.6, warm)):
        um, im = (torch.from_numpy(a) for a in cross_map_blocks(r, item_domain, lam, rank)[:2])
        scale = alpha / float(pair_std(um, im, two.pair_users, two.pair_items))
        for d in (0, 1):
            want = x[:, dom != d] @ _ridge(r, item_domain, d, lam) * scale
            assert np.allclose(st[rows[:, d]][:, dom == d], want[rows[:, d]], atol=1e-4)
    for blocks, rows in ((slice(0, 2 * rank), warm), (slice(2 * rank, 4 * rank), ~warm)):
        u = two.user_map[:, blocks].numpy().reshape(n_users, 2, rank)
        assert (u[rows] == 0).all()                        # each map serves its own pairs only


def test_joint_lightgcn_appends_the_map_at_scoring_time_only(tiny):
    torch.manual_seed(0)
    plain = build_model(_ctx(tiny, "cd-lightgcn-text", dim=8))
    torch.manual_seed(0)
    m = build_model(_ctx(tiny, "cd-lightgcn-text", dim=8, cross_map=0.5, cross_map_rank=4))
    u0, v0 = plain.embeddings()
    u, v = m.embeddings()
    n_dom = len(tiny.domains)
    assert u.shape[1] == 8 + 4 * n_dom and v.shape[1] == u.shape[1]
    head = m.cross_head
    s0 = (u0[head.pair_users] * v0[head.pair_items]).sum(1).std()
    assert torch.allclose(u[:, :8] * s0, u0, atol=1e-5) and torch.equal(v[:, :8], v0)
    um, im = u[:, 8:], v[:, 8:]
    s_map = (um[head.pair_users] * im[head.pair_items]).sum(1).std()
    assert s_map.item() == pytest.approx(0.5, rel=1e-4)    # alpha x unit std
    m.train()
    assert m().users.shape[1] == 8                                # the loss never sees the map


def test_bad_cross_map_settings_are_errors(tiny):
    with pytest.raises(ValueError, match=r"model.cross_map must be >= 0"):
        build_model(_ctx(tiny, "cd-lightgcn-text", cross_map=-0.1))
    with pytest.raises(ValueError, match=r"model.cross_map_lambda must be > 0"):
        build_model(_ctx(tiny, "cd-lightgcn", cross_map=0.2, cross_map_lambda=0))
    with pytest.raises(ValueError, match=r"model.cross_map_lambda_warm must be > 0"):
        build_model(_ctx(tiny, "cd-lightgcn", cross_map=0.2, cross_map_lambda_warm=-1))
    with pytest.raises(ValueError, match=r"model.cross_map_warm must be int or float, got str 'high'"):
        build_model(_ctx(tiny, "cd-lightgcn", cross_map=0.2, cross_map_warm="high"))
    with pytest.raises(ValueError, match="need alpha > 0"):
        CrossMapHead(_matrix(30, 20, 0.3, seed=2), np.repeat([0, 1], 10), alpha=0.2, lam=0.0, rank=4)


def test_run_with_the_map_exports_and_reloads_the_same_vectors(tmp_path):
    """The map is not in the checkpoint: load_run rebuilds it from the train split, exactly."""
    from gnnrec.export.contract import load_export
    from gnnrec.train import load_run, train_run
    from tests.train.helpers import quick_cfg

    cfg = quick_cfg(tmp_path, "cm", model_kw={"dim": 8, "layers": 2, "cross_map": 0.3,
                                              "cross_map_rank": 3}, epochs=2)
    res = train_run(cfg, progress=False)
    exp = load_export(res.run_dir / "export")
    assert exp.user_emb.shape[1] == 8 + 3 * 2
    u, v = load_run(res.run_dir, device="cpu").model.embeddings()
    assert np.allclose(exp.user_emb, u.numpy(), atol=1e-6) and np.allclose(exp.item_emb, v.numpy())


def test_the_low_rank_ridge_is_the_ridge_of_the_rank_k_source_matrix(monkeypatch):
    """Beyond DENSE_MAX_SIDE the map is V_k diag(s/(s^2+lam)) U_k^T T: at full rank it is the exact
    ridge solution, and cross_map_blocks switches to it (sparse products only)."""
    import gnnrec.models.cross_map as cm

    r = _matrix(40, 30, 0.25, seed=6).astype(np.float64)
    s, t = r[:, :14].tocsr(), r[:, 14:].tocsr()
    lam = 2.0
    exact = np.linalg.solve(s.T.toarray() @ s.toarray() + lam * np.eye(14), s.T.toarray() @ t.toarray())
    a, sig, b = cm.low_rank_ridge(s, t, lam, rank=14, seed=0)
    np.testing.assert_allclose((a * sig) @ b.T, exact, atol=1e-8)
    item_domain = np.repeat([0, 1], [14, 16])
    dense_u, dense_i, _ = cross_map_blocks(r, item_domain, lam, rank=16)    # full rank: both exact
    monkeypatch.setattr(cm, "DENSE_MAX_SIDE", 5)
    low_u, low_i, _ = cross_map_blocks(r, item_domain, lam, rank=16)
    np.testing.assert_allclose(low_u @ low_i.T, dense_u @ dense_i.T, atol=1e-5)


def test_map_blocks_are_cached_by_everything_they_depend_on(tmp_path, monkeypatch):
    import gnnrec.models.cross_map as cm

    item_domain = np.repeat([0, 1], [20, 14])
    r = _matrix(30, len(item_domain), 0.2, seed=5)
    um, im, _ = cm.cached_blocks(r, item_domain, lam=3.0, rank=8, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npy"))) == 3                       # users, items, rows
    calls = []
    real = cm.cross_map_blocks
    monkeypatch.setattr(cm, "cross_map_blocks", lambda *a, **k: calls.append(a) or real(*a, **k))
    um2, im2, _ = cm.cached_blocks(r, item_domain, lam=3.0, rank=8, cache_dir=tmp_path)
    assert not calls and np.array_equal(um, um2) and np.array_equal(im, im2)   # a hit, bit for bit
    cm.cached_blocks(r, item_domain, lam=1.0, rank=8, cache_dir=tmp_path)      # another lambda
    r2 = r.tolil()
    r2[0, 0] = 0 if r[0, 0] else 1
    r2 = sp.csr_matrix(r2)
    cm.cached_blocks(r2, item_domain, lam=3.0, rank=8, cache_dir=tmp_path)     # another train matrix
    assert len(calls) == 2 and len(list(tmp_path.glob("*.npy"))) == 9
    victim = sorted(tmp_path.glob("*-items.npy"))[0]
    victim.write_bytes(b"not an array")                                        # corrupted: recomputed
    calls.clear()
    for lam, mat in ((3.0, r), (1.0, r), (3.0, r2)):
        cm.cached_blocks(mat, item_domain, lam=lam, rank=8, cache_dir=tmp_path)
    assert len(calls) == 1


def test_a_head_with_a_cache_matches_one_without(tmp_path):
    item_domain = np.repeat([0, 1], [20, 14])
    r = _matrix(30, len(item_domain), 0.2, seed=6)
    plain = CrossMapHead(r, item_domain, alpha=0.2, lam=3.0, rank=6, warm_lam=0.5, warm_alpha=0.4)
    for _ in range(2):                                     # write, then read
        cached = CrossMapHead(r, item_domain, alpha=0.2, lam=3.0, rank=6, warm_lam=0.5, warm_alpha=0.4,
                              cache_dir=tmp_path)
        assert torch.equal(plain.user_map, cached.user_map) and torch.equal(plain.item_map, cached.item_map)
