"""The HTTP service, tested against a real `gnnrec serve` process on loopback."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from gnnrec.export.contract import write_export
from gnnrec.export.launch import start_server, stop_server
from gnnrec.export.query import Retriever
from tests.conftest import make_tiny
from tests.export.helpers import random_export

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve") / "export"
    exp = random_export(make_tiny())
    write_export(exp, folder)
    proc, url = start_server(folder, cwd=ROOT)
    with httpx.Client(base_url=url, timeout=10.0) as client:
        yield client, Retriever(exp)
    log = stop_server(proc)
    assert "Traceback" not in log, log


def _error(r: httpx.Response, status: int, match: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    assert match in r.json()["error"], r.json()


def test_healthz_and_items(server):
    client, _ = server
    h = client.get("/healthz").json()
    assert h["status"] == "ok" and h["domains"] == ["a", "b"] and h["items"] == 27
    assert client.get("/items/b3").json()["title"] == "title b 3"
    _error(client.get("/items/nope"), 404, "unknown item id 'nope'")


def test_get_recommend_matches_in_process_queries(server):
    client, rec = server
    for user, domain in (("u3", "a"), ("u17", "b")):
        r = client.get("/recommend", params={"user": user, "domain": domain, "k": 5})
        assert r.status_code == 200
        assert r.json() == json.loads(json.dumps(rec.recommend(domain, 5, user=user).to_dict()))
    pop = client.get("/recommend", params={"user": "stranger", "domain": "a"}).json()
    assert pop["mode"] == "popularity" and len(pop["items"]) == 10 and "unknown user" in pop["note"]


def test_post_recommend_folds_in_and_reports_unknown_items(server):
    client, rec = server
    r = client.post("/recommend", json={"domain": "b", "k": 3, "items": ["a1", "a4", "zz"]})
    assert r.status_code == 200
    body = r.json()
    assert body["mode"] == "foldin" and body["history"] == {"used": 2, "ignored": ["zz"]}
    assert body["items"] == rec.recommend("b", 3, history=["a1", "a4"]).to_dict()["items"]


@pytest.mark.parametrize("params,match", [
    ({"user": "u3", "domain": "c"}, "unknown domain 'c'"),
    ({"user": "u3", "domain": "a", "k": 0}, "k must be an integer in [1, 1000]"),
    ({"user": "u3", "domain": "a", "k": 100000}, "k must be an integer in [1, 1000]"),
    ({"user": "u3", "domain": "a", "k": "ten"}, "k must be an integer"),
    ({"user": "u3"}, "missing query parameter 'domain'"),
    ({"user": "u3", "domain": "a", "kk": 3}, "unknown query parameters"),
])
def test_get_validation_errors(server, params, match):
    _error(server[0].get("/recommend", params=params), 422, match)


@pytest.mark.parametrize("body,status,match", [
    (b'{"domain": "a", "items": [', 400, "malformed JSON"),
    (b'["a1"]', 400, "must be a JSON object"),
    (b'{"domain": "a", "items": "a1"}', 422, "'items' must be a list"),
    (b'{"domain": "zz", "items": ["a1"]}', 422, "unknown domain"),
    (b'{"domain": "a", "k": 2.5, "items": ["a1"]}', 422, "k must be an integer"),
    (b'{"domain": "a", "k": true, "items": ["a1"]}', 422, "k must be an integer"),
    (b'{"domain": "a", "items": ["a1"], "extra": 1}', 422, "unknown fields"),
])
def test_post_validation_errors(server, body, status, match):
    r = server[0].post("/recommend", content=body, headers={"content-type": "application/json"})
    _error(r, status, match)


def test_oversized_bodies_are_refused(server):
    client, _ = server
    big = json.dumps({"domain": "a", "items": ["a1"] * 20000}).encode()
    _error(client.post("/recommend", content=big), 413, "over the limit")

    def chunks():                       # no Content-Length: chunked transfer encoding
        for i in range(0, len(big), 4096):
            yield big[i:i + 4096]
    _error(client.post("/recommend", content=chunks()), 413, "over the limit")


def test_unknown_routes_and_methods_are_json_errors(server):
    client, _ = server
    _error(client.get("/nope"), 404, "no such endpoint")
    _error(client.delete("/recommend"), 405, "not allowed")


def test_metrics_count_requests_and_never_a_500(server):
    client, _ = server
    for _ in range(3):
        client.get("/recommend", params={"user": "u1", "domain": "a"})
    m = client.get("/metrics").json()
    assert m["workers"] == 1
    assert m["requests"]["GET /recommend"]["200"] >= 3
    lat = m["latency"]["GET /recommend"]
    assert 0 < lat["p50_ms"] <= lat["p99_ms"] and lat["count"] >= 3
    assert not any("500" in c for c in m["requests"].values())


@pytest.mark.slow
def test_two_workers_share_metrics(tmp_path):
    write_export(random_export(make_tiny()), tmp_path / "e")
    proc, url = start_server(tmp_path / "e", "--workers", "2", cwd=ROOT)
    try:
        with httpx.Client(base_url=url, timeout=10.0) as client:
            for _ in range(20):                  # fresh connections spread over both workers
                assert httpx.get(f"{url}/recommend?user=u1&domain=a&k=3").status_code == 200
            time.sleep(2.5)                      # every worker publishes once a second
            m = client.get("/metrics").json()
    finally:
        log = stop_server(proc)
    assert "Traceback" not in log, log
    assert m["requests"]["GET /recommend"]["200"] == 20
    assert m["latency"]["GET /recommend"]["count"] == 20
