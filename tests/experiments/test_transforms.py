"""experiments/transforms.py: the bridge-share transform of the ablation study."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.conftest import make_tiny
from tests.experiments.helpers import load_experiment


def test_keep_bridges_thins_only_warm_bridges():
    from gnnrec.data.split import check_split

    t = load_experiment("transforms")
    keep_bridges, warm_bridge_users = t.keep_bridges, t.warm_bridge_users

    ds = make_tiny(n_users=200)
    bridges = warm_bridge_users(ds)
    cold_users = set(ds.test.query("scenario == 'cold'")["user"]) | set(
        ds.valid.query("scenario == 'cold'")["user"])
    assert len(bridges) > 100 and not cold_users & set(bridges)
    half = keep_bridges(ds, 0.5, seed=0)
    assert len(warm_bridge_users(half)) == round(0.5 * len(bridges))
    check_split(half)                                        # no warm row without history, no leak
    for split in ("valid", "test"):                          # cold rows are untouched
        a = ds.split(split).query("scenario == 'cold'").reset_index(drop=True)
        b = half.split(split).query("scenario == 'cold'").reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b)
    cold_train = lambda d: d.train[d.train["user"].isin(cold_users)].reset_index(drop=True)  # noqa: E731
    pd.testing.assert_frame_equal(cold_train(ds), cold_train(half))
    # a cut bridge user keeps exactly one domain
    cut = sorted(set(bridges) - set(warm_bridge_users(half)))
    assert (half.train[half.train["user"].isin(cut)].groupby("user")["domain"].nunique() == 1).all()
    assert keep_bridges(ds, 0.5, seed=0).fingerprint() == half.fingerprint()
    assert keep_bridges(ds, 0.5, seed=1).fingerprint() != half.fingerprint()
    assert keep_bridges(ds, 1.0) is ds
    with pytest.raises(ValueError, match="share"):
        keep_bridges(ds, 0.0)
