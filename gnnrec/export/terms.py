"""History terms: how an export states that its user vectors are sums over the users' histories.

A model whose user vector is a linear combination of per-row vectors (the
LightGCN family: ``U = sum_l A^l E0 / (L + 1)``; the cross-domain item map;
item-item models; the text-only mean) can hand its export a list of
:class:`HistoryTerm`. Term ``t`` contributes to every user vector::

    U_t[u] = sum_r W_t[u, r] * B_t[r]      placed in columns [offset_t, offset_t + width_t)

with ``W_t`` a sparse (n_users, n_rows) weight matrix and ``B_t`` a dense
(n_rows, width_t) basis, or the identity when ``B_t`` is None (row r is the
unit vector of column ``offset_t + r``: item-item models whose user vector is
the history row itself). ``rows`` says what the rows are:

* ``item`` -- row r is item r and ``W_t[u, r] != 0`` only for items r in u's
  train history: the term's part of ``score(u, i) = U[u] . V[i]`` splits into
  one contribution per history item, ``c_r = W_t[u, r] * B_t[r] . V[i, cols]``;
* ``user`` -- rows are user nodes (the user's own ID embedding and the like):
  the whole term is one named contribution, not a history item.

The score minus every term's part is the *remainder*: what the terms do not
cover (for LightGCN: the other users and items within L hops). Terms are
written under ``explain/`` of the export (:mod:`gnnrec.export.contract`) and
read back by :mod:`gnnrec.export.explain`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

ROWS = ("item", "user")


@dataclass
class HistoryTerm:
    """One additive part of every user vector (module docstring)."""

    name: str                      # short id, e.g. "graph", "user_text", "cross_map_drama"
    rows: str                      # "item" | "user"
    weights: sp.csr_matrix         # (n_users, n_rows) float32
    basis: np.ndarray | None       # (n_rows, width) float32, None = identity (width = n_rows)
    offset: int                    # first column of the export vector this term fills
    label: str = ""                # one line for people: what the term is

    def __post_init__(self) -> None:
        if self.rows not in ROWS:
            raise ValueError(f"history term {self.name!r}: rows must be one of {ROWS}, got {self.rows!r}")
        self.weights = sp.csr_matrix(self.weights, dtype=np.float32)
        self.weights.sort_indices()
        if self.basis is not None:
            self.basis = np.ascontiguousarray(self.basis, dtype=np.float32)
            if self.basis.ndim != 2 or self.basis.shape[0] != self.weights.shape[1]:
                raise ValueError(f"history term {self.name!r}: basis of shape {self.basis.shape} does not "
                                 f"fit weights of shape {self.weights.shape} (one basis row per column)")
        if self.offset < 0:
            raise ValueError(f"history term {self.name!r}: negative column offset {self.offset}")

    @property
    def width(self) -> int:
        return int(self.weights.shape[1] if self.basis is None else self.basis.shape[1])

    def user_part(self, u: int, dim: int) -> np.ndarray:
        """``U_t[u]`` as a full-width (dim,) float32 vector."""
        out = np.zeros(dim, np.float32)
        lo, hi = self.weights.indptr[u], self.weights.indptr[u + 1]
        rows, w = self.weights.indices[lo:hi], self.weights.data[lo:hi]
        if self.basis is None:
            out[self.offset + rows] = w
        else:
            out[self.offset:self.offset + self.width] = w @ self.basis[rows]
        return out

    def contributions(self, u: int, item_vec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rows (h,), contributions (h,) float64) of user ``u`` to the score with item vector
        ``item_vec`` (dim,): ``c_r = W[u, r] * B[r] . item_vec[cols]``."""
        lo, hi = self.weights.indptr[u], self.weights.indptr[u + 1]
        rows, w = self.weights.indices[lo:hi], self.weights.data[lo:hi].astype(np.float64)
        cols = np.asarray(item_vec[self.offset:self.offset + self.width], dtype=np.float64)
        proj = cols[rows] if self.basis is None else self.basis[rows].astype(np.float64) @ cols
        return rows.astype(np.int64), w * proj


def terms_user_matrix(terms: list[HistoryTerm], n_users: int, dim: int) -> np.ndarray:
    """Sum of every term's user vectors, (n_users, dim) float32 (for checks: the part of U the
    terms explain)."""
    out = np.zeros((n_users, dim), np.float32)
    for t in terms:
        block = t.weights.toarray() if t.basis is None else np.asarray(t.weights @ t.basis)
        out[:, t.offset:t.offset + t.width] += block.astype(np.float32)
    return out
