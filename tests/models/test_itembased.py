"""Item-based recommenders (gnnrec.models.itembased) against dense brute-force references."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from gnnrec.models.itembased import (EaseMemoryError, ease_factors, ease_lowrank_factors, ease_weights,
                                     itemknn_weights, rp3beta_weights, topk_columns)


def _binary(n_users: int = 50, n_items: int = 30, density: float = 0.25, seed: int = 0) -> sp.csr_matrix:
    """Random binary matrix with one empty item column and one empty user row (edge cases)."""
    rng = np.random.default_rng(seed)
    x = (rng.random((n_users, n_items)) < density).astype(np.float32)
    x[:, 3] = 0.0
    x[7] = 0.0
    return sp.csr_matrix(x)


def _weighted(n_users: int = 50, n_items: int = 30, seed: int = 1) -> sp.csr_matrix:
    """Same pattern with random positive values: no ties, so top-k selections are unique."""
    r = _binary(n_users, n_items, seed=seed)
    r.data = np.random.default_rng(seed).uniform(0.5, 2.0, size=r.nnz).astype(np.float32)
    return r


# ----------------------------------------------------------------------------- EASE

def _ease_bruteforce(x: np.ndarray, lam: float) -> np.ndarray:
    """Column j: ridge regression of x_j on the other columns (the zero-diagonal constraint)."""
    n = x.shape[1]
    b = np.zeros((n, n))
    for j in range(n):
        o = np.delete(np.arange(n), j)
        xo = x[:, o]
        b[o, j] = np.linalg.solve(xo.T @ xo + lam * np.eye(n - 1), xo.T @ x[:, j])
    return b


@pytest.mark.parametrize("lam", [0.5, 5.0, 100.0])
def test_ease_equals_the_constrained_ridge_solved_column_by_column(lam):
    r = _binary()
    w = ease_weights(r, lam, method="primal")
    assert w.dtype == np.float32 and w.shape == (30, 30)
    ref = _ease_bruteforce(r.toarray().astype(np.float64), lam)
    np.testing.assert_allclose(w, ref, atol=2e-6 * max(1.0, np.abs(ref).max()))
    assert np.all(np.diag(w) == 0)


def test_ease_satisfies_kkt():
    """Gradient of ||X - XB||^2 + lam ||B||^2 vanishes off the diagonal (multipliers on it only)."""
    x = _binary(seed=3).toarray().astype(np.float64)
    lam = 2.0
    b = ease_weights(sp.csr_matrix(x), lam, method="primal").astype(np.float64)
    grad = -x.T @ (x - x @ b) + lam * b
    off = grad - np.diag(np.diag(grad))
    assert np.abs(off).max() < 1e-4 * np.abs(grad).max()
    assert np.abs(np.diag(grad)).max() > 1e-3               # the constraint is active


@pytest.mark.parametrize("shape", [(50, 30), (20, 45)])
@pytest.mark.parametrize("lam", [1.0, 30.0])
def test_ease_dual_equals_primal(shape, lam):
    r = _binary(*shape, seed=5)
    primal = ease_weights(r, lam, method="primal")
    dual = ease_weights(r, lam, method="dual")
    np.testing.assert_allclose(dual, primal, atol=1e-5 * max(1.0, np.abs(primal).max()))
    assert np.all(np.diag(dual) == 0)
    assert ease_weights(r, lam).shape == primal.shape          # auto picks one of them


def test_ease_float32_primal_is_close_to_float64():
    r = _binary(seed=6)
    np.testing.assert_allclose(ease_weights(r, 10.0, method="primal", dtype=np.float32),
                               ease_weights(r, 10.0, method="primal"), atol=1e-4)


@pytest.mark.parametrize("shape", [(50, 30), (20, 45)])
def test_ease_factors_give_the_exact_scores(shape):
    r = _binary(*shape, seed=7)
    lam = 4.0
    w = ease_weights(r, lam, method="primal").astype(np.float64)
    f = ease_factors(r, lam)
    assert f.user.shape == (shape[0], shape[0]) and f.item.shape == (shape[1], shape[0])
    s = r.toarray() @ w
    np.testing.assert_allclose(f.scores(r), s, atol=1e-5)
    np.testing.assert_allclose(f.scores(r, np.array([2, 9])), s[[2, 9]], atol=1e-5)
    unseen = r.toarray() == 0                                  # the bare inner product off the train items
    np.testing.assert_allclose((f.user @ f.item.T.toarray())[unseen], s[unseen], atol=1e-5)
    for j in (0, 3, shape[1] - 1):
        np.testing.assert_allclose(f.weights_column(r, j), w[:, j], atol=1e-5)
    g = r.toarray().T @ r.toarray() + lam * np.eye(shape[1])
    np.testing.assert_allclose(f.diag, np.diag(np.linalg.inv(g)), rtol=1e-9)


def test_ease_lowrank_is_exact_at_full_rank_and_an_approximation_below():
    r = _binary(seed=8)
    lam = 3.0
    s = r.toarray() @ ease_weights(r, lam, method="primal").astype(np.float64)
    q, sv, vt = np.linalg.svd(r.toarray().astype(np.float64), full_matrices=False)
    full = int((sv > 1e-9).sum())
    u, v = ease_lowrank_factors(r, lam, full, svd=(q, sv, vt))
    assert u.shape == (50, full) and v.shape == (30, full)
    np.testing.assert_allclose(r.toarray() + u @ v.T, s, atol=1e-5)
    u5, v5 = ease_lowrank_factors(r, lam, 5, svd=(q, sv, vt))
    err = np.abs(r.toarray() + u5 @ v5.T - s).max()
    assert err > 1e-3                                          # truncation really drops something
    u5s, v5s = ease_lowrank_factors(r, lam, 5)                 # ARPACK path: same rank-5 product
    np.testing.assert_allclose(u5s @ v5s.T, u5 @ v5.T, atol=1e-4)
    exact = ease_factors(r, lam).diag
    ue, ve = ease_lowrank_factors(r, lam, full, svd=(q, sv, vt), diag=exact)
    np.testing.assert_allclose(r.toarray() + ue @ ve.T, s, atol=1e-5)


def test_ease_refuses_what_does_not_fit_and_says_why():
    r = _binary()
    with pytest.raises(EaseMemoryError) as e:
        ease_weights(r, 10.0, method="primal", max_bytes=1000)
    msg = str(e.value)
    assert "n_items=30" in msg and "available" in msg and "ease_factors" in msg and "float32" in msg
    with pytest.raises(EaseMemoryError):
        ease_factors(r, 10.0, max_bytes=1000)
    with pytest.raises(Exception, match="lam > 0"):
        ease_weights(r, 0.0)


# ----------------------------------------------------------------------------- ItemKNN

def _cosine_shrink(x: np.ndarray, shrink: float) -> np.ndarray:
    norm = np.sqrt((x ** 2).sum(0))
    den = np.outer(norm, norm) + shrink
    sim = np.zeros_like(den)
    np.divide(x.T @ x, den, out=sim, where=den > 0)
    np.fill_diagonal(sim, 0.0)
    return sim


def _topk_dense(m: np.ndarray, k: int, axis: int) -> np.ndarray:
    """Dense top-k by value along columns (axis 0) or rows (axis 1), zeros dropped; stable order."""
    out = np.zeros_like(m)
    mm = m if axis == 0 else m.T
    oo = out if axis == 0 else out.T
    for j in range(mm.shape[1]):
        idx = np.argsort(-mm[:, j], kind="stable")[:k]
        oo[idx, j] = mm[idx, j]
    return out


def _assert_topk_columns(w: np.ndarray, full: np.ndarray, k: int) -> None:
    """Tie-robust: kept values are the full ones, exactly min(k, #nonzero) per column, none better dropped."""
    for j in range(full.shape[1]):
        kept = w[:, j] != 0
        nz = full[:, j] != 0
        assert kept.sum() == min(k, nz.sum()), (j, kept.sum(), nz.sum())
        np.testing.assert_allclose(w[kept, j], full[kept, j], rtol=1e-6)
        dropped = nz & ~kept
        if dropped.any():
            assert full[kept, j].min() >= full[dropped, j].max() - 1e-7


@pytest.mark.parametrize("k", [1, 5, 29, 100])
@pytest.mark.parametrize("shrink", [0.0, 10.0])
def test_itemknn_keeps_the_top_k_shrunk_cosines_per_column(k, shrink):
    r = _binary(seed=2)
    w = itemknn_weights(r, k, shrink)
    assert isinstance(w, sp.csr_matrix) and w.dtype == np.float32
    full = _cosine_shrink(r.toarray().astype(np.float64), shrink)
    wd = w.toarray()
    assert np.all(np.diag(wd) == 0)
    _assert_topk_columns(wd, full, k)


@pytest.mark.parametrize("k", [3, 10])
def test_itemknn_matches_dense_bruteforce_without_ties(k):
    r = _weighted()
    full = _cosine_shrink(r.toarray().astype(np.float64), 5.0)
    np.testing.assert_allclose(itemknn_weights(r, k, 5.0).toarray(), _topk_dense(full, k, 0),
                               rtol=1e-6, atol=1e-8)


def test_itemknn_blocks_do_not_change_the_result():
    r = _binary(seed=4)
    a = itemknn_weights(r, 7, 2.0)
    b = itemknn_weights(r, 7, 2.0, block_bytes=8 * 30 * 3)        # 3 columns per block
    assert (abs(a - b) > 0).nnz == 0


# ----------------------------------------------------------------------------- RP3beta

def _rp3beta_dense(x: np.ndarray, alpha: float, beta: float, k: int, normalize: bool) -> np.ndarray:
    rs = x.sum(1, keepdims=True)
    p_ui = np.divide(x, rs, out=np.zeros_like(x), where=rs > 0)
    b = (x != 0).astype(np.float64).T
    deg = b.sum(1, keepdims=True)
    p_iu = np.divide(b, deg, out=np.zeros_like(b), where=deg > 0)
    w = (p_iu ** alpha) @ (p_ui ** alpha)
    pop = deg.ravel()
    scale = np.zeros_like(pop)
    np.power(pop, -beta, out=scale, where=pop > 0)
    w = w * scale[None, :]
    np.fill_diagonal(w, 0.0)
    w = _topk_dense(w, k, axis=1)
    if normalize:
        s = np.abs(w).sum(1, keepdims=True)
        w = np.divide(w, s, out=np.zeros_like(w), where=s > 0)
    return _topk_dense(w, k, axis=0)


@pytest.mark.parametrize("alpha,beta", [(1.0, 0.0), (0.5, 0.6), (0.8, 0.2)])
@pytest.mark.parametrize("k", [4, 12, 100])
@pytest.mark.parametrize("normalize", [True, False])
def test_rp3beta_matches_dense_bruteforce(alpha, beta, k, normalize):
    r = _weighted(seed=11)
    w = rp3beta_weights(r, alpha, beta, k, normalize=normalize)
    assert isinstance(w, sp.csr_matrix) and w.dtype == np.float32
    ref = _rp3beta_dense(r.toarray().astype(np.float64), alpha, beta, k, normalize)
    np.testing.assert_allclose(w.toarray(), ref, rtol=1e-5, atol=1e-9)
    wd = w.toarray()
    assert np.all(np.diag(wd) == 0)
    assert (wd != 0).sum(1).max() <= k and (wd != 0).sum(0).max() <= k


def test_rp3beta_binary_row_pass_keeps_exactly_k_and_blocks_agree():
    r = _binary(seed=12)
    x = r.toarray().astype(np.float64)
    big = rp3beta_weights(r, 0.7, 0.3, 1000, normalize=False).toarray()   # nothing dropped
    full = _rp3beta_dense(x, 0.7, 0.3, 1000, normalize=False)
    np.testing.assert_allclose(big, full, rtol=1e-5, atol=1e-9)
    k = 6
    w = rp3beta_weights(r, 0.7, 0.3, k, normalize=False, block_bytes=8 * 30 * 4).toarray()
    assert np.all(np.diag(w) == 0)
    # every row keeps min(k, #nonzero) entries before the column pass; with normalize=False the
    # column pass only removes entries, so rows keep <= k and columns keep <= k of the full values
    assert (w != 0).sum(1).max() <= k and (w != 0).sum(0).max() <= k
    kept = w != 0
    np.testing.assert_allclose(w[kept], full[kept], rtol=1e-5)
    per_row = np.minimum(k, (full != 0).sum(1))
    assert (kept.sum(1) <= per_row).all() and kept.sum() > 0.5 * per_row.sum()


def test_topk_columns_keeps_the_largest_per_column():
    m = np.array([[0, 3, 1], [5, 0, 2], [4, 1, 0], [1, 2, 7]], dtype=np.float64)
    out = topk_columns(sp.csr_matrix(m), 2).toarray()
    np.testing.assert_array_equal(out, [[0, 3, 0], [5, 0, 2], [4, 0, 0], [0, 2, 7]])
