"""Training speed of cd-lightgcn (64-dim, 3 layers) on ML-1M-CD: s/epoch and time to best val NDCG@20.

    .venv/bin/python benchmarks/train_speed.py                      # batch 16384, 30 epochs
    .venv/bin/python benchmarks/train_speed.py --batch-size 65536 --lr 0.01
    .venv/bin/python benchmarks/train_speed.py --epochs 3 --dataset ml100k-cd   # quick look

One epoch = one pass over the train positives (each with one same-domain
negative, BPR). Prints: seconds per epoch (training only, mean and min over
epochs), validation seconds per evaluation, pairs/s, and the wall time from
the start of training to the epoch with the best validation score
(training + validation time up to it). Runs go to a temporary folder.
On a shared CPU timings are noisy: look at the min as well as the mean.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="ml1m-cd")
    p.add_argument("--model", default="cd-lightgcn")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=16384)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--eval-every", type=int, default=1)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--device", default="auto")
    a = p.parse_args()

    from gnnrec.train import resolve, train_run

    with tempfile.TemporaryDirectory() as tmp:
        cfg = resolve({"name": "speed", "dataset": a.dataset, "runs_dir": tmp, "device": a.device,
                       "model": {"name": a.model, "dim": 64, "layers": 3},
                       "train": {"epochs": a.epochs, "batch_size": a.batch_size, "lr": a.lr,
                                 "eval_every": a.eval_every, "patience": a.epochs,
                                 "threads": a.threads}})
        t0 = time.perf_counter()
        res = train_run(cfg, progress=False, export=False)
        total = time.perf_counter() - t0
        events = [json.loads(x) for x in (Path(tmp) / "speed" / "log.jsonl").read_text().splitlines()]
    epochs = [e for e in events if e["event"] == "epoch"]
    start = next(e for e in events if e["event"] == "start")["time"]
    ep_s = [e["epoch_s"] for e in epochs]
    evals = [e["eval_s"] for e in epochs if "eval_s" in e]
    best = max((e for e in epochs if "score" in e), key=lambda e: e["score"])
    print(f"device {res.model.user_emb.device} ({platform.processor() or platform.machine()}), "
          f"torch threads {torch.get_num_threads()}, dataset {a.dataset}, {a.model} 64-dim 3 layers, "
          f"batch {a.batch_size}, lr {a.lr}")
    print(f"train s/epoch: mean {sum(ep_s) / len(ep_s):.2f}, min {min(ep_s):.2f} "
          f"({len(ep_s)} epochs, {epochs[-1]['pairs_per_s']:.0f} pairs/s last epoch)")
    print(f"validation s/eval: mean {sum(evals) / len(evals):.2f}")
    print(f"best valid NDCG@20 (mean of groups) {best['score']:.4f} at epoch {best['epoch']}; "
          f"time to best {best['time'] - start:.1f}s (train + validation); whole run {total:.1f}s")
    print("valid groups at best:", {k: round(v, 4) for k, v in best["val"].items()})


if __name__ == "__main__":
    main()
