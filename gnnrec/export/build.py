"""Assemble an :class:`Export` from a dataset and trained embeddings."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from gnnrec.data.schema import Dataset
from gnnrec.export.contract import Export
from gnnrec.export.foldin import DEFAULT_RULE, FoldinMap, describe


def build_export(ds: Dataset, user_emb: np.ndarray, item_emb: np.ndarray, *,
                 model: str, config: dict[str, Any] | None = None,
                 metrics: dict[str, Any] | None = None, foldin_rule: str = DEFAULT_RULE,
                 foldin_map: FoldinMap | None = None, **manifest: Any) -> Export:
    """An export of ``ds``'s users and items with user_emb (n_users, dim), item_emb (n_items, dim).

    Carries titles (when the dataset has them), the train positives as
    ``seen``, the dataset name and fingerprint, the fold-in rule and, when the
    model's user vectors have an exact linear part, its :class:`FoldinMap`.
    """
    title = (ds.items["title"].fillna("").astype(str) if "title" in ds.items
             else pd.Series([""] * ds.n_items))
    items = pd.DataFrame({"item_id": ds.items["item_id"].astype(str),
                          "domain": ds.items["domain"].astype(str), "title": title.to_numpy()})
    return Export(
        user_ids=ds.users["user_id"].astype(str).tolist(),
        item_ids=ds.items["item_id"].astype(str).tolist(),
        user_emb=np.asarray(user_emb, dtype=np.float32),
        item_emb=np.asarray(item_emb, dtype=np.float32),
        items=items, seen=ds.train_matrix(np.int8),
        manifest={"model": model, "config": config or {},
                  "dataset": {"name": ds.name, "fingerprint": ds.fingerprint()},
                  "metrics": metrics or {}, "foldin": describe(foldin_rule), **manifest},
        foldin_map=foldin_map)


def append_items(exp: Export, item_ids: list[str], domains: list[str], titles: list[str],
                 vectors: np.ndarray) -> Export:
    """``exp`` with new items appended (vectors (n_new, dim)): rows added to the item vectors,
    ids and items table, an empty column per new item in ``seen`` (no train positive) and in
    every item-row history term (no user has them in a history)."""
    import scipy.sparse as sp

    from gnnrec.export.contract import ExportError
    from gnnrec.export.terms import HistoryTerm

    dup = sorted(set(item_ids) & set(exp.item_ids)) or sorted({i for i in item_ids if item_ids.count(i) > 1})
    if dup:
        raise ExportError(f"new item ids {dup[:5]} are already in the export (or repeated); new items "
                          f"need new ids")
    unknown = sorted(set(domains) - set(exp.domains()))
    if unknown:
        raise ExportError(f"new items name domains {unknown} that the export does not have "
                          f"({exp.domains()})")
    n = len(item_ids)
    vectors = np.asarray(vectors, dtype=np.float32).reshape(n, exp.dim)
    items = pd.concat([exp.items, pd.DataFrame({"item_id": item_ids, "domain": domains, "title": titles})],
                      ignore_index=True)
    seen = sp.hstack([exp.seen, sp.csr_matrix((exp.seen.shape[0], n), dtype=exp.seen.dtype)]).tocsr() \
        if exp.seen is not None else None
    terms = None
    if exp.terms is not None:
        terms = []
        for t in exp.terms:
            if t.rows != "item":
                terms.append(t)
                continue
            w = sp.hstack([t.weights, sp.csr_matrix((t.weights.shape[0], n), dtype=np.float32)]).tocsr()
            basis = None if t.basis is None else np.vstack([t.basis, np.zeros((n, t.width), np.float32)])
            if t.basis is None:
                raise ExportError(f"history term {t.name!r} is an identity over items: new items would "
                                  f"widen every vector; add them by retraining")
            terms.append(HistoryTerm(t.name, t.rows, w, basis, t.offset, t.label))
    fmap = exp.foldin_map                # new items have no bridge user: zero map rows
    if fmap is not None:
        fmap = dataclasses.replace(fmap, matrix=np.vstack(
            [fmap.matrix, np.zeros((n, fmap.matrix.shape[1]), np.float32)]))
    return Export(user_ids=exp.user_ids, item_ids=list(exp.item_ids) + list(item_ids),
                  user_emb=exp.user_emb, item_emb=np.vstack([exp.item_emb, vectors]), items=items,
                  seen=seen, manifest={**exp.manifest, "added_items": int(exp.manifest.get("added_items", 0)) + n},
                  terms=terms, cold_item_map=exp.cold_item_map, foldin_map=fmap)
