"""Request metrics of the HTTP service, exact across uvicorn worker processes.

Each process counts requests by (``"METHOD route"``, status) and records
latencies in a fixed log-spaced histogram (25 buckets per decade from 10 us
to 100 s, so a reported quantile is the upper edge of its bucket: at most
~9.6% above the true value). Histograms and counts add up exactly, so with
``--workers N`` every worker writes its raw state to ``<dir>/<pid>.json``
about once a second and ``GET /metrics`` merges the files of all live
workers with its own current state.
"""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

EDGES = np.logspace(-5, 2, 7 * 25 + 1)        # seconds; bucket i = (EDGES[i-1], EDGES[i]]
STALE_S = 10.0                                  # ignore worker files older than this


class Metrics:
    """Counts and latency histograms of one process."""

    def __init__(self) -> None:
        self.started = time.time()
        self.counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.hist: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(len(EDGES) + 1, np.int64))
        self.total_s: dict[str, float] = defaultdict(float)

    def observe(self, route: str, status: int, seconds: float) -> None:
        self.counts[route][str(status)] += 1
        self.hist[route][int(np.searchsorted(EDGES, seconds))] += 1
        self.total_s[route] += seconds

    def raw(self) -> dict[str, Any]:
        """JSON-ready state: pid, start time, counts, histograms, latency sums."""
        return {"pid": os.getpid(), "started": self.started, "counts": {r: dict(c) for r, c in
                                                                          self.counts.items()},
                "hist": {r: h.tolist() for r, h in self.hist.items()},
                "total_s": dict(self.total_s)}


def _quantile_ms(hist: np.ndarray, q: float) -> float:
    """Upper bucket edge (ms) below which a share ``q`` of the observations fall."""
    cum = np.cumsum(hist)
    i = int(np.searchsorted(cum, q * cum[-1]))
    return float(EDGES[min(i, len(EDGES) - 1)] * 1e3)


def merge(raws: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``/metrics`` answer for the raw states of one or more processes."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    hist: dict[str, np.ndarray] = {}
    total_s: dict[str, float] = defaultdict(float)
    for raw in raws:
        for route, by_status in raw["counts"].items():
            for status, n in by_status.items():
                counts[route][status] += n
        for route, h in raw["hist"].items():
            hist[route] = hist.get(route, 0) + np.asarray(h, np.int64)
        for route, s in raw["total_s"].items():
            total_s[route] += s
    latency = {}
    for route, h in hist.items():
        n = int(h.sum())
        latency[route] = {"count": n, "mean_ms": round(total_s[route] / n * 1e3, 3),
                          "p50_ms": round(_quantile_ms(h, 0.5), 3),
                          "p99_ms": round(_quantile_ms(h, 0.99), 3)}
    return {"workers": len(raws), "pids": sorted(r["pid"] for r in raws),
            "uptime_s": round(time.time() - min(r["started"] for r in raws), 1),
            "total": sum(sum(c.values()) for c in counts.values()),
            "requests": {r: dict(c) for r, c in counts.items()}, "latency": latency,
            "note": "counts since start; latency quantiles are histogram bucket upper edges "
                    "(<= 9.6% high), all workers merged"}


class SharedMetrics:
    """:class:`Metrics` of this process, published to and merged from ``folder`` (or alone)."""

    def __init__(self, folder: str | os.PathLike | None) -> None:
        self.local = Metrics()
        self.folder = Path(folder) if folder else None

    def observe(self, route: str, status: int, seconds: float) -> None:
        self.local.observe(route, status, seconds)

    def publish(self) -> None:
        """Write this process's raw state atomically to ``<folder>/<pid>.json``."""
        if self.folder is None:
            return
        path = self.folder / f"{os.getpid()}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.local.raw()))
        os.replace(tmp, path)

    def snapshot(self) -> dict[str, Any]:
        """Merged metrics of every live worker (this one's state is current)."""
        raws = [self.local.raw()]
        if self.folder is not None:
            now = time.time()
            for p in self.folder.glob("*.json"):
                if p.stem == str(os.getpid()):
                    continue
                try:
                    if now - p.stat().st_mtime <= STALE_S:
                        raws.append(json.loads(p.read_text()))
                except (OSError, ValueError):
                    continue        # a worker exiting or mid-replace: skip it this time
        return merge(raws)
