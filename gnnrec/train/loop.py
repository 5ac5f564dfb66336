"""The training loop: epochs, validation, early stopping and checkpoints of one run, top to bottom.

:func:`fit` trains every stage of a model (one stage unless the model has
several, EMCDR-style). Per epoch the step source (:mod:`gnnrec.train.steps`:
full-graph or neighbour-sampled) hands out the epoch's steps; each step's loss
comes from the same module (wrapped in DDP under ``torchrun``), then an Adam
step. Every ``eval_every`` epochs the model is scored on the valid split; the
selection score is the mean ``<metric>@<k>`` over ``select_domains`` x
``select_scenarios`` groups; the best checkpoint is kept and the stage stops
after ``patience`` evaluations without improvement, but not before
``min_epochs`` epochs (models that sit on a popularity plateau for their first
epochs would otherwise stop there). A stage ends with its best weights loaded.

Checkpoints (``<run>/checkpoints``): ``last.safetensors`` (model, optimiser and
loop state) after every epoch, ``best.safetensors`` at every new best; all
randomness of an epoch is seeded by (seed, stage, epoch), so a run resumed
from ``last.safetensors`` replays exactly what an uninterrupted run would have
done. Under ``torchrun`` every rank runs this loop on its own folder (rank 0
the run folder, the others a scratch copy: :func:`gnnrec.train.distributed.setup`).
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from gnnrec.data.schema import Dataset
from gnnrec.train.context import RunError
from gnnrec.models.base import Recommender
from gnnrec.train import distributed
from gnnrec.train.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from gnnrec.train.config import EvalConfig, RunConfig
from gnnrec.train.optim import make_optimizer


class RunLog:
    """Appends one JSON object per event to ``<folder.path>/log.jsonl`` (the folder may move: a new
    run starts in a temporary sibling, :class:`gnnrec.train.run.RunFolder`)."""

    def __init__(self, folder: Any) -> None:
        self.folder = folder

    def __call__(self, event: str, **kw: Any) -> None:
        with open(Path(self.folder.path) / "log.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps({"event": event, "time": round(time.time(), 3), **kw}, default=str) + "\n")


def evaluate_model(model: Recommender, ds: Dataset, cfg: RunConfig, split: str):
    """:func:`gnnrec.eval.core` of the model's embeddings on ``split`` (valid: no bootstrap CIs)."""
    from gnnrec.eval import evaluate

    u, v = model.embeddings()
    extra = {"bootstrap": 0} if split == "valid" else {}
    return evaluate(u, v, ds, split=split, ks=tuple(cfg.eval.ks), device=u.device, **extra)


def selection_score(res, ds: Dataset, ev: EvalConfig) -> tuple[float, dict[str, float]]:
    """Mean <metric>@<k> over the configured groups (groups without rows are skipped)."""
    doms = ev.select_domains or ds.domains
    groups: dict[str, float] = {}
    for d in doms:
        for s in ev.select_scenarios:
            try:
                val = float(res.value(ev.metric, ev.k, domain=d, scenario=s))
            except (KeyError, ValueError, IndexError):
                continue
            if not math.isnan(val):
                groups[f"{d}/{s}"] = val
    if not groups:
        raise RunError(f"no validation group among domains {doms} x scenarios "
                          f"{ev.select_scenarios} has rows; fix eval.select_domains/select_scenarios")
    return sum(groups.values()) / len(groups), groups


class StepLoss(nn.Module):
    """The loss of one step as a module, so that DDP can wrap it: ``(stage, step) -> (loss, rows)``.

    A multi-stage model's own loss (``batch_loss``) when it has one, else the step source's.
    """

    def __init__(self, model: Recommender, steps: Any) -> None:
        super().__init__()
        self.model = model
        self._steps = [steps]                   # a list: the step source is not a submodule

    def forward(self, stage: str, step: Any) -> tuple[Tensor, int]:  # type: ignore[override]
        custom = self.model.batch_loss(stage, step)
        if custom is not None:
            return custom, 0
        return self._steps[0].loss(self.model, step)


