"""Load benchmark for `gnnrec serve`: requests/s and p50/p99 latency of top-10 queries.

Loopback only and bounded: starts `gnnrec serve EXPORT` on a free 127.0.0.1
port, drives it with a closed-loop load generator (``--connections``
keep-alive HTTP/1.1 connections on one asyncio event loop, each sending its
next GET /recommend as soon as the previous answer arrives) for at most
``--requests`` requests or ``--seconds`` seconds per round (``--rounds``
rounds on fresh connections, after a warm-up; the median round is reported),
then stops the server. Queries cycle through the export's users (seeded shuffle) and
domains. The generator runs on the same machine and shares its CPU cores
with the server, so the figures are a lower bound for the server alone; the
CPU time the server processes and the generator spend per request (from
/proc, Linux) is reported too, as it depends much less on other load.

    .venv/bin/python benchmarks/serve_load.py EXPORT --workers 2 --connections 4
    .venv/bin/python benchmarks/serve_load.py EXPORT --foldin 20      # POST fold-in queries
    .venv/bin/python benchmarks/serve_load.py --dataset ml1m-cd   # random-vector export
    .venv/bin/python benchmarks/serve_load.py EXPORT --write-rate 100 --seconds 20   # + live updates

``--write-rate R`` adds an open-loop writer during every measured round: ``POST
/interactions`` at R per second on its own keep-alive connection (a random item
for a random known user, every fifth for a new user), while the readers query
``GET /recommend``; read and write latencies are reported separately. The
server then serves a temporary copy of the export (its ``updates/`` log is
written), never the export itself.

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


def tree_cpu_seconds(pid: int) -> float | None:
    """user + system CPU seconds of process ``pid`` and its children (Linux /proc), else None."""
    tick = os.sysconf("SC_CLK_TCK")
    total, found = 0.0, False
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if stat.parent.name == str(pid) or int(fields[1]) == pid:   # fields[1] = ppid
            total += (int(fields[11]) + int(fields[12])) / tick      # utime + stime
            found = True
    return total if found else None


async def write_loop(port: int, bodies: list[bytes], rate: float, seconds: float, done: asyncio.Event
                     ) -> dict:
    """POST /interactions at ``rate`` per second (open loop: request k is due at t0 + k / rate)
    until ``seconds`` pass or ``done`` is set; latencies from send to the full answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lat, errors, k = [], 0, 0
    t0 = time.perf_counter()
    try:
        while not done.is_set():
            due = t0 + k / rate
            if due - t0 > seconds:
                break
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            t1 = time.perf_counter()
            writer.write(bodies[k % len(bodies)])
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            lat.append(time.perf_counter() - t1)
            errors += not head.startswith(b"HTTP/1.1 200")
            k += 1
    finally:
        writer.close()
    wall = time.perf_counter() - t0
    a = np.asarray(lat) * 1e3 if lat else np.zeros(1)
    return {"writes": len(lat), "write_errors": errors, "writes_per_s": round(len(lat) / wall, 1),
            "write_p50_ms": round(float(np.percentile(a, 50)), 2),
            "write_p99_ms": round(float(np.percentile(a, 99)), 2)}


