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
    explains = "terms"
    explain_note = "U[u] is the mean text vector of u's train items: each history item contributes " \
                   "its text's similarity to the item's text, divided by |H|"

    def __init__(self, ctx: ModelContext) -> None:
        super().__init__(ctx)
        from gnnrec.text.zero_shot import text_only_embeddings

        feats = ctx.extra.get("text_features")
        if feats is None:
            raise GnnrecError("text-only needs the TextFeatures object in ctx.extra['text_features']")
        u, v = text_only_embeddings(ctx.ds, feats)
        self._train = ctx.ds.train_matrix()
        self.register_buffer("user_emb", torch.as_tensor(np.asarray(u, dtype=np.float32)))
        self.register_buffer("item_emb", torch.as_tensor(np.asarray(v, dtype=np.float32)))

    def forward(self) -> Embeddings:
        return Embeddings(self.user_emb, self.item_emb)

    def history_terms(self) -> list:
        """One term: weights 1/|H_u| over u's train items, basis the item text vectors."""
        import scipy.sparse as sp

        from gnnrec.export.terms import HistoryTerm

        r = self._train
        counts = np.asarray(r.sum(axis=1)).ravel()
        inv = np.divide(1.0, counts, out=np.zeros_like(counts), where=counts > 0)
        return [HistoryTerm("text", "item", sp.csr_matrix(sp.diags(inv) @ r), self.item_emb.cpu().numpy(), 0,
                            "mean of the history items' text vectors")]

    def cold_item_map(self, domain: int = 0) -> np.ndarray:
        return np.eye(self.item_emb.shape[1], dtype=np.float32)