def fit(model: Recommender, ds: Dataset, cfg: RunConfig, folder: Any, device: torch.device,
        steps: Any, log: RunLog, resume: bool = False, progress: bool = True) -> float:
    """Train every stage of ``model`` (module docstring); returns the final best selection score.

    ``folder``: the run's :class:`gnnrec.train.run.RunFolder` (promoted to its final path at the
    first checkpoint); ``steps``: a step source of :mod:`gnnrec.train.steps`. Leaves the best
    weights loaded.
    """
    t = cfg.train
    stages = model.stages()
    rank, world = distributed.shard()
    progress = progress and rank == 0
    sparse = model.id_tables() if steps.sparse else []

    def optimizer(stage: str):
        params = list(model.stage_parameters(stage))
        if not params:
            raise RunError(f"model {model.name!r} has no trainable parameters in stage {stage!r}")
        return make_optimizer(params, t.lr, sparse=sparse)

    def ckpt(name: str) -> Path:
        return Path(folder.path) / "checkpoints" / f"{name}.safetensors"

    def checkpoint(name: str, opt=None) -> None:
        save_checkpoint(ckpt(name), model, model.name, ds, opt, state)
        if name == "last":
            folder.promote()          # a new run moves into place once it can be resumed

    state: dict[str, Any] = {"stage": 0, "epoch": 0, "best": -1.0, "best_epoch": -1, "bad": 0,
                             "stage_done": False}
    opt = None
    if resume:
        # stage first (so parameters are frozen/unfrozen as when saved), then weights + optimiser
        state = json.loads(read_checkpoint(ckpt("last"))[1].get("state", "{}"))
        if state["stage"] < len(stages):
            model.set_stage(stages[state["stage"]])
            opt = optimizer(stages[state["stage"]])
        state = load_checkpoint(ckpt("last"), model, model.name, ds, None if state["stage_done"] else opt)
        log("resume", **state)
    final_best = state["best"]
    while state["stage"] < len(stages):
        si, stage = state["stage"], stages[state["stage"]]
        if state["stage_done"]:
            state.update(stage=si + 1, epoch=0, best=-1.0, best_epoch=-1, bad=0, stage_done=False)
            opt = None
            continue
        if opt is None:
            model.set_stage(stage)
            opt = optimizer(stage)
        step_loss: nn.Module = StepLoss(model, steps)
        if world > 1:            # DDP: gradients averaged over the ranks in backward
            step_loss = distributed.wrap(step_loss, device, find_unused=steps.find_unused)
        last_val = ""
        while state["epoch"] < t.epochs and (state["bad"] < t.patience or state["epoch"] < t.min_epochs):
            epoch = state["epoch"] + 1
            # ---- one epoch of steps
            t0 = time.perf_counter()
            batches, n_steps = steps.epoch(stage, si, epoch)
            total, count, pairs = 0.0, 0, 0
            with contextlib.closing(batches):
                bar = tqdm(batches, total=n_steps, desc=f"{stage} epoch {epoch}", leave=False,
                           disable=not progress, mininterval=1.0)
                for step in bar:
                    loss, rows = step_loss(stage, step)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    total += float(loss.detach()) / getattr(step, "weight", 1.0)
                    count += 1
                    pairs += rows
                    bar.set_postfix_str(f"loss {total / count:.4f}{last_val}", refresh=False)
                bar.close()
            loss_mean = total / max(count, 1)
            if world > 1:
                loss_mean, pairs = distributed.mean_over_ranks(loss_mean, pairs, device)
            train_s = time.perf_counter() - t0
            rec: dict[str, Any] = {"stage": stage, "epoch": epoch, "loss": round(loss_mean, 6),
                                   "epoch_s": round(train_s, 3),
                                   "pairs_per_s": round(pairs / train_s, 1) if train_s > 0 else None}
            state["epoch"] = epoch
            # ---- validation and early stopping
            if epoch % t.eval_every == 0 or epoch == t.epochs:
                t1 = time.perf_counter()
                res = evaluate_model(model, ds, cfg, "valid")
                ev = cfg.eval
                over = model.stage_selection(stage)
                if over:
                    ev = EvalConfig(**{**ev.__dict__, **over})
                score, groups = selection_score(res, ds, ev)
                rec.update(val=groups, score=round(score, 6), eval_s=round(time.perf_counter() - t1, 3))
                last_val = f", val {cfg.eval.metric}@{cfg.eval.k} {score:.4f}"
                if score > state["best"]:
                    state.update(best=score, best_epoch=epoch, bad=0)
                    checkpoint("best")
                    rec["best"] = True
                else:
                    state["bad"] += 1
            # ---- checkpoint
            checkpoint("last", opt)
            log("epoch", **rec)
            if progress:
                tqdm.write(f"[{cfg.name}] {stage} epoch {epoch}: loss {loss_mean:.4f} ({train_s:.1f}s)"
                           f"{last_val}")
        # ---- end of stage: its best weights
        if state["best_epoch"] > 0:
            load_checkpoint(ckpt("best"), model, model.name, ds)
        state["stage_done"] = True
        checkpoint("last")
        log("stage_end", stage=stage, best=state["best"], best_epoch=state["best_epoch"])
        final_best = state["best"]
    model.after_training()
    return float(final_best) if stages else float("nan")
