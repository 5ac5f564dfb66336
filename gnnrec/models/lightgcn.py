"""LightGCN family: ID- or text-initialised layer 0, propagation by :func:`gnnrec.graph.propagate`.

He et al., SIGIR 2020, "LightGCN: Simplifying and Powering Graph Convolution
Network for Recommendation". Layer 0 (users then items, (N, dim))::

    ID models:    E0_user[u] = P[u],                      E0_item[i] = Q[i]
    text models:  E0_item[i] = W t_i + m_i Q[i] + [lexical] x_i T
                  E0_user[u] = P[u] + W_u tbar_u
                  (t_i: frozen L2-normalised text embedding (t,); tbar_u: mean text of the
                   user's train items; W, W_u: (dim, t) linear projections; m_i = 0 for items
                   without train positives (cold items are text only) and for every item
                   with ``item_id: false``; x_i: the item's TF-IDF row over the terms of the
                   item texts (:mod:`gnnrec.text.lexical`), T: one learned (V, dim) embedding
                   per term -- items of two domains that share a brand or product word share
                   those rows)

Final embeddings ``E = sum_l A_hat^l E0 / (L + 1)``, ``A_hat = D^-g A D^-g``
scaled to spectral radius 1 (``norm_exp`` g; 0.5 is LightGCN's).

Cross-domain item map (joint models, ``cross_map: alpha > 0``): at scoring
time the closed-form ridge map of :mod:`gnnrec.models.cross_map` (other
domains' items -> this domain's, fitted on bridge users, ``cross_map_lambda``,
rank ``cross_map_rank`` per domain) is appended, weighted ``alpha`` against the
standardised model score; it never enters the loss. Warm (user, domain) pairs
may use their own ridge strength and weight (``cross_map_lambda_warm``,
``cross_map_warm``; null = the cold pairs' values, one map).

The joint models support simulated cold start (``train.cold_sim``): in training
mode ``A_hat`` and ``tbar_u`` come from the epoch's kept train rows only; and
mini-batch training (``norm_exp`` 0.5): :meth:`forward_sampled` runs the same
:meth:`propagate` over a sampled sub-graph (:class:`gnnrec.graph.SampledAdjacency`).

* ``cd-lightgcn`` / ``cd-lightgcn-text``: the joint cross-domain graph, one
  user node per user (bridge users carry preferences across domains).
* ``lightgcn`` / ``lightgcn-text``: single-domain LightGCN per domain --
  one user node per (domain, user), no edge between domains (``tbar`` uses
  that domain's items only). All domains train together for speed, and the
  exported vectors are block-structured so the inner product stays exact:
  ``U[u] = [U_1[u], ..., U_D[u]]`` (dim ``D * dim``) and an item of domain d
  is ``[0, .., V_d[i], .., 0]``, hence ``U[u] . V[i] = U_d[u] . V_d[i]``.

Deviations from the paper, stated: the text layer 0 and the item map are
gnnrec's additions; the loss is the trainer's (BPR by default, as in the paper).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor, nn

from gnnrec.data.registry import data_dir
from gnnrec.errors import GnnrecError
from gnnrec.graph import (SampledAdjacency, domain_adjacency, item_type, joint_adjacency, propagate,
                          to_torch_csr)
from gnnrec.models.base import Embeddings, ModelConfig, ModelContext, Recommender, gather, init_embedding
from gnnrec.export.foldin import RULES, FoldinMap, foldin_matrix, item_degrees
from gnnrec.models.cross_map import CrossMapHead, pair_std
from gnnrec.models.domain_blocks import block_layout
from gnnrec.models.term_bag import TermBag
from gnnrec.text.features import item_texts
from gnnrec.text.lexical import lexical_features
from gnnrec.utils.config import Range

USER = "user"
LEXICAL_MIN_DF = 2     # a title term becomes a learned embedding when it occurs in >= 2 items


@dataclass
class LightGCNConfig(ModelConfig):
    """``model:`` keys of ``lightgcn``."""

    dim: Annotated[int, Range(ge=1)] = 64                  # embedding width of every layer
    layers: Annotated[int, Range(ge=0)] = 3                # propagation layers L
    norm_exp: Annotated[float, Range(ge=0, le=1)] = 0.5    # degree exponent g of D^-g A D^-g (0.5 = LightGCN)


@dataclass
class CDLightGCNConfig(LightGCNConfig):
    """``model:`` keys of ``cd-lightgcn``: the joint graph and its cross-domain item map."""

    cross_map: Annotated[float, Range(ge=0)] = 0.0               # map weight alpha (0 = off)
    cross_map_lambda: Annotated[float, Range(gt=0)] = 1000.0     # ridge lambda of the map
    cross_map_rank: Annotated[int, Range(ge=1)] = 256            # rank of each domain's map
    cross_map_warm: Annotated[float, Range(ge=0)] | None = None  # alpha of warm (user, domain) pairs (null: cross_map)
    cross_map_lambda_warm: Annotated[float, Range(gt=0)] | None = None   # their lambda (null: cross_map_lambda)


@dataclass
class LightGCNTextConfig(LightGCNConfig):
    """``model:`` keys of ``lightgcn-text``."""

    item_id: bool = True     # add an ID embedding to warm items' projected text
    lexical: bool = False    # add learned title-term embeddings (x_i T)


@dataclass
class CDLightGCNTextConfig(CDLightGCNConfig):
    """``model:`` keys of ``cd-lightgcn-text`` (the flagship)."""

    item_id: bool = True     # add an ID embedding to warm items' projected text
    lexical: bool = False    # add learned title-term embeddings (x_i T)


class _LightGCNBase(Recommender):
    """Shared machinery; subclasses set ``joint`` and ``uses_text``."""

    joint: ClassVar[bool] = True
    uses_text: ClassVar[bool] = False
    memory_family = "lightgcn"
    Config = LightGCNConfig

    def __init__(self, ctx: ModelContext) -> None:
        super().__init__(ctx)
        ds, cfg = ctx.ds, self.cfg
        self.n_domains = 1 if self.joint else len(ds.domains)
        self.dim, self.layers = cfg.dim, cfg.layers
        self.device = ctx.device
        self.graph = ctx.graph
        self.item_types = [item_type(d) for d in ds.domains]
        self.adj = self._adjacency(None)
        self.n_user_nodes = self.n_users * self.n_domains
        self.user_emb = init_embedding(self.n_user_nodes, cfg.dim)
        item_dom = ds.item_domain()
        self.register_buffer("item_domain", torch.from_numpy(item_dom.astype(np.int64)), persistent=False)
        self.item_emb = init_embedding(self.n_items, cfg.dim) if not self.uses_text or cfg.item_id else None
        self._train_adj: Tensor | None = None       # simulate_cold: the epoch's graph
        self._train_user_text: Tensor | None = None
        self.term_bag: TermBag | None = None
        self._deg: dict[str, Tensor] = {}           # prepare_sampled: full-graph node degrees
        if self.uses_text:
            self._init_text(ctx)
        self.cross_head: CrossMapHead | None = None
        if self.joint and cfg.cross_map > 0:
            self.cross_head = CrossMapHead(ds.train_matrix(), item_dom, cfg.cross_map,
                                           cfg.cross_map_lambda, cfg.cross_map_rank, self.device,
                                           warm_alpha=cfg.cross_map_warm,
                                           warm_lam=cfg.cross_map_lambda_warm,
                                           cache_dir=data_dir() / "cross_maps")

    def _adjacency(self, keep: np.ndarray | None) -> Tensor:
        """Normalised adjacency of the train rows (where ``keep``) with exponent ``norm_exp``;
        the full graph at the default exponent is the one cached by :class:`gnnrec.graph.Graph`."""
        g, exp = self.graph, self.cfg.norm_exp
        if keep is None and exp == 0.5:
            return g.joint_adj if self.joint else g.domain_adj
        users, items, doms = (g.users, g.items, g.domains) if keep is None else \
            (g.users[keep], g.items[keep], g.domains[keep])
        if self.joint:
            a = joint_adjacency(users, items, self.n_users, self.n_items, exp)
        else:
            a = domain_adjacency(users, items, doms, self.n_users, self.n_items, self.n_domains, exp)
        return to_torch_csr(a, self.device)

    # ---- text part ------------------------------------------------------------
    def _init_text(self, ctx: ModelContext) -> None:
        text = ctx.text_tensor()
        self.register_buffer("text", text, persistent=False)
        self.item_proj = nn.Linear(text.shape[1], self.dim, bias=False)
        deg = torch.from_numpy(ctx.graph.item_degree > 0).float()
        self.register_buffer("item_id_mask", deg[:, None], persistent=False)
        self.user_proj = nn.Linear(text.shape[1], self.dim, bias=False)
        self.register_buffer("user_text", self._user_text(None), persistent=False)
        if self.cfg.lexical:
            feats = ctx.extra.get("text_features")
            texts, _ = item_texts(ctx.ds, getattr(feats, "template", None))
            x, vocab = lexical_features(texts, min_df=LEXICAL_MIN_DF)
            if not vocab:
                raise GnnrecError(f"model.lexical: no term of the item texts of {ctx.ds.name!r} occurs "
                                  f"in {LEXICAL_MIN_DF} or more items; set model.lexical=false")
            self.term_bag = TermBag(x, self.dim)

    def _user_text(self, keep: np.ndarray | None) -> Tensor:
        """Mean text of each user node's train items (rows where ``keep``): (n_user_nodes, t)."""
        g = self.graph
        rows, items = g.users, g.items
        if not self.joint:
            rows = g.domains * self.n_users + rows
        if keep is not None:
            rows, items = rows[keep], items[keep]
        r = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, items)),
                          shape=(self.n_user_nodes, self.n_items))
        r.data[:] = 1.0
        deg = np.maximum(np.asarray(r.sum(axis=1)).ravel(), 1.0)
        mean = (r @ self.text.cpu().numpy()) / deg[:, None]
        return torch.from_numpy(np.asarray(mean, dtype=np.float32)).to(self.device)

    # ---- simulated cold start -----------------------------------------------------
    def simulate_cold(self, keep: np.ndarray | None) -> None:
        if not self.supports_cold_sim:
            super().simulate_cold(keep)
        if keep is None:
            self._train_adj = self._train_user_text = None
            return
        self._train_adj = self._adjacency(keep)
        if self.uses_text:
            self._train_user_text = self._user_text(keep)

    # ---- layer 0 --------------------------------------------------------------------
    def layer0_rows(self, users: Tensor | None = None, items: Tensor | None = None,
                    sparse: bool = False) -> tuple[Tensor, Tensor]:
        """Layer-0 rows of user nodes ``users`` and items ``items`` (None: all of them).

        Returns (len(users), dim), (len(items), dim); ``sparse``: ID-table rows with
        sparse gradients.
        """
        u = self.user_emb if users is None else gather(self.user_emb, users, sparse)
        if self.uses_text:
            simulated = self.training and self._train_user_text is not None
            text = self._train_user_text if simulated else self.user_text
            u = u + self.user_proj(text if users is None else text[users])
        if not self.uses_text:
            return u, self.item_emb if items is None else gather(self.item_emb, items, sparse)
        i = self.item_proj(self.text if items is None else self.text[items])
        if self.term_bag is not None:
            i = i + self.term_bag(items)
        if self.item_emb is not None:
            mask = self.item_id_mask if items is None else self.item_id_mask[items]
            i = i + (self.item_emb if items is None else gather(self.item_emb, items, sparse)) * mask
        return u, i

    def id_tables(self) -> list[nn.Parameter]:
        return [t for t in (self.user_emb, self.item_emb) if t is not None]

    # ---- propagation ------------------------------------------------------------------
    def propagate(self, x0: Tensor, adj: Tensor | SampledAdjacency) -> Tensor:
        """``sum_l A^l x0 / (L + 1)`` over the full graph (sparse CSR) or a sampled sub-graph."""
        return propagate(adj, x0, self.layers)

    def _propagated(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Final user-node and item rows of the graph (before any head) and their layer 0."""
        u0, i0 = self.layer0_rows()
        adj = self._train_adj if self.training and self._train_adj is not None else self.adj
        out = self.propagate(torch.cat([u0, i0], dim=0), adj)
        return out[: self.n_user_nodes], out[self.n_user_nodes:], u0, i0

    def forward(self) -> Embeddings:
        users, items, u0, i0 = self._propagated()
        if not self.joint:
            users, items = block_layout(users.view(self.n_domains, self.n_users, self.dim), items,
                                        self.item_domain)
        elif self.cross_head is not None and not self.training:
            users, items = self.cross_head(users, items)
        return Embeddings(users, items, u0, i0)

    def user_rows(self, users: Tensor, domains: Tensor) -> Tensor:
        return users if self.joint else domains * self.n_users + users

    @torch.no_grad()
    def foldin_map(self) -> FoldinMap | None:
        """The cross-domain map's user side as an exact function of a history (gnnrec.export.foldin);
        each rule's output is scaled so that train users' folded-in graph part has the norm of
        their trained one (median ratio), divided by the model's score standardisation."""
        if self.cross_head is None:
            return None
        was = self.training
        self.eval()
        try:
            users, items, _, _ = self._propagated()
        finally:
            self.train(was)
        head = self.cross_head
        s_model = float(pair_std(users, items, head.pair_users, head.pair_items))
        r = self.graph.ds.train_matrix()
        deg = item_degrees(r, r.shape[1])
        has = np.asarray(r.sum(axis=1)).ravel() > 0
        u, v = users.float().cpu().numpy(), items.float().cpu().numpy()
        scales = {}
        for rule in RULES:
            folded = foldin_matrix(r[has], v, rule, deg)
            ratio = np.linalg.norm(u[has], axis=1) / np.maximum(np.linalg.norm(folded, axis=1), 1e-12)
            scales[rule] = float(np.median(ratio)) / s_model
        return FoldinMap(matrix=head.item_rows, k_model=self.dim, scales=scales,
                         blocks=head.foldin_blocks(list(self.graph.ds.domains)))

    # ---- sampled sub-graphs ---------------------------------------------------------------
    def prepare_sampled(self) -> None:
        if self.cfg.norm_exp != 0.5:
            raise GnnrecError(f"model.norm_exp={self.cfg.norm_exp} has no mini-batch path (sampled "
                              f"subgraphs use LightGCN's D^-1/2 A D^-1/2); use train.mode=full or "
                              f"model.norm_exp=0.5")
        g = self.graph
        self._deg = {"user": torch.as_tensor(g.user_degree, dtype=torch.float32, device=self.device),
                     "item": torch.as_tensor(g.item_degree, dtype=torch.float32, device=self.device)}

    def forward_sampled(self, batch, sparse: bool = False) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        types = [USER] + self.item_types
        n_id = {t: batch[t].n_id for t in types}
        items = torch.cat([n_id[t] for t in self.item_types])
        u0, i0 = self.layer0_rows(n_id[USER], items, sparse)
        x0 = torch.cat([u0, i0])
        degree = torch.cat([self._deg["user"][n_id[USER]], self._deg["item"][items]])
        out = self.propagate(x0, SampledAdjacency.from_batch(batch, types, degree, self.layers))
        bounds = np.cumsum([0] + [len(n_id[t]) for t in types])
        final = {t: out[bounds[k]:bounds[k + 1]] for k, t in enumerate(types)}
        layer0 = {t: x0[bounds[k]:bounds[k + 1]] for k, t in enumerate(types)}
        return final, layer0


class CDLightGCN(_LightGCNBase):
    name = "cd-lightgcn"
    Config = CDLightGCNConfig
    joint = True
    supports_cold_sim = True
    supports_minibatch = True
    ours = True


class LightGCN(_LightGCNBase):
    name = "lightgcn"
    joint = False


class CDLightGCNText(_LightGCNBase):
    name = "cd-lightgcn-text"
    Config = CDLightGCNTextConfig
    joint = True
    supports_cold_sim = True
    supports_minibatch = True
    uses_text = True
    needs_text = True
    ours = True


class LightGCNText(_LightGCNBase):
    name = "lightgcn-text"
    Config = LightGCNTextConfig
    joint = False
    uses_text = True
    needs_text = True
    ours = True
