"""The data transforms of the issue-28 studies: streaming replay, warm update, three domains."""

from __future__ import annotations

import numpy as np

from gnnrec.data.clean import clean
from gnnrec.data.split import CDProtocol, cold_start_split
from tests.conftest import make_tiny
from tests.data.test_split import make_raw
from tests.experiments.helpers import load_experiment


def test_stream_split_feeds_the_first_half_of_each_cold_user_by_time():
    ds = make_tiny()
    ds2, feed = load_experiment("streaming_replay").stream_split(ds)
    for s in ("valid", "test"):
        cold = ds.split(s)[ds.split(s)["scenario"] == "cold"]
        for (u, d), g in cold.groupby(["user", "domain"]):
            g = g.sort_values(["timestamp", "item"])
            first = g.iloc[: len(g) // 2]
            got = feed[(feed["user"] == u) & (feed["domain"] == d)]
            assert sorted(got["item"]) == sorted(first["item"])
            rest = ds2.split(s)
            rest = rest[(rest["user"] == u) & (rest["domain"] == d)]
            assert sorted(rest["item"]) == sorted(g.iloc[len(g) // 2:]["item"])
            assert (rest["scenario"] == "cold").all()
    assert len(ds2.train) == len(ds.train) + len(feed)


def test_warm_update_cut_holds_back_the_latest_rows():
    ds = make_tiny()
    base, rows = load_experiment("warm_update").cut(ds, 0.25)
    assert len(rows) == round(0.25 * len(ds.train)) and len(base.train) + len(rows) == len(ds.train)
    assert rows["timestamp"].min() >= base.train["timestamp"].max()            # the latest by time


def test_without_pair_leaves_no_user_in_both_domains():
    raw, _ = clean(make_raw(4, n_users=120, n_domains=3, rows_per_user=40))
    ds = cold_start_split(raw, CDProtocol(threshold=1.0, bridge_min=2, cold_fraction=0.1))
    new, info = load_experiment("three_domains").without_pair(ds, 0, 2)
    doms = new.train.groupby("user")["domain"].agg(set)
    assert not any({0, 2} <= d for d in doms) and info["bridges_split"] > 0
    assert np.array_equal(new.test[new.test.scenario == "cold"].to_numpy(),
                          ds.test[ds.test.scenario == "cold"].to_numpy())
