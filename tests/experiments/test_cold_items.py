"""experiments/cold_items.py: the test split restricted to items without a train row."""

from __future__ import annotations

import numpy as np

from tests.conftest import make_tiny
from tests.experiments.helpers import load_experiment


def test_only_cold_item_positives_stay_in_test_and_the_rest_is_masked():
    ds = make_tiny()
    drop = ds.test["item"].unique()[:3]                       # make three test items cold
    ds.train = ds.train[~ds.train["item"].isin(drop)].reset_index(drop=True)
    out, n_cold, n_pos = load_experiment("cold_items").cold_item_dataset(ds)
    seen = set(out.train["item"])
    assert len(out.test) == n_pos > 0 and not set(out.test["item"]) & seen
    assert n_cold == ds.n_items - len(seen)
    moved = len(ds.test) - n_pos                              # the other test rows: masked as valid
    assert len(out.valid) == len(ds.valid) + moved
    assert np.isin(drop, out.test["item"]).all()
