"""Variational bipartite graph encoders (VBGE): the building blocks of DisenCDR and CDRIB.

Both papers (Cao et al., SIGIR 2022 / ICDE 2022) encode one domain's
user-item graph with the same layers; this module holds them once.

**Operators.** One domain ``d`` with ``n_u`` users and ``n_i`` items (local
item indices) and the 0/1 train matrix ``A`` (n_u, n_i) gives the *mean
aggregation* (row-normalised, no self-loops) operators::

    UV = D_u^-1 A      (n_u, n_i): items -> users      VU = D_i^-1 A^T   (n_i, n_u): users -> items

(:class:`DomainGraph`; a node without train edges has a zero row). They are
not symmetric, so the backward product uses the stored transposes
(:func:`gnnrec.graph.spmm_with_transpose`); nothing dense of size n x n is ever built.

**Graph convolution** (official ``GraphConvolution`` + LeakyReLU(0.1))::

    GC(x, P) = LeakyReLU_0.1( P (x W) + b )      x: (n_in, d_in), P: (n_out, n_in), W: (d_in, d_out)

computed as ``(P x) W`` when ``n_out <= n_in`` (or when several heads share
``P x``) and as ``P (x W)`` otherwise -- the same product, with the dense
``d x d`` multiplication on the side with fewer rows. ``W`` is stored as an
``nn.Linear`` (its ``weight`` is the official ``W`` transposed).

**Hidden layer** (official ``DGCNLayer``), users ``u`` (n_u, d), items ``v`` (n_i, d)::

    U  = GC_out^u( GC_in^u(u, VU), UV )          V  = GC_out^i( GC_in^i(v, UV), VU )
    u' = ReLU( Lin^u([U | u]) )                   v' = ReLU( Lin^i([V | v]) )      Lin: 2d -> d

**Gaussian head** (official ``LastLayer``): ``h = GC_in^u(u, VU)``, then mean
and log-std through two convolutions sharing ``h`` and the sparse product::

    mu = Lin_mu([GC_mu(h, UV) | u])      l = Lin_l([GC_l(h, UV) | u])
    sigma(l) = exp(0.1 + 0.9 softplus(min(l, clamp)))                  (>= exp(0.1) = 1.105)

and the same for items (``GC_in^i`` over UV, heads over VU). Training samples
``z = mu + eps * sigma`` (eps ~ N(0, I)); evaluation uses ``z = mu``.

**KL term** (:func:`gauss_kl`): ``KL(N(mu1, s1) || N(mu2, s2))`` summed over
dimensions, averaged over rows -- the official ``kl_divergence(...).mean(0).sum()``.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn
from torch.nn import functional as F

from gnnrec.graph import spmm_with_transpose, to_torch_csr

LEAKY = 0.1            # LeakyReLU slope of every graph convolution (official --leakey)


def sigma_of(logstd: torch.Tensor, clamp: float | None = None) -> torch.Tensor:
    """The papers' standard deviation transform ``exp(0.1 + 0.9 softplus(min(l, clamp)))``."""
    if clamp is not None:
        logstd = torch.clamp_max(logstd, clamp)
    return torch.exp(0.1 + 0.9 * F.softplus(logstd))


def gauss_kl(mu1: torch.Tensor, s1: torch.Tensor, mu2: torch.Tensor | float,
             s2: torch.Tensor | float) -> torch.Tensor:
    """``KL(N(mu1, s1^2) || N(mu2, s2^2))`` per element, summed over dims, averaged over rows.

    mu1, s1: (n, d); mu2, s2: (n, d) tensors or scalars (a fixed prior). Returns a scalar.
    """
    if not torch.is_tensor(s2):
        s2 = torch.full_like(s1, float(s2))
    kl = torch.log(s2 / s1) + (s1 ** 2 + (mu1 - mu2) ** 2) / (2 * s2 ** 2) - 0.5
    return kl.mean(0).sum()


def _csr(m: sp.spmatrix, device: torch.device) -> torch.Tensor:
    m = m.tocsr()
    m.sort_indices()
    return to_torch_csr(m, device)


