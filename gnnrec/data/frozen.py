"""Loaders for frozen benchmark splits (the formats of ``../shared/data``).

* **CD folder** (``ml1m-cd``, ``amazon-ao``): ``items.tsv`` (item_id, domain,
  text fields...), ``users.tsv`` (user_id, profile fields...), ``train.tsv``
  (user_id, item_id, domain, rating, timestamp) and ``valid.tsv`` /
  ``test.tsv`` (the same plus ``scenario``). Tab separated, header row, UTF-8.
* **DisenCDR pair** (``amazon-disencdr``): two folders ``<a>_<b>`` and
  ``<b>_<a>``; ``<a>_<b>/train.txt`` and ``test.txt`` hold domain ``a``'s
  ``user<TAB>item<TAB>1`` lines. Users are shared by both folders, item ids
  are per domain and are namespaced ``a:<id>``. The published splits have no
  validation set; :func:`load_disencdr_pair` holds out one seeded train
  positive for a seeded sample of users per domain (as many as that domain's
  test users), recorded in the protocol, so early stopping never looks at test.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from gnnrec.data.readers import read_table
from gnnrec.data.schema import SPLITS, DataError, Dataset, namespaced
from gnnrec.data.split import check_split
from gnnrec.utils.files import atomic_dir, sha256_file

INTERACTION_COLS = ["user_id", "item_id", "domain", "rating", "timestamp"]


def _to_index(frame: pd.DataFrame, uidx: dict[str, int], iidx: dict[str, int],
              domains: list[str], path: str) -> pd.DataFrame:
    """Map raw ids of an interaction table to indices; unknown ids raise with the line."""
    users = frame["user_id"].map(uidx)
    items = frame["item_id"].map(iidx)
    line_of = frame.attrs.get("line_of")
    for what, mapped, col, table in (("user", users, "user_id", "users.tsv"),
                                     ("item", items, "item_id", "items.tsv")):
        if mapped.isna().any():
            i = int(np.flatnonzero(mapped.isna().to_numpy())[0])
            where = f", line {line_of[i]}" if line_of is not None else ""
            raise DataError(f"{path}{where}: {what} {frame[col].iat[i]!r} is not listed in "
                            f"{table} ({int(mapped.isna().sum())} such rows); add it there or "
                            f"drop those rows")
    dom = {d: i for i, d in enumerate(domains)}
    out = pd.DataFrame({
        "user": users.to_numpy(np.int64), "item": items.to_numpy(np.int64),
        "domain": frame["domain"].map(dom).to_numpy(),
        "rating": frame["rating"].to_numpy(np.float32),
        "timestamp": frame["timestamp"].to_numpy(np.int64)})
    if "scenario" in frame:
        out["scenario"] = frame["scenario"].to_numpy()
    return out


def load_cd_folder(folder: str | os.PathLike, name: str | None = None) -> tuple[Dataset, dict[str, str]]:
    """Load a CD-folder split; returns (dataset, {input file: sha256})."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder; expected items.tsv, users.tsv, "
                        f"train.tsv, valid.tsv, test.tsv inside")
    items = read_table(folder / "items.tsv", required=["item_id", "domain"])
    users = read_table(folder / "users.tsv", required=["user_id"])
    domains = list(dict.fromkeys(sorted(items["domain"])))
    ds_items = items.copy()
    ds_items.attrs = {}
    users.attrs = {}
    ds = Dataset(name=name or folder.name, users=users, items=ds_items, domains=domains,
                 protocol={"source": "frozen-cd-folder", "folder": folder.name})
    uidx, iidx = ds.user_index(), ds.item_index()
    tables = {}
    for split in SPLITS:
        cols = INTERACTION_COLS + (["scenario"] if split != "train" else [])
        path = folder / f"{split}.tsv"
        frame = read_table(path, cols, numeric=["rating"], integer=["timestamp"])
        known_dom = frame["domain"].isin(domains)
        if not known_dom.all():
            i = int(np.flatnonzero(~known_dom.to_numpy())[0])
            raise DataError(f"{path}, line {frame.attrs['line_of'][i]}: domain "
                            f"{frame['domain'].iat[i]!r} is not one of {domains} (from items.tsv)")
        tables[split] = _to_index(frame, uidx, iidx, domains, str(path))
    ds = Dataset(name=ds.name, users=ds.users, items=ds.items, domains=domains,
                 protocol=ds.protocol, **tables)
    check_split(ds)
    inputs = {f"{folder.name}/{f}": sha256_file(folder / f)
              for f in ("items.tsv", "users.tsv", "train.tsv", "valid.tsv", "test.tsv")}
    return ds, inputs


