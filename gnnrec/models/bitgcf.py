"""BiTGCF: Bi-directional Transfer Graph Collaborative Filtering (Liu et al., CIKM 2020).

Implemented from the paper's description ("Cross Domain Recommendation via
Bi-directional Transfer Graph Collaborative Filtering Networks"):

* **Embedding layer** -- every domain ``d`` has its own ID embeddings: users
  ``E_u^d`` (one row per user *per domain*) and items ``E_i`` (an item belongs
  to one domain), all ``dim`` wide.
* **Feature propagation** -- on each domain's own user-item graph (normalised
  ``A_d = D^-1/2 A D^-1/2``, :attr:`gnnrec.graph.Graph.domain_adj`, where
  domains share no node), NGCF without weight matrices or non-linearity::

      s = A_d e^(l)              e^(l+1) = e^(l) + s + e^(l) * s   (elementwise *)

  i.e. ``e_u^(l+1) = e_u^(l) + sum_i (e_i^(l) + e_i^(l) * e_u^(l)) / sqrt(|N_u||N_i|)``.
* **Feature transfer** -- after each propagation layer, the user rows of the
  domains are mixed (the bi-directional transfer through shared users)::

      lam_d(u) = lam * e_u^d + (1 - lam) * mean_{d' != d} e_u^{d'}      (hyperparameter)
      deg(u)   = sum_d n_u^d e_u^d / sum_d n_u^d                         (degree weighted)
      e_u^d   <- (lam_d(u) + deg(u)) / 2

  where ``n_u^d`` is the user's number of train items in domain ``d``
  (uniform weights for a user with none). The degree-weighted part is the
  common feature shared by all domains; the lambda part keeps the
  domain-specific one -- the paper's fusion of common and domain-specific
  features. For two domains this is exactly the paper's two-domain transfer.
* **Layer combination** -- the layer outputs ``e^(1..L)`` are L2-normalised
  and concatenated with ``e^(0)`` (``combine: concat``, as in the paper; or
  their mean, ``combine: mean``).

Scoring: ``score(u, i) = e_u^{d(i)} . e_i`` through the block layout of
:mod:`gnnrec.models.domain_blocks` (so one user vector serves every domain).

Deviations from the paper, stated: (1) the loss is the trainer's ranking
loss (BPR or sampled softmax with same-domain negatives) rather than the
paper's choice; (2) the transfer applies to *every* user -- in gnnrec a user
is one account across domains, so a user with no train item in domain ``d``
(a cross-domain cold-start user) gets their domain-``d`` representation
entirely through the transfer (their degree weight in ``d`` is zero), which
is how BiTGCF serves cold users at all; (3) items never transfer (gnnrec's
domains share no item); (4) more than two domains are handled by averaging
the other domains in the lambda part.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal

import torch
from torch.nn import functional as F

from gnnrec.graph import sym_spmm
from gnnrec.models.base import Embeddings, ModelConfig, ModelContext, Recommender, init_embedding
from gnnrec.models.domain_blocks import block_layout, train_degree
from gnnrec.utils.config import Range


def propagation_layer(adj: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """One BiTGCF feature-propagation layer: ``x + A x + x * (A x)``.

    adj: (N, N) symmetric-normalised sparse CSR; x: (N, k). Returns (N, k).
    """
    side = sym_spmm(adj, x)
    return x + side + x * side


def feature_transfer(users: torch.Tensor, degree: torch.Tensor, lam: float) -> torch.Tensor:
    """BiTGCF's transfer of user features between domains (see module docstring).

    users: (D, n_users, k) user rows per domain; degree: (D, n_users) train
    items per user and domain; lam: weight of the user's own domain in the
    domain-specific part. Returns (D, n_users, k).
    """
    n_dom = users.shape[0]
    if n_dom < 2:
        return users
    others = (users.sum(0, keepdim=True) - users) / (n_dom - 1)             # mean of other domains
    specific = lam * users + (1.0 - lam) * others
    total = degree.sum(0, keepdim=True)
    weight = torch.where(total > 0, degree / total.clamp_min(1.0),
                         torch.full_like(degree, 1.0 / n_dom))                # (D, n_users)
    common = (weight[:, :, None] * users).sum(0, keepdim=True)               # (1, n_users, k)
    return 0.5 * (specific + common)


@dataclass
class BiTGCFConfig(ModelConfig):
    """``model:`` keys of ``bitgcf``."""

    dim: Annotated[int, Range(ge=1)] = 64          # ID embedding width k ((layers + 1) * k per domain with concat)
    layers: Annotated[int, Range(ge=0)] = 3        # feature propagation + transfer layers
    transfer_lambda: Annotated[float, Range(ge=0, le=1)] = 0.8   # weight of the user's own domain in the specific part
    combine: Literal["concat", "mean"] = "concat"  # concatenation (the paper) or mean of the layer outputs


class BiTGCF(Recommender):
    """BiTGCF baseline (module docstring); config keys in :class:`BiTGCFConfig`."""

    name: ClassVar[str] = "bitgcf"
    user_tables: ClassVar[tuple[str, ...]] = ("user0",)
    item_tables: ClassVar[tuple[str, ...]] = ("item0",)
    Config = BiTGCFConfig
    memory_family = "lightgcn"

    def __init__(self, ctx: ModelContext) -> None:
        super().__init__(ctx)
        self.n_dom = len(ctx.ds.domains)
        self.user0 = init_embedding(self.n_dom * self.n_users, self.cfg.dim)    # row d * n_users + u
        self.item0 = init_embedding(self.n_items, self.cfg.dim)
        self.adj = ctx.graph.domain_adj
        self.register_buffer("degree", train_degree(ctx.ds), persistent=False)
        self.register_buffer("item_domain", torch.as_tensor(ctx.ds.item_domain(), dtype=torch.int64),
                             persistent=False)

    def domain_embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-domain final users (D, n_users, k_out) and items (n_items, k_out)."""
        nu = self.n_dom * self.n_users
        x = torch.cat([self.user0, self.item0], 0)
        outs = [x]
        for _ in range(self.cfg.layers):
            x = propagation_layer(self.adj, x)
            users = feature_transfer(x[:nu].view(self.n_dom, self.n_users, -1), self.degree,
                                     self.cfg.transfer_lambda)
            x = torch.cat([users.reshape(nu, -1), x[nu:]], 0)
            outs.append(F.normalize(x, dim=1))
        out = torch.cat(outs, 1) if self.cfg.combine == "concat" else torch.stack(outs).mean(0)
        return out[:nu].view(self.n_dom, self.n_users, -1), out[nu:]

    def forward(self) -> Embeddings:
        users, items = block_layout(*self.domain_embeddings(), self.item_domain)
        return Embeddings(users, items, self.user0, self.item0)

    def user_rows(self, users: torch.Tensor, domains: torch.Tensor) -> torch.Tensor:
        """ID row of (user, domain): ``domain * n_users + user``."""
        return domains * self.n_users + users
