"""Interop: RecBole atomic files both ways, PyG HeteroData both ways, plain embedding folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gnnrec.cli import main
from gnnrec.data import from_hetero_data
from gnnrec.data.recbole import read_header, read_recbole
from gnnrec.data.schema import DataError
from gnnrec.data.store import load_prepared, save_prepared
from tests.conftest import make_tiny


def _recbole_files(folder: Path) -> tuple[Path, Path]:
    """A small dataset in RecBole's exact atomic layout (typed header, tab separated)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rows = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    for u in range(60):
        for j, i in enumerate(rng.choice(24, 10, replace=False)):
            rows.append(f"{u + 1}\t{i + 1}\t{rng.integers(1, 6)}.0\t{874965478 + 60 * j + u}")
    inter = folder / "mini.inter"
    inter.write_text("\n".join(rows) + "\n")
    items = ["item_id:token\tmovie_title:token_seq\trelease_year:token\tgenre:token"]
    items += [f"{i + 1}\tMovie Number {i + 1}\t19{80 + i}\t{'action' if i < 12 else 'drama'}"
              for i in range(24)]
    item = folder / "mini.item"
    item.write_text("\n".join(items) + "\n")
    return inter, item


def test_recbole_headers_are_parsed_strictly(tmp_path):
    inter, item = _recbole_files(tmp_path)
    assert read_header(inter) == {"user_id": "token", "item_id": "token", "rating": "float",
                                  "timestamp": "float"}
    for bad, needle in [("user_id\titem_id:token", "not name:type"),
                        ("user_id:tokn\titem_id:token", "not name:type"),
                        ("user_id:float\titem_id:token", "RecBole's user_id is 'token'"),
                        ("user_id:token\tuser_id:token", "twice")]:
        p = tmp_path / "bad.inter"
        p.write_text(bad + "\n1\t2\n")
        with pytest.raises(DataError, match=needle):
            read_header(p)
    p = tmp_path / "frac.inter"
    p.write_text("user_id:token\titem_id:token\ttimestamp:float\n1\t2\t1.5\n")
    with pytest.raises(DataError, match="line 2: timestamp 1.5 is not a whole number"):
        read_recbole({"x": p})


def test_recbole_import_with_a_domain_field_and_per_domain_files(tmp_path):
    inter, item = _recbole_files(tmp_path)
    raw, inputs = read_recbole({None: inter}, item, "genre", name="mini")
    assert raw.domains == ["action", "drama"] and set(inputs) == {"mini.inter", "mini.item"}
    assert len(raw.interactions) == 600 and "movie_title" in raw.items
    assert raw.items.set_index("item_id").loc["3", "movie_title"] == "Movie, Number, 3"
    # one file per domain: items namespaced domain:id
    t = pd.read_csv(inter, sep="\t", dtype=str)
    genre = {str(i + 1): ("action" if i < 12 else "drama") for i in range(24)}
    for d in ("action", "drama"):
        part = t[t["item_id:token"].map(genre) == d]
        part.to_csv(tmp_path / f"{d}.inter", sep="\t", index=False)
    raw2, _ = read_recbole({"action": tmp_path / "action.inter", "drama": tmp_path / "drama.inter"},
                           name="mini2")
    assert set(raw2.items["item_id"].str.split(":").str[0]) == {"action", "drama"}
    assert len(raw2.interactions) == 600


def test_recbole_through_the_cli_and_back(tmp_path, capsys):
    inter, item = _recbole_files(tmp_path / "in")
    out = tmp_path / "prepared"
    assert main(["data", "prepare", "mini", "--format", "recbole", "--inter", str(inter), "--item", str(item),
                 "--domain-field", "genre", "--split", "cold", "--bridge-min", "3", "--cold-fraction", "0.2",
                 "--out", str(out)]) == 0
    ds = load_prepared(out)
    assert ds.domains == ["action", "drama"] and (ds.test["scenario"] == "cold").any()
    assert main(["data", "export", str(out), "--format", "recbole", "--out", str(tmp_path / "rb")]) == 0
    rb = tmp_path / "rb"
    cfg = (rb / "recbole.yaml").read_text()
    assert "benchmark_filename: [train, valid, test]" in cfg and "source_domain" in cfg
    for folder, rows in [("mini", None), ("mini-action", 0), ("mini-drama", 1)]:
        for split in ("train", "valid", "test"):
            path = rb / folder / f"{folder}.{split}.inter"
            header = read_header(path)                            # our strict reader accepts it
            assert list(header)[:4] == ["user_id", "item_id", "rating", "timestamp"]
            got = pd.read_csv(path, sep="\t", dtype=str)
            want = ds.split(split) if rows is None else ds.split(split).query("domain == @rows")
            assert len(got) == len(want)
            assert list(got["user_id:token"]) == list(ds.users["user_id"].to_numpy()[want["user"]])
            assert list(got["item_id:token"]) == list(ds.items["item_id"].to_numpy()[want["item"]])
        assert read_header(rb / folder / f"{folder}.item")["item_id"] == "token"
    # cold users have no train row in their cold domain, in the RecBole files too
    cold = ds.test.query("scenario == 'cold'")
    u, d = int(cold["user"].iat[0]), ds.domains[int(cold["domain"].iat[0])]
    train = pd.read_csv(rb / f"mini-{d}" / f"mini-{d}.train.inter", sep="\t", dtype=str)
    assert ds.users["user_id"].iat[u] not in set(train["user_id:token"])
    assert main(["data", "export", str(out), "--out", str(rb)]) == 2           # not empty
    assert main(["data", "export", str(out), "--out", str(rb), "--overwrite"]) == 0


