"""Warm starts: a model built on an edited dataset takes a trained model's weights.

``user_map`` (new n_users,) gives each new user's old index or -1 (a new user), ``item_map``
(n_items,) the same for items (-1: re-initialised, e.g. an item whose every train interaction
was forgotten). Tables named by the model's ``user_tables`` / ``item_tables`` (rows = users, in
one block of n_users rows per domain when the table is D times longer: row ``d * n_users + u``;
rows = items) are mapped row by row; rows mapped to -1 keep the new model's fresh
initialisation. Every other tensor must have the same shape in both and is copied as it is.
"""

from __future__ import annotations

import numpy as np
import torch

from gnnrec.models.base import Recommender
from gnnrec.train.checkpoint import CheckpointError


def _mapped(old: torch.Tensor, new: torch.Tensor, index: np.ndarray, n_old: int, name: str) -> torch.Tensor:
    n_new = len(index)
    if old.shape[0] % max(n_old, 1) or new.shape[0] % max(n_new, 1) or \
            old.shape[0] // n_old != new.shape[0] // n_new or old.shape[1:] != new.shape[1:]:
        raise CheckpointError(f"warm start: table {name} has shape {tuple(old.shape)} for {n_old} rows but "
                              f"{tuple(new.shape)} for {n_new}; the checkpoint does not fit this model")
    blocks = old.shape[0] // n_old
    out = new.detach().clone().view(blocks, n_new, *new.shape[1:])
    src = old.view(blocks, n_old, *old.shape[1:])
    keep = np.flatnonzero(index >= 0)
    out[:, torch.from_numpy(keep)] = src[:, torch.from_numpy(index[keep])].to(out.dtype)
    return out.view(new.shape)


def warm_state(old: dict[str, torch.Tensor], model: Recommender, user_map: np.ndarray,
               item_map: np.ndarray, n_old_users: int, n_old_items: int) -> dict[str, torch.Tensor]:
    """The state dict ``model`` loads: ``old`` (a checkpoint's ``model.*`` tensors, keys without
    the prefix) with its user and item rows moved by the maps (module docstring)."""
    own = model.state_dict()
    out: dict[str, torch.Tensor] = {}
    for key, new in own.items():
        if key not in old:
            raise CheckpointError(f"warm start: the checkpoint has no {key!r}; it was written by another "
                                  f"model or config")
        if key in model.user_tables:
            out[key] = _mapped(old[key], new, np.asarray(user_map), n_old_users, key)
        elif key in model.item_tables:
            out[key] = _mapped(old[key], new, np.asarray(item_map), n_old_items, key)
        elif old[key].shape != new.shape:
            raise CheckpointError(f"warm start: {key!r} has shape {tuple(old[key].shape)} in the checkpoint "
                                  f"and {tuple(new.shape)} in the model; use the run's own config")
        else:
            out[key] = old[key].to(new.dtype)
    return out
