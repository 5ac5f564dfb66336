"""`gnnrec data stats`, the data CLI, and `gnnrec demo`."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from gnnrec.cli import main
from gnnrec.data.schema import Dataset
from gnnrec.data.stats import dataset_stats


def _two_islands() -> Dataset:
    """Domain a: users 0,1 share item a0; user 2 alone on a1. Domain b: user 0 on b0."""
    users = pd.DataFrame({"user_id": ["u0", "u1", "u2", "u3"]})
    items = pd.DataFrame({"item_id": ["a0", "a1", "a2", "b0"], "domain": ["a", "a", "a", "b"],
                          "title": ["t", "", "t", "t"]})
    cols = ["user", "item", "domain", "rating", "timestamp"]
    train = pd.DataFrame([(0, 0, 0, 1, 0), (1, 0, 0, 1, 0), (2, 1, 0, 1, 0), (0, 3, 1, 1, 0)],
                         columns=cols)
    test = pd.DataFrame([(3, 3, 1, 1, 1, "cold"), (1, 2, 0, 1, 1, "warm")], columns=cols + ["scenario"])
    return Dataset(name="islands", users=users, items=items, domains=["a", "b"], train=train,
                   valid=test.iloc[:0], test=test)


def test_stats_counts_and_connectivity():
    st = dataset_stats(_two_islands())
    a, b = st["domains"]["a"], st["domains"]["b"]
    assert (a["users"], a["items"], a["items_with_text"]) == (3, 3, 2)
    assert a["interactions"] == {"train": 3, "valid": 0, "test": 1}
    assert a["density"] == round(4 / 9, 6)
    assert (b["test_cold_users"], a["test_warm_users"]) == (1, 1)
    assert a["test_items_not_in_train"] == 1              # a2 never in train
    assert st["bridge_users"] == 1 and st["bridge_users_all"] == 1
    g = st["graph"]["train"]
    # nodes: 4 users + 4 items; components {u0,u1,a0,b0}, {u2,a1}, {u3}, {a2}
    assert (g["nodes"], g["edges"], g["components"], g["isolated_nodes"]) == (8, 4, 4, 2)
    assert g["largest_component_share"] == 0.5
    assert st["graph"]["a"]["components"] == 3              # {u0,u1,a0}, {u2,a1}, {a2}


def test_prepare_stats_and_list_commands(ml100k_raw, tmp_path, capsys):
    assert main(["data", "prepare", "ml100k-cd", "--out", str(tmp_path / "p")]) == 0
    out = capsys.readouterr().out
    assert "bridge_users: 790" in out and "loading the prepared folder takes" in out
    js = tmp_path / "s.json"
    assert main(["data", "stats", str(tmp_path / "p"), "--json", str(js)]) == 0
    out = capsys.readouterr().out
    st = json.loads(js.read_text())
    assert st["domains"]["action"]["items"] == 671 and "largest" in out
    assert 0 < st["graph"]["train"]["largest_component_share"] <= 1
    assert main(["data", "list"]) == 0
    assert "ml100k-cd" in capsys.readouterr().out


def test_demo_runs_on_the_default_dataset(ml100k_raw, capsys):
    assert main(["demo", "--stats-only"]) == 0   # the full pipeline is `make demo`
    out = capsys.readouterr().out
    assert "ml100k-cd" in out and "bridge users" in out and "statistics saved" in out


@pytest.mark.parametrize("argv", [["data"], ["data", "fetch"], ["data", "prepare"],
                                  ["data", "stats"], ["demo"]])
def test_every_command_explains_itself(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv + ["--help"])
    assert e.value.code == 0
    assert len(capsys.readouterr().out) > 300
