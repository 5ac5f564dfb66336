"""gnnrec update (warm start on appended interactions) and gnnrec forget (privacy), end to end
through the CLI on tiny generated data, with the membership check of forgetting."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from gnnrec.cli import main
from gnnrec.data.edit import append_interactions, remove_users
from gnnrec.data.schema import Dataset
from gnnrec.data.store import load_prepared, save_prepared
from gnnrec.export.contract import load_export
from gnnrec.export.live import UpdateStore
from gnnrec.export.quality import heldin_report
from gnnrec.models.registry import build_model
from gnnrec.train import train_run
from gnnrec.train.config import resolve
from gnnrec.train.warm import warm_state
from tests.conftest import make_tiny
from tests.helpers import model_ctx


def test_append_interactions_adds_users_moves_heldout_pairs_and_ends_cold_start(tiny):
    cold = tiny.valid[tiny.valid["scenario"] == "cold"].iloc[0]
    uid, iid = tiny.users["user_id"], tiny.items["item_id"]
    new = pd.DataFrame({"user_id": [uid[cold["user"]], "brand_new", uid[3]],
                        "item_id": [iid[cold["item"]], "a1", iid[tiny.train_matrix()[3].indices[0]]],
                        "rating": 5.0, "timestamp": 9})
    ds, rep = append_interactions(tiny, new)
    assert rep == {"rows": 3, "added": 2, "duplicates": 1, "new_users": 1, "left_valid": 1, "left_test": 0,
                   "cold_rows_now_warm": rep["cold_rows_now_warm"]} and rep["cold_rows_now_warm"] >= 1
    assert ds.n_users == tiny.n_users + 1 and list(ds.users["user_id"][:tiny.n_users]) == list(uid)
    v = ds.valid
    assert not ((v["user"] == cold["user"]) & (v["scenario"] == "cold") & (v["domain"] == cold["domain"])).any()
    from gnnrec.data.split import check_split
    check_split(ds)                                            # a valid split: no leak, no stale cold rows


def test_remove_users_reindexes_and_keeps_everyone_else(tiny):
    ds, user_map, rep = remove_users(tiny, ["u3", "u7"])
    assert ds.n_users == tiny.n_users - 2 and "u3" not in set(ds.users["user_id"])
    assert list(tiny.users["user_id"].to_numpy()[user_map]) == list(ds.users["user_id"])
    assert rep["train_rows"] == int(tiny.train["user"].isin([3, 7]).sum())
    with pytest.raises(Exception, match="not in tiny"):
        remove_users(tiny, ["nobody"])


@pytest.mark.parametrize("name", ["cd-lightgcn", "lightgcn", "emcdr"])
def test_warm_state_moves_user_rows_per_domain_block(name):
    old_ds = make_tiny()
    new_ds, user_map, _ = remove_users(old_ds, ["u4", "u9"])
    kw = {"dim": 8} | ({"min_bridge": 2} if name == "emcdr" else {})
    torch.manual_seed(0)
    old = build_model(model_ctx(old_ds, name, text=False, **kw))
    torch.manual_seed(1)
    new = build_model(model_ctx(new_ds, name, text=False, **kw))
    item_map = np.arange(old_ds.n_items)
    item_map[5] = -1
    state = warm_state(old.state_dict(), new, user_map, item_map, old_ds.n_users, old_ds.n_items)
    table = new.user_tables[0]
    blocks = state[table].shape[0] // new_ds.n_users
    o = old.state_dict()[table].view(blocks, old_ds.n_users, -1)
    n = state[table].view(blocks, new_ds.n_users, -1)
    assert torch.equal(n, o[:, torch.from_numpy(user_map)])
    items = state[new.item_tables[0]]
    assert torch.equal(items[6:], old.state_dict()[new.item_tables[0]][6:])
    assert torch.equal(items[5], new.state_dict()[new.item_tables[0]][5])          # re-initialised


def _cfg(tmp: Path, data: Path, name: str, seed: int = 0, epochs: int = 10):
    return resolve({"name": name, "dataset": str(data), "runs_dir": str(tmp / "runs"), "device": "cpu",
                    "seed": seed, "model": {"name": "cd-lightgcn", "dim": 16, "layers": 2},
                    "train": {"epochs": epochs, "batch_size": 64, "lr": 0.02, "patience": 20, "threads": 1},
                    "eval": {"ks": [5, 10], "k": 10}})


def test_update_warm_starts_a_new_run_on_appended_rows(tmp_path, capsys):
    data = tmp_path / "tiny"
    save_prepared(make_tiny(), data)
    base = train_run(_cfg(tmp_path, data, "base", epochs=3), progress=False)
    rows = tmp_path / "new.tsv"
    rows.write_text("user_id\titem_id\tdomain\ttimestamp\nu3\ta1\ta\t99\nnewcomer\tb2\tb\t99\nnewcomer\ta4\ta\t99\n")
    assert main(["update", str(base.run_dir), "--data", str(rows), "--epochs", "2", "--quiet"]) == 0
    run = tmp_path / "runs" / "base_update"
    info = json.loads((run / "update.json").read_text())
    assert info["added"] == 3 and info["new_users"] == 1 and info["epochs"] == 2
    ds = load_prepared(run / "data")
    assert ds.n_users == 41 and ds.fingerprint() == load_prepared(run / "data").fingerprint()
    exp = load_export(run / "export")
    assert "newcomer" in exp.user_ids and exp.manifest["config"]["train"]["epochs"] == 2
    log = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    assert sum(1 for e in log if e["event"] == "epoch") <= 2
    assert "warm start" in capsys.readouterr().out
    assert main(["update", str(base.run_dir), "--data", str(rows), "--name", "base"]) == 2   # never in place


def _private_data() -> tuple[Dataset, list[str]]:
    """Two domains of common items; users f0..f5 all like the same 'secret' combination of items
    (4 in a, 3 in b) that every other user meets at most once -- a co-occurrence that only a
    model trained on the f users can know."""
    rng = np.random.default_rng(3)
    n_items = (18, 14)
    items = pd.DataFrame({"item_id": [f"{d}{j}" for d, n in zip("ab", n_items) for j in range(n)],
                          "domain": [d for d, n in zip("ab", n_items) for _ in range(n)]})
    offs = [0, n_items[0], sum(n_items)]
    secret = {0: [14, 15, 16, 17], 1: [offs[1] + 11, offs[1] + 12, offs[1] + 13]}
    users = [f"u{i}" for i in range(54)] + [f"f{i}" for i in range(6)]
    rows = {"train": [], "valid": [], "test": []}
    for u, name in enumerate(users):
        for d in (0, 1):
            common = np.setdiff1d(np.arange(offs[d], offs[d + 1]), secret[d])
            picks = list(rng.choice(common, 5, replace=False))
            if name.startswith("f"):
                picks = secret[d] + picks[:2]
            else:
                picks = picks[:2] + [secret[d][u % len(secret[d])]] + picks[2:]
            rows["train"] += [(u, i, d, 5.0, t) for t, i in enumerate(picks[:-2])]
            rows["valid"].append((u, picks[-2], d, 5.0, 90, "warm"))
            rows["test"].append((u, picks[-1], d, 5.0, 91, "warm"))
    cols = ["user", "item", "domain", "rating", "timestamp"]
    ds = Dataset(name="private", users=pd.DataFrame({"user_id": users}), items=items, domains=["a", "b"],
                 train=pd.DataFrame(rows["train"], columns=cols),
                 valid=pd.DataFrame(rows["valid"], columns=cols + ["scenario"]),
                 test=pd.DataFrame(rows["test"], columns=cols + ["scenario"]))
    return ds, [u for u in users if u.startswith("f")]


def test_forget_passes_the_membership_check(tmp_path, capsys):
    import shutil

    ds, forgotten = _private_data()
    save_prepared(ds, tmp_path / "data")
    run = train_run(_cfg(tmp_path, tmp_path / "data", "full"), progress=False).run_dir
    shutil.copytree(run, tmp_path / "runs" / "full_copy")
    train = ds.train_matrix()
    uidx, iid = ds.user_index(), ds.items["item_id"].tolist()
    histories = {u: [iid[j] for j in train[uidx[u]].indices] for u in forgotten}
    before = heldin_report(load_export(run / "export"), histories)
    # live updates of a forgotten user and of someone else, in the run's export
    UpdateStore(run / "export").append_interactions([("f0", "a3", "a"), ("u1", "a3", "a")])
    (tmp_path / "ids.txt").write_text("\n".join(forgotten) + "\n")
    assert main(["forget", str(run), "--users", str(tmp_path / "ids.txt"), "--epochs", "5", "--quiet"]) == 0
    assert "forgot 6 user(s)" in capsys.readouterr().out
    exp = load_export(run / "export")
    assert not set(forgotten) & set(exp.user_ids) and len(exp.user_ids) == 54
    assert not set(forgotten) & set(load_prepared(run / "data").users["user_id"])
    assert [e.user for e in UpdateStore(run / "export").events_after(0)] == ["u1"]
    report = json.loads((run / "forget.json").read_text())
    assert report["users"] == 6 and report["items_reinitialised"] == 7 and "f0" not in json.dumps(report)
    after = heldin_report(exp, histories)
    # models that never saw them: the same config trained from scratch without them, three seeds
    without, _, _ = remove_users(ds, forgotten)
    save_prepared(without, tmp_path / "without")
    never = [load_export(train_run(_cfg(tmp_path, tmp_path / "without", f"never{s}", seed=s),
                                   progress=False).run_dir / "export") for s in range(3)]
    mrr = [heldin_report(e, histories)["mrr"] for e in never]
    noise = 2 * float(np.std(mrr)) + 0.02
    assert before["mrr"] > max(mrr) + noise, (before["mrr"], mrr)           # the check has power
    assert after["mrr"] <= float(np.mean(mrr)) + noise, (after["mrr"], mrr)
    # --full-retrain: exactly the model that never saw them (same config and seed)
    copy = tmp_path / "runs" / "full_copy"
    assert main(["forget", str(copy), "--users", str(tmp_path / "ids.txt"), "--full-retrain", "--quiet"]) == 0
    assert np.array_equal(load_export(copy / "export").item_emb, never[0].item_emb)
    assert main(["forget", str(copy), "--users", str(tmp_path / "ids.txt")]) == 2    # no longer there
