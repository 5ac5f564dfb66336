"""PyG ``HeteroData`` <-> gnnrec datasets, both ways.

:func:`to_hetero_data` (also ``Dataset.to_hetero_data()``) builds::

    node types   user                       num_nodes = n_users; ids (raw ids), n_id (index)
                 item_<domain> per domain   num_nodes = items of the domain; ids, n_id (the
                                            global item index), x = text features when given
    edge types   (user, interacts, item_<d>)        edge_index (2, E_d): train positives
                 (item_<d>, rev_interacts, user)    the same pairs reversed

with the train rows' ``rating`` and ``time`` beside ``edge_index`` (``splits=True``,
the default, also stores ``valid_edge_index`` / ``test_edge_index`` with their
``*_rating``, ``*_time`` and ``*_cold`` (bool: cold-start row)), and the user
node's ``x`` the mean text of the user's train items when text is given. Only
train edges are in ``edge_index``, so nothing of valid/test leaks into
message passing.

:func:`from_hetero_data` reads such an object back exactly, or builds a
dataset from a user's own ``HeteroData``: the gnnrec layout above, or one
``user`` and one item node type joined by one edge type, with ``item_domain``
naming every item's domain; graphs without valid/test edges are split with
the same protocols as every other format (``split``: cold | loo | random).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

from gnnrec.data.schema import DataError, Dataset, RawData

USER = "user"


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


def to_hetero_data(ds: Dataset, item_text: np.ndarray | None = None, splits: bool = True):
    """The ``HeteroData`` of the module docstring; ``item_text``: (n_items, t) float32 or None."""
    from torch_geometric.data import HeteroData

    data = HeteroData()
    data[USER].num_nodes = ds.n_users
    data[USER].n_id = torch.arange(ds.n_users)
    data[USER].ids = ds.users["user_id"].astype(str).tolist()
    if item_text is not None:
        data[USER].x = torch.from_numpy(user_text_mean(ds, item_text))
    for d, dom in enumerate(ds.domains):
        blk = ds.item_block(d)
        t = item_type(dom)
        data[t].num_nodes = blk.stop - blk.start
        data[t].n_id = torch.arange(blk.start, blk.stop)
        data[t].ids = ds.items["item_id"].iloc[blk].astype(str).tolist()
        if item_text is not None:
            data[t].x = torch.from_numpy(np.ascontiguousarray(item_text[blk], dtype=np.float32))
        et = (USER, "interacts", t)
        for split in ("train", "valid", "test") if splits else ("train",):
            rows = ds.split(split)
            rows = rows[rows["domain"] == d]
            if split == "train":       # message passing: each (user, item) pair once
                rows = rows.drop_duplicates(["user", "item"], keep="last").sort_values(["user", "item"])
            pairs = torch.from_numpy(np.stack([rows["user"].to_numpy(),
                                               rows["item"].to_numpy() - blk.start]).astype(np.int64))
            prefix = "" if split == "train" else f"{split}_"
            data[et][f"{prefix}edge_index"] = pairs
            data[et][f"{prefix}rating"] = torch.tensor(rows["rating"].to_numpy(np.float32))
            data[et][f"{prefix}time"] = torch.tensor(rows["timestamp"].to_numpy(np.int64))
            if split != "train":
                data[et][f"{prefix}cold"] = torch.tensor((rows["scenario"] == "cold").to_numpy())
        data[t, "rev_interacts", USER].edge_index = data[et].edge_index.flip(0)
    return data


def _frame(data, et, prefix: str, user_ids: list[str], item_ids: list[str]) -> pd.DataFrame:
    ei = data[et][f"{prefix}edge_index"]
    n = ei.shape[1]
    get = lambda key, default: (data[et][f"{prefix}{key}"].cpu().numpy()      # noqa: E731
                                if f"{prefix}{key}" in data[et] else default)
    return pd.DataFrame({"user_id": np.asarray(user_ids, dtype=object)[ei[0].cpu().numpy()],
                         "item_id": np.asarray(item_ids, dtype=object)[ei[1].cpu().numpy()],
                         "rating": get("rating", np.ones(n, np.float32)).astype(np.float64),
                         "timestamp": get("time", np.arange(n)).astype(np.int64),
                         "cold": get("cold", np.zeros(n, bool))})


def _layout(data, item_domain: Sequence[str] | np.ndarray | None) -> list[tuple[str, tuple, str | None]]:
    """(domain, edge type, item node type) per domain of ``data``."""
    ets = [et for et in data.edge_types if et[0] == USER and not et[1].startswith("rev_")]
    if USER not in data.node_types or not ets:
        raise DataError(f"from_hetero_data needs a 'user' node type and a (user, relation, item) edge "
                        f"type; this HeteroData has node types {data.node_types} and edge types "
                        f"{data.edge_types}")
    if item_domain is None:
        if not all(et[2].startswith("item_") for et in ets):
            raise DataError(f"item node types {[et[2] for et in ets]} do not name their domain "
                            f"(item_<domain>); pass item_domain=... (one domain name per item)")
        return [(et[2][len("item_"):], et, et[2]) for et in ets]
    if len(ets) != 1:
        raise DataError(f"item_domain=... goes with one (user, relation, item) edge type; this "
                        f"HeteroData has {ets}")
    n_items = data[ets[0][2]].num_nodes
    if len(item_domain) != n_items:
        raise DataError(f"item_domain has {len(item_domain)} entries but node type {ets[0][2]!r} has "
                        f"{n_items} nodes; give one domain name per item")
    return [(None, ets[0], ets[0][2])]


def from_hetero_data(data, item_domain: Sequence[str] | np.ndarray | None = None, name: str = "pyg",
                     split: str = "cold", seed: int = 0, protocol: Any = None) -> Dataset:
    """A :class:`Dataset` from a ``HeteroData`` (module docstring)."""
    from gnnrec.data.clean import assemble
    from gnnrec.data.prepare import split_raw
    from gnnrec.data.split import CDProtocol

    layout = _layout(data, item_domain)
    users = data[USER]
    user_ids = list(users.ids) if "ids" in users else [f"u{i}" for i in range(users.num_nodes)]
    frames, items = {"train": [], "valid": [], "test": []}, []
    for dom, et, t in layout:
        n = data[t].num_nodes
        if dom is None:
            doms = np.asarray([str(x) for x in item_domain], dtype=object)
            ids = list(data[t].ids) if "ids" in data[t] else [f"{d}:{j}" for j, d in enumerate(doms)]
        else:
            doms = np.full(n, dom, dtype=object)
            ids = list(data[t].ids) if "ids" in data[t] else [f"{dom}:{j}" for j in range(n)]
        items.append(pd.DataFrame({"item_id": ids, "domain": doms}))
        for s in frames:
            prefix = "" if s == "train" else f"{s}_"
            if f"{prefix}edge_index" in data[et]:
                frames[s].append(_frame(data, et, prefix, user_ids, ids))
    item_table = pd.concat(items, ignore_index=True)
    domains = list(dict.fromkeys(item_table["domain"]))
    if frames["valid"] and frames["test"]:           # written by to_hetero_data: the splits as they were
        tables = {s: pd.concat(f, ignore_index=True) for s, f in frames.items()}
        raw = assemble(name, pd.DataFrame({"user_id": user_ids}), item_table, domains,
                       pd.concat(tables.values(), ignore_index=True).drop(columns="cold"),
                       source={"format": "pyg"}, add_missing_users=False)
        uidx, iidx = raw.user_index(), raw.item_index()

        def rows(t: pd.DataFrame, scenario: bool) -> pd.DataFrame:
            out = pd.DataFrame({"user": t["user_id"].map(uidx).to_numpy(np.int64),
                                "item": t["item_id"].map(iidx).to_numpy(np.int64),
                                "rating": t["rating"].to_numpy(np.float32),
                                "timestamp": t["timestamp"].to_numpy(np.int64)})
            out["domain"] = raw.item_domain()[out["item"].to_numpy()]
            if scenario:
                out["scenario"] = np.where(t["cold"].to_numpy(), "cold", "warm")
            return out
        return Dataset(name=name, users=raw.users, items=raw.items, domains=raw.domains,
                       train=rows(tables["train"], False), valid=rows(tables["valid"], True),
                       test=rows(tables["test"], True), protocol={"source": "pyg HeteroData"})
    inter = pd.concat(frames["train"], ignore_index=True).drop(columns="cold")
    raw: RawData = assemble(name, pd.DataFrame({"user_id": user_ids}), item_table, domains, inter,
                            source={"format": "pyg"}, add_missing_users=False)
    if protocol is None:                       # every edge is a positive unless ratings say otherwise
        rated = any("rating" in data[et] for _, et, _ in layout)
        protocol = CDProtocol(seed=seed) if rated else CDProtocol(threshold=0.0, seed=seed)
    ds = split_raw(raw, split, seed=seed, protocol=protocol)
    ds.name = name
    return ds
