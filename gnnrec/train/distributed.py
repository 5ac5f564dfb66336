"""Data-parallel training with ``torch.distributed`` (DDP), launched by ``torchrun``.

    torchrun --nproc-per-node 2 -m gnnrec.train configs/ml1m_cd/cd_lightgcn.yaml
    torchrun --nnodes 2 --node-rank 0 --nproc-per-node 8 \\
             --rdzv-backend c10d --rdzv-endpoint host0:29400 -m gnnrec.train CONFIG

Nothing in the config changes: ``torchrun`` sets ``RANK`` / ``WORLD_SIZE`` /
``LOCAL_RANK`` / ``MASTER_ADDR``, and :func:`setup` (called by ``train_run``)
joins the process group -- NCCL when the run's device is CUDA (each rank on
``cuda:LOCAL_RANK``), gloo on CPU.

What each rank does:

* every rank builds the same model from the same seed and reads the same data;
  the loop (:mod:`gnnrec.train.loop`) wraps the step's loss module in DDP
  (:func:`wrap`), which broadcasts rank 0's weights and averages gradients in
  backward, so all ranks hold identical weights after every step;
* data sharding (:mod:`gnnrec.train.steps`, ``shard=(rank, world)``) --
  full-graph mode: each step's batch of ``batch_size`` rows (and its
  negatives) is drawn exactly as in single-process training from the shared
  per-epoch generator, and rank ``r`` keeps rows ``r::world``; its loss is
  weighted ``world * rows_r / rows``, so the averaged gradient equals the
  single-process gradient of the whole batch (same result up to float
  rounding). Mini-batch mode: rank ``r`` owns the positive pairs ``r::world``
  of every domain and samples its own subgraphs with ``batch_size / world``
  seeds per step (same global batch size);
* metrics are gathered on rank 0 (the epoch loss is all-reduced; validation
  scores are computed from the identical weights); only rank 0 writes the run
  folder -- config, log, checkpoints (written once, atomically), evaluation and
  export. Other ranks write into a private scratch folder that is discarded.

Faults: if a rank dies, ``torchrun`` stops the remaining workers and exits
non-zero; checkpoints are written by temp file + rename, so the last complete
``checkpoints/last.safetensors`` stays intact and ``--resume`` continues from
it. A collective that waits for a dead peer gives up after ``GNNREC_DDP_TIMEOUT``
seconds (default 600).
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import os
import shutil
import tempfile
from pathlib import Path

import torch
import torch.distributed as dist
import yaml
from torch.nn.parallel import DistributedDataParallel

from gnnrec.train.config import RunConfig, dump_config, resolve
from gnnrec.utils.files import atomic_write_text

log = logging.getLogger(__name__)


def world() -> tuple[int, int]:
    """(rank, world size) from torchrun's environment; (0, 1) when not launched by it."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def shard() -> tuple[int, int]:
    """(rank, world size) of the joined process group; (0, 1) without one."""
    return (dist.get_rank(), dist.get_world_size()) if active() else (0, 1)


def setup(cfg: RunConfig, resume: bool = False) -> RunConfig:
    """Join the process group when launched by torchrun; returns the config this rank runs.

    Rank 0 keeps the config; other ranks get ``runs_dir`` pointed at a scratch
    folder (holding a copy of the run's config and last checkpoint when
    resuming), so only rank 0 writes the real run folder. Called once per
    process by ``train_run``; a no-op for single-process runs.
    """
    rank, size = world()
    if size <= 1:
        return cfg
    if not dist.is_initialized():
        dev = cfg.device
        cuda = torch.cuda.is_available() and dev in ("auto", "cuda") or str(dev).startswith("cuda")
        backend = "nccl" if cuda else "gloo"
        if cuda:
            local = int(os.environ.get("LOCAL_RANK", 0))
            torch.cuda.set_device(local)
            cfg = dataclasses.replace(cfg, device=f"cuda:{local}")
        timeout = datetime.timedelta(seconds=float(os.environ.get("GNNREC_DDP_TIMEOUT", 600)))
        dist.init_process_group(backend=backend, timeout=timeout)
        log.info("ddp: rank %d of %d joined (%s)", rank, size, backend)
    if rank == 0:
        return cfg
    scratch = Path(tempfile.mkdtemp(prefix=f"gnnrec-rank{rank}-"))
    mine = dataclasses.replace(cfg, runs_dir=str(scratch))
    if resume:
        real = Path(cfg.runs_dir) / cfg.name
        (scratch / cfg.name / "checkpoints").mkdir(parents=True)
        saved = resolve(yaml.safe_load((real / "config.yaml").read_text(encoding="utf-8")))
        atomic_write_text(scratch / cfg.name / "config.yaml",
                          dump_config(dataclasses.replace(saved, runs_dir=str(scratch))))
        for f in ("last.safetensors", "last.safetensors.sha256"):
            shutil.copy2(real / "checkpoints" / f, scratch / cfg.name / "checkpoints" / f)
    return mine


def wrap(module: torch.nn.Module, device: torch.device, find_unused: bool) -> DistributedDataParallel:
    """``module`` (a step's loss) in DDP: gradients are averaged over the ranks in backward."""
    return DistributedDataParallel(module, device_ids=[device.index or 0] if device.type == "cuda" else None,
                                   find_unused_parameters=find_unused)


def mean_over_ranks(loss: float, pairs: int, device: torch.device) -> tuple[float, int]:
    """(pair-weighted mean of the ranks' epoch losses, pairs of all ranks)."""
    t = torch.tensor([loss * pairs, float(pairs)], dtype=torch.float64,
                     device=device if device.type == "cuda" else "cpu")
    dist.all_reduce(t)
    return float(t[0] / t[1].clamp_min(1)), int(t[1])
