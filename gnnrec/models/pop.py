"""Popularity floor: every user ranks a domain's items by their train degree.

U = ones (n_users, 1), V[i] = log(1 + #distinct train users of i) (n_items, 1),
so ``U[u] . V[i]`` orders each domain's items by popularity for every user
(items of equal degree tie; the evaluator ranks ties pessimistically).
"""

from __future__ import annotations

import numpy as np
import torch

from gnnrec.models.base import Embeddings, ModelContext, Recommender


class Popularity(Recommender):
    name = "pop"
    trainable = False
    explains = "none"
    explain_note = "popularity scores every item by its train count, the same for every user: no item of " \
                   "a user's history explains it"

    def __init__(self, ctx: ModelContext) -> None:
        super().__init__(ctx)
        counts = np.asarray(ctx.graph.item_degree, dtype=np.float32)
        self.register_buffer("user_emb", torch.ones(self.n_users, 1))
        self.register_buffer("item_emb", torch.from_numpy(np.log1p(counts))[:, None])

    def forward(self) -> Embeddings:
        return Embeddings(self.user_emb, self.item_emb)
