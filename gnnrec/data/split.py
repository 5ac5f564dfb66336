"""Train/valid/test splits of a cleaned :class:`RawData` -> :class:`Dataset`.

Three splitters, all deterministic for their parameters:

* :func:`cold_start_split` -- the cross-domain cold-start protocol
  (:class:`CDProtocol`; ML-1M-CD of ``../shared/data``):

  1. positives: ``rating >= threshold``;
  2. bridge users: >= ``bridge_min`` positives in each of at least
     ``bridge_domains`` domains (default: all domains);
  3. cold users: the bridge users, sorted by user index, are permuted with
     ``numpy.random.default_rng(seed)``; domain ``d`` (in dataset order) takes
     the block ``[d*n, (d+1)*n)`` with ``n = floor(cold_fraction * bridges)``,
     so the groups are disjoint. All their positives in that domain leave
     train and become ground truth (``scenario=cold``); a user goes to valid or
     test by the parity of ``sha256("<user_id>\\t<domain>")``;
  4. warm: every other (user, domain) with >= ``warm_min`` positives: ordered
     by (timestamp, raw item id), the last -> test, the one before -> valid.

  ``pinned`` (see :func:`pinned_cold_groups`) replaces steps 3's choice and
  halving by a given {(user_id, domain): "valid" | "test"} map, e.g. that of a
  frozen split, so a re-preparation from raw reproduces it row for row.
* :func:`leave_one_out` -- temporal leave-one-out per (user, domain) (warm only).
* :func:`random_split` -- seeded random ratio split per row; valid/test rows
  of a (user, domain) with no train row are moved to train (counted).

Rows of every split are ordered by (raw user id, domain name, timestamp, raw
item id), the order of the frozen files.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gnnrec.data.readers import read_table
from gnnrec.data.schema import DataError, Dataset, RawData

Pinned = dict[tuple[str, str], str]


@dataclass
class CDProtocol:
    """Parameters of :func:`cold_start_split` (defaults: the ML-1M-CD protocol)."""

    threshold: float = 4.0
    bridge_min: int = 5
    bridge_domains: int | None = None      # None = every domain
    cold_fraction: float = 0.1
    warm_min: int = 3
    seed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"split": "cross-domain-cold-start", **asdict(self)}


def _order(raw: RawData, frame: pd.DataFrame) -> pd.DataFrame:
    """Sort rows by (raw user id, domain name, timestamp, raw item id)."""
    key = pd.DataFrame({
        "u": raw.users["user_id"].to_numpy()[frame["user"].to_numpy()],
        "d": np.asarray(raw.domains, dtype=object)[frame["domain"].to_numpy()],
        "t": frame["timestamp"].to_numpy(),
        "i": raw.items["item_id"].to_numpy()[frame["item"].to_numpy()]},
        index=frame.index)
    return frame.loc[key.sort_values(["u", "d", "t", "i"], kind="stable").index]


def _rank_from_last(raw: RawData, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """For rows already in :func:`_order` order: (0-based rank from the end, group size)."""
    g = frame.groupby(["user", "domain"], sort=False)
    return g.cumcount(ascending=False).to_numpy(), g["item"].transform("size").to_numpy()


def half_of(user_id: str, domain: str) -> str:
    """valid | test for a cold (user, domain), by the parity of sha256("user\\tdomain")."""
    digest = hashlib.sha256(f"{user_id}\t{domain}".encode()).digest()
    return "test" if digest[-1] & 1 else "valid"


def _positives_per_domain(raw: RawData, pos: pd.DataFrame) -> np.ndarray:
    """(n_users, n_domains) count of positives."""
    counts = np.zeros((raw.n_users, len(raw.domains)), dtype=np.int64)
    np.add.at(counts, (pos["user"].to_numpy(), pos["domain"].to_numpy()), 1)
    return counts


def _choose_cold(raw: RawData, counts: np.ndarray, bridges: np.ndarray, p: CDProtocol) -> Pinned:
    """Seeded disjoint cold groups, one block of the permuted bridge users per domain."""
    n = int(np.floor(p.cold_fraction * len(bridges)))
    if n * len(raw.domains) > len(bridges):
        raise DataError(f"{raw.name}: cold_fraction {p.cold_fraction} x {len(raw.domains)} domains "
                        f"needs more than the {len(bridges)} bridge users; lower it")
    perm = np.random.default_rng(p.seed).permutation(bridges)
    uid = raw.users["user_id"].to_numpy()
    chosen: Pinned = {}
    for d, dom in enumerate(raw.domains):
        for u in perm[d * n:(d + 1) * n]:
            if counts[u, d] >= p.bridge_min:
                chosen[(uid[u], dom)] = half_of(uid[u], dom)
    return chosen


def cold_start_split(raw: RawData, p: CDProtocol | None = None, pinned: Pinned | None = None,
                     name: str | None = None) -> Dataset:
    """The cross-domain cold-start split (see module doc). ``raw`` must be deduplicated."""
    p = p or CDProtocol()
    if len(raw.domains) < 2:
        raise DataError(f"{raw.name}: --split cold makes users cold in one domain and keeps their "
                        f"history in another, but the data has one domain ({raw.domains}); map a "
                        f"column with two or more values to domain=, or use --split loo")
    if not 0.0 < p.cold_fraction < 1.0:
        raise DataError(f"--cold-fraction {p.cold_fraction} must lie strictly between 0 and 1")
    inter = raw.interactions
    pos = _order(raw, inter[inter["rating"] >= p.threshold])
    counts = _positives_per_domain(raw, pos)
    need = len(raw.domains) if p.bridge_domains is None else p.bridge_domains
    bridges = np.flatnonzero((counts >= p.bridge_min).sum(axis=1) >= need)
    n_bridge = len(bridges)
    uidx = raw.user_index()
    if pinned is None:
        cold = _choose_cold(raw, counts, bridges, p)
        origin = f"seeded choice (seed {p.seed})"
    else:
        cold, origin = dict(pinned), "pinned"
        bad = [k for k, h in cold.items()
               if k[0] not in uidx or k[1] not in raw.domains or h not in ("valid", "test")]
        if bad:
            raise DataError(f"pinned cold groups name users/domains absent from {raw.name}, "
                            f"e.g. {bad[:3]}; pin groups from a split of the same data")
    dom_idx = {d: i for i, d in enumerate(raw.domains)}
    cold_key = {uidx[u] * len(raw.domains) + dom_idx[d]: h for (u, d), h in cold.items()}
    key = pos["user"].to_numpy() * len(raw.domains) + pos["domain"].to_numpy()
    half = pd.Series(key).map(cold_key).to_numpy()
    is_cold = pd.notna(half)
    rank, size = _rank_from_last(raw, pos)
    split = np.full(len(pos), "train", dtype=object)
    warm = ~is_cold & (size >= p.warm_min)
    split[warm & (rank == 0)] = "test"
    split[warm & (rank == 1)] = "valid"
    split[is_cold] = half[is_cold]
    scen = np.where(is_cold, "cold", "warm")
    tables = {}
    for s in ("train", "valid", "test"):
        m = split == s
        t = pos[m].reset_index(drop=True)
        if s != "train":
            t["scenario"] = scen[m]
        tables[s] = t
    groups = {d: sum(1 for (_, dd) in cold if dd == d) for d in raw.domains}
    protocol = {**p.as_dict(), "cold_groups": origin, "bridge_users": n_bridge,
                "cold_users": groups, "positives": len(pos),
                "domain_rule": raw.source.get("domain_rule", ""), "source": raw.source}
    return Dataset(name=name or raw.name, users=raw.users, items=raw.items, domains=raw.domains,
                   protocol=protocol, **tables)


def leave_one_out(raw: RawData, warm_min: int = 3, name: str | None = None) -> Dataset:
    """Temporal leave-one-out per (user, domain) with >= ``warm_min`` rows (all ``warm``)."""
    inter = _order(raw, raw.interactions)
    rank, size = _rank_from_last(raw, inter)
    ok = size >= warm_min
    tables = {"train": inter[~ok | (rank >= 2)].reset_index(drop=True)}
    for s, r in (("test", 0), ("valid", 1)):
        tables[s] = inter[ok & (rank == r)].reset_index(drop=True).assign(scenario="warm")
    protocol = {"split": "temporal-leave-one-out", "warm_min": warm_min, "source": raw.source}
    return Dataset(name=name or raw.name, users=raw.users, items=raw.items, domains=raw.domains,
                   protocol=protocol, **tables)


def random_split(raw: RawData, ratios: tuple[float, float, float] = (0.8, 0.1, 0.1),
                 seed: int = 0, name: str | None = None) -> Dataset:
    """Seeded per-row split by ``ratios`` (train, valid, test); see module doc."""
    r = np.asarray(ratios, dtype=np.float64)
    if r.shape != (3,) or (r < 0).any() or not np.isclose(r.sum(), 1.0):
        raise DataError(f"split ratios {ratios} must be three non-negative numbers summing to 1")
    inter = raw.interactions
    u = np.random.default_rng(seed).random(len(inter))
    split = np.where(u < r[0], 0, np.where(u < r[0] + r[1], 1, 2))
    key = inter["user"].to_numpy() * len(raw.domains) + inter["domain"].to_numpy()
    has_train = np.isin(key, key[split == 0])
    moved = int(((split > 0) & ~has_train).sum())
    split[~has_train] = 0
    inter = inter.assign(_s=split)
    inter = _order(raw, inter)
    tables = {s: inter[inter["_s"] == i].drop(columns="_s").reset_index(drop=True)
              for i, s in enumerate(("train", "valid", "test"))}
    for s in ("valid", "test"):
        tables[s]["scenario"] = "warm"
    protocol = {"split": "random", "ratios": list(ratios), "seed": seed,
                "moved_to_train_no_history": moved, "source": raw.source}
    return Dataset(name=name or raw.name, users=raw.users, items=raw.items, domains=raw.domains,
                   protocol=protocol, **tables)


def pinned_cold_groups(folder: str | os.PathLike) -> Pinned:
    """{(user_id, domain): "valid" | "test"} of the cold rows of a CD folder's valid/test."""
    out: Pinned = {}
    for s in ("valid", "test"):
        t = read_table(Path(folder) / f"{s}.tsv", ["user_id", "domain", "scenario"])
        c = t[t["scenario"] == "cold"].drop_duplicates(["user_id", "domain"])
        for u, d in zip(c["user_id"], c["domain"]):
            if out.get((u, d), s) != s:
                raise DataError(f"{folder}: cold user {u} in domain {d} appears in both valid "
                                f"and test; the split is inconsistent")
            out[(u, d)] = s
    if not out:
        raise DataError(f"{folder}: valid.tsv/test.tsv hold no cold rows to pin")
    return out


