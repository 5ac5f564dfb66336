"""Vectorised training samplers (no per-sample Python loops; all on the run's device).

* :class:`PositiveSampler` -- the order of train positives for one epoch
  (``n_train`` draws = one pass): ``uniform`` (a permutation), ``balanced``
  (each domain drawn equally often: row weight 1 / #rows of its domain) or
  ``target`` (rows of ``target_domains`` weighted ``target_weight``, others 1).
* :class:`NegativeSampler` -- for rows (u, d), ``n`` items drawn uniformly from
  domain d's block, redrawn (vectorised, up to ``max_rounds``) while they are
  train positives of u. Membership test: binary search of ``u * n_items + i``
  in the sorted train keys.
"""

from __future__ import annotations

import numpy as np
import torch

from gnnrec.data.schema import Dataset


class PositiveSampler:
    """Per-epoch order/draw of train rows; see module docstring."""

    def __init__(self, ds: Dataset, device: torch.device, mode: str = "uniform",
                 target_domains: list[str] | None = None, target_weight: float = 2.0) -> None:
        tr = ds.train
        self.n = len(tr)
        self.users = torch.as_tensor(tr["user"].to_numpy().copy(), device=device)
        self.items = torch.as_tensor(tr["item"].to_numpy().copy(), device=device)
        self.domains = torch.as_tensor(tr["domain"].to_numpy().copy(), device=device)
        self.mode = mode
        self.weights: torch.Tensor | None = None
        dom = tr["domain"].to_numpy()
        if mode == "balanced":
            counts = np.bincount(dom, minlength=len(ds.domains)).astype(np.float64)
            w = 1.0 / np.maximum(counts, 1)[dom]
        elif mode == "target":
            targets = [ds.domain_index(d) for d in (target_domains or ds.domains)]
            w = np.where(np.isin(dom, targets), float(target_weight), 1.0)
        elif mode == "uniform":
            w = None
        else:
            raise ValueError(f"train.sampling must be uniform, balanced or target, got {mode!r}")
        if w is not None:
            self.weights = torch.as_tensor(w / w.sum(), dtype=torch.float32, device=device)

    def epoch_order(self, generator: torch.Generator) -> torch.Tensor:
        """(n_train,) row indices for one epoch."""
        if self.weights is None:
            return torch.randperm(self.n, generator=generator, device=self.users.device)
        return torch.multinomial(self.weights, self.n, replacement=True, generator=generator)


class NegativeSampler:
    """Same-domain negatives that exclude the user's train positives; see module docstring."""

    def __init__(self, ds: Dataset, device: torch.device, max_rounds: int = 20) -> None:
        tr = ds.train
        self.n_items = ds.n_items
        keys = np.unique(tr["user"].to_numpy() * ds.n_items + tr["item"].to_numpy())
        self.keys = torch.as_tensor(keys, device=device)
        self.start = torch.as_tensor(ds.item_offsets[:-1], device=device)
        self.size = torch.as_tensor(np.diff(ds.item_offsets), device=device)
        self.max_rounds = max_rounds

    def is_positive(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Bool mask, same shape as ``items``: is (user, item) a train positive?"""
        k = users * self.n_items + items
        pos = torch.searchsorted(self.keys, k).clamp_max(len(self.keys) - 1)
        return self.keys[pos] == k

    def sample(self, users: torch.Tensor, domains: torch.Tensor, n: int,
               generator: torch.Generator) -> torch.Tensor:
        """(B, n) int64 negatives for rows users (B,), domains (B,)."""
        u = users[:, None].expand(-1, n)
        start = self.start[domains][:, None].expand(-1, n)
        size = self.size[domains][:, None].expand(-1, n)
        draw = lambda shape: torch.rand(shape, generator=generator, device=users.device)  # noqa: E731
        neg = start + (draw(u.shape) * size).long().clamp_max(size - 1)
        for _ in range(self.max_rounds):
            bad = self.is_positive(u, neg)
            if not bool(bad.any()):
                break
            idx = bad.nonzero(as_tuple=True)
            neg[idx] = start[idx] + (draw(idx[0].shape) * size[idx]).long().clamp_max(size[idx] - 1)
        return neg
