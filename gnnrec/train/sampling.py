"""Vectorised training samplers (no per-sample Python loops; all on the run's device).

* :class:`PositiveSampler` -- the order of train positives for one epoch: a
  uniform permutation of the ``n_train`` rows (one pass).
* :class:`NegativeSampler` -- for rows (u, d), ``n`` items drawn uniformly from
  domain d's block that are not train positives of u: each round draws
  ``oversample`` candidates per slot and keeps the first valid one; slots
  without one are redrawn (up to ``max_rounds``). Membership test: a dense
  (n_users * n_items) bitmap when it has at most ``bitmap_limit`` entries,
  else binary search of ``u * n_items + i`` in the sorted train keys.
"""

from __future__ import annotations

import numpy as np
import torch

from gnnrec.data.schema import Dataset


class PositiveSampler:
    """Per-epoch order of train rows; see module docstring."""

    def __init__(self, ds: Dataset, device: torch.device) -> None:
        tr = ds.train
        self.n = len(tr)
        self.users = torch.as_tensor(tr["user"].to_numpy().copy(), device=device)
        self.items = torch.as_tensor(tr["item"].to_numpy().copy(), device=device)
        self.domains = torch.as_tensor(tr["domain"].to_numpy().copy(), device=device)

    def epoch_order(self, generator: torch.Generator) -> torch.Tensor:
        """(n_train,) row indices for one epoch."""
        return torch.randperm(self.n, generator=generator, device=self.users.device)


class NegativeSampler:
    """Same-domain negatives that exclude the user's train positives; see module docstring."""

    def __init__(self, ds: Dataset, device: torch.device, max_rounds: int = 20, oversample: int = 4,
                 bitmap_limit: int = 200_000_000) -> None:
        tr = ds.train
        self.n_items = ds.n_items
        keys = np.unique(tr["user"].to_numpy() * ds.n_items + tr["item"].to_numpy())
        self.keys = torch.as_tensor(keys, device=device)
        self.bitmap: torch.Tensor | None = None
        if ds.n_users * ds.n_items <= bitmap_limit:
            self.bitmap = torch.zeros(ds.n_users * ds.n_items, dtype=torch.bool, device=device)
            self.bitmap[self.keys] = True
        self.oversample = oversample
        self.start = torch.as_tensor(ds.item_offsets[:-1], device=device)
        self.size = torch.as_tensor(np.diff(ds.item_offsets), device=device)
        self.max_rounds = max_rounds

    def is_positive(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Bool mask, same shape as ``items``: is (user, item) a train positive?"""
        k = users * self.n_items + items
        if self.bitmap is not None:
            return self.bitmap[k]
        pos = torch.searchsorted(self.keys, k).clamp_max(len(self.keys) - 1)
        return self.keys[pos] == k

    def sample(self, users: torch.Tensor, domains: torch.Tensor, n: int,
               generator: torch.Generator) -> torch.Tensor:
        """(B, n) int64 negatives for rows users (B,), domains (B,)."""
        r = self.oversample
        neg = torch.empty(len(users), n, dtype=torch.long, device=users.device)
        todo = torch.arange(len(users) * n, device=users.device)          # flat (row * n + slot)
        for _ in range(self.max_rounds):
            row = todo // n
            u, start, size = users[row, None], self.start[domains[row]][:, None], self.size[domains[row]][:, None]
            cand = start + (torch.rand(len(todo), r, generator=generator, device=users.device)
                            * size).long().clamp_max(size - 1)
            ok = ~self.is_positive(u, cand)
            first = ok.int().argmax(dim=1)
            neg.view(-1)[todo] = cand.gather(1, first[:, None]).squeeze(1)
            todo = todo[~ok.any(dim=1)]
            if len(todo) == 0:
                break
        return neg
