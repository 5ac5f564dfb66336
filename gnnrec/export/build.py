"""Assemble an :class:`Export` from a dataset and trained embeddings."""

from __future__ import annotations

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
