"""Live updates: fold-in on interactions, new users, new items, the SQLite store (persistence,
checksums, concurrent writers), and the HTTP endpoints of a real `gnnrec serve` process."""

from __future__ import annotations

import multiprocessing as mp
import shutil
import sqlite3
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch

from gnnrec.export.contract import ExportError, load_export, write_export
from gnnrec.export.foldin import foldin_vector
from gnnrec.export.launch import start_server, stop_server
from gnnrec.export.live import LiveError, UpdateStore
from gnnrec.export.query import QueryError, Retriever
from gnnrec.models.registry import build_model
from gnnrec.train import export_model
from tests.conftest import make_tiny
from tests.export.helpers import random_export
from tests.helpers import model_ctx

ROOT = Path(__file__).resolve().parents[2]


def _ids(res) -> list[str]:
    return [it["item_id"] for it in res.items]


def test_an_interaction_moves_the_user_and_excludes_the_item(tiny):
    exp = random_export(tiny)
    rec = Retriever(exp)
    before = rec.recommend("a", 5, user="u3")
    first = _ids(before)[0]
    out = rec.interact("u3", first)
    assert out["user_kind"] == "known" and out["live_interactions"] == 1 and out["domain"] == "a"
    after = rec.recommend("a", 5, user="u3")
    assert first not in _ids(after) and after.mode == "user" and "updated live" in after.note
    # the delta rule: U[u] + a (f(H + N) - f(H)), a the least-squares scale of U[u] on f(H)
    u = exp.user_ids.index("u3")
    hist = exp.seen[u].indices
    f_old = foldin_vector(hist, exp.item_emb, "mean")
    f_new = foldin_vector(np.append(hist, exp.item_ids.index(first)), exp.item_emb, "mean")
    a = float(exp.user_emb[u] @ f_old) / float(f_old @ f_old)
    a = a if a > 0 else float(np.linalg.norm(exp.user_emb[u]) / np.linalg.norm(f_old))
    assert np.allclose(rec.user_vector("u3").vec, exp.user_emb[u] + a * (f_new - f_old), atol=1e-5)


def test_a_new_user_arrives_through_foldin(tiny):
    rec = Retriever(random_export(tiny))
    assert rec.recommend("a", 3, user="newbie").mode == "popularity"
    rec.interact("newbie", "b2")
    rec.interact("newbie", "b5", domain="b")
    res = rec.recommend("a", 3, user="newbie")
    assert res.mode == "live"
    assert _ids(res) == _ids(rec.recommend("a", 3, history=["b2", "b5"]))
    assert not {"b2", "b5"} & set(_ids(rec.recommend("b", 12, user="newbie")))
    with pytest.raises(QueryError, match="belongs to domain 'b'"):
        rec.interact("newbie", "b3", domain="a")
    with pytest.raises(QueryError, match="unknown item"):
        rec.interact("newbie", "zz")


def test_updates_persist_in_the_store_and_replay_at_restart(tiny, tmp_path):
    write_export(random_export(tiny), tmp_path / "e")
    rec = Retriever.load(tmp_path / "e", live=True)
    rec.interact("u3", "a1")
    rec.interact("fresh", "b4")
    rec.add_items([("a_new", "a", "a new item", np.ones(8, np.float32))])
    rec.interact("fresh", "a_new")
    want = {(u, d): _ids(rec.recommend(d, 6, user=u)) for u in ("u3", "fresh") for d in ("a", "b")}
    again = Retriever.load(tmp_path / "e", live=True)            # a restart: the log is replayed
    assert {(u, d): _ids(again.recommend(d, 6, user=u)) for u, d in want} == want
    assert again.item("a_new")["title"] == "a new item" and again.live_seq == 4
    load_export(tmp_path / "e")                                  # the export still verifies
    # a second retriever on the same store sees the first one's new writes (another worker)
    rec.interact("u3", "a2")
    assert "a2" not in _ids(again.recommend("a", 14, user="u3"))


