"""One run = one folder ``<runs_dir>/<name>/``: setup, mode choice, training, evaluation, export.

Folder contents::

    config.yaml              resolved configuration (defaults + file + overrides)
    log.jsonl                one JSON object per event: start (device, graph facts,
                             model), memory (mode choice), epoch (loss, val metrics,
                             score, epoch_s, pairs_per_s), stage_end, test
    checkpoints/last.safetensors   model + optimiser + loop state, every epoch
    checkpoints/best.safetensors   best validation score so far (per stage)
    valid/, test/            gnnrec.eval results of the best model
    summary.json             selection score, best epoch, test metrics table
    export/                  embeddings in the export contract (gnnrec.export)

:func:`train_run` sets a run up (device, seeds, dataset, text features, model),
chooses full-graph or mini-batch steps from the memory estimator
(:mod:`gnnrec.graph.memory`; ``train.mode``), runs the loop
(:func:`gnnrec.train.loop.fit`) -- or ``fit()`` for closed-form models --,
evaluates the best weights on valid and test and writes the export.
:func:`load_run` rebuilds a finished run's model from its folder;
:func:`export_model` turns a model into an :class:`~gnnrec.export.contract.Export`.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from gnnrec.data import load_dataset
from gnnrec.data.schema import Dataset
from gnnrec.eval.result import EvalResult
from gnnrec.export.build import build_export
from gnnrec.export.contract import Export, write_export
from gnnrec.export.quality import complete_export
from gnnrec.graph import Graph
from gnnrec.graph.memory import DeviceOOM, GraphSize, device_budget, estimate, log_decision, oom_guard
from gnnrec.models.base import Recommender
from gnnrec.models.registry import build_model
from gnnrec.train import distributed
from gnnrec.train.checkpoint import load_checkpoint, save_checkpoint
from gnnrec.train.config import RunConfig, dump_config, resolve
from gnnrec.train.context import (RunError, make_context, pick_device, seed_everything, set_threads,
                                  text_features)
from gnnrec.train.loop import RunLog, evaluate_model, fit, selection_score
from gnnrec.train.steps import FullGraphSteps, SampledSteps
from gnnrec.utils.files import atomic_write_text, writable_parent, write_json

log = logging.getLogger(__name__)

TUNE_MIN_ROWS = 100_000          # graphs below this train with the configured thread count


@dataclass
class RunResult:
    run_dir: Path
    model: Recommender
    ds: Dataset
    config: RunConfig
    best_score: float
    test: EvalResult


@dataclass
class LoadedRun:
    """A trained run: ``model`` (best weights, eval mode), ``ds``, resolved ``config``, ``run_dir``."""

    model: Recommender
    ds: Dataset
    config: RunConfig
    run_dir: Path


def run_dir_of(cfg: RunConfig) -> Path:
    return Path(cfg.runs_dir) / cfg.name


class RunFolder:
    """Where a run writes. A new run (or one replacing an old folder with ``--overwrite``) starts
    in a temporary sibling ``.<name>.starting-<pid>`` and moves into place at its first checkpoint
    (:meth:`promote`): a start that fails or is killed before that leaves the old folder, or no
    folder, exactly as it was."""

    def __init__(self, final: Path, work: Path | None = None) -> None:
        self.final = final
        self.path = work or final

    @property
    def started(self) -> bool:
        """True once the run lives at its final path."""
        return self.path == self.final

    def promote(self) -> None:
        """Swap the temporary folder in (replacing the old run); idempotent."""
        if self.started:
            return
        old = self.final.with_name(f".{self.final.name}.replaced-{os.getpid()}")
        if self.final.exists():
            os.replace(self.final, old)
        os.replace(self.path, self.final)
        self.path = self.final
        shutil.rmtree(old, ignore_errors=True)

    def discard(self) -> None:
        """Remove an unstarted temporary folder (a failed or interrupted start)."""
        if not self.started:
            shutil.rmtree(self.path, ignore_errors=True)


def _flat(d: dict[str, Any], p: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{p}{k}."))
        else:
            out[f"{p}{k}"] = v
    return out


def _read_run_config(path: Path) -> dict[str, Any]:
    """A run's saved ``config.yaml`` as a mapping, or :class:`RunError` naming the file."""
    try:
        saved = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise RunError(f"{path}: cannot read the run's config ({type(e).__name__}: {e}); restore it "
                       f"or start the run again with --overwrite") from None
    if not isinstance(saved, dict):
        raise RunError(f"{path}: the run's config is not a mapping; restore it or start the run "
                       f"again with --overwrite")
    return saved


