"""LightGCN family: ID- or text-initialised layer-0, propagation by :func:`gnnrec.graph.propagate`.

Layer 0 (users then items, (N, dim))::

    ID models:    E0_user[u] = P_u[u],                    E0_item[i] = Q[i]
    text models:  E0_item[i] = W_{d(i)} t_i + m_i Q[i]    (m_i = 0 for items without train
                                                            positives: cold items are text only)
                                + [lexical] x_i T
                  E0_user[u] = P_u[u] + [user_text] W_u tbar_u
                  (t_i: frozen L2-normalised text embedding; tbar_u: mean text of the
                   user's train items; W_d: one projection, or one per domain with
                   ``domain_heads``; W: linear or 2-layer MLP, ``text_proj``;
                   x_i: the item's TF-IDF row over the terms of the item texts
                   (:mod:`gnnrec.text.lexical`, terms in >= ``lexical_min_df`` items),
                   T: one learned (V, dim) embedding per term -- items of two domains
                   that share a brand or product word share those rows)

Final embeddings ``E = sum_l w_l A_hat^l E0`` (``layers``; mean by default).

Cross-domain item map (joint models, ``cross_map: alpha > 0``): at scoring
time the closed-form ridge map of :mod:`gnnrec.models.cross_map` (other
domains' items -> this domain's, fitted on bridge users, ``cross_map_lambda``,
rank ``cross_map_rank`` per domain) is appended, weighted ``alpha`` against the
standardised model score; it never enters the loss. Warm (user, domain) pairs
may use their own ridge strength and weight (``cross_map_lambda_warm``,
``cross_map_warm``; null = the cold pairs' values, one map).

The joint models support simulated cold start (``train.cold_sim``): in training
mode ``A_hat`` and ``tbar_u`` come from the epoch's kept train rows only.

Domain popularity head (joint models, ``pop_bias: true``):
:class:`gnnrec.models.pop_head.DomainPopularityHead`; the activity ``a(u, d)``
follows the simulated cold start of ``train.cold_sim``, so cold users' own
popularity weight is learned from the simulated cold users.

* ``cd-lightgcn`` / ``cd-lightgcn-text``: the joint cross-domain graph, one
  user node per user (bridge users carry preferences across domains).
* ``lightgcn`` / ``lightgcn-text``: single-domain LightGCN per domain --
  one user node per (domain, user), no edge between domains (``tbar`` uses
  that domain's items only). All domains train together for speed, and the
  exported vectors are block-structured so the inner product stays exact:
  ``U[u] = [U_1[u], ..., U_D[u]]`` (dim ``D * dim``) and an item of domain d
  is ``[0, .., V_d[i], .., 0]``, hence ``U[u] . V[i] = U_d[u] . V_d[i]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from gnnrec.data.registry import data_dir
from gnnrec.graph import domain_adjacency, joint_adjacency, propagate, to_torch_csr
from gnnrec.models.base import Batch, ModelContext, Recommender, init_embedding
from gnnrec.models.cross_map import CrossMapHead
from gnnrec.models.domain_blocks import block_layout
from gnnrec.models.pop_head import DomainPopularityHead, active_domains
from gnnrec.models.term_bag import TermBag
from gnnrec.text.features import item_texts
from gnnrec.text.lexical import lexical_features

_BASE: dict[str, Any] = {"dim": 64, "layers": 3, "init_std": 0.1, "layer_weights": None,
                         "user_id": True, "norm_exp": 0.5}
_JOINT: dict[str, Any] = {"pop_bias": False, "cross_map": 0.0, "cross_map_lambda": 1000.0,
                          "cross_map_rank": 256, "cross_map_warm": None, "cross_map_lambda_warm": None}
_TEXT: dict[str, Any] = {"text_proj": "linear", "user_text": True, "domain_heads": False,
                         "item_id": True, "lexical": False, "lexical_min_df": 2}


def _optional_float(cfg: dict[str, Any], key: str) -> float | None:
    """``cfg[key]`` as a float, None when unset (null); a clear error for anything else."""
    value = cfg.get(key)
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"model.{key} must be a number or null, got {value!r}") from None


def _projection(kind: str, t: int, dim: int) -> nn.Module:
    if kind == "linear":
        return nn.Linear(t, dim, bias=False)
    if kind == "mlp":
        return nn.Sequential(nn.Linear(t, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
    raise ValueError(f"model.text_proj must be 'linear' or 'mlp', got {kind!r}")


class _LightGCNBase(Recommender):
    """Shared machinery; subclasses set ``joint`` and ``uses_text``."""

    joint: bool = True
    uses_text: bool = False
    defaults = dict(_BASE)

    def __init__(self, ctx: ModelContext) -> None:
        super().__init__(ctx)
        ds, cfg = ctx.ds, self.cfg
        dim, std = int(cfg["dim"]), float(cfg["init_std"])
        self.n_domains = len(ds.domains) if not self.joint else 1
        self.dim = dim
        self.layers = int(cfg["layers"])
        self.layer_weights = cfg["layer_weights"]
        self.norm_exp = float(cfg["norm_exp"])
        if not 0.0 <= self.norm_exp <= 1.0:
            raise ValueError(f"model.norm_exp must be in [0, 1] (0.5 = LightGCN), got {self.norm_exp}")
        self.device = ctx.device
        self._ctx = ctx
        self.adj = self._adjacency(None)
        self.n_user_nodes = self.n_users * self.n_domains
        self.user_emb = init_embedding(self.n_user_nodes, dim, std) if cfg["user_id"] else None
        item_dom = ds.item_domain()
        self.register_buffer("item_domain", torch.from_numpy(item_dom.astype(np.int64)), persistent=False)
        use_item_id = not self.uses_text or bool(cfg["item_id"])
        self.item_emb = init_embedding(self.n_items, dim, std) if use_item_id else None
        self._e0: torch.Tensor | None = None
        self._train_adj: torch.Tensor | None = None       # simulate_cold: epoch graph
        self._train_user_text: torch.Tensor | None = None
        self._train_active: torch.Tensor | None = None
        self.term_bag: TermBag | None = None
        if self.uses_text:
            self._init_text(ctx, item_dom)
        self.pop_bias = bool(cfg.get("pop_bias", False))
        if self.pop_bias:
            self._init_pop_bias(ctx, item_dom)
        self.cross_head: CrossMapHead | None = None
        alpha = float(cfg.get("cross_map", 0.0))
        if alpha < 0:
            raise ValueError(f"model.cross_map must be >= 0 (0 = off), got {alpha}")
        if alpha > 0:
            self.cross_head = CrossMapHead(ds.train_matrix(), item_dom, alpha,
                                           float(cfg["cross_map_lambda"]), int(cfg["cross_map_rank"]),
                                           self.device, warm_alpha=_optional_float(cfg, "cross_map_warm"),
                                           warm_lam=_optional_float(cfg, "cross_map_lambda_warm"),
                                           cache_dir=data_dir() / "cross_maps")

    def _adjacency(self, keep: np.ndarray | None) -> torch.Tensor:
        """Normalised adjacency of the train rows (where ``keep``) with exponent ``norm_exp``;
        the full graph at the default exponent is the one cached by :class:`gnnrec.graph.Graph`."""
        g = self._ctx.graph
        if keep is None and self.norm_exp == 0.5:
            return g.joint_adj if self.joint else g.domain_adj
        users, items, doms = (g.users, g.items, g.domains) if keep is None else \
            (g.users[keep], g.items[keep], g.domains[keep])
        if self.joint:
            a = joint_adjacency(users, items, self.n_users, self.n_items, self.norm_exp)
        else:
            a = domain_adjacency(users, items, doms, self.n_users, self.n_items, self.n_domains,
                                 self.norm_exp)
        return to_torch_csr(a, self.device)

    # ---- domain popularity head ---------------------------------------------------
    def _init_pop_bias(self, ctx: ModelContext, item_dom: np.ndarray) -> None:
        self.pop_head = DomainPopularityHead(ctx.graph.item_degree, item_dom, self._active(None))

    def _active(self, keep: np.ndarray | None) -> torch.Tensor:
        """(n_users, D) bool: the user has train rows (kept rows) in domain d."""
        g = self._ctx.graph
        users, doms = (g.users, g.domains) if keep is None else (g.users[keep], g.domains[keep])
        return active_domains(users, doms, self.n_users, len(self._ctx.ds.domains), self.device)

    def _with_pop(self, users: torch.Tensor, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        simulated = self.training and self._train_active is not None
        return self.pop_head(users, items, self._train_active if simulated else None)

    # ---- text part ------------------------------------------------------------
    def _init_text(self, ctx: ModelContext, item_dom: np.ndarray) -> None:
        cfg = self.cfg
        text = ctx.text_tensor()
        self.register_buffer("text", text, persistent=False)
        n_heads = len(ctx.ds.domains) if cfg["domain_heads"] else 1
        self.item_proj = nn.ModuleList(_projection(cfg["text_proj"], text.shape[1], self.dim)
                                       for _ in range(n_heads))
        deg = torch.from_numpy(ctx.graph.item_degree > 0).float()
        self.register_buffer("item_id_mask", deg[:, None], persistent=False)
        if cfg["user_text"]:
            self.user_proj = _projection(cfg["text_proj"], text.shape[1], self.dim)
            self.register_buffer("user_text", self._user_text(ctx), persistent=False)
        if cfg["lexical"]:
            self._init_lexical(ctx)

    def _init_lexical(self, ctx: ModelContext) -> None:
        """Term embeddings ``T`` (V, dim) pooled over the TF-IDF matrix ``X`` of the item texts."""
        feats = ctx.extra.get("text_features")
        texts, _ = item_texts(ctx.ds, getattr(feats, "template", None))
        x, vocab = lexical_features(texts, min_df=int(self.cfg["lexical_min_df"]))
        if not vocab:
            raise ValueError(f"model.lexical: no term of the item texts of {ctx.ds.name!r} occurs in "
                             f"{self.cfg['lexical_min_df']} or more items; lower model.lexical_min_df")
        self.term_bag = TermBag(x, self.dim, float(self.cfg["init_std"]))

    def _user_text(self, ctx: ModelContext, keep: np.ndarray | None = None) -> torch.Tensor:
        """Mean text of each user node's train items (rows where ``keep``): (n_user_nodes, t)."""
        tr = ctx.ds.train
        rows, items = tr["user"].to_numpy(), tr["item"].to_numpy()
        if not self.joint:
            rows = tr["domain"].to_numpy() * self.n_users + rows
        if keep is not None:
            rows, items = rows[keep], items[keep]
        r = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, items)),
                          shape=(self.n_user_nodes, self.n_items))
        r.data[:] = 1.0
        deg = np.maximum(np.asarray(r.sum(axis=1)).ravel(), 1.0)
        mean = (r @ ctx.text.astype(np.float32)) / deg[:, None]
        return torch.from_numpy(np.asarray(mean, dtype=np.float32)).to(ctx.device)

    # ---- simulated cold start -----------------------------------------------------
    def simulate_cold(self, keep: np.ndarray | None) -> None:
        if not self.joint:
            raise NotImplementedError(f"model {self.name!r} has no cross-domain edges: "
                                      f"train.cold_sim needs a joint model (cd-lightgcn*)")
        if keep is None:
            self._train_adj = self._train_user_text = self._train_active = None
            return
        if self.pop_bias:
            self._train_active = self._active(keep)
        self._train_adj = self._adjacency(keep)
        if self.uses_text and self.cfg["user_text"]:
            self._train_user_text = self._user_text(self._ctx, keep)

    def _item_layer0(self) -> torch.Tensor:
        if not self.uses_text:
            return self.item_emb
        if len(self.item_proj) == 1:
            e = self.item_proj[0](self.text)
        else:
            e = torch.zeros(self.n_items, self.dim, device=self.text.device, dtype=self.text.dtype)
            for d, proj in enumerate(self.item_proj):
                m = self.item_domain == d
                e = e.index_put((m.nonzero(as_tuple=True)[0],), proj(self.text[m]))
        if self.term_bag is not None:
            e = e + self.term_bag()
        if self.item_emb is not None:
            e = e + self.item_emb * self.item_id_mask
        return e

    def _user_layer0(self) -> torch.Tensor:
        e = (self.user_emb if self.user_emb is not None
             else torch.zeros(self.n_user_nodes, self.dim, device=self.device))
        if self.uses_text and self.cfg["user_text"]:
            simulated = self.training and self._train_user_text is not None
            e = e + self.user_proj(self._train_user_text if simulated else self.user_text)
        return e

    # ---- interface --------------------------------------------------------------
    def layer0_all(self) -> torch.Tensor:
        """(n_user_nodes + n_items, dim) layer-0 node embeddings."""
        return torch.cat([self._user_layer0(), self._item_layer0()], dim=0)

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        e0 = self.layer0_all()
        self._e0 = e0
        adj = self._train_adj if self.training and self._train_adj is not None else self.adj
        out = propagate(adj, e0, self.layers, self.layer_weights)
        users, items = out[: self.n_user_nodes], out[self.n_user_nodes:]
        if self.joint:
            if self.pop_bias:
                users, items = self._with_pop(users, items)
            if self.cross_head is not None and not self.training:
                users, items = self.cross_head(users, items)
            return users, items
        return block_layout(users.view(self.n_domains, self.n_users, self.dim), items,
                            self.item_domain)

    def layer0(self, batch: Batch) -> list[torch.Tensor]:
        e0 = self._e0 if self._e0 is not None else self.layer0_all()
        urows = batch.users if self.joint else batch.domain * self.n_users + batch.users
        off = self.n_user_nodes
        return [e0[urows], e0[off + batch.pos], e0[off + batch.neg]]


class CDLightGCN(_LightGCNBase):
    name = "cd-lightgcn"
    joint = True
    supports_cold_sim = True
    defaults = {**_BASE, **_JOINT}


class LightGCN(_LightGCNBase):
    name = "lightgcn"
    joint = False


class CDLightGCNText(_LightGCNBase):
    name = "cd-lightgcn-text"
    joint = True
    supports_cold_sim = True
    uses_text = True
    needs_text = True
    defaults = {**_BASE, **_JOINT, **_TEXT}


class LightGCNText(_LightGCNBase):
    name = "lightgcn-text"
    joint = False
    uses_text = True
    needs_text = True
    defaults = {**_BASE, **_TEXT}