def load_disencdr_pair(root: str | os.PathLike, scenario: str, valid_seed: int = 0,
                       ) -> tuple[Dataset, dict[str, str]]:
    """Load a DisenCDR scenario ``"<a>_<b>"`` from ``root`` (which holds both folders).

    Domain order is ``[a, b]``. Every user is a bridge user; test rows are
    ``scenario="warm"`` (the test user has train positives in that domain).
    """
    root = Path(root)
    try:
        a, b = scenario.split("_")
    except ValueError:
        raise DataError(f"scenario {scenario!r} must look like 'sport_cloth'") from None
    domains = [a, b]
    frames: dict[str, list[pd.DataFrame]] = {"train": [], "test": []}
    inputs: dict[str, str] = {}
    for dom, other in ((a, b), (b, a)):
        sub = root / f"{dom}_{other}"
        for split in ("train", "test"):
            path = sub / f"{split}.txt"
            f = read_table(path, ["user_id", "item_id", "rating"], header=False,
                           numeric=["rating"])
            f["item_id"] = [namespaced(dom, i) for i in f["item_id"]]
            f["domain"] = dom
            f["timestamp"] = 0
            f["split"] = split
            frames[split].append(f)
            inputs[f"{sub.name}/{split}.txt"] = sha256_file(path)
    allf = pd.concat(frames["train"] + frames["test"], ignore_index=True)
    users = pd.DataFrame({"user_id": sorted(allf["user_id"].unique(), key=_natural)})
    items = (allf[["item_id", "domain"]].drop_duplicates("item_id")
             .assign(_k=lambda x: [_natural(i.split(":", 1)[1]) for i in x["item_id"]])
             .sort_values(["domain", "_k"]).drop(columns="_k"))
    ds0 = Dataset(name=f"amazon-disencdr-{scenario}", users=users, items=items, domains=domains)
    uidx, iidx = ds0.user_index(), ds0.item_index()
    train = pd.concat(frames["train"], ignore_index=True)
    test = pd.concat(frames["test"], ignore_index=True)
    train = _to_index(train, uidx, iidx, domains, str(root / scenario / "train.txt"))
    test = _to_index(test, uidx, iidx, domains, str(root / scenario / "test.txt"))
    test["scenario"] = "warm"
    train, valid = _holdout_valid(train, test, valid_seed)
    protocol = {"source": "disencdr-pair", "scenario": scenario,
                "valid": f"one seeded train positive of a seeded sample of users per domain "
                         f"(as many users as test users; only rows whose item keeps another "
                         f"train row), seed {valid_seed}",
                "valid_seed": valid_seed}
    ds = Dataset(name=ds0.name, users=ds0.users, items=ds0.items, domains=domains,
                 train=train, valid=valid, test=test, protocol=protocol)
    check_split(ds)
    return ds, inputs


def _natural(s: str):
    return (0, int(s), "") if s.isdigit() else (1, 0, s)


def _holdout_valid(train: pd.DataFrame, test: pd.DataFrame, seed: int
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Move one train positive per sampled user (per domain) into a validation split.

    Only users with >= 2 train positives in the domain are sampled, so nobody
    loses their whole history there, and a row is only taken while its item
    keeps >= 1 other train row, so every validation item stays learnable (an
    item seen only in validation would make early stopping score noise).
    """
    rng = np.random.default_rng(seed)
    take: list[int] = []
    item_left = np.bincount(train["item"].to_numpy())
    for d in sorted(train["domain"].unique()):
        n_test = int((test["domain"] == d).sum())
        rows = train.index[train["domain"] == d].to_numpy()
        users = train.loc[rows, "user"].to_numpy()
        counts = np.bincount(users)
        eligible = np.flatnonzero(counts >= 2)
        chosen = rng.choice(eligible, size=min(n_test, len(eligible)), replace=False)
        mask = np.isin(users, chosen)
        cand = pd.Series(rows[mask], index=users[mask])
        shuffled = cand.sample(frac=1.0, random_state=int(rng.integers(2**31)))
        done: set[int] = set()
        items = train["item"].to_numpy()
        for user, row in zip(shuffled.index.to_numpy(), shuffled.to_numpy()):
            if user in done or item_left[items[row]] < 2:
                continue
            done.add(user)
            item_left[items[row]] -= 1
            take.append(int(row))
    valid = train.loc[sorted(take)].copy()
    valid["scenario"] = "warm"
    return train.drop(index=take).reset_index(drop=True), valid.reset_index(drop=True)


def _natural_id(s: str) -> tuple:
    """Sort key splitting digit runs: ``m9 < m10``, ``u2 < u10``."""
    return tuple((0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", s))


def _fmt_rating(r: np.ndarray) -> list[str]:
    return [str(int(x)) if float(x).is_integer() else repr(float(x)) for x in r]


TSV_FILES = ("items.tsv", "users.tsv", "train.tsv", "valid.tsv", "test.tsv")   # what write_cd_folder writes


def write_cd_folder(ds: Dataset, folder: str | os.PathLike) -> Path:
    """Write ``ds`` in the CD-folder format (the inverse of :func:`load_cd_folder`), atomically.

    items.tsv lists items in natural id order (``m1, m2, ... m10``), users.tsv
    in dataset order, split rows in dataset order; ratings that are whole
    numbers are written without a decimal point.
    """
    folder = Path(folder)
    uid = ds.users["user_id"].to_numpy()
    iid = ds.items["item_id"].to_numpy()
    doms = np.asarray(ds.domains, dtype=object)
    with atomic_dir(folder) as tmp:
        items = ds.items.iloc[sorted(range(ds.n_items), key=lambda j: _natural_id(iid[j]))]
        items.to_csv(tmp / "items.tsv", sep="\t", index=False, lineterminator="\n")
        ds.users.to_csv(tmp / "users.tsv", sep="\t", index=False, lineterminator="\n")
        for split in SPLITS:
            t = ds.split(split)
            out = pd.DataFrame({"user_id": uid[t["user"].to_numpy()],
                                "item_id": iid[t["item"].to_numpy()],
                                "domain": doms[t["domain"].to_numpy()],
                                "rating": _fmt_rating(t["rating"].to_numpy()),
                                "timestamp": t["timestamp"].to_numpy()})
            if split != "train":
                out["scenario"] = t["scenario"].to_numpy()
            out.to_csv(tmp / f"{split}.tsv", sep="\t", index=False, lineterminator="\n")
    return folder
