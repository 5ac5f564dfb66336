"""CDRIB: cross-domain recommendation to cold-start users via variational information bottleneck
(Cao et al., ICDE 2022).

"Cross-Domain Recommendation to Cold-Start Users via Variational
Information Bottleneck". Two domains ``s`` (gnnrec domain 0) and ``t``
(domain 1), one variational graph encoder per domain; a user cold in one
domain is scored there with the representation the *other* domain's encoder
gives them. Re-implemented from the paper and checked against the authors'
code (cjx96/CDRIB @ bd98945: same loss and scores to 1e-6 with its weights,
``tests/models/test_official_equivalence.py``). Building blocks:
:mod:`gnnrec.models.vbge`.

**Encoders** (d = ``dim``, L = ``layers``): ``VBGE_x`` on domain x's graph
``G_x`` from ID tables ``E^x_u`` (n_users, d) and ``E^x_i`` (n_items_x, d); the
representation concatenates every layer's output (hidden layers, then the
Gaussian head's sample ``z = mu + eps * sigma``; ``z = mu`` in evaluation)::

    U_x = [u_1 | ... | u_{L-1} | z_u]   (n_users, L d)       V_x = [v_1 | ... | z_v]   (n_items_x, L d)

**Cross-domain and in-domain reconstruction.** A train row ``(u, i, x)`` is
reconstructed by ``score = <U_y[u], V_x[i]>`` with ``y = x`` (in-domain) and,
for *bridge* users (train items in both domains), also with ``y != x``
(cross-domain: the other domain's encoder predicts this domain's items)::

    L = sum_x mean_rows [ sum_{y in Y(u, x)} BCE(<U_y[u], V_x[i+]>, 1) + BCE(<U_y[u], V_x[i-]>, 0) ]
      + sum_x ( beta KL(q(z^x_u) || p) + KL(q(z^x_i) || p) )               (p = N(0, prior_std^2 I))
      + critic + l2 / 2 ||theta||^2

**Contrastive information regulariser (critic).** ``D``: MLP(2 L d -> d -> 100 -> 1)
on ``[U_s[a] | U_t[b]]``; ``critic_users`` bridge users ``P`` give the positive
pairs ``(a, a)``, random users of each domain the negatives::

    hinge: mean ReLU(margin - sig(D(P, P)) + sig(D(P, N_t))) + mean ReLU(margin - sig(D(P, P)) + sig(D(N_s, P)))
    bce:   BCE(D(P, P), 1) + BCE(D(P, N_t), 0) + BCE(D(N_s, P), 0)

**gnnrec's users** (the score of domain x, block layout of
:mod:`gnnrec.models.domain_blocks`, users (n_users, 2 L d)): a user *cold* in
x (no train item in x, some in the other domain) is scored with ``U_y[u]``,
``y != x`` -- the cross-domain reconstruction trained exactly this on the
bridge users. A *warm* user of x is scored with their own ``U_x[u]`` (with
``in_domain: false`` a warm bridge user is scored with ``U_y[u]`` too, as the
official code does for every overlapping user).

**Cost.** One full-graph forward per step, two encoders (L = 3: 2 x 12
sparse products of width d), as in the official code. Measured forward +
backward + Adam step, one thread, d = 128, L = 3 (CPU seconds, independent of
the batch size): ML-1M-CD 0.8-0.95, Amazon-AO 2.4-2.9, Sport/Cloth 4.5-6.6
(official code on its own Sport/Cloth split: 7.3), Phone/Electronic 3.1-3.4.

Deviations from the official code, stated:

1. ``in_domain: true`` (default): bridge users also reconstruct their own
   domain's rows from their own encoder -- the paper's "two IB regularisers
   for cross-domain *and* in-domain interactions"; the official code
   reconstructs overlapping users cross-domain only (``in_domain: false``
   reproduces it, and the equivalence test uses it).
2. The official ``shared_user = min(test user) + 1`` counts the first
   source-cold user as overlapping (an off-by-one); gnnrec's bridge users are
   exactly the users with train items in both domains.
3. The prior is kept as in the official code: ``N(0, 2.5136^2)``, the clamped
   sigma transform of log-std 1 (also the cap of sigma), because the
   transform's floor ``exp(0.1) = 1.105`` would put every posterior above a
   N(0, I) prior (see :mod:`gnnrec.models.disencdr`, deviation 3; on ML-1M-CD,
   d 32, the official prior also learned faster: valid NDCG@20 0.02-0.04 vs
   0.03-0.05 on the warm groups after 50 steps). ``prior_std: 1`` gives N(0, I).
4. Critic negatives are drawn from the users with train items in that
   domain (official: any id of the domain's table); all three samples have the
   same length ``min(critic_users, pool sizes)``.
5. Loss on the trainer's rows (one positive and ``train.negatives``
   same-domain negatives that are never train positives); the official
   batches pair source and target rows and its negatives may be positives.
6. ID tables start N(0, 1) (official ``nn.Embedding``); ``l2`` = the official
   Adam weight decay 5e-4 (coupled L2 on every parameter).

Selection is on validation (as in the official code, per domain there).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

import torch
from torch import nn
from torch.nn import functional as F

from gnnrec.models.base import Batch, Embeddings, ModelConfig, ModelContext, Recommender
from gnnrec.models.disencdr import l2_term, two_domain_graphs
from gnnrec.models.domain_blocks import block_layout, train_degree
from gnnrec.models.vbge import VBGE, gauss_kl, normal_table, sigma_of
from gnnrec.utils.config import Range

SIGMA_CLAMP = 0.4       # log-std cap of the official code (sigma <= 2.5136)


@dataclass
class CDRIBConfig(ModelConfig):
    """``model:`` keys of ``cdrib`` (defaults: the paper / official code)."""

    dim: Annotated[int, Range(ge=1)] = 128                  # width d of every layer (official 128); users/items L*d
    layers: Annotated[int, Range(ge=1)] = 3                 # VBGE layers per domain encoder (official --GNN 3)
    dropout: Annotated[float, Range(ge=0, lt=1)] = 0.3      # on every layer's inputs in training (official 0.3)
    beta: Annotated[float, Range(ge=0)] = 1.5               # weight of the users' KL term (official 1.5)
    margin: Annotated[float, Range(ge=0)] = 0.3             # hinge margin of the critic (official 0.3)
    critic: Literal["hinge", "bce"] = "hinge"               # critic loss (official default hinge; --bce)
    critic_users: Annotated[int, Range(ge=1)] = 64          # bridge users per critic step (official user_batch_size 64)
    prior_std: Annotated[float, Range(gt=0)] = 2.5136       # std of the N(0, s^2) prior (official; 1 = N(0, I))
    in_domain: bool = True                                  # bridge users also reconstruct in-domain (False: official)
    l2: Annotated[float, Range(ge=0)] = 5e-4                # Adam-coupled L2 on all parameters (official weight_decay)


class CDRIB(Recommender):
    """CDRIB (module docstring); config keys in :class:`CDRIBConfig`."""

    name: ClassVar[str] = "cdrib"
    Config = CDRIBConfig
    memory_family = "lightgcn"

    def __init__(self, ctx: ModelContext) -> None:
        super().__init__(ctx)
        self.graphs, self.blocks = two_domain_graphs(ctx, "cdrib")
        c = self.cfg
        d, n = c.dim, self.n_users
        self.user0 = normal_table(2 * n, d)          # row x * n_users + u: E^x_u
        self.item0 = normal_table(self.n_items, d)   # E^x_i in the item's domain block
        self.enc = nn.ModuleList(VBGE(d, c.layers, c.dropout) for _ in range(2))
        w = c.layers * d
        self.critic = nn.Sequential(nn.Linear(2 * w, d), nn.ReLU(), nn.Linear(d, 100), nn.ReLU(),
                                    nn.Linear(100, 1))
        active = train_degree(ctx.ds) > 0                                     # (2, n_users)
        bridge = active.all(0)
        own = torch.ones_like(active) if c.in_domain else ~bridge.expand_as(active)
        self.register_buffer("active", active, persistent=False)
        self.register_buffer("own_rows", own.clone(), persistent=False)       # rows from U_x (in-domain)
        self.register_buffer("cross_rows", bridge.expand_as(active).clone(), persistent=False)  # from U_y
        cross_eval = ~active | (bridge if not c.in_domain else torch.zeros_like(bridge))
        self.register_buffer("eval_cross", cross_eval, persistent=False)     # score x with U_y
        self.register_buffer("bridge", torch.nonzero(bridge).ravel(), persistent=False)
        self.register_buffer("pool_0", torch.nonzero(active[0]).ravel(), persistent=False)
        self.register_buffer("pool_1", torch.nonzero(active[1]).ravel(), persistent=False)
        self.register_buffer("item_domain", torch.as_tensor(ctx.ds.item_domain(), dtype=torch.int64),
                             persistent=False)

    # ---- randomness (hooks: the equivalence tests replace them) ----------------------
    def _noise(self, like: torch.Tensor) -> torch.Tensor:
        return torch.randn_like(like)

    def _perm(self, n: int) -> torch.Tensor:
        return torch.randperm(n)

    def _sample(self, mu: torch.Tensor, logstd: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return mu
        return mu + self._noise(mu) * sigma_of(logstd, SIGMA_CLAMP)

    def _kl_prior(self, mu: torch.Tensor, logstd: torch.Tensor) -> torch.Tensor:
        return gauss_kl(mu, sigma_of(logstd, SIGMA_CLAMP), 0.0, self.cfg.prior_std)

    # ---- encoders -----------------------------------------------------------------------
    def encode(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Users per domain encoder (2, n_users, L d), items (n_items, L d) and the KL terms."""
        n = self.n_users
        users, items, kl = [], [], self.item0.new_zeros(())
        for x in range(2):
            hu, hv, (mu_u, ls_u), (mu_v, ls_v) = self.enc[x](
                self.graphs[x], self.user0[x * n:(x + 1) * n], self.item0[self.blocks[x]])
            zv = self._sample(mu_v, ls_v)             # official order: items, then users
            zu = self._sample(mu_u, ls_u)
            users.append(torch.cat(hu + [zu], 1))
            items.append(torch.cat(hv + [zv], 1))
            kl = kl + self.cfg.beta * self._kl_prior(mu_u, ls_u) + self._kl_prior(mu_v, ls_v)
        return torch.stack(users), torch.cat(items), kl

    def domain_users(self, users: torch.Tensor) -> torch.Tensor:
        """(2, n_users, L d) per-domain scoring vectors: ``U_y`` where ``eval_cross`` says so, else ``U_x``."""
        return torch.where(self.eval_cross[:, :, None], users.flip(0), users)

    def forward(self) -> Embeddings:
        users, items, _ = self.encode()
        u, v = block_layout(self.domain_users(users), items, self.item_domain)
        return Embeddings(u, v, self.user0, self.item0)

    def user_rows(self, users: torch.Tensor, domains: torch.Tensor) -> torch.Tensor:
        """ID row of (user, domain): ``domain * n_users + user``."""
        return domains * self.n_users + users

    # ---- training -----------------------------------------------------------------------
    def critic_loss(self, users: torch.Tensor) -> torch.Tensor:
        """The contrastive regulariser on bridge users (module docstring); 0 without bridge users."""
        us, ut = users[0], users[1]
        if len(self.bridge) == 0 or len(self.pool_0) == 0 or len(self.pool_1) == 0:
            return us.new_zeros(())
        k = min(self.cfg.critic_users, len(self.bridge), len(self.pool_0), len(self.pool_1))
        p = self.bridge[self._perm(len(self.bridge))[:k].to(us.device)]
        nt = self.pool_1[self._perm(len(self.pool_1))[:k].to(us.device)]
        ns = self.pool_0[self._perm(len(self.pool_0))[:k].to(us.device)]

        def disc(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return self.critic(torch.cat([a, b], 1)).view(-1)

        pos, n1, n2 = disc(us[p], ut[p]), disc(us[p], ut[nt]), disc(us[ns], ut[p])
        if self.cfg.critic == "bce":
            return (F.binary_cross_entropy_with_logits(pos, torch.ones_like(pos))
                    + F.binary_cross_entropy_with_logits(n1, torch.zeros_like(n1))
                    + F.binary_cross_entropy_with_logits(n2, torch.zeros_like(n2)))
        m = self.cfg.margin
        sp = torch.sigmoid(pos)
        return F.relu(m - sp + torch.sigmoid(n1)).mean() + F.relu(m - sp + torch.sigmoid(n2)).mean()

    def reconstruction(self, users: torch.Tensor, items: torch.Tensor, b: Batch) -> torch.Tensor:
        """In-domain and cross-domain BCE of the batch's rows (module docstring)."""
        loss = items.new_zeros(())
        for x in range(2):
            m = b.domain == x
            if not bool(m.any()):
                continue
            u, pos, neg = b.users[m], items[b.pos[m]], items[b.neg[m]]
            lp, ln = 0.0, 0.0
            for y, mask in ((x, self.own_rows[x]), (1 - x, self.cross_rows[x])):
                w = mask[u].to(items.dtype)                                     # (B_x,)
                if not bool(w.any()):
                    continue
                uy = users[y][u]
                sp = (uy * pos).sum(-1)
                sn = (uy[:, None, :] * neg).sum(-1)
                lp = lp + w * F.binary_cross_entropy_with_logits(sp, torch.ones_like(sp), reduction="none")
                ln = ln + w[:, None] * F.binary_cross_entropy_with_logits(sn, torch.zeros_like(sn),
                                                                          reduction="none")
            loss = loss + torch.as_tensor(lp).mean() + torch.as_tensor(ln).mean()
        return loss

    def batch_loss(self, stage: str, batch: Any) -> torch.Tensor | None:
        """Reconstruction + KL + critic (+ L2), module docstring."""
        users, items, kl = self.encode()
        loss = self.reconstruction(users, items, batch) + kl + self.critic_loss(users)
        return (loss + l2_term(self, self.cfg.l2)) * batch.weight
