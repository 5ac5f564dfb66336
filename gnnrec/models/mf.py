"""BPR matrix factorisation: U = user ID table (n_users, dim), V = item ID table (n_items, dim).

Rendle et al., UAI 2009, "BPR: Bayesian Personalized Ranking from Implicit
Feedback". Trained like every gradient model (BPR or sampled softmax,
same-domain negatives); users are shared across domains, so it is a
cross-domain MF without any graph propagation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from gnnrec.models.base import Embeddings, ModelConfig, ModelContext, Recommender, init_embedding
from gnnrec.utils.config import Range


@dataclass
class MFConfig(ModelConfig):
    """``model:`` keys of ``mf``."""

    dim: Annotated[int, Range(ge=1)] = 64    # factor width


class MF(Recommender):
    name = "mf"
    user_tables = ("user_emb",)
    item_tables = ("item_emb",)
    Config = MFConfig

    def __init__(self, ctx: ModelContext) -> None:
        super().__init__(ctx)
        self.user_emb = init_embedding(self.n_users, self.cfg.dim)
        self.item_emb = init_embedding(self.n_items, self.cfg.dim)

    def forward(self) -> Embeddings:
        return Embeddings(self.user_emb, self.item_emb, self.user_emb, self.item_emb)
