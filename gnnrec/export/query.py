"""Top-K queries against a loaded export: known users, fold-in histories, popularity.

For domain ``d`` with item block ``V_d`` (n_d, dim) the scores of user vector
``u`` (dim,) are ``V_d @ u``; the user's seen items are set to ``-inf`` and
the ``k`` best are returned, highest score first. Three modes:

* ``user``       the user is in the export: its trained vector, seen = train positives;
* ``foldin``     an item history (any domain) is given: u = fold-in of the history
                 by the export's rule (:mod:`gnnrec.export.foldin`), seen = history;
* ``popularity`` unknown user and no usable history: the domain's items by train
                 degree (flagged, scores are train counts).

Per-domain item blocks are precomputed once (contiguous float32), so a query
is one matrix-vector product plus ``argpartition``; a per-domain FAISS index
is used instead when the export has one and the domain is large (or asked).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp

from gnnrec.errors import GnnrecError
from gnnrec.export import ann
from gnnrec.export.contract import Export, ExportError
from gnnrec.export.constants import BACKENDS, MAX_K
from gnnrec.export.foldin import foldin_vector, item_degrees, rule_of

FAISS_MIN_ITEMS = 50_000   # auto backend: below this a matrix product is faster than an index


class QueryError(GnnrecError, ValueError):
    """A bad query (unknown domain or item, k out of range); ``status`` is the HTTP code."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Recommendation:
    """The answer to one query; ``items`` are dicts (item_id, title, score) best first."""

    mode: str                       # "user" | "foldin" | "popularity"
    domain: str
    k: int
    items: list[dict[str, Any]]
    user: str | None = None
    ignored_items: list[str] = field(default_factory=list)
    used_items: int = 0
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mode": self.mode, "domain": self.domain, "k": self.k,
                               "user": self.user, "items": self.items}
        if self.mode == "foldin" or self.ignored_items:
            out["history"] = {"used": self.used_items, "ignored": self.ignored_items}
        if self.note:
            out["note"] = self.note
        return out


@dataclass
class _Block:
    """The items of one domain: global rows (n_d,), vectors (n_d, dim), popularity order,
    and ``seen`` (n_users, n_d) CSR of each user's train positives by local position."""

    rows: np.ndarray
    emb: np.ndarray
    pop_order: np.ndarray | None
    seen: sp.csr_matrix | None
    index: Any = None


