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

Training is full-graph (one propagation per step over all nodes). With
``edge_keep < 1`` each training step propagates over a random subset of the
train edges (the same pairs in both directions; DropEdge) -- a regulariser
that also cuts the cost of a step; evaluation always uses every edge.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn
from torch_geometric.nn import HGTConv

from gnnrec.graph import item_type
from gnnrec.models.base import Batch, ModelContext, Recommender, init_embedding

USER = "user"


class HGT(Recommender):
    """HGT recommender (module docstring); config keys in :attr:`defaults`."""

    name: ClassVar[str] = "hgt"
    wants_text: ClassVar[bool] = True      # projected text for items when the dataset has it
    defaults: ClassVar[dict[str, Any]] = {
        "dim": 64,          # node width in every layer
        "layers": 2,        # HGTConv layers
        "heads": 2,         # attention heads (dim must be divisible by heads)
        "use_text": True,   # project item text when the dataset has it (false: ID embeddings only)
        "item_id": False,   # add a learnable item ID embedding to the projected text
        "combine": "mean",  # mean of the layer outputs h^(0..L) | last: h^(L)
        "edge_keep": 1.0,   # fraction of train edges each training step propagates over (DropEdge)
        "dropout": 0.0,     # dropout on the node states between layers (training only)
        "init_std": 0.1,    # std of the normal initialisation of ID embeddings
    }

    def __init__(self, ctx: ModelContext) -> None:
        super().__init__(ctx)
        cfg = self.cfg
        dim, std = int(cfg["dim"]), float(cfg["init_std"])
        if dim % int(cfg["heads"]):
            raise ValueError(f"hgt: dim ({dim}) must be divisible by heads ({cfg['heads']})")
        if cfg["combine"] not in ("mean", "last"):
            raise ValueError(f"hgt: combine must be 'mean' or 'last', got {cfg['combine']!r}")
        if not 0.0 < float(cfg["edge_keep"]) <= 1.0:
            raise ValueError(f"hgt: edge_keep must lie in (0, 1], got {cfg['edge_keep']}")
        ds = ctx.ds
        self.item_types = [item_type(d) for d in ds.domains]
        self.blocks = [ds.item_block(d) for d in range(len(ds.domains))]
        self.use_text = bool(cfg["use_text"]) and ctx.text is not None
        self.user0 = init_embedding(self.n_users, dim, std)
        self.item_id: nn.Parameter | None = None
        if not self.use_text:
            self.item_id = init_embedding(self.n_items, dim, std)
        else:
            text = ctx.text_tensor()
            self.register_buffer("text", text, persistent=False)
            self.proj = nn.ModuleDict({t: nn.Linear(text.shape[1], dim) for t in self.item_types})
            # which items add an ID embedding: all (item_id: true), else those without any text
            with_id = torch.ones(self.n_items, dtype=torch.bool, device=text.device) if cfg["item_id"] \
                else text.abs().sum(1) == 0
            if bool(with_id.any()):
                self.item_id = init_embedding(self.n_items, dim, std)
                self.register_buffer("item_id_mask", with_id.float()[:, None], persistent=False)
        data = ctx.graph.hetero
        self.node_types = [USER] + self.item_types
        self.edge_types: list[tuple[str, str, str]] = []
        for t in self.item_types:
            # one (2, E) tensor per domain of (user, local item) pairs; both directions use it
            self.register_buffer(f"edges_{t}", data[USER, "interacts", t].edge_index.clone(),
                                 persistent=False)
            self.edge_types += [(USER, "interacts", t), (t, "rev_interacts", USER)]
        metadata = (self.node_types, self.edge_types)
        self.convs = nn.ModuleList([HGTConv(dim, dim, metadata, heads=int(cfg["heads"]))
                                    for _ in range(int(cfg["layers"]))])
        self.dropout = nn.Dropout(float(cfg["dropout"]))
        self._cache: dict[str, torch.Tensor] = {}    # layer-0 items of the last forward (not state)

    # ---- layer 0 ---------------------------------------------------------------
    def item_input(self) -> torch.Tensor:
        """Layer-0 item states in global item order, (n_items, dim)."""
        if not self.use_text:
            return self.item_id
        parts = [self.proj[t](self.text[b]) for t, b in zip(self.item_types, self.blocks)]
        x = torch.cat(parts, 0)
        return x + self.item_id * self.item_id_mask if self.item_id is not None else x

    def edge_index_dict(self) -> dict[tuple[str, str, str], torch.Tensor]:
        """Edges per type in metadata order (HGTConv relies on it); subsampled when training."""
        keep = float(self.cfg["edge_keep"])
        out = {}
        for t in self.item_types:
            e = getattr(self, f"edges_{t}")
            if self.training and keep < 1.0:
                e = e[:, torch.rand(e.shape[1], device=e.device) < keep]
            out[(USER, "interacts", t)] = e
            out[(t, "rev_interacts", USER)] = e.flip(0)
        return out

    # ---- scoring -------------------------------------------------------------------
    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        items = self.item_input()
        self._cache["items0"] = items         # reused by layer0() right after forward()
        h = {USER: self.user0, **{t: items[b] for t, b in zip(self.item_types, self.blocks)}}
        edges = self.edge_index_dict()
        outs = [h]
        for conv in self.convs:
            new = conv({k: self.dropout(v) for k, v in h.items()}, edges)
            h = {k: (new.get(k) if new.get(k) is not None else h[k]) for k in self.node_types}
            outs.append(h)
        if self.cfg["combine"] == "mean":
            h = {k: torch.stack([o[k] for o in outs]).mean(0) for k in self.node_types}
        return h[USER], torch.cat([h[t] for t in self.item_types], 0)

    def layer0(self, batch: Batch) -> list[torch.Tensor]:
        """ID rows of the batch's users and layer-0 rows (projected text and/or IDs) of its items."""
        items = self._cache["items0"] if "items0" in self._cache else self.item_input()
        return [self.user0[batch.users], items[batch.pos], items[batch.neg]]