class DomainGraph:
    """Mean-aggregation operators of one domain's train graph (module docstring).

    users, items: (E,) train edges, items as *local* indices in [0, n_items);
    duplicate edges count once.
    """

    def __init__(self, users: np.ndarray, items: np.ndarray, n_users: int, n_items: int,
                 device: torch.device | str = "cpu") -> None:
        a = sp.coo_matrix((np.ones(len(users), np.float32), (np.asarray(users), np.asarray(items))),
                          shape=(n_users, n_items)).tocsr()
        a.data[:] = 1.0
        du = np.asarray(a.sum(1)).ravel()
        di = np.asarray(a.sum(0)).ravel()
        inv_u = np.where(du > 0, 1.0 / np.maximum(du, 1), 0.0).astype(np.float32)
        inv_i = np.where(di > 0, 1.0 / np.maximum(di, 1), 0.0).astype(np.float32)
        uv = sp.diags(inv_u) @ a                    # (n_u, n_i)
        vu = sp.diags(inv_i) @ a.T.tocsr()          # (n_i, n_u)
        device = torch.device(device)
        self.n_users, self.n_items, self.nnz = n_users, n_items, int(a.nnz)
        self._uv, self._uv_t = _csr(uv, device), _csr(uv.T, device)
        self._vu, self._vu_t = _csr(vu, device), _csr(vu.T, device)

    def to_users(self, x: torch.Tensor) -> torch.Tensor:
        """``UV @ x``: item rows (n_i, k) -> user rows (n_u, k), the mean over each user's items."""
        return spmm_with_transpose(self._uv, self._uv_t, x)

    def to_items(self, x: torch.Tensor) -> torch.Tensor:
        """``VU @ x``: user rows (n_u, k) -> item rows (n_i, k), the mean over each item's users."""
        return spmm_with_transpose(self._vu, self._vu_t, x)

    def sizes(self, to: str) -> tuple[int, int]:
        """(rows in, rows out) of ``to_users`` (``to="users"``) or ``to_items``."""
        return (self.n_items, self.n_users) if to == "users" else (self.n_users, self.n_items)


def graph_conv(g: DomainGraph, to: str, x: torch.Tensor, lins: Sequence[nn.Linear]) -> list[torch.Tensor]:
    """``[LeakyReLU(P (x W_k) + b_k) for each Linear k]`` with ``P`` = ``g.to_users`` or ``g.to_items``.

    The heads share one sparse product: ``(P x) W_k`` when that is cheaper
    (fewer output rows, or several heads), else ``P (x [W_1 .. W_K])``.
    """
    n_in, n_out = g.sizes(to)
    prop: Callable[[torch.Tensor], torch.Tensor] = g.to_users if to == "users" else g.to_items
    d_in, k = x.shape[1], len(lins)
    d_out = sum(lin.out_features for lin in lins)
    first = g.nnz * d_in + n_out * d_in * d_out            # propagate, then project
    second = n_in * d_in * d_out + g.nnz * d_out           # project, then propagate
    if first <= second:
        px = prop(x)
        return [F.leaky_relu(lin(px), LEAKY) for lin in lins]
    w = torch.cat([lin.weight for lin in lins], 0) if k > 1 else lins[0].weight
    out = prop(x @ w.T)
    outs = out.split([lin.out_features for lin in lins], 1) if k > 1 else (out,)
    return [F.leaky_relu(o + lin.bias, LEAKY) for o, lin in zip(outs, lins)]


def _union(lin: nn.Linear, prop: torch.Tensor, own: torch.Tensor) -> torch.Tensor:
    """``lin([prop | own])`` (official ``*_union``: concatenation order [propagated, self])."""
    return lin(torch.cat([prop, own], 1))


