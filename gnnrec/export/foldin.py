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

**Fold-in map.** When part of a user vector is an exact linear function of the
user's history -- the cross-domain item map of :mod:`gnnrec.models.cross_map`,
``U_map[u] = [s_u^(d) A_d]_d`` -- the export carries that function
(:class:`FoldinMap`, file ``foldin_map.npy``), and a history is folded in as
what it is::

    u = [ rule(V[H, :k]) * scale_rule  |  (1_H @ M) * w(H) ]

with ``k`` the model's own dimensions, ``scale_rule`` a calibration (the
median ratio of trained to folded-in norms over the train users, with the
model's score standardisation), ``M`` (n_items, m) the map's user-side rows
(zero where an item lies in the block's own domain) and ``w(H)`` per block the
weight of a cold or a warm (user, domain) pair: cold when ``H`` has no item in
the block's domain. A user whose history equals their train history gets
exactly their trained map part.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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


@dataclass
class FoldinMap:
    """The linear part of a user vector (module docstring).

    ``matrix`` (n_items, m) float32; ``k_model`` the leading dimensions folded in by the rule;
    ``scales`` rule -> multiplier of the rule's output; ``blocks`` one per map block:
    ``{"start", "width", "domain", "cold_weight", "warm_weight"}`` (``domain`` a domain name,
    columns ``start:start+width`` of ``matrix`` = user dimensions ``k_model + start ...``).
    """

    matrix: np.ndarray
    k_model: int
    scales: dict[str, float] = field(default_factory=dict)
    blocks: list[dict[str, Any]] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        """The manifest entry (``matrix`` is the file ``foldin_map.npy``)."""
        return {"file": "foldin_map.npy", "k_model": self.k_model, "scales": self.scales,
                "blocks": self.blocks}

    def item_parts(self, rows: np.ndarray, item_domains: np.ndarray) -> np.ndarray:
        """(h, m) float64: what each distinct history item ``rows`` (h,) adds to that history's map
        dimensions -- its row, each block weighted cold or warm by the history's domains; the sum
        over rows is :meth:`user_part` of the history. Rows past ``matrix`` (items added after the
        export, which no bridge user has) add zeros."""
        known = rows < len(self.matrix)
        out = np.zeros((len(rows), self.matrix.shape[1]), np.float64)
        out[known] = self.matrix[rows[known]]
        doms = np.asarray(item_domains)[rows]
        for b in self.blocks:
            out[:, b["start"]:b["start"] + b["width"]] *= \
                b["warm_weight"] if np.any(doms == b["domain"]) else b["cold_weight"]
        return out

    def user_part(self, history: sp.csr_matrix, item_domains: np.ndarray) -> np.ndarray:
        """(n_users, m) map dimensions of the users with binary ``history`` (n_users, n_items)."""
        h = sp.csr_matrix(history, dtype=np.float32, copy=True)
        h.data[:] = 1.0
        out = np.asarray(h @ self.matrix, dtype=np.float32)
        for b in self.blocks:
            active = np.asarray(h[:, np.flatnonzero(item_domains == b["domain"])].sum(axis=1)).ravel() > 0
            w = np.where(active, b["warm_weight"], b["cold_weight"]).astype(np.float32)
            out[:, b["start"]:b["start"] + b["width"]] *= w[:, None]
        return out


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
                  degrees: np.ndarray | None = None, fmap: FoldinMap | None = None,
                  item_domains: np.ndarray | None = None) -> np.ndarray:
    """User vectors (n_users, dim) for a binary history matrix (n_users, n_items).

    Rows with an empty history give the zero vector. With a :class:`FoldinMap` the leading
    ``k_model`` dimensions follow the rule and the rest the map (module docstring;
    ``item_domains``: (n_items,) domain names).
    """
    if fmap is not None:
        base = foldin_matrix(history, np.asarray(item_emb)[:, :fmap.k_model], rule, degrees)
        return np.hstack([base * np.float32(fmap.scales.get(rule, 1.0)),
                          fmap.user_part(history, np.asarray(item_domains))])
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
                  degrees: np.ndarray | None = None, fmap: FoldinMap | None = None,
                  item_domains: np.ndarray | None = None) -> np.ndarray:
    """User vector (dim,) for one history given as item row indices (h,).

    Same result as the matching row of :func:`foldin_matrix`, computed on the
    history's rows only (the serving path: O(h * dim)): ``sum_j w_j V[j]`` with the
    weights of :func:`foldin_weights`.
    """
    if fmap is not None:
        rows = np.unique(np.asarray(rows, dtype=np.int64))
        base = foldin_vector(rows, np.asarray(item_emb)[:, :fmap.k_model], rule, degrees)
        return np.concatenate([base * np.float32(fmap.scales.get(rule, 1.0)),
                               fmap.item_parts(rows, item_domains).sum(axis=0).astype(np.float32)])
    rows, w = foldin_weights(rows, item_emb, rule, degrees)
    if len(rows) == 0:
        return np.zeros(item_emb.shape[1], dtype=np.float32)
    return (w[None, :] @ np.asarray(item_emb[rows], dtype=np.float64))[0].astype(np.float32)


def rule_of(manifest: dict[str, Any]) -> str:
    """The fold-in rule an export documents (``mean`` when it documents none)."""
    rule = (manifest.get("foldin") or {}).get("rule", DEFAULT_RULE)
    check_rule(rule)
    return rule
