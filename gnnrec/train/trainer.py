"""The training loop: one run = one folder ``<runs_dir>/<name>/``.

Folder contents::

    config.yaml              resolved configuration (defaults + file + overrides)
    log.jsonl                one JSON object per event: start (device, graph facts,
                             model), epoch (loss, val metrics, score, epoch_s,
                             pairs_per_s), stage_end, test
    checkpoints/last.safetensors   model + optimiser + trainer state, every epoch
    checkpoints/best.safetensors   best validation score so far (per stage)
    valid/, test/            gnnrec.eval results of the best model
    summary.json             selection score, best epoch, test metrics table
    export/                  embeddings in the export contract (gnnrec.export)

Per epoch (gradient models): the positive sampler orders the train rows,
each batch of ``batch_size`` rows gets ``negatives`` same-domain negatives,
one full propagation ``U, V = model()`` serves the batch, loss = BPR or sampled
softmax + L2 on the batch's layer-0 rows (with ``train.cold_sim`` the epoch's
graph hides one domain of some bridge users: :mod:`gnnrec.train.coldsim`). Every ``eval_every`` epochs the
model is scored on the valid split; the selection score is the mean
``<metric>@<k>`` over ``select_domains`` x ``select_scenarios`` groups; the
best checkpoint is kept and training stops after ``patience`` evaluations
without improvement, but not before ``min_epochs`` epochs (models that sit on a
popularity plateau for their first epochs would otherwise stop there). All
randomness of epoch e comes from a generator seeded by (seed, stage, e), so a
run resumed from ``last.safetensors`` replays exactly what an uninterrupted
run would have done.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from gnnrec.data import load_dataset
from gnnrec.data.schema import Dataset
from gnnrec.models.base import Batch, Recommender
from gnnrec.models.registry import build_model
from gnnrec.train.checkpoint import load_checkpoint, save_checkpoint
from gnnrec.train.coldsim import ColdStartSimulator
from gnnrec.train.config import dump_config, resolve
from gnnrec.train.context import (RunError, make_context, pick_device, seed_everything,
                                  set_threads, text_features)
from gnnrec.train.losses import bpr_loss, l2_penalty, softmax_loss
from gnnrec.train.optim import make_optimizer
from gnnrec.train.sampling import NegativeSampler, PositiveSampler
from gnnrec.utils.files import atomic_write_text, write_json

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    run_dir: Path
    model: Recommender
    ds: Dataset
    config: dict[str, Any]
    best_score: float
    test: Any            # gnnrec.eval.EvalResult


def run_dir_of(cfg: dict[str, Any]) -> Path:
    return Path(cfg["runs_dir"]) / cfg["name"]


def _epoch_generator(seed: int, stage: int, epoch: int, device: torch.device) -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(seed * 1_000_003 + stage * 10_007 + epoch)
    return g


def evaluate_model(model: Recommender, ds: Dataset, cfg: dict[str, Any], split: str):
    from gnnrec.eval import evaluate

    u, v = model.embeddings()
    # validation inside the loop needs no bootstrap CIs; final results keep the evaluator's default
    extra = {"bootstrap": 0} if split == "valid" else {}
    return evaluate(u, v, ds, split=split, ks=tuple(cfg["eval"]["ks"]), device=u.device, **extra)


def selection_score(res, ds: Dataset, cfg: dict[str, Any]) -> tuple[float, dict[str, float]]:
    """Mean <metric>@<k> over the configured valid groups (groups without rows are skipped)."""
    ev = cfg["eval"]
    doms = ev["select_domains"] or ds.domains
    groups: dict[str, float] = {}
    for d in doms:
        for s in ev["select_scenarios"]:
            try:
                val = float(res.value(ev["metric"], ev["k"], domain=d, scenario=s))
            except (KeyError, ValueError, IndexError):
                continue
            if not math.isnan(val):
                groups[f"{d}/{s}"] = val
    if not groups:
        raise RunError(f"no validation group among domains {doms} x scenarios "
                       f"{ev['select_scenarios']} has rows; fix eval.select_domains/select_scenarios")
    return sum(groups.values()) / len(groups), groups


class _Log:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, event: str, **kw: Any) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"event": event, "time": round(time.time(), 3), **kw}, default=str) + "\n")


def _prepare_dir(run_dir: Path, cfg: dict[str, Any], overwrite: bool, resume: bool) -> bool:
    """Create/validate the run folder; returns True when resuming from a checkpoint."""
    cfg_path = run_dir / "config.yaml"
    if resume:
        if not (run_dir / "checkpoints" / "last.safetensors").is_file():
            raise RunError(f"--resume: {run_dir} has no checkpoints/last.safetensors to resume from; "
                           f"start it without --resume")
        import yaml
        saved = yaml.safe_load(cfg_path.read_text(encoding="utf-8"))
        a, b = _flat(saved), _flat(cfg)
        diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        if diff:
            raise RunError(f"--resume: the config differs from {cfg_path} in {diff}; resume with the "
                           f"same config (or start a new run name)")
        return True
    if run_dir.exists() and any(run_dir.iterdir()):
        if not overwrite:
            raise RunError(f"run folder {run_dir} already exists; pass --overwrite to replace it, "
                           f"--resume to continue it, or choose another name=...")
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(cfg_path, dump_config(cfg))
    return False


def _flat(d: dict[str, Any], p: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{p}{k}."))
        else:
            out[f"{p}{k}"] = v
    return out


class Trainer:
    """Gradient training of one model with early stopping; see module docstring."""

    def __init__(self, model: Recommender, ds: Dataset, cfg: dict[str, Any], run_dir: Path,
                 device: torch.device, progress: bool = True) -> None:
        self.model, self.ds, self.cfg, self.dir, self.device = model, ds, cfg, run_dir, device
        t = cfg["train"]
        self.t = t
        self.progress = progress
        self.log = _Log(run_dir / "log.jsonl")
        self.pos = PositiveSampler(ds, device, t["sampling"], t["target_domains"], t["target_weight"])
        self.neg = NegativeSampler(ds, device)
        self.ckpt = run_dir / "checkpoints"
        self.amp = bool(t["amp"]) and device.type == "cuda"
        item_dom = torch.as_tensor(ds.item_domain(), device=device)
        self.item_domain = item_dom
        self.sparse_tables: list[torch.nn.Parameter] = []   # get sparse gradients (gnnrec.train.optim)
        self.cold_sim: ColdStartSimulator | None = None
        if float(t["cold_sim"]) > 0:
            if not model.supports_cold_sim:
                raise RunError(f"train.cold_sim={t['cold_sim']}: model {model.name!r} does not support "
                               f"simulated cold start (cd-lightgcn and cd-lightgcn-text do); set "
                               f"train.cold_sim=0")
            self.cold_sim = ColdStartSimulator(ds, float(t["cold_sim"]))

    # ---- one step ---------------------------------------------------------------
    def _ranking_loss(self, batch: Batch) -> torch.Tensor:
        t = self.t
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            U, V = self.model()
            u, p, n = U[batch.users], V[batch.pos], V[batch.neg]
            if t["loss"] == "bpr":
                loss = bpr_loss(u, p, n)
            else:
                inb, ok = None, None
                c = min(int(t["inbatch_negatives"]), len(batch.pos))
                if c > 0:
                    cand = batch.pos[:c]
                    inb = V[cand]
                    ok = (batch.domain[:, None] == self.item_domain[cand][None, :]) & \
                         (batch.pos[:, None] != cand[None, :])
                loss = softmax_loss(u, p, n, float(t["temperature"]), inb, ok)
            reg = l2_penalty(self.model.layer0(batch), len(batch.users))
        return loss.float() + float(t["reg"]) * reg.float()

    def _run_epoch(self, stage: str, si: int, epoch: int, opt: torch.optim.Optimizer, bar_post: str) -> tuple[float, int]:
        gen = _epoch_generator(int(self.cfg["seed"]), si, epoch, self.device)
        torch.manual_seed(int(self.cfg["seed"]) * 7919 + si * 101 + epoch)   # model-internal randomness
        self.model.train()
        if self.cold_sim is not None:
            self.model.simulate_cold(self.cold_sim.keep_mask(gen))
        try:
            return self._epoch_steps(stage, epoch, gen, opt, bar_post)
        finally:
            if self.cold_sim is not None:
                self.model.simulate_cold(None)

    def _epoch_steps(self, stage: str, epoch: int, gen: torch.Generator, opt: torch.optim.Optimizer,
                     bar_post: str) -> tuple[float, int]:
        custom = self.model.stage_batches(stage, epoch, gen)
        total, count, pairs = 0.0, 0, 0
        if custom is None:
            order = self.pos.epoch_order(gen)
            bs = int(self.t["batch_size"])
            steps = math.ceil(len(order) / bs)
            batches = (self._batch(order[i * bs:(i + 1) * bs], gen) for i in range(steps))
        else:
            batches, steps = custom, None
        bar = tqdm(batches, total=steps, desc=f"{stage} epoch {epoch}", leave=False,
                   disable=not self.progress, mininterval=1.0)
        for batch in bar:
            loss = self.model.batch_loss(stage, batch)
            if loss is None:
                loss = self._ranking_loss(batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach())
            count += 1
            pairs += len(batch.users) if isinstance(batch, Batch) else 0
            bar.set_postfix_str(f"loss {total / count:.4f}{bar_post}", refresh=False)
        bar.close()
        return total / max(count, 1), pairs

    def _batch(self, rows: torch.Tensor, gen: torch.Generator) -> Batch:
        users, doms = self.pos.users[rows], self.pos.domains[rows]
        return Batch(users=users, pos=self.pos.items[rows], domain=doms,
                     neg=self.neg.sample(users, doms, int(self.t["negatives"]), gen))

    # ---- stages ------------------------------------------------------------------
    def fit(self, resume: bool) -> float:
        """Train all stages; returns the final best selection score. Leaves the best weights loaded."""
        stages = self.model.stages()
        state: dict[str, Any] = {"stage": 0, "epoch": 0, "best": -1.0, "best_epoch": -1, "bad": 0,
                                 "stage_done": False}
        opt = None
        if resume:
            # stage first (so parameters are frozen/unfrozen as when saved), then weights + optimiser
            state = json.loads(_peek_state(self.ckpt / "last.safetensors"))
            si = state["stage"]
            if si < len(stages):
                self.model.set_stage(stages[si])
                opt = self._optimizer(stages[si])
            state = load_checkpoint(self.ckpt / "last.safetensors", self.model, self.model.name,
                                    self.ds, None if state["stage_done"] else opt)
            self.log("resume", **state)
        final_best = state["best"]
        while state["stage"] < len(stages):
            si = state["stage"]
            stage = stages[si]
            if state["stage_done"]:
                state.update(stage=si + 1, epoch=0, best=-1.0, best_epoch=-1, bad=0, stage_done=False)
                opt = None
                continue
            if opt is None:
                self.model.set_stage(stage)
                opt = self._optimizer(stage)
            last_val = ""
            while state["epoch"] < int(self.t["epochs"]) and (
                    state["bad"] < int(self.t["patience"]) or state["epoch"] < int(self.t["min_epochs"])):
                epoch = state["epoch"] + 1
                t0 = time.perf_counter()
                loss, pairs = self._run_epoch(stage, si, epoch, opt, last_val)
                train_s = time.perf_counter() - t0
                rec: dict[str, Any] = {"stage": stage, "epoch": epoch, "loss": round(loss, 6),
                                       "epoch_s": round(train_s, 3),
                                       "pairs_per_s": round(pairs / train_s, 1) if train_s > 0 else None}
                state["epoch"] = epoch
                if epoch % int(self.t["eval_every"]) == 0 or epoch == int(self.t["epochs"]):
                    t1 = time.perf_counter()
                    res = evaluate_model(self.model, self.ds, self.cfg, "valid")
                    over = self.model.stage_selection(stage)
                    sel_cfg = {**self.cfg, "eval": {**self.cfg["eval"], **over}} if over else self.cfg
                    score, groups = selection_score(res, self.ds, sel_cfg)
                    rec.update(val=groups, score=round(score, 6), eval_s=round(time.perf_counter() - t1, 3))
                    last_val = f", val {self.cfg['eval']['metric']}@{self.cfg['eval']['k']} {score:.4f}"
                    if score > state["best"]:
                        state.update(best=score, best_epoch=epoch, bad=0)
                        save_checkpoint(self.ckpt / "best.safetensors", self.model, self.model.name,
                                        self.ds, state=state)
                        rec["best"] = True
                    else:
                        state["bad"] += 1
                save_checkpoint(self.ckpt / "last.safetensors", self.model, self.model.name, self.ds,
                                opt, state)
                self.log("epoch", **rec)
                if self.progress:
                    tqdm.write(f"[{self.cfg['name']}] {stage} epoch {epoch}: loss {loss:.4f} "
                               f"({train_s:.1f}s){last_val}")
            if state["best_epoch"] > 0:
                load_checkpoint(self.ckpt / "best.safetensors", self.model, self.model.name, self.ds)
            state["stage_done"] = True
            save_checkpoint(self.ckpt / "last.safetensors", self.model, self.model.name, self.ds, None, state)
            self.log("stage_end", stage=stage, best=state["best"], best_epoch=state["best_epoch"])
            final_best = state["best"]
        self.model.after_training()
        return float(final_best) if stages else float("nan")

    def _optimizer(self, stage: str) -> torch.optim.Optimizer:
        params = list(self.model.stage_parameters(stage))
        if not params:
            raise RunError(f"model {self.model.name!r} has no trainable parameters in stage {stage!r}")
        return make_optimizer(params, float(self.t["lr"]), sparse=self.sparse_tables)


def _peek_state(path: Path) -> str:
    from gnnrec.train.checkpoint import read_checkpoint
    return read_checkpoint(path)[1].get("state", "{}")


def train_run(cfg: dict[str, Any], *, overwrite: bool = False, resume: bool = False,
              ds: Dataset | None = None, feats: Any = None, progress: bool = True,
              export: bool = True) -> RunResult:
    """Train, evaluate and export one run (see module docstring). ``ds``/``feats`` skip loading."""
    cfg = resolve(cfg)
    from gnnrec.train.distributed import setup as ddp_setup   # torchrun: join DDP, rank>0 scratch dir
    cfg = ddp_setup(cfg, resume)
    run_dir = run_dir_of(cfg)
    resumed = _prepare_dir(run_dir, cfg, overwrite, resume)
    set_threads(cfg["train"]["threads"])
    device = pick_device(cfg["device"])
    seed_everything(int(cfg["seed"]))
    ds = ds if ds is not None else load_dataset(cfg["dataset"])
    if feats is None:
        feats = text_features(cfg, ds, device)
    ctx = make_context(cfg, ds, device, feats)
    seed_everything(int(cfg["seed"]))
    try:
        model = build_model(ctx)
    except ValueError as e:
        raise RunError(str(e)) from None
    logger = _Log(run_dir / "log.jsonl")
    if not resumed:
        logger("start", device=str(device), dataset=ds.name, fingerprint=ds.fingerprint(),
               graph=ctx.graph.facts, model=model.describe(), threads=torch.get_num_threads())
    t0 = time.perf_counter()
    if model.trainable:
        from gnnrec.train.minibatch import fit_with_mode   # full-graph | mini-batch (train.mode)
        best = fit_with_mode(model, ds, cfg, run_dir, device, progress, resumed,
                             graph=ctx.graph, logger=logger)
    else:
        model.fit()
        best, _ = selection_score(evaluate_model(model, ds, cfg, "valid"), ds, cfg)
        save_checkpoint(run_dir / "checkpoints" / "best.safetensors", model, model.name, ds,
                        state={"best": best})
    train_s = time.perf_counter() - t0
    return finish_run(model, ds, cfg, run_dir, best, train_s, logger, export)


def finish_run(model: Recommender, ds: Dataset, cfg: dict[str, Any], run_dir: Path, best: float,
               train_s: float, logger: _Log, export: bool) -> RunResult:
    """Best checkpoint saved, valid + test evaluation, summary and export."""
    from gnnrec.export.contract import write_export
    from gnnrec.export.pipeline import complete_export
    from gnnrec.train.run import export_model

    save_checkpoint(run_dir / "checkpoints" / "best.safetensors", model, model.name, ds,
                    state={"best": best})
    valid = evaluate_model(model, ds, cfg, "valid")
    test = evaluate_model(model, ds, cfg, "test")
    valid.save(run_dir / "valid")
    test.save(run_dir / "test")
    every_group = {**cfg, "eval": {**cfg["eval"], "select_domains": None,
                                   "select_scenarios": ["warm", "cold"]}}
    _, test_groups = selection_score(test, ds, every_group)      # summary: all groups
    summary = {"name": cfg["name"], "model": model.name, "dataset": ds.name,
               "selection": f"valid {cfg['eval']['metric']}@{cfg['eval']['k']}", "best_valid": best,
               "train_s": round(train_s, 2), "test": test_groups}
    write_json(run_dir / "summary.json", summary)
    logger("test", train_s=round(train_s, 2), best_valid=best, test=test_groups)
    if export:
        dtype = cfg["export"]["dtype"]
        exp = complete_export(export_model(model, ds, run_name=cfg["name"]), ds, config=cfg,
                              test_result=test, dtype=dtype)
        write_export(exp, run_dir / "export", dtype=dtype)
    return RunResult(run_dir=run_dir, model=model, ds=ds, config=cfg, best_score=best, test=test)