def _check_folder(run_dir: Path, cfg: RunConfig, overwrite: bool, resume: bool) -> None:
    """Refuse a run folder that cannot be (re)used, before anything is loaded or written."""
    last = run_dir / "checkpoints" / "last.safetensors"
    if resume:
        if not last.is_file():
            raise RunError(f"--resume: {run_dir} has no checkpoints/last.safetensors (no epoch of it "
                           f"finished); start the run without --resume")
        cfg_path = run_dir / "config.yaml"
        a, b = _flat(_read_run_config(cfg_path)), _flat(cfg.to_dict())
        diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        if diff:
            raise RunError(f"--resume: the config differs from {cfg_path} in {diff}; resume with the "
                           f"same config (or start a new run name)")
        return
    if run_dir.exists() and not run_dir.is_dir():
        raise RunError(f"run folder {run_dir} is a file; remove it or choose another name=...")
    if run_dir.is_dir() and any(run_dir.iterdir()):
        if not overwrite:
            hint = " --resume to continue it," if last.is_file() else ""
            raise RunError(f"run folder {run_dir} already exists; pass --overwrite to replace it,"
                           f"{hint} or choose another name=...")
        if not (run_dir / "config.yaml").is_file():
            raise RunError(f"{run_dir} is not a gnnrec run folder (no config.yaml); refusing to replace "
                           f"it even with --overwrite: choose another name=... or runs_dir=...")
    writable_parent(run_dir / "x")


def _open_folder(run_dir: Path, cfg: RunConfig, resume: bool) -> RunFolder:
    """The folder the run writes to (module docstring; :class:`RunFolder`)."""
    if resume:
        return RunFolder(run_dir)
    for stale in run_dir.parent.glob(f".{run_dir.name}.starting-*") if run_dir.parent.is_dir() else ():
        if not _alive(stale.name.rsplit("-", 1)[-1]):
            shutil.rmtree(stale, ignore_errors=True)            # left by a killed start
    work = run_dir.parent / f".{run_dir.name}.starting-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    atomic_write_text(work / "config.yaml", dump_config(cfg))
    return RunFolder(run_dir, work)


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def graph_size(model: Recommender, ds: Dataset, cfg: RunConfig, text_dim: int = 0) -> GraphSize:
    """The counts the memory estimator decides from."""
    t = cfg.train
    return GraphSize(users=ds.n_users, items=ds.n_items, edges=len(ds.train),
                     dim=int(getattr(model.cfg, "dim", 64)), layers=int(getattr(model.cfg, "layers", 0)),
                     batch_size=t.batch_size, negatives=t.negatives, text_dim=text_dim,
                     family=model.memory_family, fanouts=tuple(t.fanouts))


def _tune_threads(model: Recommender, ds: Dataset, cfg: RunConfig, device: torch.device) -> None:
    """``train.threads`` unset, CPU, big enough graph: time a propagation step at 1 vs all threads.

    On a busy machine one thread is often several times faster than two (spinning
    OpenMP barriers); the choice is logged. Set ``train.threads`` to fix it (e.g.
    for bit-identical reruns on another machine or load).
    """
    if (cfg.train.threads is not None or device.type != "cpu" or len(ds.train) < TUNE_MIN_ROWS
            or model.memory_family == "mf"):
        return
    from gnnrec.graph.kernels import pick_threads

    def step() -> None:
        emb = model()
        (emb.users.square().mean() + emb.items.square().mean()).backward()

    model.train()
    pick_threads(step)
    model.zero_grad(set_to_none=True)


def make_steps(model: Recommender, ds: Dataset, cfg: RunConfig, device: torch.device, graph: Graph,
               log_event: RunLog | None = None) -> FullGraphSteps | SampledSteps:
    """Full-graph or sampled steps, as ``train.mode`` and the memory estimator say (logged)."""
    text = getattr(model, "text", None)
    size = graph_size(model, ds, cfg, int(text.shape[1]) if isinstance(text, torch.Tensor) else 0)
    est = estimate(size, device_budget(device), cfg.train.mode)
    if est.mode == "minibatch" and not model.supports_minibatch:
        if cfg.train.mode == "minibatch":
            raise RunError(f"train.mode=minibatch: model {model.name!r} has no mini-batch path; train "
                           f"it with train.mode=full")
        log.warning("memory: %s, but %r has no mini-batch path: training full-graph", est.reason,
                    model.name)
        est = estimate(size, est.budget_bytes, "full")
    log_decision(est)
    if est.mode == "full":
        _tune_threads(model, ds, cfg, device)
    if log_event is not None:
        log_event("memory", mode=est.mode, reason=est.reason, full_gib=round(est.full_bytes / 2**30, 3),
                  minibatch_gib=round(est.minibatch_bytes / 2**30, 3),
                  budget_gib=round(est.budget_bytes / 2**30, 3), threads=torch.get_num_threads())
    shard = distributed.shard()
    if est.mode == "minibatch":
        return SampledSteps(model, ds, cfg, graph, device, shard), est
    return FullGraphSteps(model, ds, cfg, device, shard), est


