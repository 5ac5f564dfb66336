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

Live updates (:meth:`Retriever.interact`, :meth:`Retriever.add_items`, the
events of :mod:`gnnrec.export.live`): a user's live interactions N change the
vector the user is served with, by fold-in (``f`` = the export's rule, H = the
user's train items, ``w`` its weights of :func:`gnnrec.export.foldin.foldin_weights`):

* a user of the export: ``U[u] + a_u (f(H + N) - f(H))`` (rule ``delta``), with
  ``a_u = <U[u], f(H)> / ||f(H)||^2`` (``||U[u]|| / ||f(H)||`` when that is not
  positive) the scale of the trained vector along its history's fold-in, so the
  new items enter at the trained vector's scale and the trained part stays;
* a user unknown to the export: ``f(N)`` (mode ``live``, a new user);

and every item of N is excluded from the user's recommendations. New items
(text only) join their domain's block with the vector the model's text path
gave them. Every served vector is ``U[u] + sum_j p_j`` (:class:`UserVector`): ``p_j`` the
part of history item j, ``w_j V[j]`` -- or, for an export with a fold-in map
(:class:`gnnrec.export.foldin.FoldinMap`), ``[s w_j V[j, :k], M[j] * b]`` with
the map's row of j weighted per block -- which is what :mod:`gnnrec.export.explain`
decomposes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from gnnrec.errors import GnnrecError
from gnnrec.export import ann
from gnnrec.export.contract import Export, ExportError
from gnnrec.export.constants import BACKENDS, MAX_K
from gnnrec.export.foldin import foldin_weights, item_degrees, rule_of

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
class UserVector:
    """The vector a query is scored with: ``vec = U[user_row] (when user_row is set) + sum_j
    parts[j]`` (``parts`` (h, dim) float64, one per item row ``rows[j]``); ``seen`` (global item
    rows) are excluded; ``history`` holds the distinct train items of ``user_row`` (the base of
    a projection explanation)."""

    vec: np.ndarray
    mode: str                          # "user" | "foldin" | "live"
    user_row: int | None
    rows: np.ndarray
    parts: np.ndarray
    seen: np.ndarray
    history: np.ndarray
    live: int = 0                      # live interactions in the vector
    note: str = ""


@dataclass
class _Block:
    """The items of one domain: global rows (n_d,), vectors (n_d, dim), popularity order."""

    rows: np.ndarray
    emb: np.ndarray
    pop_order: np.ndarray | None
    index: Any = None


class Retriever:
    """Serving-side view of an :class:`Export` (built once, queried many times), with the live
    state of :mod:`gnnrec.export.live` (module docstring)."""

    def __init__(self, exp: Export, backend: str = "auto", folder: str | Path | None = None,
                 max_k: int = MAX_K, store: Any = None) -> None:
        if backend not in BACKENDS:
            raise QueryError(f"backend {backend!r} is not one of {BACKENDS}")
        if exp.items is None:
            raise ExportError("serving needs each item's domain: add items.tsv (columns item_id, domain"
                              "[, title]) to the embedding folder")
        self.exp = exp
        self.max_k = max_k
        self.foldin_rule = rule_of(exp.manifest)
        self.user_index = {u: i for i, u in enumerate(exp.user_ids)}
        self.item_ids = list(exp.item_ids)
        self.item_index = {it: i for i, it in enumerate(self.item_ids)}
        self.titles = (exp.items["title"].astype(str).tolist() if exp.items is not None
                       else [""] * len(exp.item_ids))
        self.item_emb = np.ascontiguousarray(exp.item_emb, dtype=np.float32)
        self._ids_arr = np.asarray(self.item_ids, dtype=object)
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
            block = _Block(rows, np.ascontiguousarray(self.item_emb[rows]), pop)
            use_faiss = backend == "faiss" or (backend == "auto" and len(rows) >= FAISS_MIN_ITEMS
                                               and ann.faiss_available())
            if use_faiss and faiss_info and folder is not None:
                block.index = ann.load_index(Path(folder) / faiss_info["domains"][d]["file"])
            elif backend == "faiss":
                raise ExportError("backend 'faiss' needs an export written with --faiss "
                                  "(and faiss-cpu installed)")
            self.blocks[d] = block
        self.domain_names = list(self.blocks)
        self._train_seen = exp.seen.tocsr() if exp.seen is not None else None
        # live state (gnnrec.export.live): per user, the live item rows in arrival order
        self.store = store
        self.live: dict[str, list[int]] = {}
        self.live_seq = 0
        self.live_version = -1
        self.added_items = 0
        self._vec_cache: dict[str, UserVector] = {}
        if store is not None:
            self.sync()

    @classmethod
    def load(cls, folder: str | Path, backend: str = "auto", max_k: int = MAX_K,
             live: bool = False) -> "Retriever":
        """The export in ``folder``; ``live``: open (create) its update store and replay it."""
        from gnnrec.export.contract import load_export
        store = None
        if live:
            from gnnrec.export.live import UpdateStore
            store = UpdateStore(folder)
        return cls(load_export(folder), backend=backend, folder=folder, max_k=max_k, store=store)

    # ---- validation ---------------------------------------------------------
    def _check(self, domain: str, k: int) -> _Block:
        if domain not in self.blocks:
            raise QueryError(f"unknown domain {domain!r}; this export has {self.domain_names}")
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= self.max_k:
            raise QueryError(f"k must be an integer in [1, {self.max_k}], got {k!r}")
        return self.blocks[domain]

    def item(self, item_id: str) -> dict[str, Any]:
        """Metadata of one item; QueryError(404) when unknown."""
        self.sync()
        i = self.item_index.get(item_id)
        if i is None:
            raise QueryError(f"unknown item id {item_id!r}", status=404)
        return {"item_id": item_id, "domain": str(self.item_domain[i]), "title": self.titles[i],
                "popularity": int(self.degrees[i]) if self.exp.seen is not None else None}

    # ---- live state ---------------------------------------------------------
    def sync(self) -> int:
        """Apply the store's events this retriever has not seen yet (cheap when none: one
        ``PRAGMA data_version``); returns how many were applied."""
        if self.store is None:
            return 0
        version = self.store.data_version()
        if version == self.live_version:
            return 0
        self.live_version = version
        return self._apply(self.store.events_after(self.live_seq))

    def _apply(self, events: list) -> int:
        for ev in events:
            if ev.kind == "item":
                self._add_item(ev.item, ev.domain, ev.title, ev.vector)
            elif ev.kind == "interaction":
                row = self.item_index.get(ev.item)
                if row is not None:
                    self.live.setdefault(ev.user, []).append(row)
                    self._vec_cache.pop(ev.user, None)
            self.live_seq = max(self.live_seq, ev.seq)
        return len(events)

    def interact(self, user: str, item: str, domain: str | None = None) -> dict[str, Any]:
        """Record that ``user`` interacted with ``item`` (module docstring): appended to the store
        when there is one (every worker then applies it), else kept in memory."""
        if not isinstance(user, str) or not user or not isinstance(item, str) or not item:
            raise QueryError("an interaction needs a non-empty 'user' and 'item' (strings)")
        self.sync()
        row = self.item_index.get(item)
        if row is None:
            raise QueryError(f"unknown item id {item!r}; add new items first (gnnrec add-items)", status=404)
        dom = str(self.item_domain[row])
        if domain is not None and domain != dom:
            raise QueryError(f"item {item!r} belongs to domain {dom!r}, not {domain!r}")
        if self.store is not None:
            self.store.append_interactions([(user, item, dom)])
            self.live_version = -1
            self.sync()
        else:
            self.live.setdefault(user, []).append(row)
            self._vec_cache.pop(user, None)
        uv = self.user_vector(user)
        return {"user": user, "item": item, "domain": dom,
                "user_kind": "known" if user in self.user_index else "new",
                "live_interactions": uv.live if uv is not None else 0, "seq": self.live_seq}

    def add_items(self, items: Sequence[tuple[str, str, str, np.ndarray]]) -> int:
        """New items (item_id, domain, title, vector (dim,)); appended to the store when there is
        one. Ids already in the catalogue and unknown domains are refused."""
        self.sync()
        for item_id, domain, _, vec in items:
            if item_id in self.item_index:
                raise QueryError(f"item {item_id!r} is already in the catalogue")
            if domain not in self.blocks:
                raise QueryError(f"unknown domain {domain!r} of new item {item_id!r}; this export has "
                                 f"{self.domain_names}")
            if np.shape(vec) != (self.exp.dim,) or not np.isfinite(vec).all():
                raise QueryError(f"new item {item_id!r}: vector of shape {np.shape(vec)} (need finite "
                                 f"({self.exp.dim},))")
        if self.store is not None:
            self.store.append_items(items)
            self.live_version = -1
            self.sync()
        else:
            for item_id, domain, title, vec in items:
                self._add_item(item_id, domain, title, vec)
        return len(items)

    def _add_item(self, item_id: str, domain: str, title: str, vec: np.ndarray) -> None:
        if item_id in self.item_index or domain not in self.blocks:
            return
        row = len(self.item_ids)
        vec = np.asarray(vec, dtype=np.float32)
        self.item_ids.append(item_id)
        self.titles.append(title)
        self.item_index[item_id] = row
        self.item_emb = np.vstack([self.item_emb, vec[None]])
        self._ids_arr = np.asarray(self.item_ids, dtype=object)
        self._titles_arr = np.asarray(self.titles, dtype=object)
        self.item_domain = np.append(self.item_domain, domain).astype(object)
        self.degrees = np.append(self.degrees, np.float32(1.0))
        b = self.blocks[domain]
        self.local = np.append(self.local, len(b.rows))
        b.rows = np.append(b.rows, row)
        b.emb = np.ascontiguousarray(np.vstack([b.emb, vec[None]]))
        if b.pop_order is not None:
            b.pop_order = np.append(b.pop_order, row)
        b.index = None                    # a FAISS index does not hold the new item: exact search
        self.added_items += 1
        self._vec_cache.clear()

    def train_history(self, user_row: int) -> np.ndarray:
        """Distinct train items (global rows) of an export user."""
        if self._train_seen is None:
            return np.empty(0, np.int64)
        s = self._train_seen
        return s.indices[s.indptr[user_row]:s.indptr[user_row + 1]].astype(np.int64)

    def user_vector(self, user: str | None = None, history: Sequence[str] | None = None
                    ) -> UserVector | None:
        """The vector a query for ``user`` / ``history`` is scored with (module docstring);
        None when there is neither a known or live user nor a usable history."""
        if history:
            rows, _ = self._history_rows(history)
            if not len(rows):
                return None
            rows, parts = self.foldin_parts(rows)
            return UserVector(self._combine(None, parts), "foldin", None, rows, parts, rows,
                              np.empty(0, np.int64), note=f"user vector folded in by rule {self.foldin_rule!r}")
        if user is None:
            return None
        self.sync()
        hit = self._vec_cache.get(user)
        if hit is not None:
            return hit
        u = self.user_index.get(user)
        live = np.asarray(self.live.get(user, []), dtype=np.int64)
        if u is None and not len(live):
            return None
        hist = self.train_history(u) if u is not None else np.empty(0, np.int64)
        if not len(live):                  # the common case: not cached, nothing computed
            return UserVector(self.exp.user_emb[u], "user", u, np.empty(0, np.int64),
                              np.empty((0, self.exp.dim)),
                              hist, hist)
        if u is None:
            rows, parts = self.foldin_parts(live)
            uv = UserVector(self._combine(None, parts), "live", None, rows, parts, rows, hist, len(live),
                            note=f"a new user: vector folded in from {len(live)} live interaction(s) by "
                                 f"rule {self.foldin_rule!r}")
        else:
            rows, parts = self._delta(u, hist, live)
            uv = UserVector(self._combine(u, parts), "user", u, rows, parts, np.union1d(hist, live), hist,
                            len(live), note=f"updated live by {len(live)} interaction(s) (fold-in)")
        self._vec_cache[user] = uv
        return uv

    def foldin_parts(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(distinct rows (h,), parts (h, dim) float64): the fold-in of a history by the export's
        rule, item by item (module docstring); ``parts.sum(0)`` is
        :func:`gnnrec.export.foldin.foldin_vector` of the history."""
        fmap = self.exp.foldin_map
        k = self.exp.dim if fmap is None else fmap.k_model
        rows, w = foldin_weights(rows, self.item_emb[:, :k], self.foldin_rule, self.degrees)
        parts = w[:, None] * self.item_emb[rows, :k].astype(np.float64)
        if fmap is None:
            return rows, parts
        return rows, np.hstack([parts * float(fmap.scales.get(self.foldin_rule, 1.0)),
                                fmap.item_parts(rows, self.item_domain)])

    def _delta(self, u: int, hist: np.ndarray, live: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows and parts of ``a_u (f(H + N) - f(H))`` (module docstring)."""
        both, p_new = self.foldin_parts(np.concatenate([hist, live]))
        old_rows, p_old = self.foldin_parts(hist)
        f_old = p_old.sum(axis=0) if len(old_rows) else None
        uvec = self.exp.user_emb[u].astype(np.float64)
        a = 0.0
        if f_old is not None and float(f_old @ f_old) > 0:
            a = float(uvec @ f_old) / float(f_old @ f_old)
            if a <= 0:
                a = float(np.linalg.norm(uvec) / np.linalg.norm(f_old))
        if a == 0.0:                                   # no history to scale by: the trained norm
            n = float(np.linalg.norm(p_new.sum(axis=0)))
            a = float(np.linalg.norm(uvec)) / n if n > 0 else 1.0
        parts = a * p_new
        parts[np.searchsorted(both, old_rows)] -= a * p_old       # both and old_rows are sorted
        return both, parts

    def _combine(self, user_row: int | None, parts: np.ndarray) -> np.ndarray:
        vec = np.zeros(self.exp.dim, np.float64) if user_row is None else \
            self.exp.user_emb[user_row].astype(np.float64)
        if len(parts):
            vec = vec + parts.sum(axis=0)
        return vec.astype(np.float32)

    # ---- queries ------------------------------------------------------------
    def recommend(self, domain: str, k: int = 10, user: str | None = None,
                  history: Sequence[str] | None = None) -> Recommendation:
        """Top-``k`` items of ``domain``; see the module docstring for the modes."""
        self.sync()                                    # items added live join the block first
        block = self._check(domain, k)
        ignored: list[str] = []
        if history:
            _, ignored = self._history_rows(history)
        uv = self.user_vector(user, history)
        if uv is None:
            if history:
                why = "no history item is known to this export"
            else:
                why = f"unknown user {user!r} and no history" if user is not None else "no user and no history"
            return self._popularity(block, domain, k, user, ignored, why)
        seen = uv.seen[self.item_domain[uv.seen] == domain] if len(uv.seen) else uv.seen
        items = self._top(block, uv.vec, self.local[seen], k)
        used = len(uv.rows) if uv.mode == "foldin" else 0
        return Recommendation(uv.mode, domain, k, items, user, ignored, used, note=uv.note)

    def score(self, uv: UserVector, item_row: int) -> float:
        """The score ``/recommend`` reports for ``item_row``: the same float32 product over the
        item's domain block (bit for bit)."""
        block = self.blocks[str(self.item_domain[item_row])]
        return float((block.emb @ np.asarray(uv.vec, dtype=np.float32))[self.local[item_row]])

    def explain(self, item: str, user: str | None = None, history: Sequence[str] | None = None,
                top: int = 5) -> dict[str, Any]:
        """Why ``item`` scores what it does for ``user`` / ``history``:
        :func:`gnnrec.export.explain.explain_score`."""
        from gnnrec.export.explain import explain_score
        return explain_score(self, item, user=user, history=history, top=top)

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
        return {"item_id": self.item_ids[row], "title": self.titles[row], "score": score}
