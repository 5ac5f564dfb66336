"""The canonical in-memory data model shared by every gnnrec stage.

Every dataset, whatever its source, becomes one :class:`Dataset`:

* ``users``  -- one row per user, row ``i`` is user index ``i``. Column
  ``user_id`` holds the raw id (str); optional profile columns follow
  (``age``, ``gender``, ``occupation``, ...).
* ``items``  -- one row per item, row ``j`` is item index ``j``. Columns
  ``item_id`` (raw id, str; namespaced ``<domain>:<raw>`` when raw ids are only
  unique per domain), ``domain`` (str) and optional text fields (``title``,
  ``year``, ``genres``, ``attributes``, ``description``, ...). Items are sorted
  by domain (in the order of :attr:`Dataset.domains`), so the items of domain
  ``d`` are the contiguous block ``item_offsets[d] : item_offsets[d + 1]``.
* ``train`` / ``valid`` / ``test`` -- interaction tables with integer columns
  ``user`` (int64 user index), ``item`` (int64 item index), ``domain`` (int64
  index into :attr:`Dataset.domains`), ``rating`` (float32), ``timestamp``
  (int64). ``valid`` and ``test`` add ``scenario`` (str: ``warm`` | ``cold``).

A raw, not yet split dataset is a :class:`RawData` with a single
``interactions`` table of the same integer layout.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from gnnrec.data.errors import DataError

SPLITS = ("train", "valid", "test")
SCENARIOS = ("warm", "cold")
INTERACTION_COLUMNS = ("user", "item", "domain", "rating", "timestamp")
_DTYPES = {"user": np.int64, "item": np.int64, "domain": np.int64,
           "rating": np.float32, "timestamp": np.int64}


def namespaced(domain: str, raw_id: str) -> str:
    """Item id made unique across domains: ``namespaced("sport", "12") == "sport:12"``."""
    return f"{domain}:{raw_id}"


def normalize_interactions(frame: pd.DataFrame, with_scenario: bool = False) -> pd.DataFrame:
    """Cast an interaction table to the canonical column set and dtypes (copy)."""
    cols = list(INTERACTION_COLUMNS) + (["scenario"] if with_scenario else [])
    if len(frame.columns) == 0 and len(frame) == 0:
        frame = pd.DataFrame({c: pd.Series(dtype=_DTYPES.get(c, object)) for c in cols})
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise DataError(f"interaction table lacks columns {missing}; has {list(frame.columns)}")
    out = frame.loc[:, cols].reset_index(drop=True).copy()
    out.attrs = {}
    for c, dt in _DTYPES.items():
        out[c] = out[c].to_numpy().astype(dt, copy=False)
    if with_scenario:
        out["scenario"] = out["scenario"].astype(str)
        bad = set(out["scenario"].unique()) - set(SCENARIOS)
        if bad:
            raise DataError(f"unknown scenario values {sorted(bad)}; expected one of {SCENARIOS}")
    return out


def _index_items(items: pd.DataFrame, domains: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """Sort items by domain order (stable), return (items, item_offsets)."""
    order = {d: i for i, d in enumerate(domains)}
    unknown = set(items["domain"].unique()) - set(order)
    if unknown:
        raise DataError(f"items have domains {sorted(unknown)} not in {domains}")
    key = items["domain"].map(order).to_numpy()
    perm = np.argsort(key, kind="stable")
    items = items.iloc[perm].reset_index(drop=True)
    counts = np.bincount(key, minlength=len(domains))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return items, offsets


@dataclass
class _Tables:
    """Users, items and domain bookkeeping shared by RawData and Dataset."""

    name: str
    users: pd.DataFrame
    items: pd.DataFrame
    domains: list[str]
    item_offsets: np.ndarray = field(init=False, repr=False)

    def _init_tables(self) -> None:
        self.users = self.users.reset_index(drop=True)
        self.users.attrs = {}        # reader bookkeeping (line numbers) must not reach parquet
        self.users["user_id"] = self.users["user_id"].astype(str)
        self.items = self.items.copy()
        self.items.attrs = {}
        self.items["item_id"] = self.items["item_id"].astype(str)
        self.items["domain"] = self.items["domain"].astype(str)
        self.items, self.item_offsets = _index_items(self.items, list(self.domains))
        for what, ids in (("user", self.users["user_id"]), ("item", self.items["item_id"])):
            dup = ids[ids.duplicated()]
            if len(dup):
                raise DataError(f"{self.name}: duplicate {what} ids, e.g. {list(dup[:3])}")

    # ---- sizes and id maps -------------------------------------------------
    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    def domain_index(self, domain: str) -> int:
        try:
            return self.domains.index(domain)
        except ValueError:
            raise KeyError(f"unknown domain {domain!r}; this dataset has {self.domains}") from None

    def item_block(self, domain: str | int) -> slice:
        """Slice of item indices belonging to ``domain`` (name or index)."""
        d = self.domain_index(domain) if isinstance(domain, str) else int(domain)
        return slice(int(self.item_offsets[d]), int(self.item_offsets[d + 1]))

    def item_domain(self) -> np.ndarray:
        """Domain index of every item, shape (n_items,)."""
        return np.repeat(np.arange(len(self.domains)), np.diff(self.item_offsets))

    def user_index(self) -> dict[str, int]:
        """Raw user id -> user index."""
        return {u: i for i, u in enumerate(self.users["user_id"])}

    def item_index(self) -> dict[str, int]:
        """Raw (possibly namespaced) item id -> item index."""
        return {it: i for i, it in enumerate(self.items["item_id"])}

    @property
    def text_columns(self) -> list[str]:
        """Item columns that carry text (everything but id and domain)."""
        return [c for c in self.items.columns if c not in ("item_id", "domain")]

    @property
    def has_text(self) -> bool:
        if not self.text_columns:
            return False
        filled = self.items[self.text_columns].astype(str).replace({"nan": "", "None": ""})
        return bool((filled.apply(lambda s: s.str.strip() != "")).any(axis=None))


@dataclass
class RawData(_Tables):
    """Users, items and all interactions of a source before splitting."""

    interactions: pd.DataFrame = field(default_factory=pd.DataFrame)
    source: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._init_tables()
        self.interactions = normalize_interactions(self.interactions)


@dataclass
class Dataset(_Tables):
    """A prepared, split cross-domain dataset (see module docstring)."""

    train: pd.DataFrame = field(default_factory=pd.DataFrame)
    valid: pd.DataFrame = field(default_factory=pd.DataFrame)
    test: pd.DataFrame = field(default_factory=pd.DataFrame)
    protocol: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._init_tables()
        self.train = normalize_interactions(self.train)
        self.valid = normalize_interactions(self.valid, with_scenario=True)
        self.test = normalize_interactions(self.test, with_scenario=True)
        self.validate()

    def train_matrix(self, dtype: Any = np.float32) -> sp.csr_matrix:
        """Binary (n_users, n_items) CSR of the train positives (a repeated pair counts once)."""
        tr = self.train
        r = sp.csr_matrix((np.ones(len(tr), np.float32), (tr["user"].to_numpy(), tr["item"].to_numpy())),
                          shape=(self.n_users, self.n_items))
        r.data[:] = 1.0
        return r.astype(dtype)

    def split(self, name: str) -> pd.DataFrame:
        if name not in SPLITS:
            raise KeyError(f"unknown split {name!r}; expected one of {SPLITS}")
        return getattr(self, name)

    def validate(self) -> None:
        """Check index ranges and that every item's domain matches the row's domain."""
        item_dom = self.item_domain()
        for name in SPLITS:
            df = self.split(name)
            if len(df) == 0:
                continue
            if df["user"].min() < 0 or df["user"].max() >= self.n_users:
                raise DataError(f"{self.name}/{name}: user index out of range")
            if df["item"].min() < 0 or df["item"].max() >= self.n_items:
                raise DataError(f"{self.name}/{name}: item index out of range")
            wrong = item_dom[df["item"].to_numpy()] != df["domain"].to_numpy()
            if wrong.any():
                i = int(np.flatnonzero(wrong)[0])
                raise DataError(f"{self.name}/{name}: row {i} has domain "
                                f"{self.domains[df['domain'].iat[i]]} but its item "
                                f"{self.items['item_id'].iat[df['item'].iat[i]]} belongs to "
                                f"{self.domains[item_dom[df['item'].iat[i]]]}")

    def fingerprint(self) -> str:
        """sha256 over ids and split contents: identifies the exact data evaluated."""
        h = hashlib.sha256()
        h.update(self.name.encode())
        h.update("\x00".join(self.domains).encode())
        h.update("\n".join(self.users["user_id"]).encode())
        h.update("\n".join(self.items["item_id"] + "\t" + self.items["domain"]).encode())
        for name in SPLITS:
            df = self.split(name)
            h.update(name.encode())
            for c in ("user", "item", "domain"):
                h.update(np.ascontiguousarray(df[c].to_numpy()).tobytes())
            if "scenario" in df:
                h.update("".join(df["scenario"].str[0]).encode())
        return h.hexdigest()

    def to_hetero_data(self, item_text: np.ndarray | None = None, splits: bool = True):
        """This dataset as PyG ``HeteroData``: node types ``user`` and ``item_<domain>``, edge types
        ``(user, interacts, item_<domain>)`` (train positives) and their reverses, text features
        as ``x``; valid/test edges beside them (:func:`gnnrec.data.pyg.to_hetero_data`)."""
        from gnnrec.data.pyg import to_hetero_data

        return to_hetero_data(self, item_text, splits)

    def summary(self) -> dict[str, Any]:
        """Row counts per split and domain, for logs."""
        out: dict[str, Any] = {"users": self.n_users, "items": self.n_items, "domains": {}}
        for d, dom in enumerate(self.domains):
            out["domains"][dom] = {
                "items": int(self.item_offsets[d + 1] - self.item_offsets[d]),
                **{s: int((self.split(s)["domain"] == d).sum()) for s in SPLITS},
            }
        return out

