"""Closed-form cross-domain item map, appended to a model's vectors as an exact inner product.

For each target domain d, a ridge regression (EASE-like, fitted on the train
matrix) maps a user's items in the *other* domains to scores of d's items::

    W_d = argmin_W ||T - S W||^2 + lam ||W||^2 = (S^T S + lam I)^-1 S^T T
        =  S^T (S S^T + lam I)^-1 T                      (push-through identity)

with ``S`` (n_b, n_src) the source-domain columns and ``T`` (n_b, n_d) the
domain-d columns of the binary train matrix, over the n_b users with train
rows on both sides (bridge users; a user cold in d has no row in T and is
not fitted). ``W_d`` is never formed. Up to :data:`DENSE_MAX_SIDE` unknowns
(the smaller of n_b and n_src) the ridge system is factorised once (dense
Cholesky of the Gram matrix) and ``W_d`` is factorised to rank k by a
randomized SVD that only ever multiplies by ``W_d`` or ``W_d^T`` (Halko et al.
2011), ``W_d ~ A_d B_d^T``. Beyond it -- platform-size catalogues -- the map is
the *low-rank ridge* (:func:`low_rank_ridge`): ``S ~ U_k S_k V_k^T`` by a
randomized SVD of the sparse ``S`` itself (sparse products only, memory
O(nnz + (n_src + n_d) * k), no solve), and ``W_d = V_k diag(s/(s^2+lam))
U_k^T T``, the ridge solution of the rank-k ``S``: directions of ``S`` beyond
the top k, whose weight ``s/(s^2 + lam)`` the ridge already damps, are left
out. Either way the map is served in ``D * k`` extra dimensions::

    U_map[u] = [s_u^(1) A_1, .., s_u^(D) A_D]          (s_u^(d): u's train row outside d)
    V_map[i] = [0, .., B_d[i], .., 0]                    (d = domain of i)
    U_map[u] . V_map[i] = s_u^(d) A_d B_d[i]^T ~ (s_u^(d) W_d)_i

A cold user's score for d's items is then what the bridge users' co-purchases
predict from the user's other domains; warm users get the same cross-domain
term. :class:`CrossMapHead` standardises the model's score and the map's
score by their standard deviations over a fixed sample of (user, item) pairs
and appends ``alpha * U_map / s_map`` to ``U / s_model``::

    score(u, i) = U[u] . V[i] / s_model + alpha * U_map[u] . V_map[i] / s_map

Used by the joint LightGCN models (``model.cross_map: alpha > 0``) at scoring
time only: the map is fitted on the same train rows the model trains on, so
its train-pair scores are optimistic and it does not enter the loss.

Cold and warm (user, domain) pairs are different regimes of the regression: a
user cold in d has no row in T, so the map predicts out of sample, where a
strong ridge (large lambda) generalises; a user warm in d is one of the rows
the map is fitted on. For such a u (``K = S S^T``, ``k_u = K e_u``)::

    s_u W_d = k_u^T (K + lam I)^-1 T = T_u - lam e_u^T (K + lam I)^-1 T

u's own train items (masked at evaluation) plus the items of the users v with
a negative entry ``[(K + lam I)^-1]_uv`` -- users whose source histories are
partially correlated with u's --, a user-based signal that sharpens as lambda
falls and exists in sample only. Hence a
separate ``warm_lam`` / ``warm_alpha`` for warm pairs (``model.cross_map_lambda_warm``,
``model.cross_map_warm``); by default both regimes share one map.
"""

from __future__ import annotations

import hashlib
import os
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from gnnrec.graph.facts import domain_activity
from gnnrec.utils.config import ConfigError

DENSE_MAX_SIDE = 12_000  # exact ridge up to this many unknowns (dense Cholesky, <= 1.1 GB float64)
CACHE_FORMAT = "gnnrec-cross-map/2"


def _spmul(m: sp.spmatrix, x: torch.Tensor) -> torch.Tensor:
    """``m @ x`` for a scipy sparse ``m`` and a float64 tensor ``x``."""
    return torch.from_numpy(np.asarray(m @ x.numpy(), dtype=np.float64))


