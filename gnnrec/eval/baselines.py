"""Baselines that need no training, written as exports (the floor every model must beat).

* ``popularity``: 1-dim export. Every user vector is ``[1]``; item ``i``'s
  vector is ``[p_i]``, its popularity rank inside its domain (1 = least
  popular): items sorted by train-positive count, equal counts ordered by a
  seeded permutation (the deterministic tie-break). A rank rather than
  ``count + epsilon`` keeps every score distinct and exact in float32 (counts
  in the thousands leave no room for a tiny epsilon). The score orders each
  domain's items exactly as the train counts do: popularity *per domain*.
* ``random``: ``dim``-dimensional standard normal user and item vectors
  (seeded): scores carry no information.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gnnrec.data.schema import Dataset
from gnnrec.export.contract import Export

BASELINES = ("pop", "random")


def _items_frame(ds: Dataset) -> pd.DataFrame:
    title = ds.items["title"] if "title" in ds.items else pd.Series([""] * ds.n_items)
    return pd.DataFrame({"item_id": ds.items["item_id"].to_numpy(),
                         "domain": ds.items["domain"].to_numpy(),
                         "title": title.fillna("").astype(str).to_numpy()})


def _manifest(ds: Dataset, model: str, config: dict) -> dict:
    return {"model": model, "config": config,
            "dataset": {"name": ds.name, "fingerprint": ds.fingerprint()}}


def popularity_export(ds: Dataset, seed: int = 0) -> Export:
    """Per-domain train popularity as a 1-dim :class:`Export` (see module docstring)."""
    counts = np.bincount(ds.train["item"].to_numpy(np.int64), minlength=ds.n_items)
    tie = np.random.default_rng(seed).permutation(ds.n_items)
    item = np.zeros((ds.n_items, 1), dtype=np.float32)
    for d in range(len(ds.domains)):
        blk = ds.item_block(d)
        order = np.lexsort((tie[blk], counts[blk]))          # by count, then tie-break
        item[blk.start + order, 0] = np.arange(1, len(order) + 1, dtype=np.float32)
    user = np.ones((ds.n_users, 1), dtype=np.float32)
    return Export(user_ids=list(ds.users["user_id"]), item_ids=list(ds.items["item_id"]),
                  user_emb=user, item_emb=item, items=_items_frame(ds),
                  manifest=_manifest(ds, "popularity", {
                      "seed": seed,
                      "score": "popularity rank in domain (train count, seeded tie-break)"}))


def random_export(ds: Dataset, dim: int = 16, seed: int = 0) -> Export:
    """Seeded standard-normal vectors: the no-information floor."""
    rng = np.random.default_rng(seed)
    return Export(user_ids=list(ds.users["user_id"]), item_ids=list(ds.items["item_id"]),
                  user_emb=rng.standard_normal((ds.n_users, dim), dtype=np.float32),
                  item_emb=rng.standard_normal((ds.n_items, dim), dtype=np.float32),
                  items=_items_frame(ds),
                  manifest=_manifest(ds, "random", {"seed": seed, "dim": dim}))


def baseline_export(kind: str, ds: Dataset, seed: int = 0) -> Export:
    """``kind`` in :data:`BASELINES`."""
    if kind == "pop":
        return popularity_export(ds, seed)
    if kind == "random":
        return random_export(ds, seed=seed)
    raise ValueError(f"unknown baseline {kind!r}; choose one of {BASELINES}")
