"""Load benchmark for `gnnrec serve`: requests/s and p50/p99 latency of top-10 queries.

Loopback only and bounded: starts `gnnrec serve EXPORT` on a free 127.0.0.1
port, drives it with a closed-loop load generator (``--connections``
keep-alive HTTP/1.1 connections on one asyncio event loop, each sending its
next GET /recommend as soon as the previous answer arrives) for at most
``--requests`` requests or ``--seconds`` seconds after a warm-up, then stops
the server. Queries cycle through the export's users (seeded shuffle) and
domains. The generator runs on the same machine and shares its CPU cores
with the server, so the figures are a lower bound for the server alone.

    .venv/bin/python benchmarks/serve_load.py EXPORT --workers 2 --connections 4
    .venv/bin/python benchmarks/serve_load.py EXPORT --foldin 20      # POST fold-in queries
    .venv/bin/python benchmarks/serve_load.py --dataset ml1m-cd   # random-vector export

``--dataset`` builds an export of that dataset with seeded random 64-d
vectors (throughput does not depend on the values) when no trained export is
at hand.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from gnnrec.export.launch import start_server, stop_server


def random_export(dataset: str, folder: Path, dim: int = 64) -> Path:
    from gnnrec.data.registry import load_dataset
    from gnnrec.export.build import build_export
    from gnnrec.export.contract import write_export
    ds = load_dataset(dataset)
    rng = np.random.default_rng(0)
    exp = build_export(ds, rng.normal(size=(ds.n_users, dim)), rng.normal(size=(ds.n_items, dim)),
                       model="random-vectors (load benchmark)")
    return write_export(exp, folder)


async def _one_connection(port: int, requests: list[bytes], start: int, stride: int,
                          stop_at: float, budget: list[int], lat: list[float],
                          errors: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = start
    try:
        while budget[0] > 0 and time.perf_counter() < stop_at:
            budget[0] -= 1
            req = requests[i % len(requests)]
            i += stride
            t0 = time.perf_counter()
            writer.write(req)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            lat.append(time.perf_counter() - t0)
            if not head.startswith(b"HTTP/1.1 200"):
                errors[0] += 1
    finally:
        writer.close()


async def drive(port: int, reqs: list[bytes], connections: int, requests: int,
                seconds: float) -> dict:
    lat: list[float] = []
    errors, budget = [0], [requests]
    t0 = time.perf_counter()
    await asyncio.gather(*(_one_connection(port, reqs, c, connections, t0 + seconds, budget,
                                           lat, errors) for c in range(connections)))
    wall = time.perf_counter() - t0
    a = np.asarray(lat) * 1e3
    return {"requests": len(a), "errors": errors[0], "seconds": round(wall, 2),
            "req_per_s": round(len(a) / wall, 1),
            "p50_ms": round(float(np.percentile(a, 50)), 2),
            "p90_ms": round(float(np.percentile(a, 90)), 2),
            "p99_ms": round(float(np.percentile(a, 99)), 2),
            "max_ms": round(float(a.max()), 2)}


def query_requests(export: Path, k: int, foldin: int = 0, n: int = 20000) -> list[bytes]:
    """Raw HTTP/1.1 requests: GET /recommend for random known users, or (``foldin`` > 0)
    POST /recommend with a random ``foldin``-item history; random domains."""
    from gnnrec.export.contract import load_export
    exp = load_export(export)
    rng = np.random.default_rng(0)
    doms = rng.choice(exp.domains(), size=n)
    if not foldin:
        users = rng.choice(exp.user_ids, size=n)
        return [f"GET /recommend?user={u}&domain={d}&k={k} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
                for u, d in zip(users, doms)]
    out = []
    for d in doms:
        hist = rng.choice(exp.item_ids, size=foldin, replace=False).tolist()
        body = json.dumps({"domain": str(d), "k": k, "items": hist}).encode()
        out.append(b"POST /recommend HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                   + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("export", nargs="?", help="export folder (or use --dataset)")
    p.add_argument("--dataset", help="build a random-vector export of this dataset instead")
    p.add_argument("--workers", type=int, default=2, help="uvicorn workers (default 2)")
    p.add_argument("--connections", type=int, default=4, help="concurrent keep-alive connections")
    p.add_argument("--requests", type=int, default=30000, help="at most this many requests")
    p.add_argument("--seconds", type=float, default=20.0, help="at most this long (after warm-up)")
    p.add_argument("--warmup", type=int, default=2000, help="requests before measuring")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--foldin", type=int, default=0, metavar="N",
                   help="POST fold-in queries with N-item histories instead of GET for known users")
    p.add_argument("--out", help="also write the figures as JSON here")
    args = p.parse_args(argv)
    if not args.export and not args.dataset:
        p.error("give an EXPORT folder or --dataset NAME")
    with tempfile.TemporaryDirectory(prefix="gnnrec-load-") as tmp:
        export = Path(args.export) if args.export else random_export(args.dataset, Path(tmp) / "e")
        reqs = query_requests(export, args.k, args.foldin)
        proc, url = start_server(export, "--workers", str(args.workers))
        port = int(url.rsplit(":", 1)[1])
        try:
            asyncio.run(drive(port, reqs, args.connections, args.warmup, 30.0))
            res = asyncio.run(drive(port, reqs, args.connections, args.requests, args.seconds))
        finally:
            stop_server(proc)
    res.update({"export": str(args.export or f"random vectors of {args.dataset}"),
                "query": f"POST fold-in, {args.foldin}-item histories" if args.foldin
                else "GET known user", "k": args.k, "workers": args.workers, "connections": args.connections,
                "cpu_cores": os.cpu_count(),
                "note": "load generator (1 process, asyncio) shares the machine's cores with "
                        "the server; the machine is shared with other jobs, timings are noisy"})
    print(json.dumps(res, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=2) + "\n")
    return 0 if res["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
