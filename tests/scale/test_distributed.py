"""DDP with torchrun: 2 gloo ranks on CPU match single-process training; a dying rank stops cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from gnnrec.data.synthetic import SynthConfig, generate, save_synthetic
from gnnrec.train import resolve, train_run

TORCHRUN = Path(sys.executable).with_name("torchrun")
pytestmark = pytest.mark.skipif(not TORCHRUN.exists(), reason="torchrun is not installed beside python")


def _setup(tmp_path: Path, epochs: int) -> Path:
    save_synthetic(tmp_path / "data", generate(SynthConfig(users=500, items=160, edges=7000, seed=5)))
    cfg = {"dataset": str(tmp_path / "data"), "runs_dir": str(tmp_path / "runs"), "seed": 0,
           "model": {"name": "cd-lightgcn", "dim": 16, "layers": 2},
           "train": {"epochs": epochs, "batch_size": 500, "lr": 0.01, "threads": 1, "mode": "full",
                     "patience": 100}}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _torchrun(cfg: Path, name: str, extra: list[str] | None = None) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GNNREC_DDP_TIMEOUT": "60"}
    cmd = [str(TORCHRUN), "--standalone", "--nproc-per-node", "2", "-m", "gnnrec.train",
           str(cfg), f"name={name}", "--quiet", "--no-export", *(extra or [])]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=Path(__file__).resolve().parents[2])


def test_two_gloo_ranks_match_single_process(tmp_path):
    cfg = _setup(tmp_path, epochs=2)
    proc = _torchrun(cfg, "ddp")
    single = train_run(resolve({**yaml.safe_load(cfg.read_text()), "name": "single"}),
                       progress=False, export=False)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out[-3000:]
    run = tmp_path / "runs" / "ddp"
    summary = json.loads((run / "summary.json").read_text())
    assert abs(summary["best_valid"] - single.best_score) < 1e-4
    a = load_file(run / "checkpoints" / "best.safetensors")
    b = load_file(single.run_dir / "checkpoints" / "best.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-4), k
    events = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    assert sum(e["event"] == "start" for e in events) == 1                # rank 0 writes, once
    assert sum(e["event"] == "epoch" for e in events) == 2


def _rank_pid(parent: int, rank: int) -> int | None:
    """PID of the torchrun worker of ``rank`` (read from /proc/<pid>/environ)."""
    for child in subprocess.run(["pgrep", "-P", str(parent)], capture_output=True,
                                text=True).stdout.split():
        try:
            env = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"RANK={rank}".encode() in env:
            return int(child)
    return None


def test_a_dying_rank_stops_the_job_with_the_checkpoint_intact(tmp_path):
    cfg = _setup(tmp_path, epochs=200)
    proc = _torchrun(cfg, "dies")
    last = tmp_path / "runs" / "dies" / "checkpoints" / "last.safetensors"
    deadline = time.time() + 240
    while not last.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.5)
    assert last.exists(), "no checkpoint was written"
    pid = _rank_pid(proc.pid, 1)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    out, _ = proc.communicate(timeout=120)                                    # no hang
    assert proc.returncode != 0
    state = load_file(last)                                                   # complete, loadable
    assert any(k.startswith("model.") for k in state)
