"""Trained runs as objects: :func:`load_run` (folder -> model) and :func:`export_model` (model -> Export)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from gnnrec.data import load_dataset
from gnnrec.data.schema import Dataset
from gnnrec.export.contract import Export
from gnnrec.models.base import Recommender
from gnnrec.models.registry import build_model
from gnnrec.train.checkpoint import load_checkpoint
from gnnrec.train.config import resolve
from gnnrec.train.context import RunError, make_context, pick_device, seed_everything, text_features


@dataclass
class LoadedRun:
    """A trained run: ``model`` (best weights, eval mode), ``ds``, resolved ``config``, ``run_dir``."""

    model: Recommender
    ds: Dataset
    config: dict[str, Any]
    run_dir: Path


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
    cfg = resolve(yaml.safe_load(cfg_path.read_text(encoding="utf-8")), source=str(cfg_path))
    dev = pick_device(device)
    ds = ds if ds is not None else load_dataset(cfg["dataset"])
    if feats is None:
        feats = text_features(cfg, ds, dev)
    seed_everything(int(cfg["seed"]))
    model = build_model(make_context(cfg, ds, dev, feats))
    load_checkpoint(run_dir / "checkpoints" / f"{checkpoint}.safetensors", model, model.name, ds)
    model.eval()
    return LoadedRun(model=model, ds=ds, config=cfg, run_dir=run_dir)


def export_model(model: Recommender, ds: Dataset, run_name: str | None = None,
                 with_seen: bool = True) -> Export:
    """The model's final embeddings as an :class:`Export` (score = dot), ready for ``write_export``."""
    u, v = model.embeddings()
    items = pd.DataFrame({"item_id": ds.items["item_id"].astype(str),
                          "domain": ds.items["domain"].astype(str),
                          "title": ds.items["title"].astype(str) if "title" in ds.items else ""})
    return Export(user_ids=ds.users["user_id"].astype(str).tolist(),
                  item_ids=ds.items["item_id"].astype(str).tolist(),
                  user_emb=u.detach().cpu().numpy().astype(np.float32),
                  item_emb=v.detach().cpu().numpy().astype(np.float32),
                  items=items, seen=ds.train_matrix(np.int8) if with_seen else None,
                  manifest={"model": model.name, "run": run_name, "dataset": ds.name,
                            "dataset_fingerprint": ds.fingerprint(), "domains": list(ds.domains),
                            "item_offsets": [int(x) for x in ds.item_offsets]})