def _rows(df: pd.DataFrame) -> list[tuple]:
    cols = [c for c in ("user", "item", "domain", "rating", "timestamp", "scenario") if c in df]
    return sorted(map(tuple, df[cols].itertuples(index=False)))


def test_hetero_data_round_trip_is_exact(tmp_path):
    ds = make_tiny()
    text = np.random.default_rng(0).normal(size=(ds.n_items, 6)).astype(np.float32)
    data = ds.to_hetero_data(text)
    assert set(data.node_types) == {"user", "item_a", "item_b"}
    assert ("user", "interacts", "item_a") in data.edge_types and data["item_b"].x.shape == (12, 6)
    back = from_hetero_data(data, name="tiny")
    assert list(back.users["user_id"]) == list(ds.users["user_id"])
    assert list(back.items["item_id"]) == list(ds.items["item_id"])
    for split in ("train", "valid", "test"):
        assert _rows(back.split(split)) == _rows(ds.split(split))
    save_prepared(back, tmp_path / "back")                   # a normal dataset from here on


def test_a_users_own_hetero_data_is_split_by_the_protocol():
    import torch
    from torch_geometric.data import HeteroData

    rng = np.random.default_rng(1)
    data = HeteroData()
    data["user"].num_nodes, data["movie"].num_nodes = 80, 30
    users = np.repeat(np.arange(80), 12)
    items = np.concatenate([np.r_[rng.choice(15, 6, replace=False), 15 + rng.choice(15, 6, replace=False)]
                            for _ in range(80)])
    data["user", "rates", "movie"].edge_index = torch.tensor(np.stack([users, items]))
    domain = ["comedy"] * 15 + ["horror"] * 15
    ds = from_hetero_data(data, item_domain=domain, name="own", split="cold")
    assert ds.domains == ["comedy", "horror"] and len(ds.train) + len(ds.valid) + len(ds.test) == 960
    assert (ds.valid["scenario"] == "cold").any()
    with pytest.raises(DataError, match="one domain name per item"):
        from_hetero_data(data, item_domain=domain[:-1])
    with pytest.raises(DataError, match="do not name their domain"):
        from_hetero_data(data)


def test_a_plain_embedding_folder_evaluates_with_one_command(tmp_path, capsys, caplog):
    from gnnrec.eval import evaluate

    ds = make_tiny()
    save_prepared(ds, tmp_path / "tiny")
    rng = np.random.default_rng(0)
    u, v = rng.normal(size=(ds.n_users, 5)), rng.normal(size=(ds.n_items, 5))
    plain = tmp_path / "peer"
    plain.mkdir()
    np.save(plain / "user_embeddings.npy", u)                 # float64, as many peers write them
    np.save(plain / "item_embeddings.npy", v.astype(np.float32))
    (plain / "user_ids.txt").write_text("\n".join(ds.users["user_id"]) + "\n")
    (plain / "item_ids.txt").write_text("\n".join(ds.items["item_id"]) + "\n")
    assert main(["evaluate", str(plain), "--dataset", str(tmp_path / "tiny"), "--ks", "5", "--bootstrap", "0",
                 "--out", str(tmp_path / "ev"), "-q"]) == 0
    assert "nothing is verified" in caplog.text
    got = json.loads((tmp_path / "ev" / "full" / "metrics.json").read_text())
    want = evaluate(u.astype(np.float32), v.astype(np.float32), ds, ks=(5,), bootstrap=0)
    ndcg = {(m["domain"], m["scenario"]): m["value"] for m in got["metrics"] if m["metric"] == "ndcg"}
    assert ndcg[("a", "cold")] == pytest.approx(want.value("ndcg", 5, "a", "cold"), abs=1e-6)
    # cosine: the same as normalising the rows first
    assert main(["evaluate", str(plain), "--dataset", str(tmp_path / "tiny"), "--ks", "5", "--bootstrap", "0",
                 "--score", "cosine", "--out", str(tmp_path / "cos"), "-q"]) == 0
    unit = lambda x: (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)  # noqa: E731
    want = evaluate(unit(u), unit(v), ds, ks=(5,), bootstrap=0)
    got = json.loads((tmp_path / "cos" / "full" / "metrics.json").read_text())
    ndcg = {(m["domain"], m["scenario"]): m["value"] for m in got["metrics"] if m["metric"] == "ndcg"}
    assert ndcg[("b", "warm")] == pytest.approx(want.value("ndcg", 5, "b", "warm"), abs=1e-6)
    # serving needs the item domains: without items.tsv a clear error, with it an answer
    assert main(["recommend", str(plain), "--user", "u3", "--domain", "a"]) == 2
    assert "items.tsv" in capsys.readouterr().err
    ds.items[["item_id", "domain"]].to_csv(plain / "items.tsv", sep="\t", index=False)
    assert main(["recommend", str(plain), "--user", "u3", "--domain", "a", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["items"]) == 10
