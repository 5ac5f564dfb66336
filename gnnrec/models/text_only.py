"""Zero-shot text-only recommender (no training): the text stage's embeddings as a model.

U, V = :func:`gnnrec.text.zero_shot.text_only_embeddings` (users = a summary of
their train items' text, items = their text), scored by inner product. Lets the
zero-shot baseline go through the same train/eval/export path as every model.
"""

from __future__ import annotations

import numpy as np
import torch

from gnnrec.errors import GnnrecError
from gnnrec.models.base import Embeddings, ModelContext, Recommender


class TextOnly(Recommender):
    name = "text-only"
    needs_text = True
    trainable = False

    def __init__(self, ctx: ModelContext) -> None:
        super().__init__(ctx)
        from gnnrec.text.zero_shot import text_only_embeddings

        feats = ctx.extra.get("text_features")
        if feats is None:
            raise GnnrecError("text-only needs the TextFeatures object in ctx.extra['text_features']")
        u, v = text_only_embeddings(ctx.ds, feats)
        self.register_buffer("user_emb", torch.as_tensor(np.asarray(u, dtype=np.float32)))
        self.register_buffer("item_emb", torch.as_tensor(np.asarray(v, dtype=np.float32)))

    def forward(self) -> Embeddings:
        return Embeddings(self.user_emb, self.item_emb)
