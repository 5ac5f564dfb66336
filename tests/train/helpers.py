"""Small helpers for training tests: a saved tiny dataset and quick configs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gnnrec.data.store import save_prepared
from gnnrec.train.config import RunConfig, resolve
from tests.conftest import make_tiny


def tiny_folder(tmp: Path, seed: int = 0) -> Path:
    """make_tiny() saved as a prepared dataset folder (so configs can name it)."""
    folder = tmp / f"tiny{seed}"
    if not folder.exists():
        save_prepared(make_tiny(seed), folder, inputs={})
    return folder


def quick_cfg(tmp: Path, name: str, model: str = "cd-lightgcn", model_kw: dict | None = None,
              dataset: Path | None = None, **train: Any) -> RunConfig:
    """A few-epoch CPU run config on ``dataset`` (default: :func:`tiny_folder`)."""
    mk = {"dim": 8, "layers": 2} if model_kw is None else model_kw
    folder = tiny_folder(tmp) if dataset is None else dataset
    return resolve({"name": name, "dataset": str(folder), "runs_dir": str(tmp / "runs"),
                    "device": "cpu", "model": {"name": model, **mk},
                    "train": {"epochs": 4, "batch_size": 64, "patience": 10, "threads": 1, **train},
                    "eval": {"ks": [5, 10], "k": 10}})
