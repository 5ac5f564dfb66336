"""HGT: Heterogeneous Graph Transformer (Hu et al., WWW 2020) over the cross-domain graph.

The graph is :attr:`gnnrec.graph.Graph.hetero`: node types ``user`` and one
``item_<domain>`` per domain, edge types ``(user, interacts, item_<domain>)``
and their reverses (train positives only). The model:

* **Layer 0** -- users: a learnable ID embedding ``E_u`` (n_users, dim).
  Items of domain ``d``: ``W_d t_i + b_d``, a domain-specific linear
  projection of the frozen item text embedding ``t_i`` when the dataset has
  text (``use_text: true``), plus a learnable ID embedding when ``item_id`` is
  true or the item has no text at all (zero text row); without text (ids-only
  data, or ``use_text: false``) the ID embedding alone.
* **Propagation** -- ``layers`` PyG :class:`~torch_geometric.nn.HGTConv`
  layers (``heads`` attention heads): per node type K/Q/V projections, per
  edge type attention and message matrices and a learned prior per head,
  softmax attention over each node's neighbours, then a GELU, a per-type
  output projection and a learned gated skip connection (HGT's target-specific
  aggregation).
* **Readout** -- ``combine: mean`` (default) averages the layer outputs
  ``h^(0..L)`` (LightGCN-style layer combination, which keeps each node's own
  layer-0 signal in the score); ``combine: last`` uses ``h^(L)`` as in the
  HGT paper.
* **Decoder** -- dot product: ``score(u, i) = h_u . h_i``.

Training is full-graph (one propagation per step over all nodes) or
mini-batch (:meth:`HGT.forward_sampled`: the same :meth:`HGT.propagate` over a
neighbour-sampled sub-graph). With ``edge_keep < 1`` each full-graph training
step propagates over a random subset of the train edges (the same pairs in
both directions; DropEdge) -- a regulariser that also cuts the cost of a step;
evaluation always uses every edge. Graphs of more than
:data:`INFER_CHUNK_EDGES` train edges are scored layer by layer with the
destination nodes in chunks (:meth:`HGT.propagate` with ``chunk``), which
bounds the per-edge attention tensors.

Deviations from the paper, stated: the LightGCN-style mean readout by
default, text-initialised items, no relative temporal encoding (gnnrec's
graphs carry no edge times).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal

import torch
from torch import Tensor, nn
from torch_geometric.nn import HGTConv

from gnnrec.errors import GnnrecError
from gnnrec.graph import item_type
from gnnrec.models.base import Embeddings, ModelConfig, ModelContext, Recommender, gather, init_embedding
from gnnrec.utils.config import Range

USER = "user"
INFER_CHUNK_EDGES = 1 << 21     # above this many train edges, embeddings() runs layer-wise in chunks
INFER_CHUNK = 1 << 18           # destination nodes per chunk of layer-wise inference

EdgeType = tuple[str, str, str]


@dataclass
class HGTConfig(ModelConfig):
    """``model:`` keys of ``hgt``."""

    dim: Annotated[int, Range(ge=1)] = 64                  # node width in every layer
    layers: Annotated[int, Range(ge=1)] = 2                # HGTConv layers
    heads: Annotated[int, Range(ge=1)] = 2                 # attention heads (dim must be divisible by heads)
    use_text: bool = True                                  # project item text when the dataset has it
    item_id: bool = False                                  # add a learnable item ID embedding to the projected text
    combine: Literal["mean", "last"] = "mean"              # mean of the layer outputs h^(0..L) | last: h^(L)
    edge_keep: Annotated[float, Range(gt=0, le=1)] = 1.0   # share of train edges a training step propagates over


class HGT(Recommender):
    """HGT recommender (module docstring); config keys in :class:`HGTConfig`."""

    name: ClassVar[str] = "hgt"
    user_tables: ClassVar[tuple[str, ...]] = ("user0",)
    item_tables: ClassVar[tuple[str, ...]] = ("item_id",)
    Config = HGTConfig
    wants_text: ClassVar[bool] = True      # projected text for items when the dataset has it
    supports_minibatch = True
    memory_family = "hgt"
    ours = True

    def __init__(self, ctx: ModelContext) -> None:
        super().__init__(ctx)
        cfg = self.cfg
        if cfg.dim % cfg.heads:
            raise GnnrecError(f"hgt: model.dim ({cfg.dim}) must be divisible by model.heads ({cfg.heads})")
        ds = ctx.ds
        self.item_types = [item_type(d) for d in ds.domains]
        self.blocks = [ds.item_block(d) for d in range(len(ds.domains))]
        self.use_text = cfg.use_text and ctx.text is not None
        self.user0 = init_embedding(self.n_users, cfg.dim)
        self.item_id: nn.Parameter | None = None
        if not self.use_text:
            self.item_id = init_embedding(self.n_items, cfg.dim)
        else:
            text = ctx.text_tensor()
            self.register_buffer("text", text, persistent=False)
            self.proj = nn.ModuleDict({t: nn.Linear(text.shape[1], cfg.dim) for t in self.item_types})
            # which items add an ID embedding: all (item_id: true), else those without any text
            with_id = torch.ones(self.n_items, dtype=torch.bool, device=text.device) if cfg.item_id \
                else text.abs().sum(1) == 0
            if bool(with_id.any()):
                self.item_id = init_embedding(self.n_items, cfg.dim)
                self.register_buffer("item_id_mask", with_id.float()[:, None], persistent=False)
        data = ctx.graph.hetero
        self.node_types = [USER] + self.item_types
        self.edge_types: list[EdgeType] = []
        for t in self.item_types:
            # one (2, E) tensor per domain of (user, local item) pairs; both directions use it
            self.register_buffer(f"edges_{t}", data[USER, "interacts", t].edge_index.clone(),
                                 persistent=False)
            self.edge_types += [(USER, "interacts", t), (t, "rev_interacts", USER)]
        self.n_edges = sum(int(getattr(self, f"edges_{t}").shape[1]) for t in self.item_types)
        metadata = (self.node_types, self.edge_types)
        self.convs = nn.ModuleList([HGTConv(cfg.dim, cfg.dim, metadata, heads=cfg.heads)
                                    for _ in range(cfg.layers)])

    # ---- layer 0 ---------------------------------------------------------------
    def item_input(self) -> Tensor:
        """Layer-0 item states in global item order, (n_items, dim)."""
        if not self.use_text:
            return self.item_id
        parts = [self.proj[t](self.text[b]) for t, b in zip(self.item_types, self.blocks)]
        x = torch.cat(parts, 0)
        return x + self.item_id * self.item_id_mask if self.item_id is not None else x

    def layer0_rows(self, node_type: str, ids: Tensor, sparse: bool = False) -> Tensor:
        """Layer-0 rows of nodes ``ids`` (global user or item indices) of ``node_type``."""
        if node_type == USER:
            return gather(self.user0, ids, sparse)
        if not self.use_text:
            return gather(self.item_id, ids, sparse)
        x = self.proj[node_type](self.text[ids])
        if self.item_id is None:
            return x
        return x + gather(self.item_id, ids, sparse) * self.item_id_mask[ids]

    def id_tables(self) -> list[nn.Parameter]:
        return [t for t in (self.user0, self.item_id) if t is not None]

    def edge_index_dict(self) -> dict[EdgeType, Tensor]:
        """Edges per type in metadata order (HGTConv relies on it); subsampled when training."""
        keep = self.cfg.edge_keep
        out = {}
        for t in self.item_types:
            e = getattr(self, f"edges_{t}")
            if self.training and keep < 1.0:
                e = e[:, torch.rand(e.shape[1], device=e.device) < keep]
            out[(USER, "interacts", t)] = e
            out[(t, "rev_interacts", USER)] = e.flip(0)
        return out

    # ---- propagation -----------------------------------------------------------
    def propagate(self, h0: dict[str, Tensor], edges: dict[EdgeType, Tensor],
                  chunk: int | None = None) -> dict[str, Tensor]:
        """The HGTConv layers and the readout over ``edges``: node type -> (n_t, dim) final rows.

        ``h0``: layer-0 rows per node type (the full graph's or a sampled
        sub-graph's nodes, local indices of ``edges``). ``chunk``: compute each
        layer for the destination nodes of each type ``chunk`` at a time, passing
        only their in-edges (layer-wise inference; same result).
        """
        h, outs = h0, [h0]
        for conv in self.convs:
            new = conv(h, edges) if chunk is None else self._chunked(conv, h, edges, chunk)
            h = {k: (new.get(k) if new.get(k) is not None else h[k]) for k in self.node_types}
            outs.append(h)
        if self.cfg.combine == "mean":
            h = {k: torch.stack([o[k] for o in outs]).mean(0) for k in self.node_types}
        return h

    def _chunked(self, conv: nn.Module, h: dict[str, Tensor], edges: dict[EdgeType, Tensor],
                 chunk: int) -> dict[str, Tensor]:
        new = {k: v.clone() for k, v in h.items()}
        for t in self.node_types:
            n_t = h[t].shape[0]
            for a in range(0, n_t, chunk):
                z = min(a + chunk, n_t)
                sub = {et: ei[:, (ei[1] >= a) & (ei[1] < z)] if et[2] == t else ei[:, :0]
                       for et, ei in edges.items()}
                res = conv(h, sub).get(t)
                if res is not None:
                    new[t][a:z] = res[a:z]
        return new

    # ---- ways to run -------------------------------------------------------------------
    def _h0(self) -> tuple[dict[str, Tensor], Tensor]:
        items = self.item_input()
        return {USER: self.user0, **{t: items[b] for t, b in zip(self.item_types, self.blocks)}}, items

    def forward(self) -> Embeddings:
        h0, items0 = self._h0()
        h = self.propagate(h0, self.edge_index_dict())
        return Embeddings(h[USER], torch.cat([h[t] for t in self.item_types], 0), self.user0, items0)

    @torch.no_grad()
    def embeddings(self) -> tuple[Tensor, Tensor]:
        """Eval-mode vectors; layer-wise in chunks above :data:`INFER_CHUNK_EDGES` train edges."""
        if self.n_edges <= INFER_CHUNK_EDGES:
            return super().embeddings()
        was = self.training
        self.eval()
        try:
            h0, _ = self._h0()
            h = self.propagate(h0, self.edge_index_dict(), chunk=INFER_CHUNK)
        finally:
            self.train(was)
        return h[USER].float(), torch.cat([h[t] for t in self.item_types], 0).float()

    def prepare_sampled(self) -> None:
        """Nothing to build: sampled batches carry their own edge_index_dict."""

    def forward_sampled(self, batch, sparse: bool = False) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        h0 = {t: self.layer0_rows(t, batch[t].n_id, sparse) for t in self.node_types}
        return self.propagate(h0, {et: batch[et].edge_index for et in self.edge_types}), h0
