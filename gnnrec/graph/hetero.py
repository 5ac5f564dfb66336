"""PyG ``HeteroData`` view of a dataset's train split.

Node types: ``user`` and one ``item_<domain>`` per domain (local item index
``j - item_offsets[d]`` inside the type). Edge types
``(user, interacts, item_<domain>)`` and their reverses
``(item_<domain>, rev_interacts, user)``, from train positives only.

Features (when item text embeddings are given, shape (n_items, t)):
``data[item_<d>].x`` = the text rows of that domain's items; ``data[user].x`` =
mean text embedding of the user's train items over all domains (zeros for a
user without train items). Only train interactions are used, so no valid/test
information leaks into the graph. Every node type also stores ``n_id``, the
global index (user index, or global item index) of each node.
"""

from __future__ import annotations

import numpy as np
import torch

from gnnrec.data.schema import Dataset


def item_type(domain: str) -> str:
    """Node-type name of a domain's items."""
    return f"item_{domain}"


def user_text_mean(ds: Dataset, item_text: np.ndarray) -> np.ndarray:
    """Mean text embedding of each user's train items: (n_users, t) float32; zero rows if none."""
    r = ds.train_matrix()
    deg = np.asarray(r.sum(axis=1)).ravel()
    out = np.asarray(r @ item_text, dtype=np.float32)
    out[deg > 0] /= deg[deg > 0, None]
    return out


def build_hetero(ds: Dataset, item_text: np.ndarray | None = None):
    """Build the :class:`torch_geometric.data.HeteroData` described in the module docstring."""
    from torch_geometric.data import HeteroData

    data = HeteroData()
    data["user"].num_nodes = ds.n_users
    data["user"].n_id = torch.arange(ds.n_users)
    if item_text is not None:
        data["user"].x = torch.from_numpy(user_text_mean(ds, item_text))
    tr = ds.train
    for d, dom in enumerate(ds.domains):
        blk = ds.item_block(d)
        t = item_type(dom)
        data[t].num_nodes = blk.stop - blk.start
        data[t].n_id = torch.arange(blk.start, blk.stop)
        if item_text is not None:
            data[t].x = torch.from_numpy(np.ascontiguousarray(item_text[blk], dtype=np.float32))
        rows = tr[tr["domain"] == d]
        pairs = np.unique(np.stack([rows["user"].to_numpy(), rows["item"].to_numpy() - blk.start]), axis=1)
        ei = torch.from_numpy(pairs.astype(np.int64))
        data["user", "interacts", t].edge_index = ei
        data[t, "rev_interacts", "user"].edge_index = ei.flip(0)
    return data
