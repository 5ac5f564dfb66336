"""Checkpoints as safetensors (never pickle): model state, optional optimiser state, metadata.

Tensor names: ``model.<state_dict key>`` and ``optim.<param index>.<state key>``.
Metadata (strings): ``model`` (registry name), ``dataset`` (name),
``fingerprint`` (:meth:`Dataset.fingerprint`), ``state`` (JSON trainer state),
``optim_scalars`` (JSON list of the ``optim.*`` entries that were Python numbers,
e.g. SparseAdam's step count: restored as numbers, so a resumed run is exact).
Writes are atomic (temp file + rename), so a run killed while saving keeps
its previous checkpoint. Beside every checkpoint ``X.safetensors`` its sha256
is written to ``X.safetensors.sha256`` (atomically, after the file); reading a
checkpoint whose bytes do not match it -- a flipped bit, a truncated copy -- is
refused with the file named, never resumed from.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from gnnrec.data.schema import Dataset
from gnnrec.utils.files import atomic_write_text, sha256_file
from gnnrec.errors import GnnrecError


class CheckpointError(GnnrecError, ValueError):
    """A checkpoint that does not fit this dataset/model; the message says which and why."""


def save_checkpoint(path: str | os.PathLike, model: torch.nn.Module, model_name: str, ds: Dataset,
                    optimizer: torch.optim.Optimizer | None = None,
                    state: dict[str, Any] | None = None) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().to("cpu").contiguous().clone()
               for k, v in model.state_dict().items()}
    scalars: list[str] = []        # optimiser state kept as Python numbers (e.g. SparseAdam's step)
    if optimizer is not None:
        for i, st in optimizer.state_dict()["state"].items():
            for k, v in st.items():
                if not torch.is_tensor(v):
                    scalars.append(f"optim.{i}.{k}")
                t = v if torch.is_tensor(v) else torch.tensor(v)
                tensors[f"optim.{i}.{k}"] = t.detach().to("cpu").contiguous().clone()
    meta = {"model": model_name, "dataset": ds.name, "fingerprint": _fingerprint(ds),
            "state": json.dumps(state or {}), "optim_scalars": json.dumps(scalars)}
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    save_file(tensors, str(tmp), metadata=meta)
    digest = sha256_file(tmp)
    os.replace(tmp, path)
    atomic_write_text(_sidecar(path), f"{digest}  {path.name}\n")


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def verify_checkpoint(path: str | os.PathLike) -> None:
    """:class:`CheckpointError` unless ``path`` matches the sha256 written beside it."""
    path = Path(path)
    side = _sidecar(path)
    if not side.is_file():
        raise CheckpointError(f"{path} has no checksum file {side.name}, so its integrity cannot be "
                              f"checked; it was not written by this gnnrec or the checksum was removed: "
                              f"retrain the run (gnnrec train ... --overwrite)")
    want = side.read_text(encoding="utf-8", errors="replace").split()[:1]
    if want != [sha256_file(path)]:
        raise CheckpointError(f"{path} does not match its sha256 in {side.name}: the file was changed or "
                              f"damaged after it was written. Refusing to use it; retrain the run "
                              f"(gnnrec train ... --overwrite), or use the other checkpoint of the run "
                              f"if it verifies")


def _fingerprint(ds: Dataset) -> str:
    fp = getattr(ds, "_gnnrec_fingerprint", None)
    if fp is None:
        fp = ds.fingerprint()
        ds._gnnrec_fingerprint = fp  # type: ignore[attr-defined]
    return fp


def read_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} not found")
    verify_checkpoint(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors raises several types for a corrupt header
        raise CheckpointError(f"{path} is not a readable safetensors checkpoint ({e})") from None
    return tensors, meta


def load_checkpoint(path: str | os.PathLike, model: torch.nn.Module, model_name: str, ds: Dataset,
                    optimizer: torch.optim.Optimizer | None = None) -> dict[str, Any]:
    """Load weights (and optimiser state) into ``model``; returns the trainer state.

    Raises :class:`CheckpointError` when the checkpoint belongs to another
    model or dataset, or its tensor shapes differ from ``model``'s.
    """
    tensors, meta = read_checkpoint(path)
    if meta.get("model") != model_name:
        raise CheckpointError(f"{path} holds a {meta.get('model')!r} model, not {model_name!r}")
    if meta.get("fingerprint") != _fingerprint(ds):
        raise CheckpointError(f"{path} was trained on dataset {meta.get('dataset')!r} (a different "
                              f"split or version) and cannot be used with {ds.name!r}; retrain on it")
    own = model.state_dict()
    ckpt = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    missing, extra = sorted(set(own) - set(ckpt)), sorted(set(ckpt) - set(own))
    wrong = [f"{k}: checkpoint {tuple(ckpt[k].shape)} vs model {tuple(own[k].shape)}"
             for k in own if k in ckpt and ckpt[k].shape != own[k].shape]
    if missing or extra or wrong:
        raise CheckpointError(f"{path} does not fit this {model_name!r} model (another config?): "
                              f"missing {missing[:5]}, unexpected {extra[:5]}, shape mismatch "
                              f"{wrong[:5]}; use the config the checkpoint was trained with")
    model.load_state_dict(ckpt)
    if optimizer is not None:
        sd = optimizer.state_dict()
        state: dict[int, dict[str, torch.Tensor]] = {}
        scalars = set(json.loads(meta.get("optim_scalars", "[]")))
        for k, v in tensors.items():
            if k.startswith("optim."):
                _, i, name = k.split(".", 2)
                state.setdefault(int(i), {})[name] = v.item() if k in scalars else v
        sd["state"] = state
        optimizer.load_state_dict(sd)
    return json.loads(meta.get("state", "{}"))
