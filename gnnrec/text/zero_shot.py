"""Zero-shot text-only recommender: no training, only item text embeddings.

With item text vectors ``V`` (``n_items x dim``) and the binary train matrix
``R`` (``n_users x n_items``, all domains), the user vector is the mean of the
vectors of the user's train items,

    U = D^-1 R V,   D = diag(row sums of R),

and the score of (u, i) is ``U[u] . V[i]``. Users without train items get a
zero vector (all scores 0). This is the baseline graph models must beat,
above all on cold users, whose target-domain history is empty: their vector
comes from their other domain only.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from gnnrec.data.schema import Dataset
from gnnrec.text.features import TextFeatures


def text_only_embeddings(ds: Dataset, feats: TextFeatures) -> tuple[np.ndarray, np.ndarray]:
    """(user_emb float32 ``(n_users, dim)``, item_emb float32 ``(n_items, dim)``); score = dot."""
    item = np.asarray(feats.item, dtype=np.float32)
    if item.shape[0] != ds.n_items:
        raise ValueError(f"text features have {item.shape[0]} rows but {ds.name} has "
                         f"{ds.n_items} items; they were computed for another dataset")
    r = ds.train_matrix()
    counts = np.asarray(r.sum(axis=1)).ravel()
    inv = np.divide(1.0, counts, out=np.zeros_like(counts), where=counts > 0)
    user = np.asarray(sp.diags(inv.astype(np.float32)) @ r @ item, dtype=np.float32)
    return user, item.copy()
