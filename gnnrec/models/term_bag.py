"""Learned term embeddings pooled over a sparse TF-IDF matrix (``model.lexical``).

With the item x term matrix ``X`` (n_items, V) of :mod:`gnnrec.text.lexical`
and a learned table ``T`` (V, dim), the lexical part of item ``i``'s layer-0
embedding is

    x_i T = sum_w X[i, w] T[w]                        (dim,)

computed with ``F.embedding_bag`` (mode ``sum``, TF-IDF weights as
per-sample weights), for all items at once or for a batch of rows; an item
without any kept term gets a zero vector.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from gnnrec.models.base import INIT_STD, init_embedding


class TermBag(nn.Module):
    """``rows -> X[rows] @ T``; ``T`` is the parameter ``weight`` (V, dim)."""

    def __init__(self, x: sp.csr_matrix, dim: int, std: float = INIT_STD) -> None:
        super().__init__()
        x = sp.csr_matrix(x, dtype=np.float32)
        self.register_buffer("indptr", torch.from_numpy(x.indptr.astype(np.int64)), persistent=False)
        self.register_buffer("indices", torch.from_numpy(x.indices.astype(np.int64)), persistent=False)
        self.register_buffer("values", torch.from_numpy(x.data.astype(np.float32)), persistent=False)
        self.n_rows = x.shape[0]
        self.weight = init_embedding(x.shape[1], dim, std)

    def forward(self, rows: torch.Tensor | None = None) -> torch.Tensor:
        """(n_rows, dim) for every row, or (len(rows), dim) for the int64 ``rows``."""
        if rows is None:
            return F.embedding_bag(self.indices, self.weight, self.indptr[:-1], mode="sum",
                                   per_sample_weights=self.values)
        start, end = self.indptr[rows], self.indptr[rows + 1]
        counts = end - start
        offsets = torch.cumsum(counts, 0) - counts                    # bag starts in the gathered list
        pos = torch.arange(int(counts.sum()), device=rows.device)
        src = pos - torch.repeat_interleave(offsets, counts) + torch.repeat_interleave(start, counts)
        return F.embedding_bag(self.indices[src], self.weight, offsets, mode="sum",
                               per_sample_weights=self.values[src])
