"""Runs derived from a trained run: ``gnnrec update`` (appended interactions, warm start) and
``gnnrec forget`` (users removed from the data, the model and the exports).

**update** -- :func:`update_run`: the run's dataset plus the appended rows
(:func:`gnnrec.data.edit.append_interactions`) becomes a new run
beside the old one (``<its folder>/../<name>``, default ``<old folder name>_update``) whose model starts from
the old run's last checkpoint (:mod:`gnnrec.train.warm`: every old user and
item keeps its rows, new users start from the usual initialisation) and
trains ``epochs`` epochs (default 5) with the run's own schedule and early
stopping. The edited dataset is saved in the new run's ``data/`` and its
config points there; ``update.json`` records what was appended.

**forget** -- :func:`forget_run`: the users leave the run's dataset
(:func:`gnnrec.data.edit.remove_users`), the run is trained again in place --
warm-started from its last checkpoint without the users' ID rows (default, a
short fine-tune of ``epochs`` epochs, default 5) or from scratch with the full
schedule (``full_retrain``) -- and replaces the old run folder (old
checkpoints, logs, results and export go with it). What is and is not
guaranteed:

* gone for certain: the users' rows in the run's dataset copy (``data/``), their
  ID embedding rows, their edges in the graph (propagation, degrees, the
  user-text term), the cross-domain map (refitted from the remaining train
  rows; the old map's cache files are deleted), their rows in the export, in
  the live-update logs of the exports (``updates/``) and in every rewritten
  export; the ID rows of every item they interacted with are re-initialised
  and learned again from the remaining users during the fine-tune (a
  fine-tune alone leaves the co-occurrence those users taught the item rows:
  the membership test measured it);
* not guaranteed by the warm start: the parameters shared by all items and
  users (text projections) and the other users' ID rows were trained with the
  users and are only fine-tuned without them -- their influence fades but is
  not provably zero; ``full_retrain`` gives a model that never saw them (up to
  its seed);
* outside gnnrec's reach: the source data (``../shared/data``, raw files, the
  prepared cache of a registered dataset) still holds them; delete them there.

Checked by a membership test (``heldin_report``: the users' held-in items
must not rank higher for a fold-in of their own history than under a model
that never saw them); ``forget.json`` in the run records the mode, counts and
that test's figures when asked for -- never the user ids.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from gnnrec.data import load_dataset
from gnnrec.data.edit import append_interactions, read_interactions, remove_users
from gnnrec.data.store import save_prepared
from gnnrec.models.base import Recommender
from gnnrec.train.checkpoint import read_checkpoint
from gnnrec.train.config import RunConfig, check_run_name, resolve
from gnnrec.train.context import RunError
from gnnrec.train.run import RunResult, _read_run_config, train_run
from gnnrec.train.warm import warm_state
from gnnrec.utils.files import write_json

log = logging.getLogger(__name__)

WARM_EPOCHS = 5          # default epochs of a warm-started update / forget fine-tune


def _old_run(run_dir: Path) -> tuple[RunConfig, dict[str, Any]]:
    cfg_path = run_dir / "config.yaml"
    if not cfg_path.is_file():
        raise RunError(f"{run_dir} is not a gnnrec run folder (no config.yaml); train one with "
                       f"`gnnrec train CONFIG`")
    cfg = resolve(_read_run_config(cfg_path), source=str(cfg_path))
    ckpt = run_dir / "checkpoints" / "last.safetensors"
    if not ckpt.is_file():
        ckpt = run_dir / "checkpoints" / "best.safetensors"
    tensors, _ = read_checkpoint(ckpt)
    state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    return cfg, state


def _warm_init(state: dict[str, Any], user_map: np.ndarray, item_map: np.ndarray, n_users: int, n_items: int):
    def init(model: Recommender) -> None:
        if model.trainable:
            model.load_state_dict(warm_state(state, model, user_map, item_map, n_users, n_items))
    return init


def update_run(run_dir: str | os.PathLike, data: str | os.PathLike, name: str | None = None,
               epochs: int | None = None, overwrite: bool = False, progress: bool = True) -> RunResult:
    """Warm-start a new run from ``run_dir`` on its data plus the interactions in ``data``
    (module docstring); returns the new run's result (its ``summary.json`` has ``train_s``)."""
    run_dir = Path(run_dir)
    cfg, state = _old_run(run_dir)
    old = load_dataset(cfg.dataset)
    new, report = append_interactions(old, read_interactions(data), source=str(data))
    name = name or f"{run_dir.name}_update"
    check_run_name(name, "--name")
    target = run_dir.parent / name                     # beside the old run, wherever it was moved
    if target.resolve() == run_dir.resolve():
        raise RunError(f"--name {name}: the update must go to a new run, not replace {run_dir}")
    epochs = epochs or WARM_EPOCHS
    new_cfg = cfg.replace(name=name, runs_dir=str(run_dir.parent), dataset=str((target / "data").resolve()),
                          train=replace(cfg.train, epochs=epochs, min_epochs=min(cfg.train.min_epochs, epochs)))
    user_map = np.concatenate([np.arange(old.n_users), np.full(new.n_users - old.n_users, -1)])
    res = train_run(new_cfg, overwrite=overwrite, ds=new, progress=progress,
                    init=_warm_init(state, user_map, np.arange(old.n_items), old.n_users, old.n_items))
    save_prepared(new, res.run_dir / "data")
    write_json(res.run_dir / "update.json", {"from_run": str(run_dir), "data": str(data), "epochs": epochs,
                                             "warm_start": "checkpoints/last.safetensors of the old run",
                                             **report})
    log.info("update: %s", report)
    return res


