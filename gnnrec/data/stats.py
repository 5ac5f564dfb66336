"""Dataset statistics: the facts that decide whether cross-domain transfer can work.

:func:`dataset_stats` returns a JSON-ready dict:

* ``domains[d]``: users (with any row in d), items, interactions per split,
  density ``= all rows / (users * items)``, warm/cold valid and test users,
  items with text (a non-empty text field), valid/test items never in train;
* ``bridge_users``: users with train rows in >= 2 domains (the paths that
  carry preferences between domains); ``bridge_users_all``: with rows in
  >= 2 domains in any split;
* ``graph``: the train user-item graph (all users and items as nodes, one
  edge per distinct train pair), built with networkx: connected components,
  isolated nodes, and the share of nodes in the largest component -- overall
  and per domain (that domain's items and the users with train rows there).
"""

from __future__ import annotations

from typing import Any

import networkx as nx
import numpy as np

from gnnrec.data.schema import SPLITS, Dataset


def _text_items(ds: Dataset) -> np.ndarray:
    """Bool per item: some text column holds a non-empty value."""
    cols = ds.text_columns
    if not cols:
        return np.zeros(ds.n_items, dtype=bool)
    filled = ds.items[cols].astype(str).apply(
        lambda s: ~s.str.strip().isin(["", "nan", "None", "<NA>"]))
    return filled.any(axis=1).to_numpy()


def _connectivity(n_users: int, users: np.ndarray, items: np.ndarray, user_nodes: np.ndarray,
                  item_nodes: np.ndarray) -> dict[str, Any]:
    """Components of the bipartite graph with the given nodes and (user, item) edges."""
    g = nx.Graph()
    g.add_nodes_from(user_nodes.tolist())
    g.add_nodes_from((n_users + item_nodes).tolist())
    g.add_edges_from(zip(users.tolist(), (n_users + items).tolist()))
    n = g.number_of_nodes()
    comps = sorted((len(c) for c in nx.connected_components(g)), reverse=True) if n else []
    return {"nodes": n, "edges": g.number_of_edges(), "components": len(comps),
            "isolated_nodes": int(sum(1 for c in comps if c == 1)),
            "largest_component_share": round(comps[0] / n, 6) if n else 0.0}


def dataset_stats(ds: Dataset, graph: bool = True) -> dict[str, Any]:
    """Statistics of ``ds`` (see module doc)."""
    has_text = _text_items(ds)
    tr = ds.train
    out: dict[str, Any] = {"name": ds.name, "users": ds.n_users, "items": ds.n_items,
                           "domains": {}, "rows": {s: len(ds.split(s)) for s in SPLITS}}
    all_rows = [ds.split(s) for s in SPLITS]
    for d, dom in enumerate(ds.domains):
        blk = ds.item_block(d)
        n_items = blk.stop - blk.start
        rows = {s: ds.split(s)[ds.split(s)["domain"] == d] for s in SPLITS}
        users = np.unique(np.concatenate([r["user"].to_numpy() for r in rows.values()]))
        total = sum(len(r) for r in rows.values())
        seen = np.zeros(ds.n_items, dtype=bool)
        seen[rows["train"]["item"].to_numpy()] = True
        info: dict[str, Any] = {
            "users": int(len(users)), "items": int(n_items),
            "interactions": {s: len(r) for s, r in rows.items()},
            "density": round(total / max(1, len(users) * n_items), 6),
            "items_with_text": int(has_text[blk].sum()),
            "train_users": int(rows["train"]["user"].nunique()),
        }
        for s in ("valid", "test"):
            r = rows[s]
            for sc in ("warm", "cold"):
                info[f"{s}_{sc}_users"] = int(r.loc[r["scenario"] == sc, "user"].nunique())
            info[f"{s}_items_not_in_train"] = int((~seen[r["item"].to_numpy()]).sum())
        out["domains"][dom] = info
    doms_per_user = tr.groupby("user")["domain"].nunique()
    out["bridge_users"] = int((doms_per_user >= 2).sum())
    every = np.concatenate([np.stack([r["user"].to_numpy(), r["domain"].to_numpy()], 1)
                            for r in all_rows])
    pairs = np.unique(every, axis=0)
    out["bridge_users_all"] = int((np.bincount(pairs[:, 0], minlength=ds.n_users) >= 2).sum())
    out["items_with_text"] = int(has_text.sum())
    if graph:
        u, i = tr["user"].to_numpy(), tr["item"].to_numpy()
        out["graph"] = {"train": _connectivity(ds.n_users, u, i, np.arange(ds.n_users),
                                               np.arange(ds.n_items))}
        for d, dom in enumerate(ds.domains):
            m = tr["domain"].to_numpy() == d
            blk = ds.item_block(d)
            out["graph"][dom] = _connectivity(ds.n_users, u[m], i[m], np.unique(u[m]),
                                              np.arange(blk.start, blk.stop))
    return out


def format_stats(st: dict[str, Any]) -> str:
    """Human-readable table of :func:`dataset_stats` output."""
    lines = [f"{st['name']}: {st['users']:,} users, {st['items']:,} items, rows "
             + ", ".join(f"{s} {n:,}" for s, n in st["rows"].items()),
             f"bridge users (train rows in >= 2 domains): {st['bridge_users']:,} "
             f"(any split: {st['bridge_users_all']:,}); items with text: "
             f"{st['items_with_text']:,}"]
    hdr = (f"{'domain':<12}{'users':>8}{'items':>8}{'train':>10}{'valid':>8}{'test':>8}"
           f"{'density':>10}{'text':>7}{'val w/c':>12}{'test w/c':>12}")
    lines += ["", hdr, "-" * len(hdr)]
    for dom, d in st["domains"].items():
        it = d["interactions"]
        lines.append(f"{dom:<12}{d['users']:>8,}{d['items']:>8,}{it['train']:>10,}"
                     f"{it['valid']:>8,}{it['test']:>8,}{d['density']:>10.4f}"
                     f"{d['items_with_text']:>7,}"
                     f"{d['valid_warm_users']:>6,}/{d['valid_cold_users']:<5,}"
                     f"{d['test_warm_users']:>6,}/{d['test_cold_users']:<5,}")
    if "graph" in st:
        lines += ["", "train user-item graph (networkx):"]
        for part, g in st["graph"].items():
            lines.append(f"  {part:<10} nodes {g['nodes']:>7,}  edges {g['edges']:>9,}  "
                         f"components {g['components']:>6,}  isolated {g['isolated_nodes']:>6,}  "
                         f"largest {100 * g['largest_component_share']:.2f}% of nodes")
    return "\n".join(lines)