class VBGELayer(nn.Module):
    """Hidden layer (module docstring); ``items=False`` keeps the user path only."""

    def __init__(self, d: int, items: bool = True) -> None:
        super().__init__()
        self.user_in, self.user_out, self.user_union = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(2 * d, d)
        self.has_items = items
        if items:
            self.item_in, self.item_out, self.item_union = (nn.Linear(d, d), nn.Linear(d, d),
                                                            nn.Linear(2 * d, d))

    def users(self, g: DomainGraph, u: torch.Tensor) -> torch.Tensor:
        """(n_u, d) -> (n_u, d): users -> their items -> back to users, merged with the input."""
        h = graph_conv(g, "items", u, [self.user_in])[0]
        return F.relu(_union(self.user_union, graph_conv(g, "users", h, [self.user_out])[0], u))

    def items(self, g: DomainGraph, v: torch.Tensor) -> torch.Tensor:
        """(n_i, d) -> (n_i, d): items -> their users -> back to items, merged with the input."""
        h = graph_conv(g, "users", v, [self.item_in])[0]
        return F.relu(_union(self.item_union, graph_conv(g, "items", h, [self.item_out])[0], v))


class VBGEHead(nn.Module):
    """Gaussian last layer: (mean, log-std) of users and items (module docstring)."""

    def __init__(self, d: int, items: bool = True) -> None:
        super().__init__()
        self.user_in, self.user_mean, self.user_logstd = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.user_union_mean, self.user_union_logstd = nn.Linear(2 * d, d), nn.Linear(2 * d, d)
        self.has_items = items
        if items:
            self.item_in, self.item_mean, self.item_logstd = (nn.Linear(d, d), nn.Linear(d, d),
                                                              nn.Linear(d, d))
            self.item_union_mean, self.item_union_logstd = nn.Linear(2 * d, d), nn.Linear(2 * d, d)

    def users(self, g: DomainGraph, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(n_u, d) -> (mu, logstd), each (n_u, d)."""
        h = graph_conv(g, "items", u, [self.user_in])[0]
        pm, pl = graph_conv(g, "users", h, [self.user_mean, self.user_logstd])
        return _union(self.user_union_mean, pm, u), _union(self.user_union_logstd, pl, u)

    def items(self, g: DomainGraph, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(n_i, d) -> (mu, logstd), each (n_i, d)."""
        h = graph_conv(g, "users", v, [self.item_in])[0]
        pm, pl = graph_conv(g, "items", h, [self.item_mean, self.item_logstd])
        return _union(self.item_union_mean, pm, v), _union(self.item_union_logstd, pl, v)


class VBGE(nn.Module):
    """``layers - 1`` hidden layers and a Gaussian head over one domain graph.

    :meth:`forward` returns the hidden outputs and the head's Gaussians of
    users and items; dropout (``p``) is applied to the inputs of every layer
    in training (official ``singleVBGE`` / CDRIB ``VBGE``).
    """

    def __init__(self, d: int, layers: int, dropout: float, items: bool = True) -> None:
        super().__init__()
        self.hidden = nn.ModuleList(VBGELayer(d, items) for _ in range(layers - 1))
        self.head = VBGEHead(d, items)
        self.p = dropout

    def forward(self, g: DomainGraph, u: torch.Tensor, v: torch.Tensor
                ) -> tuple[list[torch.Tensor], list[torch.Tensor], tuple[torch.Tensor, torch.Tensor],
                           tuple[torch.Tensor, torch.Tensor]]:
        """(hidden user outputs, hidden item outputs, (mu_u, logstd_u), (mu_v, logstd_v))."""
        hu, hv = [], []
        for layer in self.hidden:
            u, v = F.dropout(u, self.p, self.training), F.dropout(v, self.p, self.training)
            u, v = layer.users(g, u), layer.items(g, v)
            hu.append(u)
            hv.append(v)
        u, v = F.dropout(u, self.p, self.training), F.dropout(v, self.p, self.training)
        return hu, hv, self.head.users(g, u), self.head.items(g, v)

    def user_gaussian(self, g: DomainGraph, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Users only: (mu, logstd) of the head; dropout before the hidden layers only
        (official ``forward_user_share``)."""
        for layer in self.hidden:
            u = layer.users(g, F.dropout(u, self.p, self.training))
        return self.head.users(g, u)


def normal_table(n: int, d: int) -> nn.Parameter:
    """(n, d) N(0, 1) ID table: ``nn.Embedding``'s default initialisation, as in the official code."""
    return nn.Parameter(torch.randn(n, d))
