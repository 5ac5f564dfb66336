"""From raw-id tables to a clean :class:`~gnnrec.data.schema.RawData`.

* :func:`assemble` maps raw user/item ids of an interaction table to indices.
  Rows with an empty id are rejected, and so are ids missing from the item (or
  user) table, with the file and line of the first offender.
* :func:`clean` then applies, in this order: exact duplicates of a
  (user, item) pair keep only their latest-timestamp row; an optional implicit
  threshold keeps ``rating >= threshold``; an optional k-core keeps, per
  domain, the largest sub-table in which every user and every item has at
  least ``k`` interactions (iterated to a fixed point). Every step's row count
  goes into the returned report.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from gnnrec.data.schema import DataError, RawData


def _where(frame: pd.DataFrame, i: int) -> str:
    src = frame.attrs.get("source", "interactions")
    line_of = frame.attrs.get("line_of")
    return f"{src}, line {int(line_of[i])}" if line_of is not None and len(line_of) > i else \
        f"{src}, row {i + 1}"


def assemble(name: str, users: pd.DataFrame | None, items: pd.DataFrame, domains: list[str],
             inter: pd.DataFrame, source: dict[str, Any] | None = None,
             add_missing_users: bool = True) -> RawData:
    """Build a RawData from raw-id tables.

    ``inter`` has columns ``user_id``, ``item_id``, ``rating``, ``timestamp``
    (``attrs['source']``/``attrs['line_of']`` name the file and lines for
    errors); an item's domain comes from ``items``. ``users`` may be None (or
    lack some ids when ``add_missing_users``): users are then appended in
    order of first appearance.
    """
    codes: dict[str, np.ndarray] = {}
    uniq: dict[str, list[str]] = {}
    for col in ("user_id", "item_id"):
        c, u = pd.factorize(inter[col])          # NaN -> code -1; ids repeat a lot
        uniq[col] = [str(x) for x in u]
        blank = np.asarray([not x.strip() for x in uniq[col]] + [True], dtype=bool)
        empty = blank[c]                           # code -1 indexes the trailing True
        if empty.any():
            i = int(np.flatnonzero(empty)[0])
            raise DataError(f"{_where(inter, i)}: empty {col} ({int(empty.sum())} such rows); "
                            f"every interaction needs a user and an item id -- fix or drop them")
        codes[col] = c
    iidx = pd.Index(items["item_id"].astype(str))
    if not iidx.is_unique:
        dup = iidx[iidx.duplicated()][:3].tolist()
        raise DataError(f"{name}: duplicate item ids in the item table, e.g. {dup}")
    missing = iidx.get_indexer(uniq["item_id"])[codes["item_id"]] < 0
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise DataError(f"{_where(inter, i)}: item {inter['item_id'].iat[i]!r} is not in the item "
                        f"table ({int(missing.sum())} such rows); add it to the item file "
                        f"or drop those ratings")
    if users is None:
        users = pd.DataFrame({"user_id": uniq["user_id"]})
    else:
        users = users.copy()
        users["user_id"] = users["user_id"].astype(str)
        known = pd.Index(users["user_id"]).get_indexer(uniq["user_id"]) >= 0
        if not known.all():
            extra = [u for u, k in zip(uniq["user_id"], known) if not k]
            if not add_missing_users:
                i = int(np.flatnonzero(~known[codes["user_id"]])[0])
                raise DataError(f"{_where(inter, i)}: user {inter['user_id'].iat[i]!r} is not in "
                                f"the user table ({len(extra)} such users); add them there")
            users = pd.concat([users, pd.DataFrame({"user_id": extra})], ignore_index=True)
    raw0 = RawData(name=name, users=users, items=items, domains=domains, source=source or {})
    # items were re-sorted by domain: map raw ids against the final order
    item_index = pd.Index(raw0.items["item_id"]).get_indexer(uniq["item_id"])[codes["item_id"]]
    user_index = pd.Index(raw0.users["user_id"]).get_indexer(uniq["user_id"])[codes["user_id"]]
    frame = pd.DataFrame({
        "user": user_index, "item": item_index,
        "domain": raw0.item_domain()[item_index],
        "rating": inter["rating"].to_numpy(np.float32),
        "timestamp": inter["timestamp"].to_numpy(np.int64)})
    return RawData(name=name, users=raw0.users, items=raw0.items, domains=domains,
                   interactions=frame, source=raw0.source)


def drop_duplicates(inter: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Keep one row per (user, item): the latest timestamp (the last such row on ties)."""
    order = np.lexsort((np.arange(len(inter)), inter["timestamp"].to_numpy()))
    last = inter.iloc[order].drop_duplicates(["user", "item"], keep="last")
    out = inter.loc[np.sort(last.index.to_numpy())]
    return out.reset_index(drop=True), len(inter) - len(out)


def kcore(inter: pd.DataFrame, k: int) -> pd.DataFrame:
    """Per domain, drop users and items with < ``k`` rows until none is left."""
    keep = np.ones(len(inter), dtype=bool)
    for d in np.unique(inter["domain"].to_numpy()):
        rows = np.flatnonzero(inter["domain"].to_numpy() == d)
        u = inter["user"].to_numpy()[rows]
        it = inter["item"].to_numpy()[rows]
        alive = np.ones(len(rows), dtype=bool)
        while True:
            uc = np.bincount(u[alive], minlength=u.max() + 1)
            ic = np.bincount(it[alive], minlength=it.max() + 1)
            bad = alive & ((uc[u] < k) | (ic[it] < k))
            if not bad.any():
                break
            alive &= ~bad
        keep[rows[~alive]] = False
    return inter[keep].reset_index(drop=True)


def clean(raw: RawData, threshold: float | None = None, k: int | None = None,
          ) -> tuple[RawData, dict[str, Any]]:
    """Deduplicate, apply the implicit threshold and the optional k-core (see module doc)."""
    inter = raw.interactions
    report: dict[str, Any] = {"rows_in": len(inter)}
    inter, report["duplicates_dropped"] = drop_duplicates(inter)
    if threshold is not None:
        inter = inter[inter["rating"] >= threshold].reset_index(drop=True)
        report["threshold"] = threshold
        report["rows_after_threshold"] = len(inter)
    if k:
        inter = kcore(inter, k)
        report["kcore"] = k
        report["rows_after_kcore"] = len(inter)
    report["rows_out"] = len(inter)
    if len(inter) == 0:
        raise DataError(f"{raw.name}: no interactions left after cleaning ({report}); "
                        f"lower the threshold or the k-core")
    out = RawData(name=raw.name, users=raw.users, items=raw.items, domains=raw.domains,
                  interactions=inter, source={**raw.source, "cleaning": report})
    return out, report
