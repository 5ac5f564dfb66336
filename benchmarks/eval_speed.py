"""Evaluator speed on the frozen benchmarks (issue 3). Not a test: it prints timings.

Measured, each with 64-dim random float32 embeddings on the CPU:

1. ML-1M-CD test split, full ranking, all four domain x scenario groups,
   K = 10, 20, 50, bootstrap CIs included (goal < 5 s);
2. ML-1M-CD valid split, full ranking (what the trainer calls every epoch;
   the per-(dataset, split) plan is cached, so repeated calls are cheaper);
3. DisenCDR Sport/Cloth test split, sampled (999 negatives) + full ranking
   (goal < 10 s together): once as one ``evaluate_many`` pass (what
   ``gnnrec evaluate --protocol both`` runs: the sampled candidates are read
   from the full protocol's score blocks) and once as two separate calls.

Each figure is the median of ``--repeat`` runs after one warm-up (which also
builds and caches the evaluation plan; its time is printed separately). The
CPU is shared: wall times are noisy, so the machine load is printed with them,
and so is the process CPU time (``[cpu ...]``), which on a busy machine is
closer to what the same run costs on an idle one (at 1 thread).
Run at torch's default thread count and at ``--threads`` (default 1).

Usage: ``python benchmarks/eval_speed.py [--repeat 3] [--threads 1]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from gnnrec.data import load_dataset
from gnnrec.eval import evaluate, evaluate_many


CPU: dict[str, float] = {}


def _time(fn, repeat: int) -> tuple[float, float]:
    """(first-call wall s, median wall s); the median process CPU time goes to CPU["last"]."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    times, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    CPU["last"] = statistics.median(cpu)
    return first, statistics.median(times)


def _cpu() -> str:
    return f"[cpu {CPU['last']:.2f} s]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="second thread setting to time")
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--only-threads", action="store_true",
                    help="time only the --threads setting, not torch's default as well")
    args = ap.parse_args()
    gen = torch.Generator().manual_seed(0)
    ml = load_dataset("ml1m-cd")
    dis = load_dataset("amazon-disencdr-sport_cloth")
    emb = {ds.name: (torch.randn(ds.n_users, args.dim, generator=gen),
                     torch.randn(ds.n_items, args.dim, generator=gen)) for ds in (ml, dis)}

    def run(ds, split, protocol, threads):
        u, v = emb[ds.name]
        return lambda: evaluate(u, v, ds, split=split, protocol=protocol, ks=(10, 20, 50),
                                threads=threads)

    print(f"torch {torch.__version__}, default threads {torch.get_num_threads()}, "
          f"cpus {os.cpu_count()}, load average {os.getloadavg()}")
    for threads in ((args.threads,) if args.only_threads else (None, args.threads)):
        tag = f"threads={threads or torch.get_num_threads()}"
        f, t = _time(run(ml, "test", "full", threads), args.repeat)
        print(f"[{tag}] ML-1M-CD test, full ranking, 4 groups, K<=50: {t:.2f} s "
              f"(first call incl. plan build {f:.2f} s; goal < 5 s) {_cpu()}")
        f, t = _time(run(ml, "valid", "full", threads), args.repeat)
        print(f"[{tag}] ML-1M-CD valid, full ranking (per-epoch call): {t:.2f} s "
              f"(first call {f:.2f} s; goal well under 2 s) {_cpu()}")
        u, v = emb[dis.name]
        fb, tb = _time(lambda: evaluate_many(u, v, dis, split="test", ks=(10, 20, 50),  # noqa: B023
                                             protocols=("full", "sampled"), threads=threads),  # noqa: B023
                       args.repeat)                    # (timed right here, inside the loop)
        print(f"[{tag}] DisenCDR sport_cloth test, sampled + full in one pass: {tb:.2f} s "
              f"(goal < 10 s) {_cpu()}")
        fs, ts = _time(run(dis, "test", "sampled", threads), args.repeat)
        cs = CPU["last"]
        ff, tf = _time(run(dis, "test", "full", threads), args.repeat)
        print(f"[{tag}]   as separate calls: sampled {ts:.2f} s + full {tf:.2f} s = "
              f"{ts + tf:.2f} s [cpu {cs:.2f} + {CPU['last']:.2f} s]")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
