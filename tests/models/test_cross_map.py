"""Cross-domain item map (gnnrec.models.cross_map): the ridge solution, its low-rank
factorisation and the exact inner product the joint LightGCN models append at scoring time."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from gnnrec.models import build_model
from gnnrec.models.cross_map import cross_map_blocks, randomized_svd
from tests.models.test_models import _ctx


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
    um, im = cross_map_blocks(r, item_domain, lam=3.0, rank=20)
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
    um, im = cross_map_blocks(r, item_domain, lam=1.0, rank=6)
    s = um @ im.T
    assert np.argmax(s[8, 6:]) == 1                        # item 1's partner, 7
    assert np.allclose(s[9], 0.0)


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
    ut, _ = m()
    assert ut.shape[1] == 8                                # the loss never sees the map


def test_bad_cross_map_settings_are_errors(tiny):
    with pytest.raises(ValueError, match="cross_map"):
        build_model(_ctx(tiny, "cd-lightgcn-text", cross_map=-0.1))
    with pytest.raises(ValueError, match="lambda"):
        build_model(_ctx(tiny, "cd-lightgcn", cross_map=0.2, cross_map_lambda=0))


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


def test_a_map_too_large_for_a_dense_solve_is_refused(monkeypatch):
    import gnnrec.models.cross_map as cm
    monkeypatch.setattr(cm, "MAX_GRAM", 5)
    r = _matrix(30, 20, 0.3, seed=2)
    with pytest.raises(ValueError, match="set model.cross_map=0"):
        cross_map_blocks(r, np.repeat([0, 1], 10), lam=1.0, rank=4)