def interaction_requests(export: Path, n: int = 20000) -> list[bytes]:
    """Raw POST /interactions requests: random items, random known users (4 in 5) or new ones."""
    from gnnrec.export.contract import load_export
    exp = load_export(export)
    rng = np.random.default_rng(1)
    users = rng.choice(exp.user_ids, size=n)
    items = rng.choice(exp.item_ids, size=n)
    out = []
    for k, (u, i) in enumerate(zip(users, items)):
        body = json.dumps({"user": str(u) if k % 5 else f"live_new_{k}", "item": str(i)}).encode()
        out.append(b"POST /interactions HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                   + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    return out


async def measured_round(port: int, pid: int, reqs: list[bytes], connections: int, requests: int,
                         seconds: float, writes: list[bytes] | None = None, rate: float = 0.0) -> dict:
    """One round of :func:`drive` plus the CPU time server and generator spent per request;
    with ``rate`` > 0, :func:`write_loop` runs beside the readers."""
    s0, c0 = tree_cpu_seconds(pid), time.process_time()
    if rate > 0 and writes:
        done = asyncio.Event()
        wtask = asyncio.create_task(write_loop(port, writes, rate, seconds, done))
        res = await drive(port, reqs, connections, requests, seconds)
        done.set()
        res.update(await wtask)
    else:
        res = await drive(port, reqs, connections, requests, seconds)
    s1, c1 = tree_cpu_seconds(pid), time.process_time()
    if s0 is not None and s1 is not None and res["requests"]:
        res["server_cpu_ms_per_request"] = round((s1 - s0) / res["requests"] * 1e3, 3)
        res["generator_cpu_ms_per_request"] = round((c1 - c0) / res["requests"] * 1e3, 3)
        # what the cores could sustain if server + generator had them to themselves
        per_req = (res["server_cpu_ms_per_request"] + res["generator_cpu_ms_per_request"]) / 1e3
        res["cpu_bound_req_per_s_estimate"] = round((os.cpu_count() or 1) / per_req, 0)
    return res


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
    p.add_argument("--requests", type=int, default=20000, help="at most this many requests a round")
    p.add_argument("--seconds", type=float, default=10.0, help="at most this long a round")
    p.add_argument("--warmup", type=int, default=2000, help="requests before measuring")
    p.add_argument("--rounds", type=int, default=3,
                   help="measured rounds, each on fresh connections (their spread over the workers "
                        "varies); the median round by requests/s is reported, all rounds listed")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--foldin", type=int, default=0, metavar="N",
                   help="POST fold-in queries with N-item histories instead of GET for known users")
    p.add_argument("--write-rate", type=float, default=0.0, metavar="R",
                   help="also POST /interactions at R per second during every round (live updates)")
    p.add_argument("--out", help="also write the figures as JSON here")
    args = p.parse_args(argv)
    if not args.export and not args.dataset:
        p.error("give an EXPORT folder or --dataset NAME")
    with tempfile.TemporaryDirectory(prefix="gnnrec-load-") as tmp:
        export = Path(args.export) if args.export else random_export(args.dataset, Path(tmp) / "e")
        writes = None
        if args.write_rate > 0:                # live updates write updates/: serve a copy
            import shutil
            shutil.copytree(export, Path(tmp) / "served", ignore=shutil.ignore_patterns("updates"))
            export = Path(tmp) / "served"
            writes = interaction_requests(export)
        reqs = query_requests(export, args.k, args.foldin)
        proc, url = start_server(export, "--workers", str(args.workers))
        port = int(url.rsplit(":", 1)[1])
        try:
            asyncio.run(drive(port, reqs, args.connections, args.warmup, 30.0))
            rounds = [asyncio.run(measured_round(port, proc.pid, reqs, args.connections,
                                                 args.requests, args.seconds, writes, args.write_rate))
                      for _ in range(args.rounds)]
        finally:
            stop_server(proc)
    res = dict(sorted(rounds, key=lambda r: r["req_per_s"])[len(rounds) // 2])   # median round
    res.update({"rounds": [{k: r[k] for k in ("req_per_s", "p50_ms", "p99_ms", "errors",
                                              "server_cpu_ms_per_request", "writes_per_s", "write_p99_ms",
                                              "write_errors") if k in r}
                           for r in rounds],
                "p99_ms_worst_round": max(r["p99_ms"] for r in rounds),
                "write_rate": args.write_rate,
                "export": str(args.export or f"random vectors of {args.dataset}"),
                "query": f"POST fold-in, {args.foldin}-item histories" if args.foldin
                else "GET known user", "k": args.k, "workers": args.workers, "connections": args.connections,
                "cpu_cores": os.cpu_count(),
                "note": "load generator (1 process, asyncio) shares the machine's cores with "
                        "the server; the machine is shared with other jobs, timings are noisy"})
    print(json.dumps(res, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=2) + "\n")
    return 0 if all(r["errors"] == 0 and r.get("write_errors", 0) == 0 for r in rounds) else 1


if __name__ == "__main__":
    sys.exit(main())
