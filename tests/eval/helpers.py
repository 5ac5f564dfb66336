"""Hand-built datasets for evaluator tests."""

from __future__ import annotations

import pandas as pd

from gnnrec.data.schema import Dataset

COLS = ["user", "item", "domain", "rating", "timestamp"]


def hand_dataset(n_items: tuple[int, ...], n_users: int, train: list[tuple[int, int]],
                 test: list[tuple[int, int, str]], valid: list[tuple[int, int, str]] = ()
                 ) -> Dataset:
    """Dataset with domains d0, d1, ...; ``train`` (user, item), valid/test (user, item, scenario).

    Item indices are global (domain blocks follow ``n_items``).
    """
    domains = [f"d{i}" for i in range(len(n_items))]
    dom_of = [d for d, n in enumerate(n_items) for _ in range(n)]
    items = pd.DataFrame({"item_id": [f"i{j}" for j in range(sum(n_items))],
                          "domain": [domains[d] for d in dom_of]})
    users = pd.DataFrame({"user_id": [f"u{i}" for i in range(n_users)]})

    def frame(rows, scen):
        recs = [(r[0], r[1], dom_of[r[1]], 1.0, 0) + ((r[2],) if scen else ()) for r in rows]
        return pd.DataFrame(recs, columns=COLS + (["scenario"] if scen else []))

    return Dataset(name="hand", users=users, items=items, domains=domains,
                   train=frame(train, False), valid=frame(list(valid), True),
                   test=frame(test, True))
