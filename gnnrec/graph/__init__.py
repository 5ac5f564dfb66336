"""Graph stage: train interactions -> graph structures the models propagate over.

:class:`Graph` builds (lazily, once per run) and caches:

* ``joint_adj``  -- (n_users + n_items)^2 symmetric-normalised joint
  adjacency, torch sparse CSR on the run's device (cross-domain LightGCN);
* ``domain_adj`` -- per-domain block adjacency with one user node per
  (domain, user): (n_domains * n_users + n_items)^2 (single-domain LightGCN);
* ``hetero``     -- PyG ``HeteroData`` (``user`` + ``item_<domain>`` node types);
* ``facts``      -- :func:`graph_facts` (logged per run).

:func:`propagate` (in :mod:`gnnrec.graph.adjacency`) is the one propagation
function of the package.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
import torch

from gnnrec.data.schema import Dataset
from gnnrec.graph.adjacency import (SampledAdjacency, domain_adjacency, joint_adjacency,
                                    normalized_bipartite, propagate, spmm_with_transpose, sym_spmm,
                                    to_torch_csr)
from gnnrec.graph.facts import graph_facts
from gnnrec.graph.hetero import build_hetero, item_type, user_text_mean


class Graph:
    """Cached graph structures of one dataset's train split on one device.

    ds: the dataset; item_text: optional (n_items, t) float32 text features
    (HeteroData node features); device: where tensors live.
    """

    def __init__(self, ds: Dataset, item_text: np.ndarray | None = None,
                 device: torch.device | str = "cpu") -> None:
        self.ds = ds
        self.item_text = item_text
        self.device = torch.device(device)
        tr = ds.train
        self.users = tr["user"].to_numpy()
        self.items = tr["item"].to_numpy()
        self.domains = tr["domain"].to_numpy()

    @cached_property
    def joint_adj(self) -> torch.Tensor:
        a = joint_adjacency(self.users, self.items, self.ds.n_users, self.ds.n_items)
        return to_torch_csr(a, self.device)

    @cached_property
    def domain_adj(self) -> torch.Tensor:
        a = domain_adjacency(self.users, self.items, self.domains, self.ds.n_users,
                             self.ds.n_items, len(self.ds.domains))
        return to_torch_csr(a, self.device)

    @cached_property
    def hetero(self):
        return build_hetero(self.ds, self.item_text)

    @cached_property
    def facts(self) -> dict[str, Any]:
        return graph_facts(self.ds)

    @cached_property
    def _pairs(self) -> np.ndarray:
        """Distinct train (user, item) pairs as sorted keys ``user * n_items + item``."""
        return np.unique(self.users * self.ds.n_items + self.items)

    @cached_property
    def item_degree(self) -> np.ndarray:
        """Distinct train users per item, (n_items,) int64."""
        return np.bincount(self._pairs % self.ds.n_items, minlength=self.ds.n_items)

    @cached_property
    def user_degree(self) -> np.ndarray:
        """Distinct train items per user, (n_users,) int64."""
        return np.bincount(self._pairs // self.ds.n_items, minlength=self.ds.n_users)


__all__ = ["Graph", "SampledAdjacency", "build_hetero", "domain_adjacency", "graph_facts", "item_type",
           "joint_adjacency", "normalized_bipartite", "propagate", "spmm_with_transpose", "sym_spmm",
           "to_torch_csr", "user_text_mean"]
