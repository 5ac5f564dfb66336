"""Training-free item-based recommenders: EASE, ItemKNN (cosine + shrink) and RP3beta.

The strong simple baselines of Dacrema, Cremonesi and Jannach, "Are we really
making much progress? A worrying analysis of recent neural recommendation
approaches" (RecSys 2019). Each model is an item-item weight matrix ``W``
(n_items, n_items) with a zero diagonal, computed in closed form from the
binary train matrix ``R`` (n_users, n_items) of
:meth:`gnnrec.data.schema.Dataset.train_matrix`; scores are::

    S = R @ W                  S[u, i] = r_u . W[:, i]

an inner product of the user vector ``r_u`` (u's train row, n_items) and the
item vector ``W[:, i]`` (n_items). Pure numpy / scipy; no model class (the
wrapping into :class:`gnnrec.models.base.Recommender` lives elsewhere).

* :func:`ease_weights` -- Steck (WWW 2019), dense float32 ``W``; primal solve on
  the item side or dual solve on the user side (``method``).
* :func:`ease_factors` -- the same model without any n_items^2 array: exact
  scores ``S = R + U V^T`` with ``U`` (n_users, n_users) dense and ``V``
  (n_items, n_users) sparse; for catalogues whose dense ``W`` does not fit.
* :func:`ease_lowrank_factors` -- a rank-r approximation ``S ~ R + U_r V_r^T``
  of modest dimension (see its docstring for what it is exactly).
* :func:`itemknn_weights` -- cosine with shrinkage, top-k per item column, sparse.
* :func:`rp3beta_weights` -- Paudel et al. (ACM TiiS 2017), sparse.

The sparse models are computed in blocks of items so that no dense
n_items^2 array is formed; peak memory is ``block_bytes`` plus the output.

Large-catalogue EASE (what this module concludes)
-------------------------------------------------
The primal solve costs ~n_items^3 flops and n_items^2 memory (float64: 8 bytes
per entry, plus 4 for the float32 output). When n_users < n_items the
push-through identity moves the solve to the user side::

    P = (R^T R + lam I)^-1 = (I - R^T K^-1 R) / lam,      K = R R^T + lam I  (n_users^2)

so the cubic cost becomes n_users^3 and the rest is sparse-dense products
(nnz(R) * n_items flops). ``W = I - P diag(P)^-1`` itself is still dense
n_items^2, but the *scores* never need it::

    R P = (R - (K - lam I) K^-1 R) / lam = K^-1 R
    S = R W = R - K^-1 R D^-1,          D = diag(P),  P_ii = (1 - r_i^T K^-1 r_i) / lam

(``r_i`` = column i of R). That is an exact inner product: user vector
``K^-1[u]`` (n_users), item vector ``-R[:, i] / P_ii`` (n_users, as sparse as
the item's column), plus ``R`` itself, which only touches the user's train
items (masked at evaluation). So EASE is servable with dimension n_users
instead of n_items; it never needs an n_items^2 array. A dimension well below
min(n_users, n_items) is only available approximately: with the SVD
``R = Q diag(s) V^T``, ``K^-1 R = Q diag(s / (s^2 + lam)) V^T``, whose
component weights ``s / (s^2 + lam)`` peak at ``s = sqrt(lam)`` and fall only
as ``1/s`` above it, so truncating to the r largest singular values drops the
components around ``sqrt(lam)`` that EASE weights most unless ``s_{r+1} <<
sqrt(lam)`` (see :func:`ease_lowrank_factors`; the study
``experiments/itembased.py`` measures the loss).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from gnnrec.errors import GnnrecError

BLOCK_BYTES = 1 << 27          # 128 MiB: dense work block of the sparse models (float64)


class EaseMemoryError(GnnrecError, MemoryError):
    """The dense EASE solve does not fit in memory; the message names the sizes and the fixes."""


# ----------------------------------------------------------------------------- helpers

def _as_csr(R: sp.spmatrix | np.ndarray, dtype: type = np.float64) -> sp.csr_matrix:
    if not sp.issparse(R):
        R = sp.csr_matrix(np.asarray(R))
    if R.ndim != 2:
        raise GnnrecError(f"R must be a 2-D (n_users, n_items) matrix, got shape {R.shape}")
    out = sp.csr_matrix(R, dtype=dtype, copy=True)
    out.sum_duplicates()
    out.eliminate_zeros()
    return out


def available_bytes() -> int:
    """Memory this process may still allocate: MemAvailable of /proc/meminfo (Linux), else total RAM."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 1 << 62


