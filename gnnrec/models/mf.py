"""BPR matrix factorisation: U = user ID table (n_users, dim), V = item ID table (n_items, dim).

Trained like every gradient model (BPR or sampled softmax, same-domain
negatives); users are shared across domains, so it is a cross-domain MF
without any graph propagation.
"""

from __future__ import annotations

import torch

from gnnrec.models.base import Batch, ModelContext, Recommender, init_embedding


class MF(Recommender):
    name = "mf"
    defaults = {"dim": 64, "init_std": 0.1}

    def __init__(self, ctx: ModelContext) -> None:
        super().__init__(ctx)
        self.user_emb = init_embedding(self.n_users, int(self.cfg["dim"]), float(self.cfg["init_std"]))
        self.item_emb = init_embedding(self.n_items, int(self.cfg["dim"]), float(self.cfg["init_std"]))

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.user_emb, self.item_emb

    def layer0(self, batch: Batch) -> list[torch.Tensor]:
        return [self.user_emb[batch.users], self.item_emb[batch.pos], self.item_emb[batch.neg]]