def _solver(s: sp.csr_matrix, t: sp.csr_matrix, lam: float):
    """(matvec, rmatvec) of ``W = (S^T S + lam I)^-1 S^T T`` for dense float64 (n, q) blocks:
    the ridge system of the smaller side (dual ``K = S S^T + lam I`` when n_b <= n_src, using
    ``W = S^T K^-1 T``; else the primal ``G = S^T S + lam I``), factorised once by Cholesky."""
    n_b, n_src = s.shape
    dual = n_b <= n_src
    st, tt = s.T.tocsr(), t.T.tocsr()
    gm = torch.from_numpy(((s @ st) if dual else (st @ s)).toarray().astype(np.float64))
    gm.diagonal().add_(lam)
    chol = torch.linalg.cholesky(gm)

    def solve(x: torch.Tensor) -> torch.Tensor:
        return torch.cholesky_solve(x, chol)

    if dual:
        return (lambda x: _spmul(st, solve(_spmul(t, x))),      # S^T K^-1 T x
                lambda y: _spmul(tt, solve(_spmul(s, y))))      # T^T K^-1 S y
    return (lambda x: solve(_spmul(st, _spmul(t, x))),          # G^-1 S^T T x
            lambda y: _spmul(tt, _spmul(s, solve(y))))          # T^T S G^-1 y


