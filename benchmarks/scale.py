"""Scale benchmarks (issue 8): ML-1M-CD speed, mini-batch vs full quality, synthetic scaling.

Subcommands (each prints a table; JSON lines go to ``--out``/results.jsonl):

* ``speed``     -- ``cd-lightgcn`` (64-dim, 3 layers, batch 16,384) on ML-1M-CD,
  full-graph: seconds per epoch (wall and CPU) and the wall time until the
  epoch with the best validation NDCG@20 (training stops after ``--patience``
  evaluations without improvement), read from the run's ``log.jsonl``.
* ``minibatch`` -- the same model trained full-graph and with neighbour-sampled
  link mini-batches for the same number of epochs; best validation NDCG@20 of
  both and the relative gap (target: within 3%).
* ``scaling``   -- synthetic graphs of ``--sizes`` edges (default 1M, 5M, 20M):
  for full-graph (``--batch`` pairs per step) and mini-batch (``--mb-batch``
  pairs per step, ``--fanouts``) ``cd-lightgcn`` and ``hgt``, seconds per epoch,
  edges/s and peak resident memory, each configuration in a fresh process
  (so peak memory is its own). An epoch is ``ceil(train pairs / batch)`` steps;
  the time of ``--steps`` measured steps (after one warm-up step) is scaled up
  to the epoch (the step cost does not depend on the step index). Mode
  ``full-steps`` is full-graph training whose batch grows with the graph
  (``--epoch-steps`` steps per epoch, as ML-1M-CD's 31 steps of 16,384): with a
  fixed batch every epoch costs (#steps ~ edges) x (one propagation ~ edges),
  i.e. grows quadratically, while a fixed step count keeps it linear. Setups the
  memory estimator says do not fit are reported as skipped with its reason.
  Writes ``scaling.png``/``scaling.svg``: log-log time per epoch vs edges with
  the fitted exponent per curve.

Timings on the project's shared 2-core CPU are noisy (other jobs run at the
same time): each table prints the 1-minute load average next to it.
Usage: ``python benchmarks/scale.py speed|minibatch|scaling [options]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _events(run_dir: Path) -> list[dict]:
    return [json.loads(x) for x in (run_dir / "log.jsonl").read_text().splitlines()]


def _emit(out: Path, rec: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(rec) + "\n")
    print(json.dumps(rec), flush=True)


def _ml1m_cfg(name: str, runs: Path, mode: str, epochs: int, patience: int, threads: int | None,
              fanouts: list[int]) -> dict:
    return {"name": name, "dataset": "ml1m-cd", "runs_dir": str(runs), "seed": 0,
            "model": {"name": "cd-lightgcn", "dim": 64, "layers": 3},
            "train": {"epochs": epochs, "batch_size": 16384, "lr": 5e-3, "patience": patience,
                      "mode": mode, "fanouts": fanouts, "threads": threads}}


def _train(cfg: dict) -> tuple[dict, list[dict]]:
    from gnnrec.train import train_run

    t0, c0 = time.perf_counter(), time.process_time()
    res = train_run(cfg, overwrite=True, progress=False, export=False)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    ev = _events(res.run_dir)
    epochs = [e for e in ev if e["event"] == "epoch"]
    return {"best_valid": res.best_score, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1)}, epochs


def cmd_speed(args: argparse.Namespace) -> None:
    cfg = _ml1m_cfg("speed_full", args.out / "runs", "full", args.epochs, args.patience,
                    args.threads, [10, 5, 5])
    t_start = time.time()
    summary, epochs = _train(cfg)
    best = max(epochs, key=lambda e: e.get("score", -1))
    to_best = best["time"] - t_start
    per_epoch = [e["epoch_s"] for e in epochs]
    _emit(args.out, {"bench": "speed", "dataset": "ml1m-cd", "model": "cd-lightgcn",
                     "threads": args.threads, "epochs_run": len(epochs),
                     "median_epoch_s": round(float(np.median(per_epoch)), 2),
                     "min_epoch_s": round(min(per_epoch), 2), "best_epoch": best["epoch"],
                     "best_valid_ndcg20": round(best["score"], 4),
                     "wall_to_best_s": round(to_best, 1), **summary,
                     "load_avg_1m": round(os.getloadavg()[0], 1)})


def cmd_minibatch(args: argparse.Namespace) -> None:
    out = {}
    for mode in ("full", "minibatch"):
        cfg = _ml1m_cfg(f"mb_{mode}", args.out / "runs", mode, args.epochs, 10 ** 6, args.threads,
                        args.fanouts)
        summary, epochs = _train(cfg)
        out[mode] = {**summary, "median_epoch_s": round(float(np.median(
            [e["epoch_s"] for e in epochs])), 2)}
    rel = out["minibatch"]["best_valid"] / out["full"]["best_valid"] - 1.0
    _emit(args.out, {"bench": "minibatch", "dataset": "ml1m-cd", "model": "cd-lightgcn",
                     "epochs": args.epochs, "fanouts": args.fanouts, **{k: v for k, v in out.items()},
                     "relative_ndcg20_gap": round(rel, 4), "within_3pct": abs(rel) <= 0.03,
                     "load_avg_1m": round(os.getloadavg()[0], 1)})


# ---- scaling -------------------------------------------------------------------------
SIZES = {1_000_000: (100_000, 40_000), 5_000_000: (400_000, 150_000), 20_000_000: (1_500_000, 500_000)}


def _synth_folder(root: Path, edges: int, seed: int) -> Path:
    from gnnrec.data.synthetic import SynthConfig, generate, save_synthetic

    users, items = SIZES.get(edges, (edges // 10, edges // 40))
    folder = root / f"synth-{edges}"
    if not (folder / "manifest.json").is_file():
        t0 = time.perf_counter()
        save_synthetic(folder, generate(SynthConfig(users=users, items=items, domains=2,
                                                    edges=edges, seed=seed)))
        print(f"generated {edges} edges in {time.perf_counter() - t0:.0f}s -> {folder}", flush=True)
    return folder


def _measure_one(args: argparse.Namespace) -> None:
    """Child process: time ``--steps`` training steps of one (folder, model, mode)."""
    import torch

    from gnnrec.data import load_dataset
    from gnnrec.data.synthetic import load_item_features
    from gnnrec.graph.memory import device_budget, estimate
    from gnnrec.models.registry import build_model
    from gnnrec.train.config import resolve
    from gnnrec.train.context import make_context, pick_device, seed_everything
    from gnnrec.train.minibatch import MiniBatchTrainer, graph_size
    from gnnrec.train.trainer import Trainer

    if args.threads:
        torch.set_num_threads(args.threads)
    ds = load_dataset(args.folder)
    feats = load_item_features(args.folder)
    mode = "minibatch" if args.mode == "minibatch" else "full"
    batch = math.ceil(len(ds.train) / args.epoch_steps) if args.mode == "full-steps" else args.batch
    cfg = resolve({"name": "scale", "dataset": str(args.folder), "seed": 0,
                   "model": {"name": args.model, "dim": 64, "layers": args.layers},
                   "train": {"batch_size": batch, "mode": mode, "fanouts": args.fanouts}})
    dev = pick_device("auto")

    class Feats:
        item = feats

    seed_everything(0)
    model = build_model(make_context(cfg, ds, dev, Feats if args.model == "hgt" else None))
    text = getattr(model, "text", None)
    est = estimate(graph_size(model, ds, cfg, int(text.shape[1]) if text is not None else 0),
                   device_budget(dev), mode)
    rec = {"edges": len(ds.train) + len(ds.valid) + len(ds.test), "train_edges": len(ds.train),
           "model": args.model, "mode": args.mode, "batch": batch, "device": str(dev),
           "threads": torch.get_num_threads(), "est_gib": round(
               (est.full_bytes if mode == "full" else est.minibatch_bytes) / 2**30, 2)}
    if (est.full_bytes if mode == "full" else est.minibatch_bytes) > est.budget_bytes:
        print(json.dumps({**rec, "skipped": f"estimator: needs ~{rec['est_gib']} GiB > budget "
                                            f"{est.budget_bytes / 2**30:.1f} GiB"}))
        return
    run_dir = Path(tempfile.mkdtemp())
    cls = MiniBatchTrainer if mode == "minibatch" else Trainer
    trainer = cls(model, ds, cfg, run_dir, dev, progress=False)
    opt = trainer._optimizer("main")            # the trainer's own (row-sparse Adam in mini-batch mode)
    steps = math.ceil(len(ds.train) / batch)
    times = _time_steps(trainer, opt, args.steps + 1, mode)
    step_s = float(np.median([w for w, _ in times[1:]]))
    step_cpu = float(np.median([c for _, c in times[1:]]))
    epoch_s = step_s * steps
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    if dev.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**30
    print(json.dumps({**rec, "steps_per_epoch": steps, "step_s": round(step_s, 3),
                      "epoch_s": round(epoch_s, 1), "edges_per_s": round(len(ds.train) / epoch_s),
                      "step_cpu_s": round(step_cpu, 3), "epoch_cpu_s": round(step_cpu * steps, 1),
                      "peak_gib": round(peak, 2)}))


def _time_steps(trainer, opt, n: int, mode: str) -> list[tuple[float, float]]:
    """(wall, CPU) seconds of ``n`` optimiser steps of ``trainer`` (its own batches).

    With one thread, CPU seconds are what the step costs on an idle core; wall
    seconds include waiting for the core on a shared machine.
    """
    import torch

    from gnnrec.train.minibatch import MiniBatchTrainer

    times = []
    gen = torch.Generator().manual_seed(0)
    trainer.model.train()
    if isinstance(trainer, MiniBatchTrainer):
        its = [iter(ld) for ld in trainer.loaders]
        for _ in range(n):
            t0, c0 = time.perf_counter(), time.process_time()
            parts = [(next(it).to(trainer.device), t) for it, t in zip(its, trainer.loader_types)]
            loss, _ = trainer._step_loss(parts)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            times.append((time.perf_counter() - t0, time.process_time() - c0))
        return times
    order = trainer.pos.epoch_order(gen)
    bs = int(trainer.t["batch_size"])
    for s in range(n):
        t0, c0 = time.perf_counter(), time.process_time()
        batch = trainer._batch(order[s * bs:(s + 1) * bs], gen)
        loss = trainer._ranking_loss(batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append((time.perf_counter() - t0, time.process_time() - c0))
    return times


def _fit_exponent(edges: list[float], secs: list[float]) -> float:
    slope, _ = np.polyfit(np.log(edges), np.log(secs), 1)
    return float(slope)


def _plot(rows: list[dict], path: Path) -> dict[str, float]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    exps = {}
    for key in sorted({(r["model"], r["mode"]) for r in rows if "epoch_s" in r}):
        pts = sorted((r["train_edges"], r["epoch_s"]) for r in rows
                     if (r["model"], r["mode"]) == key and "epoch_s" in r)
        if not pts:
            continue
        x, y = zip(*pts)
        label = f"{key[0]} {key[1]}"
        if len(pts) >= 2:
            exps[label] = _fit_exponent(list(x), list(y))
            label += f" (slope {exps[label]:.2f})"
        ax.loglog(x, y, "o-", label=label)
    ax.set_xlabel("train edges")
    ax.set_ylabel("seconds per epoch")
    dev = rows[0].get("device", "cpu") if rows else "cpu"
    ax.set_title(f"gnnrec scaling on {dev} (fitted log-log slope = exponent)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    for ext in ("png", "svg"):
        fig.savefig(path.with_suffix(f".{ext}"), dpi=120)
    return exps


def cmd_scaling(args: argparse.Namespace) -> None:
    data_root = args.out / "data"
    rows = []
    for edges in args.sizes:
        folder = _synth_folder(data_root, edges, args.seed)
        for model in args.models:
            for mode in args.modes:
                cmd = [sys.executable, __file__, "_one", "--folder", str(folder), "--model", model,
                       "--mode", mode, "--steps", str(args.steps),
                       "--batch", str(args.mb_batch if mode == "minibatch" else args.batch),
                       "--epoch-steps", str(args.epoch_steps),
                       "--layers", str(3 if model != "hgt" else 2),
                       "--fanouts", *map(str, args.fanouts)]
                if args.threads:
                    cmd += ["--threads", str(args.threads)]
                proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
                lines = [x for x in proc.stdout.splitlines() if x.startswith("{")]
                if proc.returncode != 0 or not lines:
                    rec = {"edges": edges, "model": model, "mode": mode,
                           "error": (proc.stderr.strip().splitlines() or ["?"])[-1][:300]}
                else:
                    rec = json.loads(lines[-1])
                rec["load_avg_1m"] = round(os.getloadavg()[0], 1)
                rows.append(rec)
                _emit(args.out, {"bench": "scaling", **rec})
    _report(rows, args.out)


def _report(rows: list[dict], out: Path) -> None:
    exps = _plot(rows, out / "scaling")
    print(f"{'model':12s} {'mode':10s} {'edges':>10s} {'s/epoch':>9s} {'CPU s/ep':>9s} "
          f"{'edges/s':>10s} {'peak GiB':>9s} {'est GiB':>8s} {'load':>5s}")
    for r in rows:
        if "epoch_s" in r:
            print(f"{r['model']:12s} {r['mode']:10s} {r['train_edges']:10d} {r['epoch_s']:9.1f} "
                  f"{r.get('epoch_cpu_s', float('nan')):9.1f} {r['edges_per_s']:10d} "
                  f"{r['peak_gib']:9.2f} {r['est_gib']:8.2f} {r['load_avg_1m']:5.1f}")
        else:
            print(f"{r['model']:12s} {r['mode']:10s} {r.get('edges', 0):10d}  "
                  f"{r.get('skipped', r.get('error'))}")
    for k, v in exps.items():
        print(f"fitted exponent (time ~ edges^a): {k}: a = {v:.2f}")
    _emit(out, {"bench": "scaling_exponents", **{k: round(v, 3) for k, v in exps.items()},
                "plot": str(out / "scaling.png")})


def cmd_plot(args: argparse.Namespace) -> None:
    """Table + plot from every scaling row in ``--out``/results.jsonl (latest per setup)."""
    rows: dict[tuple, dict] = {}
    for line in (args.out / "results.jsonl").read_text().splitlines():
        r = json.loads(line)
        if r.get("bench") == "scaling" and "edges" in r:
            rows[(r["edges"], r["model"], r["mode"])] = r
    _report(sorted(rows.values(), key=lambda r: (r["model"], r["mode"], r["edges"])), args.out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="gnnrec scale benchmarks (see module docstring)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--out", type=Path, default=Path("/tmp/gnnrec-scale-bench"))
    common.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: gnnrec's choice; 1 is fastest on a busy box)")
    p = sub.add_parser("speed", parents=[common])
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--patience", type=int, default=5)
    p = sub.add_parser("minibatch", parents=[common])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--fanouts", type=int, nargs="+", default=[10, 5, 5])
    p = sub.add_parser("scaling", parents=[common])
    p.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 5_000_000, 20_000_000])
    p.add_argument("--models", nargs="+", default=["cd-lightgcn", "hgt"])
    p.add_argument("--modes", nargs="+", default=["full", "full-steps", "minibatch"],
                   help="full: batch --batch; full-steps: --epoch-steps steps per epoch; minibatch")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--batch", type=int, default=16384, help="full-graph batch (pairs per step)")
    p.add_argument("--mb-batch", type=int, default=2048,
                   help="mini-batch seeds per step (neighbourhoods grow with it: keep it small)")
    p.add_argument("--fanouts", type=int, nargs="+", default=[10, 5, 5])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epoch-steps", type=int, default=32,
                   help="mode full-steps: full-graph batch = train pairs / this (fixed steps per epoch)")
    sub.add_parser("plot", parents=[common])                # table + plot of all scaling rows
    p = sub.add_parser("_one", parents=[common])          # internal: one scaling measurement
    p.add_argument("--folder", type=Path, required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--mode", required=True)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--batch", type=int, default=16384)
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--epoch-steps", type=int, default=32,
                   help="mode full-steps: full-graph batch = train pairs / this (fixed steps per epoch)")
    p.add_argument("--fanouts", type=int, nargs="+", default=[10, 5, 5])
    args = ap.parse_args(argv)
    {"speed": cmd_speed, "minibatch": cmd_minibatch, "scaling": cmd_scaling, "plot": cmd_plot,
     "_one": _measure_one}[args.cmd](args)


if __name__ == "__main__":
    main()
