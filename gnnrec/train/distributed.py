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
  DDP broadcasts rank 0's weights at wrap time and averages gradients in
  backward, so all ranks hold identical weights after every step;
* data sharding -- full-graph mode: each step's batch of ``batch_size`` rows
  (and its negatives) is drawn exactly as in single-process training from the
  shared per-epoch generator, and rank ``r`` keeps rows ``r::world``; its loss is
  scaled by ``world * rows_r / rows``, so the averaged gradient equals the
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

import datetime
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import yaml
from torch.nn.parallel import DistributedDataParallel

from gnnrec.models.base import Batch
from gnnrec.train.config import dump_config
from gnnrec.train.trainer import Trainer
from gnnrec.utils.files import atomic_write_text

log = logging.getLogger(__name__)


def world() -> tuple[int, int]:
    """(rank, world size) from torchrun's environment; (0, 1) when not launched by it."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def setup(cfg: dict[str, Any], resume: bool = False) -> dict[str, Any]:
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
        dev = cfg.get("device", "auto")
        cuda = torch.cuda.is_available() and dev in ("auto", "cuda") or str(dev).startswith("cuda")
        backend = "nccl" if cuda else "gloo"
        if cuda:
            local = int(os.environ.get("LOCAL_RANK", 0))
            torch.cuda.set_device(local)
            cfg = {**cfg, "device": f"cuda:{local}"}
        timeout = datetime.timedelta(seconds=float(os.environ.get("GNNREC_DDP_TIMEOUT", 600)))
        dist.init_process_group(backend=backend, timeout=timeout)
        log.info("ddp: rank %d of %d joined (%s)", rank, size, backend)
    if rank == 0:
        return cfg
    scratch = Path(tempfile.mkdtemp(prefix=f"gnnrec-rank{rank}-"))
    mine = {**cfg, "runs_dir": str(scratch)}
    if resume:
        real = Path(cfg["runs_dir"]) / cfg["name"]
        (scratch / cfg["name"] / "checkpoints").mkdir(parents=True)
        saved = yaml.safe_load((real / "config.yaml").read_text(encoding="utf-8"))
        atomic_write_text(scratch / cfg["name"] / "config.yaml",
                          dump_config({**saved, "runs_dir": str(scratch)}))
        shutil.copy2(real / "checkpoints" / "last.safetensors",
                     scratch / cfg["name"] / "checkpoints" / "last.safetensors")
    return mine


class _DDP(DistributedDataParallel):
    """DDP whose unknown attributes (``layer0``, ``cfg`` ...) resolve on the wrapped model."""

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.module, name)


def _device_ids(device: torch.device) -> list[int] | None:
    return [device.index or 0] if device.type == "cuda" else None


def _mean_over_ranks(loss: float, pairs: int, device: torch.device) -> tuple[float, int]:
    t = torch.tensor([loss * pairs, float(pairs)], dtype=torch.float64,
                     device=device if device.type == "cuda" else "cpu")
    dist.all_reduce(t)
    return float(t[0] / t[1].clamp_min(1)), int(t[1])


class DistributedTrainer(Trainer):
    """Full-graph training with DDP (module docstring): batch rows sharded ``r::world``."""

    def __init__(self, model, ds, cfg, run_dir, device, progress: bool = True) -> None:
        rank, size = dist.get_rank(), dist.get_world_size()
        super().__init__(model, ds, cfg, run_dir, device, progress and rank == 0)
        self.rank, self.size = rank, size
        self.ddp = _DDP(model, device_ids=_device_ids(device))
        self._scale = 1.0

    def _batch(self, rows: torch.Tensor, gen: torch.Generator) -> Batch:
        full = super()._batch(rows, gen)                   # identical on every rank
        mine = torch.arange(self.rank, len(rows), self.size, device=rows.device)
        self._scale = self.size * len(mine) / max(len(rows), 1)
        return Batch(users=full.users[mine], pos=full.pos[mine], neg=full.neg[mine],
                     domain=full.domain[mine])

    def _ranking_loss(self, batch: Batch) -> torch.Tensor:
        plain, self.model = self.model, self.ddp          # forward through DDP (gradient sync)
        try:
            return super()._ranking_loss(batch) * self._scale
        finally:
            self.model = plain

    def _run_epoch(self, stage, si, epoch, opt, bar_post):
        loss, pairs = super()._run_epoch(stage, si, epoch, opt, bar_post)
        return _mean_over_ranks(loss / max(self._scale, 1e-12), pairs, self.device)


class _SubgraphLoss(torch.nn.Module):
    """The mini-batch trainer's subgraph loss as an nn.Module, so DDP can wrap it."""

    def __init__(self, trainer) -> None:
        super().__init__()
        self.model = trainer.model
        self._trainer = [trainer]                         # a list: not registered as a submodule

    def forward(self, parts: list):  # type: ignore[override]
        return self._trainer[0].subgraph_loss(parts)


def make_trainer(mode: str, model, ds, cfg, run_dir, device, progress: bool, graph=None):
    """The DDP trainer of ``mode`` (``full`` | ``minibatch``) for this rank."""
    if mode == "full":
        return DistributedTrainer(model, ds, cfg, run_dir, device, progress)
    from gnnrec.train.minibatch import MiniBatchTrainer

    rank, size = dist.get_rank(), dist.get_world_size()

    class DistributedMiniBatchTrainer(MiniBatchTrainer):
        """Pairs ``r::world`` per domain, ``batch_size / world`` seeds per step, DDP gradients."""

        def __init__(self) -> None:
            local = {**cfg, "train": {**cfg["train"],
                                      "batch_size": max(1, int(cfg["train"]["batch_size"]) // size)}}
            super().__init__(model, ds, local, run_dir, device, progress and rank == 0,
                             graph=graph, shard=(rank, size))
            self.cfg = cfg
            # find_unused_parameters: a step may lack a domain whose last batch came early
            self.ddp = DistributedDataParallel(_SubgraphLoss(self), device_ids=_device_ids(device),
                                               find_unused_parameters=True)

        def _step_loss(self, parts):
            return self.ddp(parts)

        def _run_epoch(self, stage, si, epoch, opt, bar_post):
            loss, pairs = super()._run_epoch(stage, si, epoch, opt, bar_post)
            return _mean_over_ranks(loss, pairs, self.device)

    return DistributedMiniBatchTrainer()