class Retriever:
    """Serving-side view of an :class:`Export` (built once, queried many times)."""

    def __init__(self, exp: Export, backend: str = "auto", folder: str | Path | None = None,
                 max_k: int = MAX_K) -> None:
        if backend not in BACKENDS:
            raise QueryError(f"backend {backend!r} is not one of {BACKENDS}")
        if exp.items is None:
            raise ExportError("serving needs each item's domain: add items.tsv (columns item_id, domain"
                              "[, title]) to the embedding folder")
        self.exp = exp
        self.max_k = max_k
        self.foldin_rule = rule_of(exp.manifest)
        self.user_index = {u: i for i, u in enumerate(exp.user_ids)}
        self.item_index = {it: i for i, it in enumerate(exp.item_ids)}
        self.titles = (exp.items["title"].astype(str).tolist() if exp.items is not None
                       else [""] * len(exp.item_ids))
        self._ids_arr = np.asarray(exp.item_ids, dtype=object)
        self._titles_arr = np.asarray(self.titles, dtype=object)
        self.item_domain = exp.item_domains()
        self.degrees = item_degrees(exp.seen, len(exp.item_ids))
        self.local = np.full(len(exp.item_ids), -1, dtype=np.int64)
        self.blocks: dict[str, _Block] = {}
        faiss_info = (exp.manifest.get("extras") or {}).get("faiss")
        for d in exp.domains():
            rows = np.flatnonzero(self.item_domain == d)
            self.local[rows] = np.arange(len(rows))
            pop = None
            if exp.seen is not None:
                pop = rows[np.argsort(-self.degrees[rows], kind="stable")]
            seen = exp.seen[:, rows].tocsr() if exp.seen is not None else None
            block = _Block(rows, np.ascontiguousarray(exp.item_emb[rows], dtype=np.float32), pop,
                           seen)
            use_faiss = backend == "faiss" or (backend == "auto" and len(rows) >= FAISS_MIN_ITEMS
                                               and ann.faiss_available())
            if use_faiss and faiss_info and folder is not None:
                block.index = ann.load_index(Path(folder) / faiss_info["domains"][d]["file"])
            elif backend == "faiss":
                raise ExportError("backend 'faiss' needs an export written with --faiss "
                                  "(and faiss-cpu installed)")
            self.blocks[d] = block
        self.domain_names = list(self.blocks)

    @classmethod
    def load(cls, folder: str | Path, backend: str = "auto", max_k: int = MAX_K) -> "Retriever":
        from gnnrec.export.contract import load_export
        return cls(load_export(folder), backend=backend, folder=folder, max_k=max_k)

    # ---- validation ---------------------------------------------------------
    def _check(self, domain: str, k: int) -> _Block:
        if domain not in self.blocks:
            raise QueryError(f"unknown domain {domain!r}; this export has {self.domain_names}")
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= self.max_k:
            raise QueryError(f"k must be an integer in [1, {self.max_k}], got {k!r}")
        return self.blocks[domain]

    def item(self, item_id: str) -> dict[str, Any]:
        """Metadata of one item; QueryError(404) when unknown."""
        i = self.item_index.get(item_id)
        if i is None:
            raise QueryError(f"unknown item id {item_id!r}", status=404)
        return {"item_id": item_id, "domain": str(self.item_domain[i]), "title": self.titles[i],
                "popularity": int(self.degrees[i]) if self.exp.seen is not None else None}

    # ---- queries ------------------------------------------------------------
    def recommend(self, domain: str, k: int = 10, user: str | None = None,
                  history: Sequence[str] | None = None) -> Recommendation:
        """Top-``k`` items of ``domain``; see the module docstring for the modes."""
        block = self._check(domain, k)
        if history:
            rows, ignored = self._history_rows(history)
            if len(rows):
                vec = foldin_vector(rows, self.exp.item_emb, self.foldin_rule, self.degrees,
                                    self.exp.foldin_map, self.item_domain)
                items = self._top(block, vec, self.local[rows[self.item_domain[rows] == domain]], k)
                return Recommendation("foldin", domain, k, items, user, ignored, len(rows),
                                      note=f"user vector folded in by rule {self.foldin_rule!r}")
            return self._popularity(block, domain, k, user, ignored,
                                    "no history item is known to this export")
        if user is not None and user in self.user_index:
            u = self.user_index[user]
            seen = (block.seen.indices[block.seen.indptr[u]:block.seen.indptr[u + 1]]
                    if block.seen is not None else np.empty(0, np.int64))
            items = self._top(block, self.exp.user_emb[u], seen, k)
            return Recommendation("user", domain, k, items, user)
        why = f"unknown user {user!r} and no history" if user is not None else "no user and no history"
        return self._popularity(block, domain, k, user, [], why)

    def _history_rows(self, history: Sequence[str]) -> tuple[np.ndarray, list[str]]:
        rows, ignored = [], []
        for it in history:
            i = self.item_index.get(str(it))
            (ignored.append(str(it)) if i is None else rows.append(i))
        return np.unique(np.asarray(rows, dtype=np.int64)), ignored

    def _popularity(self, block: _Block, domain: str, k: int, user: str | None,
                    ignored: list[str], why: str) -> Recommendation:
        if block.pop_order is None:
            raise QueryError(f"{why}, and this export has no seen.npz, so it has no popularity "
                             f"fallback: pass a known user or an item history", status=422)
        top = block.pop_order[:k]
        items = [self._item_row(i, float(self.degrees[i])) for i in top]
        return Recommendation("popularity", domain, k, items, user, ignored,
                              note=f"{why}: most popular items of {domain!r} (score = train count)")

    def _top(self, block: _Block, vec: np.ndarray, seen_local: np.ndarray, k: int) -> list[dict]:
        """Best ``k`` items of ``block`` for ``vec`` (dim,), skipping local positions ``seen_local``."""
        if block.index is not None:
            scores, ids = ann.search(block.index, vec, k + len(seen_local))
            keep = (ids[0] >= 0) & ~np.isin(ids[0], seen_local)
            top, top_scores = ids[0][keep][:k], scores[0][keep][:k]
        else:
            scores = block.emb @ np.asarray(vec, dtype=np.float32)
            scores[seen_local] = -np.inf
            kk = min(k, len(scores) - len(seen_local))
            if kk <= 0:
                return []
            part = np.argpartition(scores, -kk)[-kk:] if kk < len(scores) else np.arange(len(scores))
            top = part[np.argsort(-scores[part], kind="stable")]
            top_scores = scores[top]
        rows = block.rows[top]
        return [{"item_id": i, "title": t, "score": sc} for i, t, sc in
                zip(self._ids_arr[rows].tolist(), self._titles_arr[rows].tolist(), top_scores.tolist())]

    def _item_row(self, row: int, score: float) -> dict[str, Any]:
        return {"item_id": self.exp.item_ids[row], "title": self.titles[row], "score": score}
