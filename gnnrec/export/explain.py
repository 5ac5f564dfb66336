"""Explanations faithful to the score: ``score(u, i)`` split over the items of u's history.

The vector a query is served with is ``vec = U[u] + sum_j c_j V[j]``
(:class:`gnnrec.export.query.UserVector`: the trained row of an export user,
if any, plus fold-in weights over items -- a fold-in history, a new user's
live interactions, the live change of a known user). Its score for item i,
``vec . V[i]`` (exactly the float32 number ``/recommend`` reports), splits as

* **fold-in part** -- ``c_j V[j] . V[i]`` per item j: exact, the fold-in rules
  are linear in the item vectors (:func:`gnnrec.export.foldin.foldin_weights`);
* **trained part** ``U[u] . V[i]``, by the export's ``explain`` method:

  - ``terms`` (LightGCN family, text-only; item-item models): the export holds
    the history terms of its user vectors (:mod:`gnnrec.export.terms`), so each
    history item j gets ``sum_t W_t[u, j] B_t[j] . V[i]`` exactly, per term
    (graph paths, the item's text in the user's layer 0, the cross-domain
    map); terms over user rows (the user's own ID embedding) are named parts;
  - ``projection`` (models whose user vector is a free parameter: MF, HGT,
    EMCDR, BiTGCF; plain embedding folders): the history's fold-in f(H),
    scaled by ``a = <U[u], f(H)> / ||f(H)||^2`` (the least-squares multiple of
    f(H) closest to U[u]), gives ``a w_j V[j] . V[i]`` per history item -- what
    the history would explain -- and the answer says the model's vector is not
    a sum over its history (``exact: false``);
  - ``none`` (popularity): nothing in the history explains the score; the
    whole score is the remainder and the answer says so.

``remainder = score - sum of every part above``: for LightGCN the other users
and items within L hops, for a projection what the history leaves
unexplained, for a fold-in user ~0 (float rounding). Contributions, named
parts and the remainder always add up to the served score.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from gnnrec.export.foldin import foldin_weights
from gnnrec.export.query import QueryError

if TYPE_CHECKING:
    from gnnrec.export.query import Retriever, UserVector

REMAINDER = {
    "terms": "other users and items within the model's propagation range (not in the history)",
    "projection": "what the history's fold-in does not explain of the trained user vector",
    "none": "the model's score: nothing in the history explains it",
    "foldin": "float rounding only (a folded-in vector is a sum over its history)",
}


RECOMMENDED = 20        # an item ranked this high or better is called recommended in ``because``


def _rank(rec: "Retriever", uv: "UserVector", row: int) -> tuple[int, int]:
    """(rank of ``row`` among the unseen items of its domain for ``uv``, 1 = best; how many)."""
    block = rec.blocks[str(rec.item_domain[row])]
    scores = block.emb @ np.asarray(uv.vec, dtype=np.float32)
    seen = uv.seen[rec.item_domain[uv.seen] == rec.item_domain[row]] if len(uv.seen) else uv.seen
    keep = np.ones(len(scores), bool)
    keep[rec.local[seen]] = False
    keep[rec.local[row]] = True
    mine = scores[rec.local[row]]
    return int((scores[keep] > mine).sum()) + 1, int(keep.sum())


def method_of(rec: "Retriever") -> tuple[str, str]:
    """(method of the trained part, note) for an export: ``terms`` when it holds history terms,
    ``none`` when its model says nothing explains it, else ``projection``."""
    info = rec.exp.manifest.get("explain") if isinstance(rec.exp.manifest.get("explain"), dict) else {}
    note = str((info or {}).get("note", ""))
    if rec.exp.terms:
        return "terms", note
    if (info or {}).get("method") == "none":
        return "none", note or "this model's score cannot be decomposed over a history"
    if (info or {}).get("method") == "terms":       # terms listed but not loaded (e.g. a cosine view)
        note = "the vectors were transformed after export (cosine), so the export's exact terms no " \
               "longer apply; " + note
    return "projection", note or ("the user vector is not a sum over the history: the history's fold-in "
                                  "is shown, scaled to the user vector, with the remainder it leaves")


def _trained_part(rec: "Retriever", uv: "UserVector", item_vec: np.ndarray, method: str
                  ) -> tuple[dict[int, dict[str, float]], dict[str, float], float]:
    """Per history item {row: {part: value}}, named parts, and the trained score U[u] . V[i]."""
    u = uv.user_row
    base = float(np.asarray(rec.exp.user_emb[u], np.float64) @ item_vec)
    per_item: dict[int, dict[str, float]] = {}
    named: dict[str, float] = {}
    if method == "terms":
        for t in rec.exp.terms:
            rows, c = t.contributions(u, item_vec)
            if t.rows == "item":
                for r, v in zip(rows.tolist(), c.tolist()):
                    per_item.setdefault(r, {})[t.name] = per_item.get(r, {}).get(t.name, 0.0) + v
            else:
                named[t.name] = named.get(t.name, 0.0) + float(c.sum())
    elif method == "projection" and len(uv.history):
        rows, w = foldin_weights(uv.history, rec.item_emb, rec.foldin_rule, rec.degrees)
        f = w @ rec.item_emb[rows].astype(np.float64)
        ff = float(f @ f)
        a = float(np.asarray(rec.exp.user_emb[u], np.float64) @ f) / ff if ff > 0 else 0.0
        c = a * w * (rec.item_emb[rows].astype(np.float64) @ item_vec)
        for r, v in zip(rows.tolist(), c.tolist()):
            per_item.setdefault(r, {})["projection"] = v
    return per_item, named, base


def explain_score(rec: "Retriever", item: str, user: str | None = None,
                  history: Sequence[str] | None = None, top: int = 5) -> dict[str, Any]:
    """The explanation of ``item``'s score for ``user`` (or a fold-in ``history``), as served.

    Returns a JSON-ready dict: ``score`` (as ``/recommend`` reports it), ``method``,
    ``exact`` (every part is an exact decomposition of the model), ``contributions`` (the
    ``top`` history items by contribution: item_id, title, domain, contribution, share of the
    score, parts), ``other_history`` (the rest of the history, summed), ``parts`` (named
    non-item parts), ``remainder`` (with what it stands for) and ``because`` (one sentence).
    """
    if not isinstance(top, int) or isinstance(top, bool) or not 1 <= top <= rec.max_k:
        raise QueryError(f"top must be an integer in [1, {rec.max_k}], got {top!r}")
    row = rec.item_index.get(item)
    if row is None:
        rec.sync()
        row = rec.item_index.get(item)
    if row is None:
        raise QueryError(f"unknown item id {item!r}", status=404)
    domain = str(rec.item_domain[row])
    uv = rec.user_vector(user, history)
    head = {"user": user, "item": {"item_id": item, "title": rec.titles[row], "domain": domain},
            "domain": domain}
    if uv is None:
        why = ("no history item is known to this export" if history else
               f"unknown user {user!r} and no history" if user is not None else "no user and no history")
        return {**head, "mode": "popularity", "method": "none", "exact": False, "score": None,
                "contributions": [], "parts": {}, "remainder": None,
                "note": f"{why}: such a query is answered by popularity, which no history explains"}
    score = rec.score(uv, row)
    item_vec = rec.item_emb[row].astype(np.float64)
    per_item: dict[int, dict[str, float]] = {}
    named: dict[str, float] = {}
    method, note = "foldin", uv.note
    exact = True
    model_method, model_note = method_of(rec)
    if model_method == "none":                        # e.g. popularity: the history changes nothing
        return {**head, "mode": uv.mode, "method": "none", "exact": False, "score": score,
                "history_items": 0, "contributions": [], "other_history": {"items": 0, "contribution": 0.0},
                "parts": {}, "remainder": score, "remainder_share": 1.0 if score else float("nan"),
                "remainder_means": REMAINDER["none"],
                "because": f"this model's score in {domain} does not come from the history",
                "note": model_note}
    if uv.user_row is not None:
        method = model_method
        per_item, named, _ = _trained_part(rec, uv, item_vec, method)
        exact = method == "terms"
        note = "; ".join(x for x in (model_note, uv.note) if x)
    if len(uv.rows):                                   # fold-in / live weights over items
        label = "foldin" if uv.mode == "foldin" else "live"
        c = uv.parts @ item_vec
        for r, v in zip(uv.rows.tolist(), c.tolist()):
            per_item.setdefault(r, {})[label] = per_item.get(r, {}).get(label, 0.0) + v
    totals = {r: sum(p.values()) for r, p in per_item.items()}
    order = sorted(totals, key=lambda r: (-totals[r], r))
    explained = sum(totals.values()) + sum(named.values())
    remainder = score - explained
    den = score if score != 0 else float("nan")

    def entry(r: int) -> dict[str, Any]:
        return {"item_id": rec.item_ids[r], "title": rec.titles[r], "domain": str(rec.item_domain[r]),
                "contribution": totals[r], "share": totals[r] / den,
                "parts": {k: v for k, v in per_item[r].items() if v != 0.0}}

    shown = [entry(r) for r in order[:top]]
    rest = order[top:]
    rank, n_rank = _rank(rec, uv, row)
    liked = ", ".join(f"{e['title'] or e['item_id']} ({e['domain']})"
                      for e in [e for e in shown if e["contribution"] > 0][:3])
    if not liked:
        because = f"ranked {rank} of {n_rank} in {domain}; no item of the history raises its score"
    elif rank <= RECOMMENDED:
        because = f"recommended in {domain} (rank {rank}) because you liked {liked}"
    else:
        because = f"ranked {rank} of {n_rank} in {domain}; the history items raising it most: {liked}"
    return {**head, "mode": uv.mode, "method": method, "exact": exact, "score": score,
            "rank": rank, "history_items": len(totals), "contributions": shown,
            "other_history": {"items": len(rest), "contribution": float(sum(totals[r] for r in rest))},
            "parts": named, "remainder": remainder,
            "remainder_share": remainder / den,
            "remainder_means": REMAINDER[method if uv.user_row is not None else "foldin"],
            "because": because, "note": note}


def deletion_check(rec: "Retriever", histories: Sequence[Sequence[str]], domains: Sequence[str],
                   ) -> dict[str, Any]:
    """Does the explanation name the items the score depends on? For each fold-in history H and
    target domain d: i = H's top recommendation in d, j* = the top contributor of i's explanation;
    ``top_drop = s(H) - s(H - j*)`` and ``random_drop`` = the mean of ``s(H) - s(H - j)`` over
    j in H (the expected drop when a uniformly random history item is removed), s = the fold-in
    score of i. Histories of fewer than 2 known items are skipped. Returns the means over the
    histories, their ratio and the share of histories where ``top_drop > random_drop``."""
    from gnnrec.export.foldin import foldin_weights

    def score(rows: np.ndarray, i: int) -> float:
        r, w = foldin_weights(rows, rec.item_emb, rec.foldin_rule, rec.degrees)
        return float(w @ (rec.item_emb[r].astype(np.float64) @ rec.item_emb[i].astype(np.float64)))

    tops, rands, wins = [], [], 0
    for hist, dom in zip(histories, domains):
        rows, _ = rec._history_rows(list(hist))
        if len(rows) < 2:
            continue
        best = rec.recommend(dom, 1, history=list(hist)).items
        if not best:
            continue
        item = best[0]["item_id"]
        i = rec.item_index[item]
        e = explain_score(rec, item, history=list(hist), top=1)
        j_top = rec.item_index[e["contributions"][0]["item_id"]]
        full = score(rows, i)
        drops = np.array([full - score(rows[rows != j], i) for j in rows])
        top = full - score(rows[rows != j_top], i)
        tops.append(top)
        rands.append(float(drops.mean()))
        wins += int(top > drops.mean())
    n = len(tops)
    top_mean, rand_mean = (float(np.mean(tops)), float(np.mean(rands))) if n else (float("nan"),) * 2
    return {"users": n, "top_drop": top_mean, "random_drop": rand_mean,
            "ratio": top_mean / rand_mean if n and rand_mean else float("nan"),
            "top_beats_random": wins / n if n else float("nan"), "rule": rec.foldin_rule}
