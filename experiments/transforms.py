"""Dataset transforms for ablation studies (deterministic, seeded, leak-free).

:func:`keep_bridges` -- how much does cross-domain transfer to cold users
depend on the bridge users? A *warm bridge user* has train positives in at
least two domains and is cold in none. A seeded share ``share`` of them stays
a bridge; every other warm bridge user loses their whole history in one
domain (drawn at random per user; that domain becomes their "source history
removed"), together with their valid/test rows in that domain, which would
otherwise be warm rows without history. Cold users and all their rows are
untouched, so the cold groups (the headline) are the same users and items at
every share; only the graph linking the domains thins out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gnnrec.data.schema import Dataset


def warm_bridge_users(ds: Dataset) -> np.ndarray:
    """Sorted user indices with train rows in >= 2 domains and no cold valid/test row."""
    per_user = ds.train.groupby("user")["domain"].nunique()
    multi = per_user.index[per_user.to_numpy() >= 2].to_numpy()
    cold = np.union1d(ds.valid.loc[ds.valid["scenario"] == "cold", "user"].to_numpy(),
                      ds.test.loc[ds.test["scenario"] == "cold", "user"].to_numpy())
    return np.setdiff1d(multi, cold)


def keep_bridges(ds: Dataset, share: float, seed: int = 0) -> Dataset:
    """A copy of ``ds`` where only ``share`` (0 < share <= 1) of the warm bridge users remain bridges."""
    if not 0.0 < share <= 1.0:
        raise ValueError(f"share must be in (0, 1], got {share}")
    if share == 1.0:
        return ds
    rng = np.random.default_rng(seed)
    bridges = warm_bridge_users(ds)
    n_keep = int(round(share * len(bridges)))
    cut = np.sort(rng.permutation(bridges)[n_keep:])
    # the domain each cut user loses: one of the domains they have train rows in, at random
    doms = ds.train[ds.train["user"].isin(cut)].groupby("user")["domain"].unique()
    lost = pd.Series({u: int(rng.choice(np.sort(d))) for u, d in doms.items()}, dtype="int64")

    def drop(df: pd.DataFrame) -> pd.DataFrame:
        hit = df["user"].map(lost)
        return df[~(hit.notna() & (hit == df["domain"]))].reset_index(drop=True)

    protocol = {**ds.protocol, "transform": {"keep_bridges": share, "seed": seed,
                                             "warm_bridges": int(len(bridges)),
                                             "bridges_kept": int(n_keep)}}
    return Dataset(name=ds.name, users=ds.users, items=ds.items, domains=list(ds.domains),
                   train=drop(ds.train), valid=drop(ds.valid), test=drop(ds.test), protocol=protocol)
