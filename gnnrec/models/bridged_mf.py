"""Per-domain matrix factorisation whose cold users are bridged from their other domains.

The skeleton that EMCDR (:mod:`gnnrec.models.emcdr`) and PTUPCDR
(:mod:`gnnrec.models.ptupcdr`) share: user factors ``U^d`` with one row per
user *per domain* (row ``d * n_users + u`` of ``user0``, (D * n_users, dim))
and item factors ``V`` (``item0``, (n_items, dim)). Two training stages:

1. ``mf`` -- the factors, with the trainer's ranking loss, selected on the
   warm groups only (cold users have no bridge yet);
2. :attr:`BridgedMF.bridge_stage` -- only :meth:`BridgedMF.bridge_module`
   trains; the factors are frozen.

A user is *cold* in domain ``t`` when they have no train item in ``t`` but
some in another domain; the subclass's :meth:`BridgedMF.domain_users` gives
such users a vector derived from their other domains. Scoring:
``score(u, i) = U^{d(i)}_u . V_i`` through the block layout of
:mod:`gnnrec.models.domain_blocks`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Iterable

import torch
from torch import nn

from gnnrec.errors import GnnrecError
from gnnrec.models.base import Embeddings, ModelContext, Recommender, init_embedding
from gnnrec.models.domain_blocks import block_layout, train_degree


class BridgedMF(Recommender):
    """Base of the two-stage "factors, then a bridge" models (module docstring)."""

    bridge_stage: ClassVar[str]          # name of stage 2

    def init_factors(self, ctx: ModelContext, dim: int, what: str) -> torch.Tensor:
        """Create ``user0``, ``item0`` (in this order: the same random draws as before), the ordered
        domain ``pairs`` and the buffers ``active`` / ``cold`` (D, n_users) and ``item_domain``;
        returns the train degrees (D, n_users). ``what`` completes the error for one-domain data."""
        self.n_dom = len(ctx.ds.domains)
        if self.n_dom < 2:
            raise GnnrecError(f"{self.name} {what}, but dataset {ctx.ds.name!r} has only {ctx.ds.domains}")
        self.user0 = init_embedding(self.n_dom * self.n_users, dim)      # row d * n_users + u: U^d
        self.item0 = init_embedding(self.n_items, dim)                   # V
        self.pairs = [(s, t) for s in range(self.n_dom) for t in range(self.n_dom) if s != t]
        deg = train_degree(ctx.ds)                                          # (D, n_users)
        active = deg > 0
        others = active.sum(0, keepdim=True) - active.int()
        self.register_buffer("active", active, persistent=False)
        self.register_buffer("cold", (~active) & (others > 0), persistent=False)
        self.register_buffer("item_domain", torch.as_tensor(ctx.ds.item_domain(), dtype=torch.int64),
                             persistent=False)
        return deg

    def bridge_module(self) -> nn.Module:
        """The parameters of stage 2 (one sub-module per ordered domain pair)."""
        raise NotImplementedError

    def domain_users(self) -> torch.Tensor:
        """(D, n_users, dim) user vectors: own factors, bridged ones for users cold in a domain."""
        raise NotImplementedError

    # ---- embeddings -----------------------------------------------------------
    def factors(self) -> torch.Tensor:
        """Stage-1 user factors per domain, (D, n_users, dim)."""
        return self.user0.view(self.n_dom, self.n_users, -1)

    def forward(self) -> Embeddings:
        users, items = block_layout(self.domain_users(), self.item0, self.item_domain)
        return Embeddings(users, items, self.user0, self.item0)

    def user_rows(self, users: torch.Tensor, domains: torch.Tensor) -> torch.Tensor:
        """Factor row of (user, domain): ``domain * n_users + user``."""
        return domains * self.n_users + users

    # ---- stages -------------------------------------------------------------------
    def stages(self) -> list[str]:
        return ["mf", self.bridge_stage]

    def set_stage(self, stage: str) -> None:
        for p in (self.user0, self.item0):
            p.requires_grad_(stage == "mf")
        for p in self.bridge_module().parameters():
            p.requires_grad_(stage == self.bridge_stage)

    def stage_parameters(self, stage: str) -> Iterable[nn.Parameter]:
        return [self.user0, self.item0] if stage == "mf" else list(self.bridge_module().parameters())

    def stage_selection(self, stage: str) -> dict[str, Any] | None:
        """Stage ``mf`` is selected on warm users only (cold users have no bridge yet)."""
        return {"select_scenarios": ["warm"]} if stage == "mf" else None