@dataclass
class SplitCheck:
    """Counts from :func:`check_split`; ``unseen_test_items`` is a warning, not an error."""

    unseen_items: dict[str, int] = field(default_factory=dict)


def check_split(ds: Dataset) -> SplitCheck:
    """Leak and consistency checks; raises :class:`DataError` on a broken split.

    * no (user, item) of valid/test is in train;
    * a warm valid/test row's (user, domain) has train rows (else it is cold);
    * a cold row's (user, domain) has no train rows.
    Items of valid/test never seen in train are counted (text models can
    still score them; ID-only models cannot).
    """
    nd = len(ds.domains)
    tr = ds.train
    tr_pairs = pd.Index(tr["user"].to_numpy() * ds.n_items + tr["item"].to_numpy())
    tr_ud = pd.Index(np.unique(tr["user"].to_numpy() * nd + tr["domain"].to_numpy()))
    seen = np.zeros(ds.n_items, dtype=bool)
    seen[tr["item"].to_numpy()] = True
    out = SplitCheck()
    for s in ("valid", "test"):
        t = ds.split(s)
        leak = pd.Index(t["user"].to_numpy() * ds.n_items + t["item"].to_numpy()).isin(tr_pairs)
        if leak.any():
            raise DataError(f"{ds.name}: {int(leak.sum())} (user, item) pairs of train are also "
                            f"in {s}; the split leaks -- rebuild it with `gnnrec data prepare`")
        has = pd.Index(t["user"].to_numpy() * nd + t["domain"].to_numpy()).isin(tr_ud)
        warm = (t["scenario"] == "warm").to_numpy()
        for bad, what in ((warm & ~has, "warm rows whose user has no train rows in that domain "
                                        "(a test id never in train; mark them cold)"),
                          (~warm & has, "cold rows whose user has train rows in that domain")):
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise DataError(f"{ds.name}/{s}: {int(bad.sum())} {what}, e.g. user "
                                f"{ds.users['user_id'].iat[t['user'].iat[i]]} in domain "
                                f"{ds.domains[t['domain'].iat[i]]}")
        out.unseen_items[s] = int((~seen[t["item"].to_numpy()]).sum())
    return out