def train_run(cfg: RunConfig, *, overwrite: bool = False, resume: bool = False,
              ds: Dataset | None = None, feats: Any = None, progress: bool = True,
              export: bool = True) -> RunResult:
    """Train, evaluate and export one run (module docstring). ``ds``/``feats`` skip loading."""
    cfg = distributed.setup(cfg, resume)        # torchrun: join DDP; ranks > 0 get a scratch folder
    run_dir = run_dir_of(cfg)
    _check_folder(run_dir, cfg, overwrite, resume)     # nothing is written before the run is known good
    set_threads(cfg.train.threads)
    device = pick_device(cfg.device)
    seed_everything(cfg.seed)
    ds = ds if ds is not None else load_dataset(cfg.dataset)
    if feats is None:
        feats = text_features(cfg, ds, device, progress)
    ctx = make_context(cfg, ds, device, feats)
    seed_everything(cfg.seed)
    model = build_model(ctx)
    folder = _open_folder(run_dir, cfg, resume)
    logger = RunLog(folder)
    try:
        if not resume:
            logger("start", device=str(device), dataset=ds.name, fingerprint=ds.fingerprint(),
                   graph=ctx.graph.facts, model=model.describe(), threads=torch.get_num_threads())
        t0 = time.perf_counter()
        if model.trainable:
            steps, est = make_steps(model, ds, cfg, device, ctx.graph, logger)
            try:
                with oom_guard(est, device):
                    best = fit(model, ds, cfg, folder, device, steps, logger, resume, progress)
            except DeviceOOM as e:
                raise RunError(str(e)) from None
        else:
            model.fit()
            best, _ = selection_score(evaluate_model(model, ds, cfg, "valid"), ds, cfg.eval)
        train_s = time.perf_counter() - t0
        return _finish(model, ds, cfg, folder, best, train_s, logger, export)
    except BaseException:
        folder.discard()            # a start that never reached a checkpoint leaves nothing behind
        raise


def _finish(model: Recommender, ds: Dataset, cfg: RunConfig, folder: RunFolder, best: float,
            train_s: float, logger: RunLog, export: bool) -> RunResult:
    """Best checkpoint saved, valid + test evaluation, summary and export."""
    save_checkpoint(folder.path / "checkpoints" / "best.safetensors", model, model.name, ds,
                    state={"best": best})
    folder.promote()
    run_dir = folder.path
    valid = evaluate_model(model, ds, cfg, "valid")
    test = evaluate_model(model, ds, cfg, "test")
    valid.save(run_dir / "valid")
    test.save(run_dir / "test")
    every_group = type(cfg.eval)(**{**cfg.eval.__dict__, "select_domains": None,
                                    "select_scenarios": ["warm", "cold"]})
    _, test_groups = selection_score(test, ds, every_group)      # summary: all groups
    summary = {"name": cfg.name, "model": model.name, "dataset": ds.name,
               "selection": f"valid {cfg.eval.metric}@{cfg.eval.k}", "best_valid": best,
               "train_s": round(train_s, 2), "test": test_groups}
    write_json(run_dir / "summary.json", summary)
    logger("test", train_s=round(train_s, 2), best_valid=best, test=test_groups)
    if export:
        exp = complete_export(export_model(model, ds, cfg), ds, test_result=test, dtype=cfg.export.dtype)
        write_export(exp, run_dir / "export", dtype=cfg.export.dtype)
    return RunResult(run_dir=run_dir, model=model, ds=ds, config=cfg, best_score=best, test=test)


def load_run(run_dir: str | os.PathLike, device: str = "auto", ds: Dataset | None = None,
             feats: Any = None, checkpoint: str = "best") -> LoadedRun:
    """Rebuild a run's model from ``config.yaml`` + ``checkpoints/<checkpoint>.safetensors``.

    The dataset is loaded from the config's ``dataset`` (or passed as ``ds``);
    a checkpoint of another dataset or model shape raises
    :class:`~gnnrec.train.checkpoint.CheckpointError`.
    """
    run_dir = Path(run_dir)
    cfg_path = run_dir / "config.yaml"
    if not cfg_path.is_file():
        raise RunError(f"{run_dir} is not a gnnrec run folder (no config.yaml); train one with "
                       f"`gnnrec train CONFIG`")
    cfg = resolve(_read_run_config(cfg_path), source=str(cfg_path))
    dev = pick_device(device)
    ds = ds if ds is not None else load_dataset(cfg.dataset)
    if feats is None:
        feats = text_features(cfg, ds, dev)
    seed_everything(cfg.seed)
    model = build_model(make_context(cfg, ds, dev, feats))
    load_checkpoint(run_dir / "checkpoints" / f"{checkpoint}.safetensors", model, model.name, ds)
    model.eval()
    return LoadedRun(model=model, ds=ds, config=cfg, run_dir=run_dir)


def export_model(model: Recommender, ds: Dataset, cfg: RunConfig | None = None) -> Export:
    """The model's final embeddings as an :class:`Export` (score = dot), ready for ``write_export``."""
    u, v = model.embeddings()
    return build_export(ds, u.detach().cpu().numpy().astype(np.float32),
                        v.detach().cpu().numpy().astype(np.float32), model=model.name,
                        config=cfg.to_dict() if cfg is not None else None,
                        run=cfg.name if cfg is not None else None, foldin_map=model.foldin_map())