def test_a_damaged_or_foreign_log_is_refused(tiny, tmp_path):
    write_export(random_export(tiny), tmp_path / "e")
    store = UpdateStore(tmp_path / "e")
    store.append_interactions([("u1", "a1", "a"), ("u2", "a2", "a")])
    with sqlite3.connect(store.path) as c:
        c.execute("UPDATE events SET item = 'a3' WHERE seq = 2")
    with pytest.raises(LiveError, match="event 2 .* does not match its checksum"):
        Retriever.load(tmp_path / "e", live=True)
    write_export(random_export(tiny, seed=1), tmp_path / "other")
    shutil.copytree(tmp_path / "e" / "updates", tmp_path / "other" / "updates")
    with pytest.raises(LiveError, match="belongs to another export"):
        UpdateStore(tmp_path / "other")


def _writer(folder: str, worker: int, n: int) -> None:
    store = UpdateStore(folder)
    for k in range(n):
        store.append_interactions([(f"w{worker}", f"a{k % 15}", "a")])


def test_concurrent_writers_lose_no_update(tiny, tmp_path):
    write_export(random_export(tiny), tmp_path / "e")
    UpdateStore(tmp_path / "e")
    ctx = mp.get_context("fork")            # separate processes, each with its own connection
    procs = [ctx.Process(target=_writer, args=(str(tmp_path / "e"), w, 40)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    events = UpdateStore(tmp_path / "e").events_after(0)
    assert len(events) == 160 and [e.seq for e in events] == list(range(1, 161))
    rec = Retriever.load(tmp_path / "e", live=True)
    assert all(len(rec.live[f"w{w}"]) == 40 for w in range(4))


def test_new_items_get_the_text_path_vector_of_an_item_without_interactions(tmp_path):
    """An item of the catalogue with no train interaction is scored from its text alone; the
    export's cold-item map reproduces its vector from its text embedding exactly."""
    ds = make_tiny()
    gone = ds.train["item"] == ds.items["item_id"].tolist().index("a14")
    ds.train = ds.train[~gone].reset_index(drop=True)
    torch.manual_seed(0)
    ctx = model_ctx(ds, "cd-lightgcn-text", dim=8, layers=2, cross_map=0.5, cross_map_rank=3)
    m = build_model(ctx)
    exp = export_model(m, ds)
    j = exp.item_ids.index("a14")
    assert np.allclose(ctx.text[j] @ exp.cold_item_map[0], exp.item_emb[j], atol=1e-6)
    assert exp.manifest["cold_items"]["text"]["template"]
    for name in ("cd-lightgcn", "mf"):                         # ID-only models have no text path
        assert export_model(build_model(model_ctx(ds, name, text=False, dim=8)), ds).cold_item_map is None


def _server(tmp_path, *extra):
    write_export(random_export(make_tiny()), tmp_path / "e")
    return start_server(tmp_path / "e", *extra, cwd=ROOT)


def test_http_interactions_explain_and_restart(tmp_path):
    proc, url = _server(tmp_path)
    try:
        with httpx.Client(base_url=url, timeout=10.0) as c:
            top = c.get("/recommend", params={"user": "u3", "domain": "a", "k": 3}).json()["items"][0]["item_id"]
            r = c.post("/interactions", json={"user": "u3", "item": top, "domain": "a"})
            assert r.status_code == 200 and r.json()["live_interactions"] == 1
            after = c.get("/recommend", params={"user": "u3", "domain": "a", "k": 14}).json()
            assert top not in [it["item_id"] for it in after["items"]]
            c.post("/interactions", json={"user": "someone_new", "item": "b3"})
            e = c.get("/explain", params={"user": "someone_new", "item": "a5"}).json()
            assert e["method"] == "foldin" and e["contributions"][0]["item_id"] == "b3"
            assert abs(e["contributions"][0]["contribution"] + e["remainder"] - e["score"]) < 1e-6
            e = c.get("/explain", params={"user": "u3", "item": "a5", "top": 2}).json()
            assert e["method"] == "projection" and len(e["contributions"]) == 2
            assert c.post("/interactions", json={"user": "u3", "item": "nope"}).status_code == 404
            assert c.post("/interactions", json={"user": "u3", "item": "a1", "x": 1}).status_code == 422
            assert c.get("/explain", params={"user": "u3"}).status_code == 422
            before = c.get("/recommend", params={"user": "u3", "domain": "a", "k": 14}).json()
            assert c.get("/healthz").json()["live"]["users"] == 2
    finally:
        log = stop_server(proc)
    assert "Traceback" not in log, log
    proc, url = start_server(tmp_path / "e", cwd=ROOT)            # restart: replayed from updates/
    try:
        again = httpx.get(f"{url}/recommend", params={"user": "u3", "domain": "a", "k": 14}).json()
    finally:
        stop_server(proc)
    assert again == before


def test_http_live_updates_can_be_switched_off(tmp_path):
    proc, url = _server(tmp_path, "--no-live")
    try:
        r = httpx.post(f"{url}/interactions", json={"user": "u3", "item": "a1"})
    finally:
        stop_server(proc)
    assert r.status_code == 409 and "--no-live" in r.json()["error"]
    assert not (tmp_path / "e" / "updates").exists()


@pytest.mark.slow
def test_every_worker_reads_every_workers_writes(tmp_path):
    proc, url = _server(tmp_path, "--workers", "2")
    try:
        for k in range(6):                       # fresh connections: spread over both workers
            assert httpx.post(f"{url}/interactions", json={"user": "multi", "item": f"a{k}"}).status_code == 200
            for _ in range(4):
                got = httpx.get(f"{url}/recommend", params={"user": "multi", "domain": "a", "k": 15}).json()
                assert not {f"a{j}" for j in range(k + 1)} & {it["item_id"] for it in got["items"]}
    finally:
        log = stop_server(proc)
    assert "Traceback" not in log, log
    assert len(UpdateStore(tmp_path / "e").events_after(0)) == 6


def test_the_updates_folder_is_outside_the_verified_files(tiny, tmp_path):
    write_export(random_export(tiny), tmp_path / "e")
    UpdateStore(tmp_path / "e").append_interactions([("u1", "a1", "a")])
    assert (tmp_path / "e" / "updates" / "updates.sqlite").is_file()
    load_export(tmp_path / "e")                                   # no "unlisted file" error
    (tmp_path / "e" / "stray.txt").write_text("x")
    with pytest.raises(ExportError, match="not listed"):
        load_export(tmp_path / "e")


@pytest.mark.slow
def test_new_items_from_their_text_through_the_cli(tmp_path, capsys):
    """A text model's run: `gnnrec export --add-items` puts them in the export's files,
    `gnnrec add-items` in its live log; both give the text path's vector."""
    from gnnrec.cli import main
    from gnnrec.data.store import save_prepared
    from gnnrec.train import load_config, train_run
    save_prepared(make_tiny(), tmp_path / "tiny")
    cfg = load_config(None, [f"dataset={tmp_path / 'tiny'}", f"runs_dir={tmp_path / 'runs'}", "name=t",
                             "model.name=cd-lightgcn-text", "model.dim=8", "train.epochs=1",
                             "train.batch_size=64", "device=cpu", "train.threads=1"])
    run = train_run(cfg, progress=False).run_dir
    new = tmp_path / "new.tsv"
    new.write_text("item_id\tdomain\ttitle\nfresh_a\ta\tA quiet film about rain\nfresh_b\tb\tLoud trains\n")
    assert main(["export", str(run), "--out", str(tmp_path / "e"), "--add-items", str(new)]) == 0
    assert "2 new item(s) from their text" in capsys.readouterr().out
    exp = load_export(tmp_path / "e")
    assert exp.item_ids[-2:] == ["fresh_a", "fresh_b"] and exp.seen.shape[1] == 29
    assert all(t.weights.shape[1] == 29 for t in exp.terms if t.rows == "item")
    assert main(["add-items", str(run / "export"), str(new)]) == 0
    live = Retriever.load(run / "export", live=True)
    assert np.allclose(live.item_emb[live.item_index["fresh_a"]], exp.item_emb[exp.item_ids.index("fresh_a")],
                       atol=1e-6)
    assert main(["add-items", str(run / "export"), str(new)]) == 2                      # ids taken
    assert "already in the catalogue" in capsys.readouterr().err
