"""Metrics merge exactly across worker processes; quantiles are bucket upper edges."""

from __future__ import annotations

import json

import numpy as np

from gnnrec.export.metrics import EDGES, Metrics, SharedMetrics, merge


def test_merge_adds_counts_and_histograms_exactly():
    a, b = Metrics(), Metrics()
    lat = np.random.default_rng(0).lognormal(np.log(2e-3), 0.5, size=1000)
    for i, x in enumerate(lat):
        (a if i % 3 else b).observe("GET /recommend", 200 if i % 10 else 422, float(x))
    m = merge([a.raw(), b.raw()])
    assert m["total"] == 1000 and m["requests"]["GET /recommend"] == {"200": 900, "422": 100}
    got = m["latency"]["GET /recommend"]
    for q, key in ((0.5, "p50_ms"), (0.99, "p99_ms")):
        true = np.quantile(lat, q) * 1e3
        assert true <= got[key] <= true * 10 ** (1 / 25) + 1e-9   # one bucket up at most
    assert abs(got["mean_ms"] - lat.mean() * 1e3) <= 5e-4          # rounded to 3 decimals


def test_shared_metrics_read_other_workers_and_skip_broken_files(tmp_path):
    other = Metrics()
    other.observe("GET /healthz", 200, 1e-3)
    raw = other.raw()
    raw["pid"] = -1
    (tmp_path / "999999.json").write_text(json.dumps(raw))
    (tmp_path / "888888.json").write_text("{half")
    mine = SharedMetrics(tmp_path)
    mine.observe("GET /healthz", 200, 2e-3)
    mine.publish()
    snap = mine.snapshot()
    assert snap["workers"] == 2 and snap["requests"]["GET /healthz"]["200"] == 2
    assert len(EDGES) == 176
