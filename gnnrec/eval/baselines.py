"""Baselines that need no training, written as exports (the floor every model must beat).

* ``pop``: the registered ``pop`` model (:class:`gnnrec.models.pop.Popularity`):
  user vectors ``[1]``, item vectors ``[log(1 + train degree)]``, i.e. every
  user ranks a domain's items by popularity -- the same floor the benchmark
  tables show;
* ``random``: ``dim``-dimensional standard normal user and item vectors
  (seeded): scores carry no information.
"""

from __future__ import annotations

import numpy as np
import torch

from gnnrec.data.schema import Dataset
from gnnrec.errors import GnnrecError
from gnnrec.export.build import build_export
from gnnrec.export.contract import Export
from gnnrec.graph import Graph
from gnnrec.models.base import ModelConfig, ModelContext
from gnnrec.models.pop import Popularity

BASELINES = ("pop", "random")


def popularity_export(ds: Dataset) -> Export:
    """The ``pop`` model's vectors as an export (see module docstring)."""
    ctx = ModelContext(ds=ds, graph=Graph(ds), device=torch.device("cpu"), config=ModelConfig(name="pop"))
    u, v = Popularity(ctx).embeddings()
    return build_export(ds, u.numpy(), v.numpy(), model="pop",
                        config={"score": "log(1 + distinct train users of the item)"})


def random_export(ds: Dataset, dim: int = 16, seed: int = 0) -> Export:
    """Seeded standard-normal vectors: the no-information floor."""
    rng = np.random.default_rng(seed)
    return build_export(ds, rng.standard_normal((ds.n_users, dim), dtype=np.float32),
                        rng.standard_normal((ds.n_items, dim), dtype=np.float32), model="random",
                        config={"seed": seed, "dim": dim})


def baseline_export(kind: str, ds: Dataset, seed: int = 0) -> Export:
    """``kind`` in :data:`BASELINES`."""
    if kind == "pop":
        return popularity_export(ds)
    if kind == "random":
        return random_export(ds, seed=seed)
    raise GnnrecError(f"unknown baseline {kind!r}; choose one of {BASELINES}")
