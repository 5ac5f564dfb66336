"""Edits of a prepared :class:`Dataset`: appended interactions (``gnnrec update``) and removed
users (``gnnrec forget``). Both return a new Dataset (the input is not modified) and a report.

* :func:`append_interactions` -- new train positives (user_id, item_id[, domain, rating,
  timestamp]): unknown users are appended to the users table (so every old user keeps its
  index), items must exist; pairs already in train are dropped; a pair that was held out in
  valid/test leaves it (it is train now); a held-out *cold* (user, domain) that gains train rows
  is no longer cold: its remaining valid/test rows become ``warm``.
* :func:`remove_users` -- the users' rows leave ``users`` (the others are re-indexed in order)
  and every split; ``user_map`` gives each remaining user's old index.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gnnrec.data.readers import read_table
from gnnrec.data.schema import SPLITS, DataError, Dataset


def read_interactions(path: str | os.PathLike) -> pd.DataFrame:
    """A TSV of interactions with a header: ``user_id``, ``item_id``, optional ``domain``,
    ``rating`` (default 5) and ``timestamp`` (default 0)."""
    t = read_table(Path(path), required=["user_id", "item_id"])
    if "rating" in t:
        rating = pd.to_numeric(t["rating"], errors="coerce")
        if rating.isna().any():
            i = int(np.flatnonzero(rating.isna())[0])
            raise DataError(f"{path}, line {t.attrs['line_of'][i]}: rating {t['rating'].iat[i]!r} is not a "
                            f"number")
        t["rating"] = rating
    else:
        t["rating"] = 5.0
    if "timestamp" in t:
        ts = pd.to_numeric(t["timestamp"], errors="coerce")
        if ts.isna().any():
            i = int(np.flatnonzero(ts.isna())[0])
            raise DataError(f"{path}, line {t.attrs['line_of'][i]}: timestamp {t['timestamp'].iat[i]!r} is "
                            f"not an integer")
        t["timestamp"] = ts.astype(np.int64)
    else:
        t["timestamp"] = 0
    return t.reset_index(drop=True)


def append_interactions(ds: Dataset, new: pd.DataFrame, source: str = "appended interactions"
                        ) -> tuple[Dataset, dict[str, Any]]:
    """``ds`` with ``new`` train positives (module docstring); returns (dataset, report)."""
    items = ds.item_index()
    rows = new.reset_index(drop=True)
    unknown = sorted(set(rows["item_id"].astype(str)) - set(items))
    if unknown:
        raise DataError(f"{source}: items {unknown[:5]} ({len(unknown)} unknown) are not in {ds.name}; "
                        f"new items enter through their text (gnnrec export --add-items / add-items) or "
                        f"a new dataset")
    item = rows["item_id"].astype(str).map(items).to_numpy(np.int64)
    dom = ds.item_domain()[item]
    if "domain" in rows:
        given = rows["domain"].astype(str).to_numpy()
        bad = np.flatnonzero(given != np.asarray(ds.domains, dtype=object)[dom])
        if len(bad):
            i = int(bad[0])
            raise DataError(f"{source}, data row {i + 1}: item {rows['item_id'].iat[i]} belongs to domain "
                            f"{ds.domains[dom[i]]}, not {given[i]}")
    users = ds.users.copy()
    uidx = ds.user_index()
    fresh = [u for u in dict.fromkeys(rows["user_id"].astype(str)) if u not in uidx]
    if fresh:
        extra = pd.DataFrame({"user_id": fresh})
        users = pd.concat([users, extra], ignore_index=True)
        uidx.update({u: len(ds.users) + k for k, u in enumerate(fresh)})
    user = rows["user_id"].astype(str).map(uidx).to_numpy(np.int64)
    add = pd.DataFrame({"user": user, "item": item, "domain": dom,
                        "rating": rows["rating"].to_numpy(np.float32),
                        "timestamp": rows["timestamp"].to_numpy(np.int64)})
    n_items = ds.n_items
    key_train = set((ds.train["user"].to_numpy() * n_items + ds.train["item"].to_numpy()).tolist())
    key_add = add["user"].to_numpy() * n_items + add["item"].to_numpy()
    dup = pd.Series(key_add).duplicated().to_numpy() | np.isin(key_add, list(key_train))
    add = add[~dup]
    key_add = key_add[~dup]
    nd = len(ds.domains)
    gained = set((add["user"].to_numpy() * nd + add["domain"].to_numpy()).tolist())
    held, relabelled = {}, 0
    for s in ("valid", "test"):
        t = ds.split(s)
        k = t["user"].to_numpy() * n_items + t["item"].to_numpy()
        keep = ~np.isin(k, key_add)
        t = t[keep].reset_index(drop=True)
        was_cold = (t["scenario"] == "cold").to_numpy()
        now_warm = was_cold & np.isin(t["user"].to_numpy() * nd + t["domain"].to_numpy(), list(gained))
        t.loc[now_warm, "scenario"] = "warm"
        relabelled += int(now_warm.sum())
        held[s] = (t, int((~keep).sum()))
    train = pd.concat([ds.train, add], ignore_index=True)
    out = Dataset(name=ds.name, users=users, items=ds.items, domains=list(ds.domains),
                  train=train, valid=held["valid"][0], test=held["test"][0],
                  protocol={**ds.protocol, "appended": {"rows": int(len(add)), "source": source}})
    report = {"rows": int(len(rows)), "added": int(len(add)), "duplicates": int(dup.sum()),
              "new_users": len(fresh), "left_valid": held["valid"][1], "left_test": held["test"][1],
              "cold_rows_now_warm": relabelled}
    return out, report


def remove_users(ds: Dataset, user_ids: list[str], source: str = "users file"
                 ) -> tuple[Dataset, np.ndarray, dict[str, Any]]:
    """(dataset without ``user_ids``, user_map (new n_users,): old index of each remaining
    user, report). Unknown ids are an error naming them."""
    uidx = ds.user_index()
    ids = list(dict.fromkeys(str(u) for u in user_ids))
    unknown = [u for u in ids if u not in uidx]
    if unknown:
        raise DataError(f"{source}: users {unknown[:5]} ({len(unknown)} in all) are not in {ds.name}; "
                        f"give ids as in the dataset's users table (e.g. {ds.users['user_id'].iat[0]})")
    if not ids:
        raise DataError(f"{source} names no user; give one user id per line")
    gone = np.zeros(ds.n_users, bool)
    gone[[uidx[u] for u in ids]] = True
    user_map = np.flatnonzero(~gone)
    new_index = np.full(ds.n_users, -1, np.int64)
    new_index[user_map] = np.arange(len(user_map))
    tables, removed = {}, {}
    for s in SPLITS:
        t = ds.split(s)
        keep = ~gone[t["user"].to_numpy()]
        removed[s] = int((~keep).sum())
        t = t[keep].reset_index(drop=True)
        t["user"] = new_index[t["user"].to_numpy()]
        tables[s] = t
    out = Dataset(name=ds.name, users=ds.users.iloc[user_map].reset_index(drop=True), items=ds.items,
                  domains=list(ds.domains), protocol={**ds.protocol, "forgotten_users": len(ids)}, **tables)
    return out, user_map, {"users": len(ids), **{f"{s}_rows": n for s, n in removed.items()}}
