"""EMCDR: Embedding and Mapping for Cross-Domain Recommendation (Man et al., IJCAI 2017).

Implemented from the paper's description ("Cross-Domain Recommendation: An
Embedding and Mapping Approach"), as two training stages:

1. **Latent factor modelling** (stage ``mf``) -- an independent matrix
   factorisation per domain: user factors ``U^d`` (one row per user *per
   domain*) and item factors ``V``, trained with the trainer's ranking loss
   (BPR with same-domain negatives: the paper's BPR variant). Domains share
   no parameter, so training them in one model is the same as training them
   one by one.
2. **Latent space mapping** (stage ``mapping``) -- for every ordered pair of
   domains ``s -> t`` a mapping ``f_{s->t}`` is fitted on the bridge users
   with enough data in both domains (``>= min_bridge`` train items in each:
   the paper's "only entities with sufficient data"), with the factors of
   stage 1 frozen::

       min_theta  sum_{u in bridge} || f_{s->t}(U^s_u) - U^t_u ||^2  +  MAP_REG * ||theta||^2

   ``f`` is the paper's MLP (one tanh hidden layer, ``hidden_mult * dim``
   units; ``mapping: mlp``) or its linear variant (``mapping: linear``).
3. **Cross-domain recommendation** -- a user *cold* in domain ``t`` (no train
   item in ``t``, some in another domain) gets ``U^t_u = f_{s->t}(U^s_u)``
   (the mean over the source domains ``s`` where the user has train items);
   every other user keeps their own factors. Items keep their factors.

Scoring: ``score(u, i) = U^{d(i)}_u . V_i`` through the block layout of
:mod:`gnnrec.models.domain_blocks`. Each stage is early-stopped on the
validation metric by the trainer: stage ``mf`` on the warm groups only (the
cold users' vectors are not defined before the mapping exists), stage
``mapping`` on the configured groups (warm scores no longer change there, so
it is selected on the cold users' validation ranking; never on test).

Deviations, stated: more than two domains average the mapped vectors of a
user's source domains; the mapping is fitted with the trainer's optimiser in
mini-batches of bridge users (``map_batch``) rather than the paper's exact
optimiser settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Iterator, Literal

import torch
from torch import nn

from gnnrec.errors import GnnrecError
from gnnrec.models.base import ModelConfig, ModelContext
from gnnrec.models.bridged_mf import BridgedMF
from gnnrec.utils.config import Range

MAP_REG = 1e-4      # L2 on the mapping weights


@dataclass
class EMCDRConfig(ModelConfig):
    """``model:`` keys of ``emcdr``."""

    dim: Annotated[int, Range(ge=1)] = 64            # latent factor width per domain
    mapping: Literal["mlp", "linear"] = "mlp"        # the paper's MLP (tanh hidden layer) or linear map
    hidden_mult: Annotated[int, Range(ge=1)] = 2     # MLP hidden units = hidden_mult * dim
    min_bridge: Annotated[int, Range(ge=1)] = 5      # bridge users need >= this many train items in both domains
    map_batch: Annotated[int, Range(ge=1)] = 256     # bridge users per mapping step


def mapping_net(dim: int, kind: str, hidden_mult: int) -> nn.Module:
    """EMCDR's mapping function: (B, dim) -> (B, dim); ``mlp`` (tanh hidden layer) or ``linear``."""
    if kind == "linear":
        return nn.Linear(dim, dim)
    return nn.Sequential(nn.Linear(dim, hidden_mult * dim), nn.Tanh(), nn.Linear(hidden_mult * dim, dim))


class EMCDR(BridgedMF):
    """EMCDR baseline (module docstring); config keys in :attr:`defaults`."""

    name: ClassVar[str] = "emcdr"
    user_tables: ClassVar[tuple[str, ...]] = ("user0",)
    item_tables: ClassVar[tuple[str, ...]] = ("item0",)
    Config = EMCDRConfig
    bridge_stage = "mapping"

    def __init__(self, ctx: ModelContext) -> None:
        super().__init__(ctx)
        dim = self.cfg.dim
        deg = self.init_factors(ctx, dim, "maps between domains")
        self.maps = nn.ModuleDict({f"{s}>{t}": mapping_net(dim, self.cfg.mapping, self.cfg.hidden_mult)
                                   for s, t in self.pairs})
        ok = deg >= self.cfg.min_bridge
        for s, t in self.pairs:
            self.register_buffer(f"bridge_{s}_{t}", torch.nonzero(ok[s] & ok[t]).ravel(), persistent=False)
        if all(len(b) == 0 for b in self.bridges.values()):
            raise GnnrecError(f"emcdr: no bridge user has >= {self.cfg.min_bridge} train items in "
                              f"two domains of {ctx.ds.name!r}; lower model.min_bridge")

    @property
    def bridges(self) -> dict[tuple[int, int], torch.Tensor]:
        """Bridge users of every ordered domain pair (s, t): (n_bridge,) int64 user indices."""
        return {(s, t): getattr(self, f"bridge_{s}_{t}") for s, t in self.pairs}

    # ---- embeddings -----------------------------------------------------------
    def bridge_module(self) -> nn.Module:
        return self.maps

    def domain_users(self) -> torch.Tensor:
        """(D, n_users, dim) user vectors: own factors, mapped ones for users cold in a domain."""
        u = self.factors()
        out = []
        for t in range(self.n_dom):
            acc = torch.zeros_like(u[t])
            n = torch.zeros(self.n_users, 1, device=u.device)
            for s in range(self.n_dom):
                if s != t:
                    w = self.active[s].float()[:, None]
                    acc = acc + w * self.maps[f"{s}>{t}"](u[s])
                    n = n + w
            mapped = acc / n.clamp_min(1.0)
            out.append(torch.where(self.cold[t][:, None], mapped, u[t]))
        return torch.stack(out)

    def stage_batches(self, stage: str, epoch: int, generator: torch.Generator
                      ) -> Iterator[dict[tuple[int, int], torch.Tensor]] | None:
        """Mapping stage: per step, a dict pair -> (<= map_batch,) bridge user indices."""
        if stage != "mapping":
            return None
        bs = self.cfg.map_batch
        perms = {p: b[torch.randperm(len(b), generator=generator).to(b.device)]
                 for p, b in self.bridges.items() if len(b)}
        steps = max((len(b) + bs - 1) // bs for b in perms.values())
        return iter([{p: b[i * bs:(i + 1) * bs] for p, b in perms.items() if i * bs < len(b)}
                     for i in range(steps)])

    def batch_loss(self, stage: str, batch: Any) -> torch.Tensor | None:
        """Mapping stage: mean over bridge users of ``||f(U^s_u) - U^t_u||^2`` plus ``MAP_REG ||theta||^2``."""
        if stage != "mapping":
            return None
        u = self.factors().detach()
        loss = u.new_zeros(())
        for (s, t), users in batch.items():
            users = users.to(u.device)
            pred = self.maps[f"{s}>{t}"](u[s, users])
            loss = loss + ((pred - u[t, users]) ** 2).sum(1).mean()
        reg = sum((p ** 2).sum() for n, p in self.maps.named_parameters() if n.endswith("weight"))
        return loss + MAP_REG * reg
