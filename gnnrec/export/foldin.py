"""Fold-in: a user vector for a user unknown to the export, from exported item vectors alone.

A history is a set H of item rows (any domain). With ``V`` the exported item
matrix (n_items, dim) and ``d_i`` the train degree of item i (column sums of
the export's ``seen`` matrix, at least 1), the rules are

* ``mean``      u = (1/|H|) sum_{i in H} V[i]
* ``lightgcn``  u = sum_{i in H} V[i] / sqrt(|H| d_i) -- one symmetric-normalised
  propagation step, the LightGCN user update e_u = sum_i e_i / sqrt(d_u d_i)
* ``unit_mean`` u = (1/|H|) sum_{i in H} V[i] / ||V[i]||

Only the direction of u matters for one user's ranking (scores are ``V @ u``).
The rule an export uses is ``manifest["foldin"]["rule"]`` (default ``mean``);
:func:`gnnrec.export.quality.choose_foldin_rule` picks it on validation
cold-start users at export time (`gnnrec export`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

RULES: dict[str, str] = {
    "mean": "u = mean of the history's item vectors",
    "lightgcn": "u = sum_i V[i] / sqrt(|H| * deg_i), deg_i = train degree of item i "
                "(one LightGCN propagation step from the item vectors)",
    "unit_mean": "u = mean of the history's L2-normalised item vectors",
}
DEFAULT_RULE = "mean"


def describe(rule: str) -> dict[str, str]:
    """The manifest entry for ``rule``: ``{"rule": ..., "description": ...}``."""
    check_rule(rule)
    return {"rule": rule, "description": RULES[rule]}


def check_rule(rule: str) -> None:
    if rule not in RULES:
        raise ValueError(f"unknown fold-in rule {rule!r}; expected one of {sorted(RULES)}")


def item_degrees(seen: sp.spmatrix | None, n_items: int) -> np.ndarray:
    """Train degree of every item, (n_items,) float32, clipped below at 1."""
    if seen is None:
        return np.ones(n_items, dtype=np.float32)
    deg = np.asarray((seen != 0).sum(axis=0)).ravel().astype(np.float32)
    return np.maximum(deg, 1.0)


def foldin_matrix(history: sp.csr_matrix, item_emb: np.ndarray, rule: str,
                  degrees: np.ndarray | None = None) -> np.ndarray:
    """User vectors (n_users, dim) for a binary history matrix (n_users, n_items).

    Rows with an empty history give the zero vector.
    """
    check_rule(rule)
    h = sp.csr_matrix(history, dtype=np.float32, copy=True)
    h.data[:] = 1.0
    size = np.asarray(h.sum(axis=1)).ravel()
    size[size == 0] = 1.0
    v = np.asarray(item_emb, dtype=np.float32)
    if rule == "unit_mean":
        norm = np.linalg.norm(v, axis=1, keepdims=True)
        v = v / np.where(norm == 0, 1.0, norm)
        w = sp.diags(1.0 / size) @ h
    elif rule == "lightgcn":
        deg = degrees if degrees is not None else np.ones(v.shape[0], np.float32)
        w = sp.diags(1.0 / np.sqrt(size)) @ h @ sp.diags(1.0 / np.sqrt(deg))
    else:
        w = sp.diags(1.0 / size) @ h
    return np.asarray(w @ v, dtype=np.float32)


def foldin_weights(rows: np.ndarray, item_emb: np.ndarray, rule: str,
                   degrees: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(distinct rows (h,), weights (h,) float64) with ``u = sum_j w_j V[j]`` for every rule:
    ``mean`` w_j = 1/|H|, ``lightgcn`` w_j = 1/sqrt(|H| d_j), ``unit_mean`` w_j = 1/(|H| ||V[j]||)
    (0 for a zero row). The fold-in is linear in the history's item vectors, so a fold-in
    user's score ``u . V[i] = sum_j w_j V[j] . V[i]`` splits exactly over the history."""
    check_rule(rule)
    rows = np.unique(np.asarray(rows, dtype=np.int64))
    h = max(len(rows), 1)
    if rule == "unit_mean":
        norm = np.linalg.norm(np.asarray(item_emb[rows], dtype=np.float64), axis=1)
        w = np.divide(1.0, h * norm, out=np.zeros(len(rows)), where=norm > 0)
    elif rule == "lightgcn":
        deg = degrees[rows].astype(np.float64) if degrees is not None else np.ones(len(rows))
        w = 1.0 / np.sqrt(h * deg)
    else:
        w = np.full(len(rows), 1.0 / h)
    return rows, w


def foldin_vector(rows: np.ndarray, item_emb: np.ndarray, rule: str,
                  degrees: np.ndarray | None = None) -> np.ndarray:
    """User vector (dim,) for one history given as item row indices (h,).

    Same result as the matching row of :func:`foldin_matrix`, computed on the
    history's rows only (the serving path: O(h * dim)): ``sum_j w_j V[j]`` with the
    weights of :func:`foldin_weights`.
    """
    rows, w = foldin_weights(rows, item_emb, rule, degrees)
    if len(rows) == 0:
        return np.zeros(item_emb.shape[1], dtype=np.float32)
    return (w[None, :] @ np.asarray(item_emb[rows], dtype=np.float64))[0].astype(np.float32)


def rule_of(manifest: dict[str, Any]) -> str:
    """The fold-in rule an export documents (``mean`` when it documents none)."""
    rule = (manifest.get("foldin") or {}).get("rule", DEFAULT_RULE)
    check_rule(rule)
    return rule