def forget_run(run_dir: str | os.PathLike, users: Sequence[str], full_retrain: bool = False,
               epochs: int | None = None, progress: bool = True) -> tuple[RunResult, dict[str, Any]]:
    """Remove ``users`` from the run in ``run_dir`` and train it again in place (module
    docstring); returns the new run's result and a report (counts, never ids). The run's
    exports are :func:`gnnrec.export.forget.forget`'s business."""
    from gnnrec.train.run import load_run

    run_dir = Path(run_dir)
    cfg, state = _old_run(run_dir)
    last = (run_dir / "checkpoints" / "last.safetensors").is_file()
    old = load_run(run_dir, device="cpu", checkpoint="last" if last else "best")
    caches = old.model.data_caches()
    new, user_map, report = remove_users(old.ds, list(users))
    deg_old = np.bincount(old.ds.train["item"].to_numpy(), minlength=old.ds.n_items)
    deg_new = np.bincount(new.train["item"].to_numpy(), minlength=new.n_items)
    touched = np.zeros(old.ds.n_items, bool)               # items of the forgotten users' train rows
    gone_idx = [old.ds.user_index()[str(u)] for u in dict.fromkeys(users)]
    touched[old.ds.train["item"].to_numpy()[old.ds.train["user"].isin(gone_idx).to_numpy()]] = True
    item_map = np.where(touched, -1, np.arange(old.ds.n_items))
    epochs = cfg.train.epochs if full_retrain else (epochs or WARM_EPOCHS)
    new_cfg = cfg.replace(name=run_dir.name, runs_dir=str(run_dir.parent),     # in place, wherever it is
                          dataset=str((run_dir / "data").resolve()),
                          train=replace(cfg.train, epochs=epochs, min_epochs=min(cfg.train.min_epochs, epochs)))
    init = None if full_retrain else _warm_init(state, user_map, item_map, old.ds.n_users, old.ds.n_items)
    source = str(cfg.dataset)
    del old, state
    res = train_run(new_cfg, overwrite=True, ds=new, progress=progress, init=init)
    save_prepared(new, res.run_dir / "data")
    for path in caches:
        Path(path).unlink(missing_ok=True)
    out = {"users": report["users"], "removed_rows": {k: v for k, v in report.items() if k != "users"},
           "items_reinitialised": int(touched.sum()),
           "items_left_without_interactions": int(((deg_old > 0) & (deg_new == 0)).sum()),
           "mode": "full retrain" if full_retrain else f"warm-started fine-tune ({epochs} epochs)",
           "caches_deleted": sum(1 for p in caches if p.endswith(".npy")),
           "source_data": "" if source == new_cfg.dataset else
           f"{source} is not modified by gnnrec: the users are still in it; delete them at the source"}
    write_json(res.run_dir / "forget.json", out)
    return res, out
