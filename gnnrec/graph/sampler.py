"""PyG neighbour sampling that also works without the compiled ``pyg-lib`` / ``torch-sparse``.

:class:`TorchNeighborSampler` is a :class:`torch_geometric.sampler.NeighborSampler`
(so :class:`~torch_geometric.loader.LinkNeighborLoader` drives it unchanged:
seed handling, negative sampling, subgraph filtering all stay PyG's). When
``pyg-lib`` or ``torch-sparse`` is installed their kernels are used; otherwise
(CPU wheels of them are not on PyPI for every torch build, e.g. this
project's torch 2.13) :meth:`_sample` runs the same algorithm in vectorised
torch:

* hop ``h`` draws, for every frontier node ``v`` of type ``dst`` and every edge
  type ``(src, rel, dst)``, ``min(deg(v), f_h)`` distinct in-neighbours
  uniformly without replacement (Floyd's algorithm, vectorised over nodes:
  ``f_h`` rounds of O(#frontier * f_h) work; ``f_h = -1`` takes all);
* neighbours not seen yet get the next local index of their type and form the
  next frontier (nodes are de-duplicated across hops, as in PyG);
* the output is PyG's ``(Hetero)SamplerOutput``: global node ids per type in
  local order, local ``row`` (source) / ``col`` (destination) per edge type,
  edge positions in the sampler's CSC order (PyG's filter maps them through
  ``edge_permutation``, as for pyg-lib's output), and per-hop counts.

Randomness comes from the sampler's own ``torch.Generator`` (``seed``), so
a loader replays identically for a seed.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
import torch_geometric.typing as pyg_typing
from torch import Tensor
from torch_geometric.sampler import HeteroSamplerOutput, NeighborSampler, SamplerOutput

_HOMO = "_node"


def sample_in_edges(colptr: Tensor, nodes: Tensor, k: int,
                    gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """Positions (into the CSC ``row`` array) of up to ``k`` distinct in-edges per node.

    colptr: (n_dst + 1,) CSC pointer; nodes: (m,) destination nodes. Returns
    (pos, which): pos (S,) edge positions, which (S,) index into ``nodes`` of
    each edge's destination.
    """
    start = colptr[nodes]
    deg = colptr[nodes + 1] - start
    small = deg <= k if k >= 0 else torch.ones_like(deg, dtype=torch.bool)
    parts_pos, parts_which = [], []
    idx_small = small.nonzero(as_tuple=True)[0]
    if len(idx_small):
        d = deg[idx_small]
        which = torch.repeat_interleave(idx_small, d)
        first = torch.repeat_interleave(torch.cumsum(d, 0) - d, d)
        parts_pos.append(start[which] + torch.arange(len(which)) - first)
        parts_which.append(which)
    idx_big = (~small).nonzero(as_tuple=True)[0]
    if len(idx_big):
        d = deg[idx_big]
        chosen = torch.empty(len(idx_big), k, dtype=torch.long)
        for j in range(k):                              # Floyd: exact uniform k-subset
            hi = d - k + j                              # draw from [0, hi]
            t = (torch.rand(len(d), generator=gen) * (hi + 1).double()).long().minimum(hi)
            if j:
                t = torch.where((chosen[:, :j] == t[:, None]).any(1), hi, t)
            chosen[:, j] = t
        parts_pos.append((start[idx_big][:, None] + chosen).reshape(-1))
        parts_which.append(idx_big.repeat_interleave(k))
    if not parts_pos:
        empty = torch.empty(0, dtype=torch.long)
        return empty, empty
    return torch.cat(parts_pos), torch.cat(parts_which)


class TorchNeighborSampler(NeighborSampler):
    """PyG ``NeighborSampler`` with a vectorised-torch fallback kernel (module docstring).

    ``fanouts``: neighbours per hop (the same for every edge type); ``seed``:
    seed of the sampler's generator. Other keyword arguments go to PyG.
    """

    def __init__(self, data: Any, fanouts: list[int], seed: int = 0, **kwargs: Any) -> None:
        with warnings.catch_warnings():      # PyG warns when pyg-lib is absent: handled here
            warnings.filterwarnings("ignore", message=".*without a 'pyg-lib' installation.*")
            super().__init__(data, num_neighbors=list(fanouts), **kwargs)
        self.fanouts = [int(f) for f in fanouts]
        self.generator = torch.Generator().manual_seed(int(seed))
        self._lookup: dict[str, Tensor] = {}

    @property
    def native(self) -> bool:
        """True when PyG's compiled kernels (pyg-lib / torch-sparse) do the sampling."""
        return bool(pyg_typing.WITH_PYG_LIB or pyg_typing.WITH_TORCH_SPARSE)

    def _sample(self, seed, seed_time=None, **kwargs):  # type: ignore[override]
        if self.native or seed_time is not None or self.disjoint:
            return super()._sample(seed, seed_time, **kwargs)
        if isinstance(seed, dict):
            rels = [(et, et[0], et[2], self.colptr_dict[self.to_rel_type[et]],
                     self.row_dict[self.to_rel_type[et]]) for et in self.edge_types]
            node, row, col, edge, n_nodes, n_edges = self._run(seed, rels, dict(self.num_nodes))
            return HeteroSamplerOutput(node=node, row=row, col=col, edge=edge, batch=None,
                                       num_sampled_nodes=n_nodes, num_sampled_edges=n_edges)
        rels = [(_HOMO, _HOMO, _HOMO, self.colptr, self.row)]
        node, row, col, edge, n_nodes, n_edges = self._run({_HOMO: seed}, rels,
                                                          {_HOMO: self.num_nodes})
        return SamplerOutput(node=node[_HOMO], row=row[_HOMO], col=col[_HOMO], edge=edge[_HOMO],
                             batch=None, num_sampled_nodes=n_nodes[_HOMO],
                             num_sampled_edges=n_edges[_HOMO])

    def _run(self, seed: dict[str, Tensor], rels: list, num_nodes: dict[str, int]):
        gen = self.generator
        types = list(num_nodes)
        for t in types:
            if t not in self._lookup or len(self._lookup[t]) != num_nodes[t]:
                self._lookup[t] = torch.full((num_nodes[t],), -1, dtype=torch.long)
        lookup = self._lookup
        nodes: dict[str, list[Tensor]] = {t: [] for t in types}
        count = {t: 0 for t in types}
        frontier: dict[str, Tensor] = {}
        n_nodes: dict[str, list[int]] = {t: [] for t in types}
        for t in types:
            s = seed.get(t, torch.empty(0, dtype=torch.long)).long()
            lookup[t][s] = torch.arange(len(s))
            nodes[t].append(s)
            count[t] = len(s)
            frontier[t] = s
            n_nodes[t].append(len(s))
        rows: dict[Any, list[Tensor]] = {r[0]: [] for r in rels}
        cols: dict[Any, list[Tensor]] = {r[0]: [] for r in rels}
        eids: dict[Any, list[Tensor]] = {r[0]: [] for r in rels}
        n_edges: dict[Any, list[int]] = {r[0]: [] for r in rels}
        try:
            for k in self.fanouts:
                new: dict[str, list[Tensor]] = {t: [] for t in types}
                for key, src_t, dst_t, colptr, row in rels:
                    f = frontier[dst_t]
                    pos, which = sample_in_edges(colptr, f, k, gen)
                    src = row[pos]
                    unseen = lookup[src_t][src] < 0
                    if bool(unseen.any()):
                        fresh = torch.unique(src[unseen])
                        lookup[src_t][fresh] = count[src_t] + torch.arange(len(fresh))
                        count[src_t] += len(fresh)
                        nodes[src_t].append(fresh)
                        new[src_t].append(fresh)
                    rows[key].append(lookup[src_t][src])
                    cols[key].append(lookup[dst_t][f[which]])
                    eids[key].append(pos)          # CSC positions: PyG maps them through perm
                    n_edges[key].append(len(pos))
                frontier = {t: torch.cat(v) if v else torch.empty(0, dtype=torch.long)
                            for t, v in new.items()}
                for t in types:
                    n_nodes[t].append(len(frontier[t]))
        finally:
            out_nodes = {t: torch.cat(v) for t, v in nodes.items()}
            for t, v in out_nodes.items():
                lookup[t][v] = -1                      # reset only what this batch touched
        cat = lambda parts: torch.cat(parts) if parts else torch.empty(0, dtype=torch.long)  # noqa: E731
        return (out_nodes, {k: cat(v) for k, v in rows.items()}, {k: cat(v) for k, v in cols.items()},
                {k: cat(v) for k, v in eids.items()}, n_nodes, n_edges)
