"""Popularity floor: every user ranks a domain's items by their train count.

U = ones (n_users, 1), V[i] = log(1 + #train users of i) (n_items, 1), so
``U[u] . V[i]`` orders each domain's items by popularity for every user.
"""

from __future__ import annotations

import numpy as np
import torch

from gnnrec.models.base import ModelContext, Recommender


class Popularity(Recommender):
    name = "pop"
    trainable = False

    def __init__(self, ctx: ModelContext) -> None:
        super().__init__(ctx)
        counts = np.asarray(ctx.graph.item_degree, dtype=np.float32)
        self.register_buffer("user_emb", torch.ones(self.n_users, 1))
        self.register_buffer("item_emb", torch.from_numpy(np.log1p(counts))[:, None])

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.user_emb, self.item_emb
