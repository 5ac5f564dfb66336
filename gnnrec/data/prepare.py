"""End-to-end preparation pipelines: raw folder -> cleaned RawData -> split Dataset.

Each ``prepare_*`` returns ``(Dataset, {input file: sha256})``, the pair
:func:`gnnrec.data.store.save_prepared` and the registry's recipes expect.
"""

from __future__ import annotations

import logging
import os

from gnnrec.data.clean import clean
from gnnrec.data.movielens import (ACTION_GENRES, CD_DOMAINS, THREE_DOMAIN_GENRES, THREE_DOMAINS,
                                   action_thriller_drama, read_movielens)
from gnnrec.data.schema import DataError, Dataset, RawData
from gnnrec.data.split import CDProtocol, Pinned, check_split, cold_start_split, leave_one_out, \
    random_split

log = logging.getLogger(__name__)

SPLITTERS = ("cold", "loo", "random")


def prepare_movielens_cd(raw_folder: str | os.PathLike, name: str,
                         protocol: CDProtocol | None = None, pinned: Pinned | None = None,
                         three_domains: bool = False) -> tuple[Dataset, dict[str, str]]:
    """The ML-CD protocol (action/drama domains, cold-start split) on a MovieLens folder;
    ``three_domains``: action / thriller / drama (:func:`gnnrec.data.movielens.action_thriller_drama`)
    with the same protocol per domain (bridge users: >= 5 positives in each of the three
    domains; a disjoint seeded 10% of them cold in each)."""
    protocol = protocol or CDProtocol()
    if three_domains:
        raw, inputs = read_movielens(raw_folder, name, domain_of=action_thriller_drama, domains=THREE_DOMAINS)
        raw.source["domain_rule"] = "; ".join(f"{d} if genres meet {sorted(g)}" for d, g in THREE_DOMAIN_GENRES) \
            + ", else drama (checked in this order)"
    else:
        raw, inputs = read_movielens(raw_folder, name, domains=CD_DOMAINS)
        raw.source["domain_rule"] = (f"action if genres meet {sorted(ACTION_GENRES)}, "
                                     f"else drama")
    raw, _ = clean(raw, threshold=protocol.threshold)
    ds = cold_start_split(raw, protocol, pinned=pinned, name=name)
    check_split(ds)
    log.info("%s: %d positives, %d bridge users, cold users %s (%s); train %d, valid %d, test %d",
             name, ds.protocol["positives"], ds.protocol["bridge_users"],
             ds.protocol["cold_users"], ds.protocol["cold_groups"],
             len(ds.train), len(ds.valid), len(ds.test))
    return ds, inputs


def split_raw(raw: RawData, how: str = "cold", *, threshold: float | None = None,
              kcore: int | None = None, seed: int = 0, protocol: CDProtocol | None = None,
              ratios: tuple[float, float, float] = (0.8, 0.1, 0.1), warm_min: int = 3,
              pinned: Pinned | None = None) -> Dataset:
    """Clean ``raw`` (dedupe, threshold, k-core) and split it with ``how`` in SPLITTERS."""
    if how not in SPLITTERS:
        raise DataError(f"unknown split {how!r}; choose one of {SPLITTERS}")
    if how == "cold":
        protocol = protocol or CDProtocol(seed=seed)
        threshold = protocol.threshold if threshold is None else threshold
    cleaned, _ = clean(raw, threshold=threshold, k=kcore)
    if how == "cold":
        ds = cold_start_split(cleaned, protocol, pinned=pinned)
    elif how == "loo":
        ds = leave_one_out(cleaned, warm_min=warm_min)
    else:
        ds = random_split(cleaned, ratios, seed=seed)
    check_split(ds)
    return ds