def _gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB"


def _spd_inverse_(A: np.ndarray) -> np.ndarray:
    """Inverse of the symmetric positive definite ``A`` by Cholesky (LAPACK potrf + potri), in place.

    ``A`` (n, n) C-contiguous float32/float64 is overwritten and returned as
    the full symmetric inverse; no second n^2 array is allocated (potri fills
    one triangle, which is mirrored block by block).
    """
    n = A.shape[0]
    F = A.T                                            # F-contiguous view, equal values (symmetric)
    potrf, potri = scipy.linalg.get_lapack_funcs(("potrf", "potri"), (F,))
    c, info = potrf(F, lower=False, clean=False, overwrite_a=True)
    if info != 0:
        raise GnnrecError(f"Cholesky failed (LAPACK info {info}): the Gram matrix is not positive "
                          f"definite; lam must be > 0")
    c, info = potri(c, lower=False, overwrite_c=True)
    if info != 0:
        raise GnnrecError(f"Cholesky inverse failed (LAPACK info {info})")
    bs = max(1, min(n, (1 << 24) // max(n, 1)))
    for b0 in range(0, n, bs):                        # c[i, j] is valid for i <= j: mirror it
        b1 = min(n, b0 + bs)
        c[b0:b1, :b0] = c[:b0, b0:b1].T
        blk = c[b0:b1, b0:b1]
        blk[...] = np.triu(blk) + np.triu(blk, 1).T
    return np.ascontiguousarray(c.T) if not np.shares_memory(c, A) else A


def _blocks(n: int, width: int, block_bytes: int) -> list[tuple[int, int]]:
    """Contiguous [lo, hi) ranges of ``n`` so that one (hi - lo, width) float64 block fits ``block_bytes``."""
    step = max(1, int(block_bytes) // (8 * max(width, 1)))
    return [(lo, min(n, lo + step)) for lo in range(0, n, step)]


def _topk_rows(block: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-``k`` entries by value of every row of ``block`` (c, n), zeros dropped.

    Returns (row, col, value) of the kept entries. Among equal values at the
    k-th place the choice is arbitrary (``np.argpartition``).
    """
    c, n = block.shape
    if k < n:
        idx = np.argpartition(-block, k - 1, axis=1)[:, :k]
    else:
        idx = np.broadcast_to(np.arange(n), (c, n))
    val = np.take_along_axis(block, idx, axis=1)
    keep = val != 0
    row = np.broadcast_to(np.arange(c)[:, None], idx.shape)
    return row[keep], idx[keep], val[keep]


def topk_columns(W: sp.spmatrix, k: int) -> sp.csr_matrix:
    """Keep the ``k`` largest stored entries of every column of sparse ``W`` (ties: lower row index)."""
    W = sp.csc_matrix(W)
    W.sum_duplicates()
    n_cols = W.shape[1]
    col = np.repeat(np.arange(n_cols), np.diff(W.indptr))
    order = np.lexsort((-W.data, col))                # by column, then value descending (stable)
    rank = np.arange(len(order)) - W.indptr[col[order]]
    keep = np.sort(order[rank < k])
    return sp.csr_matrix((W.data[keep], (W.indices[keep], col[keep])), shape=W.shape)


def _l1_normalize_rows(X: sp.csr_matrix) -> sp.csr_matrix:
    s = np.asarray(abs(X).sum(axis=1)).ravel()
    inv = np.divide(1.0, s, out=np.zeros_like(s, dtype=np.float64), where=s > 0)
    return sp.csr_matrix(sp.diags(inv) @ X)


# ----------------------------------------------------------------------------- EASE

def _check_lam(lam: float) -> float:
    lam = float(lam)
    if not lam > 0:
        raise GnnrecError(f"EASE needs lam > 0 (the Gram matrix must be positive definite), got {lam}")
    return lam


def ease_memory(n_users: int, n_items: int, method: str = "primal",
                dtype: type = np.float64) -> int:
    """Bytes :func:`ease_weights` (``method`` primal | dual) or :func:`ease_factors` (``factors``) needs at peak."""
    isz = np.dtype(dtype).itemsize
    if method == "primal":                             # Gram/inverse in dtype + float32 copy of W
        return n_items ** 2 * isz + (n_items ** 2 * 4 if isz != 4 else 0)
    if method == "dual":                               # K^-1 (float64) + W (float32) + work blocks
        return n_users ** 2 * 8 + n_items ** 2 * 4 + BLOCK_BYTES * 2
    if method == "factors":                            # K^-1 (float64) + its float32 copy + blocks
        return n_users ** 2 * 12 + BLOCK_BYTES * 2
    raise GnnrecError(f"unknown EASE method {method!r}; expected primal, dual or factors")


def _memory_error(n_users: int, n_items: int, method: str, need: int, have: int,
                  dtype: type) -> EaseMemoryError:
    dual = ease_memory(n_users, n_items, "dual")
    fac = ease_memory(n_users, n_items, "factors")
    fixes = []
    if method == "primal" and np.dtype(dtype).itemsize > 4:
        fixes.append(f"dtype=np.float32 (primal needs {_gib(ease_memory(n_users, n_items, 'primal', np.float32))})")
    if method == "primal" and n_users < n_items:
        fixes.append(f"method='dual' (solve on the {n_users:,}-user side; needs {_gib(dual)}, "
                     f"still {_gib(n_items ** 2 * 4)} for the dense float32 W)")
    fixes.append(f"ease_factors(R, lam): exact scores R + U V^T without any n_items^2 array "
                 f"(needs {_gib(fac)})")
    fixes.append("ease_lowrank_factors(R, lam, rank): approximate, O((n_users + n_items) * rank)")
    return EaseMemoryError(
        f"EASE ({method}) on n_items={n_items:,} (n_users={n_users:,}) needs {_gib(need)} "
        f"(a dense n_items x n_items W is {_gib(n_items ** 2 * 4)} in float32) but only "
        f"{_gib(have)} is available; fixes: " + "; ".join(fixes))


def ease_weights(R: sp.spmatrix | np.ndarray, lam: float,
                 method: Literal["auto", "primal", "dual"] = "auto",
                 dtype: type = np.float64, max_bytes: int | None = None) -> np.ndarray:
    """EASE item-item weights (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019).

    Closed form of ``min_B ||R - R B||_F^2 + lam ||B||_F^2  s.t.  diag(B) = 0``::

        G = R^T R + lam I               (n_items, n_items)
        P = G^-1
        B = I - P diag(P)^-1            B_ij = -P_ij / P_jj (i != j),  B_jj = 0

    ``method="primal"``: ``G`` is formed densely in ``dtype`` and inverted in
    place by Cholesky (LAPACK potrf/potri), ~n_items^3 flops.
    ``method="dual"`` (needs no n_items^2 work array besides the output): with
    ``K = R R^T + lam I`` (n_users, n_users), ``P = (I - R^T K^-1 R) / lam``, so
    the Cholesky inverse is n_users^3 and every column block of ``B`` is
    ``(I - P) `` arithmetic on sparse-dense products (nnz(R) * n_items flops in
    all); always float64. ``"auto"``: dual when n_users < n_items, else primal.

    Args:
        R: (n_users, n_items) train matrix (binary in gnnrec; values are used as given).
        lam: ridge strength > 0.
        dtype: primal solve precision; float64 by default, float32 halves its memory.
        max_bytes: memory budget (default: the available memory); exceeding it
            raises :class:`EaseMemoryError` naming the sizes and the fixes.

    Returns:
        ``W`` (n_items, n_items) float32, dense, zero diagonal; scores ``R @ W``.

    Deviations: none from the paper's closed form (the paper uses a generic
    ``inv``; Cholesky is the same inverse for an SPD ``G``).
    """
    lam = _check_lam(lam)
    X = _as_csr(R)
    n_users, n_items = X.shape
    if method == "auto":
        method = "dual" if n_users < n_items else "primal"
    if method not in ("primal", "dual"):
        raise GnnrecError(f"unknown EASE method {method!r}; expected auto, primal or dual")
    need = ease_memory(n_users, n_items, method, dtype)
    have = available_bytes() if max_bytes is None else int(max_bytes)
    if need > have:
        raise _memory_error(n_users, n_items, method, need, have, dtype)
    if method == "primal":
        return _ease_primal(X, lam, dtype)
    return _ease_dual(X, lam)


def _ease_primal(X: sp.csr_matrix, lam: float, dtype: type) -> np.ndarray:
    n = X.shape[1]
    G = np.ascontiguousarray(sp.csr_matrix(X.T @ X, dtype=dtype).toarray())
    G.flat[:: n + 1] += lam
    P = _spd_inverse_(G)
    d = P.diagonal().copy()
    W = np.empty((n, n), dtype=np.float32) if P.dtype != np.float32 else P
    for lo, hi in _blocks(n, n, BLOCK_BYTES):
        W[lo:hi] = P[lo:hi] / -d[None, :]               # B_ij = -P_ij / P_jj
    W.flat[:: n + 1] = 0.0
    return W


def _kinv(X: sp.csr_matrix, lam: float) -> np.ndarray:
    """(R R^T + lam I)^-1, float64, by Cholesky."""
    m = X.shape[0]
    K = np.ascontiguousarray((X @ X.T).toarray(), dtype=np.float64)
    K.flat[:: m + 1] += lam
    return _spd_inverse_(K)


def _dual_diag(XT: sp.csr_matrix, Kinv: np.ndarray, lam: float, lo: int, hi: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """For items lo:hi: ``T = R[:, lo:hi]^T K^-1`` (hi-lo, n_users) and ``P_ii = (1 - r_i^T K^-1 r_i) / lam``."""
    rows = XT[lo:hi]
    T = np.asarray(rows @ Kinv)
    q = np.asarray(rows.multiply(T).sum(axis=1)).ravel()
    return T, (1.0 - q) / lam


def _ease_dual(X: sp.csr_matrix, lam: float) -> np.ndarray:
    m, n = X.shape
    Kinv = _kinv(X, lam)
    XT = sp.csr_matrix(X.T)
    W = np.empty((n, n), dtype=np.float32)
    for lo, hi in _blocks(n, max(n, m), BLOCK_BYTES):
        T, d = _dual_diag(XT, Kinv, lam, lo, hi)        # T = (K^-1 R[:, lo:hi])^T
        RtKR = np.asarray(XT @ T.T)                     # (n, hi-lo) = R^T K^-1 R[:, lo:hi]
        # P[:, lo:hi] = (I - RtKR) / lam ; B = I - P / d  -> off-diagonal  RtKR / (lam d)
        blk = RtKR / (lam * d)[None, :]
        blk[np.arange(lo, hi), np.arange(hi - lo)] = 0.0   # diagonal: 1 - P_jj / P_jj = 0
        W[:, lo:hi] = blk
    return W


@dataclass
class EaseFactors:
    """EASE scores as an exact inner product of dimension n_users (see the module docstring).

    ``S = R @ B = R + user @ item.T`` with

    * ``user`` (n_users, n_users) float32: ``K^-1``, ``K = R R^T + lam I``;
    * ``item`` (n_items, n_users) sparse CSR: row i = ``-R[:, i] / P_ii``;
    * ``diag`` (n_items,) float64: ``P_ii = [(R^T R + lam I)^-1]_ii``.

    The ``R`` term is nonzero on the user's train items only, which every
    ranking masks: ``user[u] . item[i]`` ranks the unseen items exactly as EASE.
    """

    user: np.ndarray
    item: sp.csr_matrix
    diag: np.ndarray
    lam: float

    def scores(self, R: sp.spmatrix, users: np.ndarray | slice | None = None) -> np.ndarray:
        """Dense EASE scores ``(R @ B)[users]`` (float32), exact, including the train items."""
        users = slice(None) if users is None else users
        X = sp.csr_matrix(R)[users]
        return (np.asarray(X.toarray(), dtype=np.float32)
                + np.asarray(self.item @ self.user[users].T).T.astype(np.float32))

    def weights_column(self, R: sp.spmatrix, j: int) -> np.ndarray:
        """Column ``B[:, j]`` (n_items,) of the dense EASE matrix, from the factors (for checks)."""
        X = sp.csr_matrix(R, dtype=np.float64)
        kr = self.user.astype(np.float64) @ X[:, j].toarray().ravel()       # K^-1 r_j
        col = np.asarray(X.T @ kr).ravel() / (self.lam * self.diag[j])
        col[j] = 0.0
        return col


def ease_factors(R: sp.spmatrix | np.ndarray, lam: float,
                 max_bytes: int | None = None) -> EaseFactors:
    """EASE (Steck, WWW 2019) without forming any n_items^2 array: the dual factorisation.

    With ``K = R R^T + lam I`` (n_users, n_users) and ``P = (R^T R + lam I)^-1``::

        P    = (I - R^T K^-1 R) / lam                     (push-through identity)
        P_ii = (1 - r_i^T K^-1 r_i) / lam                 (r_i: column i of R, n_users)
        R P  = K^-1 R
        S = R B = R - R P D^-1 = R + K^-1 (-R D^-1)        D = diag(P)

    i.e. user vector ``K^-1[u]`` and item vector ``-r_i / P_ii`` (both
    n_users-dimensional) plus ``R``. Cost: the Cholesky inverse of ``K``
    (n_users^3 / float64, n_users^2 memory) and ``nnz(R) * n_users`` flops for
    the diagonal. Worth it when n_users < n_items; equal to
    :func:`ease_weights` up to rounding (tested).

    Returns :class:`EaseFactors`. Deviation from the paper: none in the model;
    the solve is on the user side.
    """
    lam = _check_lam(lam)
    X = _as_csr(R)
    n_users, n_items = X.shape
    need = ease_memory(n_users, n_items, "factors")
    have = available_bytes() if max_bytes is None else int(max_bytes)
    if need > have:
        raise _memory_error(n_users, n_items, "factors", need, have, np.float64)
    Kinv = _kinv(X, lam)
    XT = sp.csr_matrix(X.T)
    d = np.empty(n_items)
    for lo, hi in _blocks(n_items, n_users, BLOCK_BYTES):
        d[lo:hi] = _dual_diag(XT, Kinv, lam, lo, hi)[1]
    item = sp.csr_matrix(sp.diags(-1.0 / d) @ XT)
    return EaseFactors(user=Kinv.astype(np.float32), item=item, diag=d, lam=lam)


def ease_lowrank_factors(R: sp.spmatrix | np.ndarray, lam: float, rank: int,
                         svd: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                         diag: np.ndarray | None = None, seed: int = 0
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Rank-``rank`` EASE: user (n_users, rank) and item (n_items, rank) with ``S ~ R + user @ item.T``.

    From the thin SVD ``R = Q diag(s) V^T`` (``s`` descending)::

        K^-1 R = Q diag(s / (s^2 + lam)) V^T                      (exact, all components)
        P_ii   = sum_k V_ik^2 / (s_k^2 + lam) + (1 - sum_k V_ik^2) / lam
        S - R  = -Q diag(s / (s^2 + lam)) V^T D^-1

    Keeping the ``rank`` largest singular values gives ``user = Q_r diag(s_r /
    (s_r^2 + lam))`` and ``item = -V_r / P_ii`` with ``P_ii`` from the same r
    components (the dropped directions count as ``s = 0``: exactly the
    diagonal of ``(R_r^T R_r + lam I)^-1`` for the rank-r approximation R_r,
    an upper bound of the exact one) unless ``diag`` (exact ``P_ii``, e.g.
    :attr:`EaseFactors.diag`) is given. With ``rank >= rank(R)`` this is exact
    EASE (tested). The truncation error of ``S - R`` in spectral norm is at most
    ``max_{k > r} s_k / (s_k^2 + lam) * max_i 1 / P_ii``: small only when
    ``s_{r+1} << sqrt(lam)``, since the weights peak at ``s = sqrt(lam)``.

    Args:
        svd: optional precomputed ``(Q, s, Vt)`` with ``s`` descending and at
            least ``rank`` components; else ``scipy.sparse.linalg.svds`` (ARPACK,
            seeded by ``seed``) computes ``rank`` of them.
    Deviation: an approximation of EASE, not the paper's model, unless ``rank``
    covers the rank of R.
    """
    lam = _check_lam(lam)
    X = _as_csr(R)
    if svd is None:
        from scipy.sparse.linalg import svds
        rng = np.random.default_rng(seed)
        v0 = rng.standard_normal(min(X.shape))
        Q, s, Vt = svds(X, k=rank, v0=v0)
        order = np.argsort(-s)
        Q, s, Vt = Q[:, order], s[order], Vt[order]
    else:
        Q, s, Vt = svd
        if len(s) < rank or np.any(np.diff(s) > 1e-9 * max(1.0, float(s[0]))):
            raise GnnrecError(f"svd must hold >= {rank} components with s descending, got {len(s)}")
    Q, s, V = Q[:, :rank], np.asarray(s[:rank], dtype=np.float64), Vt[:rank].T
    if diag is None:
        v2 = V.astype(np.float64) ** 2
        diag = v2 @ (1.0 / (s ** 2 + lam)) + (1.0 - v2.sum(axis=1)) / lam
    user = (Q * (s / (s ** 2 + lam))[None, :]).astype(np.float32)
    item = (-V / np.asarray(diag)[:, None]).astype(np.float32)
    return user, item


# ----------------------------------------------------------------------------- ItemKNN

def itemknn_weights(R: sp.spmatrix | np.ndarray, k: int, shrink: float = 0.0,
                    block_bytes: int = BLOCK_BYTES) -> sp.csr_matrix:
    """Item-based kNN with shrunk cosine similarity (Dacrema et al. 2019, "ItemKNN-CF").

    With ``r_i`` the column of item i in ``R`` (n_users,)::

        sim(i, j) = r_i . r_j / (||r_i|| ||r_j|| + shrink)        (n_items, n_items)
        W[:, j]   = the k largest off-diagonal sim(., j) (column j's neighbours), rest 0

    Scores ``(R @ W)[u, j] = sum over u's items i among j's k neighbours of sim(i, j)``.
    Computed ``block_bytes`` worth of columns at a time (``R^T R[:, block]``
    densified, top-k by ``np.argpartition``), so memory is that block plus the
    output (at most ``k * n_items`` entries).

    Returns ``W`` (n_items, n_items) sparse CSR float32, zero diagonal, at most
    ``k`` entries per column (exactly ``min(k, #nonzero similarities)``; among
    equal values at the k-th place the kept one is arbitrary).

    Deviations from the reference (``Compute_Similarity_Python``): no ``+ 1e-6``
    in the denominator (a pair with a zero norm has similarity 0 instead);
    no feature weighting (BM25 / TF-IDF are separate options there).
    """
    if k < 1:
        raise GnnrecError(f"k must be >= 1, got {k}")
    if shrink < 0:
        raise GnnrecError(f"shrink must be >= 0, got {shrink}")
    X = sp.csc_matrix(_as_csr(R))
    n = X.shape[1]
    XT = sp.csr_matrix(X.T)
    norm = np.sqrt(np.asarray(X.multiply(X).sum(axis=0)).ravel())
    rows, cols, vals = [], [], []
    for lo, hi in _blocks(n, n, block_bytes):
        num = np.asarray((XT @ X[:, lo:hi]).toarray())               # (n, c) = R^T R[:, lo:hi]
        den = norm[:, None] * norm[None, lo:hi] + shrink
        sim = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
        sim[np.arange(lo, hi), np.arange(hi - lo)] = 0.0
        c, r, v = _topk_rows(sim.T, k)                              # per column of sim
        rows.append(r)
        cols.append(c + lo)
        vals.append(v)
    return sp.csr_matrix((np.concatenate(vals).astype(np.float32),
                          (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))


# ----------------------------------------------------------------------------- RP3beta

def rp3beta_weights(R: sp.spmatrix | np.ndarray, alpha: float, beta: float, k: int,
                    normalize: bool = True, block_bytes: int = BLOCK_BYTES) -> sp.csr_matrix:
    """RP3beta (Paudel, Christoffel, Newell and Bernstein, "Updatable, accurate, diverse, and
    scalable recommendations for interactive applications", ACM TiiS 2017), as in Dacrema
    et al.'s reference ``RP3betaRecommender``.

    A 3-step random walk user -> item -> user -> item, popularity-penalised::

        P_ui = R / rowsum(R)                      (n_users, n_items), rows sum to 1
        P_iu = B^T / rowsum(B^T)                  (n_items, n_users), B = R != 0 (binary)
        W0   = P_iu^alpha @ P_ui^alpha            elementwise power, (n_items, n_items)
        W0[:, j] /= pop(j)^beta                   pop(j) = #users of j (0 stays 0)
        W0[i, i] = 0

    then, exactly as the reference: (1) keep the ``k`` largest entries of every
    **row** i (the items a walk from i reaches), (2) if ``normalize`` (the
    reference's default ``normalize_similarity=True``) divide every row by its
    L1 norm, (3) keep the ``k`` largest entries of every **column** j
    (``similarityMatrixTopK``, column-wise). Rows end with at most ``k`` entries,
    columns with at most ``k``. Scores ``R @ W``: ``(R W)[u, j] = sum_i R_ui W_ij``.

    Computed ``block_bytes`` worth of rows at a time (``W0`` is never dense).
    Returns ``W`` (n_items, n_items) sparse CSR float32 with a zero diagonal.

    Deviations: none intended (the reference's optional ``min_rating`` /
    ``implicit`` preprocessing does not apply to gnnrec's binary ``R``); ties at
    the k-th place are broken arbitrarily (row pass) / by lower row index
    (column pass).
    """
    if k < 1:
        raise GnnrecError(f"k must be >= 1, got {k}")
    X = _as_csr(R)
    n = X.shape[1]
    p_ui = _l1_normalize_rows(X)
    B = sp.csr_matrix(X.T)
    B.data[:] = 1.0
    pop = np.asarray(B.sum(axis=1)).ravel()
    p_iu = _l1_normalize_rows(B)
    if alpha != 1.0:
        p_ui = p_ui.power(alpha)
        p_iu = p_iu.power(alpha)
    scale = np.zeros(n)
    np.power(pop, -float(beta), out=scale, where=pop > 0)
    p_ui = sp.csr_matrix(p_ui @ sp.diags(scale))     # column j / pop(j)^beta, folded in once
    rows, cols, vals = [], [], []
    for lo, hi in _blocks(n, n, block_bytes):
        blk = np.asarray((p_iu[lo:hi] @ p_ui).toarray())             # (c, n)
        blk[np.arange(hi - lo), np.arange(lo, hi)] = 0.0
        r, c, v = _topk_rows(blk, k)
        rows.append(r + lo)
        cols.append(c)
        vals.append(v)
    W = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(n, n))
    if normalize:
        W = _l1_normalize_rows(W)
    W = topk_columns(W, k)
    W.eliminate_zeros()
    return W.astype(np.float32)
