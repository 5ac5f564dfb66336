"""Graph facts logged with every run (plain ints/floats, JSON-ready).

* ``nodes``: users and items per domain; ``edges``: distinct train
  (user, item) pairs per domain;
* ``bridge_users``: users with train positives in at least two domains;
* ``cold``: per domain, the number of cold users (``scenario == cold`` rows in
  valid/test), the share of them with train positives in another domain
  (``with_other_domain``: the joint graph reaches them at all), and the share
  whose 3-hop neighbourhood (user -> other-domain item -> user -> item)
  contains an item of the cold domain (``reach_3hop``: a 3-layer LightGCN can
  carry target-domain signal to them).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from gnnrec.data.schema import Dataset


def domain_activity(users: np.ndarray, domains: np.ndarray, n_users: int, n_domains: int) -> np.ndarray:
    """(n_users, n_domains) bool: whether user u has a row with domain d among (users, domains).

    ``users`` / ``domains``: equal-length index arrays of interaction rows (a
    split's ``user`` and ``domain`` columns, or a subset of them).
    """
    act = np.zeros((n_users, n_domains), dtype=bool)
    act[users, domains] = True
    return act


def graph_facts(ds: Dataset) -> dict[str, Any]:
    """Compute the facts listed in the module docstring."""
    r = ds.train_matrix()
    item_dom = ds.item_domain()
    active = domain_activity(ds.train["user"].to_numpy(), ds.train["domain"].to_numpy(),
                             ds.n_users, len(ds.domains))
    facts: dict[str, Any] = {
        "nodes": {"user": ds.n_users,
                  **{f"item_{dom}": int(ds.item_block(d).stop - ds.item_block(d).start)
                     for d, dom in enumerate(ds.domains)}},
        "edges": {f"user-item_{dom}": int(r[:, ds.item_block(d)].nnz) for d, dom in enumerate(ds.domains)},
        "bridge_users": int((active.sum(axis=1) >= 2).sum()),
        "cold": {},
    }
    held = pd.concat([ds.valid, ds.test])
    cold = held[held["scenario"] == "cold"]
    for d, dom in enumerate(ds.domains):
        users = np.unique(cold.loc[cold["domain"] == d, "user"].to_numpy())
        if len(users) == 0:
            continue
        other = active[users][:, [e for e in range(len(ds.domains)) if e != d]].any(axis=1)
        # items (any domain but d) having a neighbour user active in d
        item_hits = (r.T @ active[:, d].astype(np.float32)) > 0
        item_hits &= item_dom != d
        reach = (r[users] @ item_hits.astype(np.float32)) > 0
        facts["cold"][dom] = {"users": int(len(users)),
                              "with_other_domain": round(float(other.mean()), 4),
                              "reach_3hop": round(float(reach.mean()), 4)}
    return facts
