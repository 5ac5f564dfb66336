"""Exports built from the tiny dataset with seeded random embeddings."""

from __future__ import annotations

import numpy as np

from gnnrec.data.schema import Dataset
from gnnrec.export.build import build_export
from gnnrec.export.contract import Export


def random_export(ds: Dataset, dim: int = 8, seed: int = 0, **manifest) -> Export:
    rng = np.random.default_rng(seed)
    return build_export(ds, rng.normal(size=(ds.n_users, dim)), rng.normal(size=(ds.n_items, dim)),
                        model="random-test", **manifest)
