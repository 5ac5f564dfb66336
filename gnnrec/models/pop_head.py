"""Domain popularity head: a learned item-popularity term that keeps the score an inner product.

With D domains, D extra columns are appended to the final user and item vectors::

    U'[u] = [U[u], w_{a(u,1),1}, .., w_{a(u,D),D}]     V'[i] = [V[i], 0, .., f_i, .., 0]
    score = U[u] . V[i] + w_{a(u,d),d} f_i             (d = domain of i)

with ``f_i = log(1 + deg_i) / max_{j in d} log(1 + deg_j)`` (train degree) and
two learned weights per domain; ``a(u, d)`` is whether ``u`` has train items in
``d``, so users without history in a domain (cold) get their own popularity
weight. Used by the joint LightGCN models (``pop_bias: true``), which
switch the activity to the epoch's kept rows under ``train.cold_sim``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from gnnrec.graph.facts import domain_activity


def active_domains(users: np.ndarray, domains: np.ndarray, n_users: int, n_domains: int,
                   device: torch.device | str = "cpu") -> torch.Tensor:
    """(n_users, n_domains) bool tensor of :func:`~gnnrec.graph.facts.domain_activity`."""
    return torch.from_numpy(domain_activity(users, domains, n_users, n_domains)).to(device)


class DomainPopularityHead(nn.Module):
    """Appends the popularity columns of the module docstring; parameter ``w`` of shape (2, D).

    ``item_degree`` (n_items,) train degrees, ``item_domain`` (n_items,) domain
    index per item, ``active`` (n_users, D) from :func:`active_domains`.
    """

    def __init__(self, item_degree: np.ndarray, item_domain: np.ndarray, active: torch.Tensor) -> None:
        super().__init__()
        n_dom = active.shape[1]
        f = np.log1p(np.asarray(item_degree, dtype=np.float64))
        feat = np.zeros((len(f), n_dom), np.float32)
        for d in range(n_dom):
            m = item_domain == d
            feat[m, d] = f[m] / max(f[m].max(initial=0.0), 1e-12)
        self.register_buffer("pop_feat", torch.from_numpy(feat).to(active.device), persistent=False)
        self.register_buffer("user_active", active, persistent=False)
        self.w = nn.Parameter(torch.zeros(2, n_dom))       # row 0: active in d, row 1: cold in d

    def forward(self, users: torch.Tensor, items: torch.Tensor,
                active: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``users`` (n_users, k), ``items`` (n_items, k) -> (n_users, k + D), (n_items, k + D).

        ``active`` overrides the train-graph activity (simulated cold start).
        """
        act = self.user_active if active is None else active
        cols = torch.where(act, self.w[0], self.w[1]).to(users.dtype)
        return torch.cat([users, cols], 1), torch.cat([items, self.pop_feat.to(items.dtype)], 1)