def low_rank_ridge(s: sp.csr_matrix, t: sp.csr_matrix, lam: float, rank: int, seed: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``W ~ A diag(sig) B^T`` from the rank-``rank`` SVD of ``S`` (randomized, sparse products only):
    ``S ~ U_k S_k V_k^T`` gives ``W = V_k diag(s / (s^2 + lam)) U_k^T T`` exactly for that ``S``;
    returns ``(A = V_k (n_src, k), sig (k,), B = T^T U_k (n_d, k))``. Memory O(nnz + (n_src + n_d) k)."""
    st = s.T.tocsr()
    u, sv, v = randomized_svd(lambda x: _spmul(s, x), lambda y: _spmul(st, y), s.shape, rank, seed,
                              power=2)
    b = np.asarray(t.T @ u, dtype=np.float64)                       # (n_d, k) = T^T U_k
    return v, sv / (sv ** 2 + lam), b


def randomized_svd(matvec, rmatvec, shape: tuple[int, int], rank: int, seed: int,
                   oversample: int = 16, power: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-``rank`` SVD ``(U (m, r), sigma (r,), V (n, r))`` of an (m, n) operator given by
    ``matvec(X (n, q)) = W X`` and ``rmatvec(Y (m, q)) = W^T Y`` (float64 tensors)."""
    m, n = shape
    q = min(rank + oversample, m, n)
    gen = torch.Generator().manual_seed(seed)
    y = matvec(torch.randn(n, q, generator=gen, dtype=torch.float64))
    for _ in range(power):                                # subspace iteration, re-orthonormalised
        qm, _ = torch.linalg.qr(y)
        z, _ = torch.linalg.qr(rmatvec(qm))
        y = matvec(z)
    qm, _ = torch.linalg.qr(y)
    b = rmatvec(qm).T                                     # (q, n) = Q^T W
    ub, sig, vt = torch.linalg.svd(b, full_matrices=False)
    r = min(rank, q)
    return (qm @ ub[:, :r]).numpy(), sig[:r].numpy(), vt[:r].T.numpy()


class MapBlocks(NamedTuple):
    """The blocks of one map (float32): ``users`` (n_users, D*k) = ``U_map``, ``items``
    (n_items, D*k) = ``V_map``, and ``rows`` (n_items, D*k): the user side as a function of a
    history, ``U_map[u] = r_u @ rows`` (``rows[j]`` = ``A_d[j]`` in block d for items j outside
    d, zero for d's own items) -- what a fold-in of a new user's history needs."""

    users: np.ndarray
    items: np.ndarray
    rows: np.ndarray


def cross_map_blocks(r: sp.csr_matrix, item_domain: np.ndarray, lam: float, rank: int,
                     seed: int = 0) -> MapBlocks:
    """The :class:`MapBlocks` of the module docstring.

    ``r``: binary (n_users, n_items) train matrix; ``item_domain``: (n_items,) domain index.
    Domain d's map ``W_d ~ A_d B_d^T`` at rank ``k`` (:func:`randomized_svd` of the ridge
    solve), so ``U_map[u] = [s_u^(d) A_d]_d``, ``V_map[i] = B_d[i]`` in i's block. A domain
    with no user on both sides contributes a zero block.
    """
    r = sp.csr_matrix(r, dtype=np.float64)
    ublocks, iblocks, rblocks = [], [], []
    for d in range(int(item_domain.max()) + 1):
        src, tgt = np.flatnonzero(item_domain != d), np.flatnonzero(item_domain == d)
        ub = np.zeros((r.shape[0], rank), np.float32)
        ib = np.zeros((r.shape[1], rank), np.float32)
        rb = np.zeros((r.shape[1], rank), np.float32)
        s_all, t_all = r[:, src].tocsr(), r[:, tgt].tocsr()
        both = np.flatnonzero((s_all.getnnz(axis=1) > 0) & (t_all.getnnz(axis=1) > 0))
        if len(src) and len(both):
            s_b, t_b = s_all[both], t_all[both]
            if min(s_b.shape) <= DENSE_MAX_SIDE:
                a, sig, b = randomized_svd(*_solver(s_b, t_b, lam), (len(src), len(tgt)), rank, seed + d)
            else:
                a, sig, b = low_rank_ridge(s_b, t_b, lam, rank, seed + d)
            k = len(sig)
            ub[:, :k] = np.asarray(s_all @ (a * sig), dtype=np.float32)
            ib[tgt, :k] = b
            rb[src, :k] = a * sig
        ublocks.append(ub)
        iblocks.append(ib)
        rblocks.append(rb)
    return MapBlocks(np.hstack(ublocks), np.hstack(iblocks), np.hstack(rblocks))


def cached_blocks(r: sp.csr_matrix, item_domain: np.ndarray, lam: float, rank: int, seed: int = 0,
                  cache_dir: str | os.PathLike | None = None) -> MapBlocks:
    """:func:`cross_map_blocks`, read from / written to an on-disk cache under ``cache_dir``.

    The key is the sha256 of the train matrix (pattern and values), ``item_domain``,
    ``lam``, ``rank`` and ``seed`` -- everything the blocks depend on --, so a
    reloaded run (evaluate, export, serve) or another seed of the same config
    skips the solve; the arrays come back bit for bit. ``cache_dir`` None: no cache.
    """
    if cache_dir is None:
        return cross_map_blocks(r, item_domain, lam, rank, seed)
    from gnnrec.text.cache import EmbeddingCache

    r = sp.csr_matrix(r)
    r.sort_indices()
    h = hashlib.sha256(f"{CACHE_FORMAT}\x00{r.shape}\x00{float(lam)!r}\x00{rank}\x00{seed}\x00".encode())
    for arr in (r.indptr, r.indices, np.asarray(item_domain)):
        h.update(np.ascontiguousarray(arr, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(r.data, dtype=np.float64).tobytes())
    key = h.hexdigest()
    cache = EmbeddingCache(cache_dir)
    sides = (("users", r.shape[0]), ("items", r.shape[1]), ("rows", r.shape[1]))
    hits = [cache.load(f"{key}-{side}", n) for side, n in sides]
    if all(hit is not None for hit in hits):
        return MapBlocks(*(hit[0] for hit in hits))
    blocks = cross_map_blocks(r, item_domain, lam, rank, seed)
    meta = {"kind": "cross-map", "lambda": float(lam), "rank": rank, "seed": seed}
    for (side, _), arr in zip(sides, blocks):
        cache.save(f"{key}-{side}", arr, {**meta, "side": side})
    return blocks


def _pair_sample(n_users: int, n_items: int, sample: int = 4096, seed: int = 0
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed sample of ``sample`` (user, item) index pairs, uniform, for :func:`pair_std`."""
    gen = torch.Generator().manual_seed(seed)
    pu = torch.randint(0, n_users, (sample,), generator=gen)
    return pu, torch.randint(0, n_items, (sample,), generator=gen)


def pair_std(u: torch.Tensor, v: torch.Tensor, pu: torch.Tensor, pi: torch.Tensor) -> torch.Tensor:
    """Std of the scores ``U[pu] . V[pi]`` over a sample of (user, item) pairs (at least 1e-12)."""
    return (u[pu] * v[pi]).sum(1).float().std().clamp_min(1e-12)


class CrossMapHead(nn.Module):
    """Appends the standardised cross-domain map (module docstring) to final (U, V).

    ``alpha`` / ``lam`` serve the cold (user, domain) pairs -- u has no train row
    in d, so u is outside the fit of ``W_d`` --, ``warm_alpha`` / ``warm_lam``
    (default: the same) the warm ones, which are inside it. With one lambda the
    map takes ``D * k`` dimensions and only its user blocks' weights differ
    (alpha or warm_alpha by pair); with two lambdas, two maps are stacked
    (``2 * D * k``: the cold map's blocks first, zero for warm pairs, then the
    warm map's, zero for cold pairs), still one inner product.

    Buffers (not in checkpoints: rebuilt from the train split, or read from
    :func:`cached_blocks`' cache under ``cache_dir``): ``user_map``
    (n_users, n_maps*D*k), ``item_map`` (n_items, n_maps*D*k), each map's
    user blocks scaled by ``alpha / s_map`` of its pairs, and the fixed sample
    of pairs ``(pair_users, pair_items)`` used for every standard deviation.
    """

    def __init__(self, r: sp.csr_matrix, item_domain: np.ndarray, alpha: float, lam: float,
                 rank: int, device: torch.device | str = "cpu", seed: int = 0,
                 sample: int = 4096, warm_alpha: float | None = None,
                 warm_lam: float | None = None, cache_dir: str | os.PathLike | None = None) -> None:
        super().__init__()
        warm_alpha = alpha if warm_alpha is None else float(warm_alpha)
        warm_lam = lam if warm_lam is None else float(warm_lam)
        if alpha <= 0 or warm_alpha < 0 or min(lam, warm_lam) <= 0 or rank < 1:
            raise ConfigError(f"cross map: need alpha > 0, warm alpha >= 0, lambdas > 0 and rank >= 1, "
                              f"got alpha {alpha}, warm alpha {warm_alpha}, lambda {lam}, "
                              f"warm lambda {warm_lam}, rank {rank}")
        coo = sp.coo_matrix(r)
        warm = torch.from_numpy(domain_activity(coo.row, item_domain[coo.col], r.shape[0],
                                                int(item_domain.max()) + 1))      # (n_users, D)
        per_pair = torch.where(warm, warm_alpha, alpha).float()
        maps = [(lam, per_pair)] if warm_lam == lam else \
            [(lam, per_pair * ~warm), (warm_lam, per_pair * warm)]
        pu, pi = _pair_sample(r.shape[0], r.shape[1], sample, seed)
        self.rank, self.n_maps = rank, len(maps)              # each map: D blocks of `rank` columns
        n_dom = int(item_domain.max()) + 1
        users, items, rows = [], [], []
        self.block_weights: list[tuple[float, float]] = []   # (cold, warm) weight of each block
        for m, (map_lam, weight) in enumerate(maps):
            blocks = cached_blocks(r, item_domain, map_lam, rank, seed, cache_dir)
            um, im = torch.from_numpy(blocks.users), torch.from_numpy(blocks.items)
            s_map = float(pair_std(um, im, pu, pi))
            users.append(um * (weight.repeat_interleave(rank, dim=1) / s_map))
            items.append(im)
            rows.append(blocks.rows)
            cold_w = alpha if (len(maps) == 1 or m == 0) else 0.0
            warm_w = warm_alpha if (len(maps) == 1 or m == 1) else 0.0
            self.block_weights += [(cold_w / s_map, warm_w / s_map)] * n_dom
        self.item_rows = np.hstack(rows)                      # (n_items, n_maps*D*k), for fold-in
        self.register_buffer("user_map", torch.cat(users, 1).to(device), persistent=False)
        self.register_buffer("item_map", torch.cat(items, 1).to(device), persistent=False)
        self.register_buffer("pair_users", pu.to(device), persistent=False)
        self.register_buffer("pair_items", pi.to(device), persistent=False)

    def foldin_blocks(self, domains: list[str]) -> list[dict]:
        """Per map block: columns in ``item_rows``, its domain name, cold and warm pair weights."""
        n_dom = len(domains)
        return [{"start": b * self.rank, "width": self.rank, "domain": domains[b % n_dom],
                 "cold_weight": cw, "warm_weight": ww} for b, (cw, ww) in enumerate(self.block_weights)]

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``users`` (n_users, k), ``items`` (n_items, k) -> (n_users, k + D*r), (n_items, k + D*r)."""
        s_model = pair_std(users, items, self.pair_users, self.pair_items)
        return (torch.cat([users / s_model, self.user_map.to(users.dtype)], 1),
                torch.cat([items, self.item_map.to(items.dtype)], 1))
