"""Run setup shared by training and :func:`gnnrec.train.load_run`: device, seeds, text, context."""

from __future__ import annotations

import logging
import os
import random

import numpy as np
import torch

from gnnrec.data.schema import Dataset
from gnnrec.errors import GnnrecError
from gnnrec.graph import Graph
from gnnrec.models.base import ModelContext
from gnnrec.models.registry import model_class
from gnnrec.train.config import DEVICE, RunConfig

log = logging.getLogger(__name__)


class RunError(GnnrecError, ValueError):
    """A run that cannot start or continue; the message says why and what to do."""


def pick_device(spec: str, option: str = "device") -> torch.device:
    """``auto`` -> CUDA when available, else CPU; anything else as given (checked)."""
    if not DEVICE.match(str(spec)):
        raise RunError(f"{option} {spec!r} is not a device gnnrec runs on; use auto, cpu, cuda or "
                       f"cuda:N")
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(spec)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RunError(f"{option} {spec!r} requested but this torch build has no usable CUDA "
                       f"(torch {torch.__version__}); use auto or cpu")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise RunError(f"{option} {spec!r}: there are only {torch.cuda.device_count()} CUDA devices")
    return dev


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def text_features(cfg: RunConfig, ds: Dataset, device: torch.device, progress: bool = True):
    """TextFeatures for the model when it needs/wants text, else None (errors when needed but absent)."""
    cls = model_class(cfg.model.name)
    if not (cls.needs_text or cls.wants_text):
        return None
    if not ds.has_text:
        if cls.needs_text:
            raise RunError(f"model {cls.name!r} needs item text but dataset {ds.name!r} has none "
                           f"(ids only); pick an ID model such as "
                           f"{cls.name.replace('-text', '')!r} or a dataset with titles")
        return None
    from gnnrec.text import item_text_features

    feats = item_text_features(ds, model=cfg.text.model, template=cfg.text.template, device=str(device),
                               progress=progress)
    if feats is None and cls.needs_text:
        raise RunError(f"model {cls.name!r} needs item text but no text features could be built "
                       f"for {ds.name!r}")
    return feats


def make_context(cfg: RunConfig, ds: Dataset, device: torch.device, feats=None) -> ModelContext:
    text = None if feats is None else np.asarray(feats.item, dtype=np.float32)
    return ModelContext(ds=ds, graph=Graph(ds, item_text=text, device=device), device=device,
                        config=cfg.model, text=text, seed=cfg.seed, extra={"text_features": feats})


def set_threads(n: int | None) -> None:
    if n:
        torch.set_num_threads(int(n))
    elif "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(max(1, min(torch.get_num_threads(), os.cpu_count() or 1)))
