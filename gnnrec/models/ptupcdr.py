"""PTUPCDR: personalised transfer of user preferences for cross-domain recommendation (Zhu et al., WSDM 2022).

"Personalized Transfer of User Preferences for Cross-domain Recommendation".
Like EMCDR, a user cold in a target domain ``t`` gets a target vector from
their source-domain vector; unlike EMCDR the map is *personalised*: a
meta network turns the user's source history into their own bridge matrix.
Re-implemented from the paper and checked against the authors' code
(easezyc/WSDM2022-PTUPCDR @ f096fde: same bridged scores to 1e-6 with its
weights, ``tests/models/test_official_equivalence.py``), adapted from
explicit ratings (MSE) to implicit top-K ranking on gnnrec's splits.

Two training stages (EMCDR-style, :mod:`gnnrec.models.emcdr`):

1. ``mf`` -- matrix factorisation per domain: user factors ``U^x`` (one row
   per user *per domain*, d = ``dim``) and item factors ``V``, trained with
   the trainer's ranking loss (BPR + L2; the official MF uses MSE on ratings).
   Selected on the warm groups (cold users have no bridge yet).
2. ``meta`` -- the factors frozen, for every ordered domain pair ``s -> t`` a
   characteristic encoder + meta network is trained on the bridge users' rows
   of ``t`` (users with train items in both domains)::

       F   = V[h_s(u)]                                    (B, seq_len, d): u's last seq_len items in s
       a   = softmax_j( w^T ReLU(W_1 F_j + b_1) )         (padding masked)
       p_u = sum_j a_j F_j                                (B, d)          characteristic embedding
       W_u = reshape( W_3 ReLU(W_2 p_u + b_2) + b_3, (d, d) )             personalised bridge
       u^t = U^s[u] W_u                                   (B, d)          (row vector times matrix)
       L   = mean softplus(<u^t, V[i-]> - <u^t, V[i+]>)   (BPR on the trainer's rows of t)

   The task-oriented loss of the paper (the bridged vector is trained through
   the target-domain prediction, not to match ``U^t``), with BPR on
   sampled negatives in place of the official MSE on ratings.

**gnnrec's users** (score ``u^{d(i)} . V_i`` through the block layout of
:mod:`gnnrec.models.domain_blocks`): a user *cold* in t (no train item in t,
some in another domain) gets ``u^t = mean_s U^s[u] W_u^{s->t}`` over the
domains s where they have train items (one source for two domains); every
other user keeps their own MF factors (warm users are not bridged: the
paper's setting is cold-start users).

**Cost.** Stage ``mf`` is plain MF; stage ``meta`` touches only the batch's
rows (B x seq_len x d gathers and B small d x d bridges); evaluation bridges
only the cold users. Measured step of 16,384 rows, one thread, d = 10 (CPU
seconds): ``mf`` 0.02-0.06, ``meta`` 0.07-0.17 on all four datasets; a whole
ML-1M-CD run of the shipped config (both stages, early-stopped) 92 s.

Deviations from the official code, stated:

1. Implicit feedback: BPR with the trainer's negatives (never train
   positives) instead of MSE on ratings in both stages; MF factors start
   N(0, 0.1^2) (gnnrec's ID tables; official N(0, 1) for MSE on ratings).
2. History: the user's last ``seq_len`` train positives of s by timestamp
   (official: the last 20 with rating > 3 in file order); padding has its own
   mask (official: item id 0 is the padding id, so a real item 0 is always
   masked out).
3. Separate tables per domain replace the official single item id space; the
   three official base variants reduce to MF (the official default), and the
   official ``aug_model`` / ``mapping`` baselines are not part of the model
   (gnnrec has ``emcdr``).
4. Both stages are early-stopped on validation (official: the minimum test
   MAE/RMSE over epochs, selected on test). ``train.lr`` applies to both
   stages (official: lr 0.01, 10 epochs each).
5. More than two domains: one meta network per ordered pair, cold users
   averaged over their source domains (EMCDR's rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Iterator

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from gnnrec.errors import GnnrecError
from gnnrec.models.base import Batch, ModelConfig, ModelContext
from gnnrec.models.bridged_mf import BridgedMF
from gnnrec.models.unicdr import positive_lists
from gnnrec.utils.config import Range


@dataclass
class PTUPCDRConfig(ModelConfig):
    """``model:`` keys of ``ptupcdr`` (defaults: the paper / official ``config.json``)."""

    dim: Annotated[int, Range(ge=1)] = 10            # MF factor width d per domain (official emb_dim 10)
    meta_dim: Annotated[int, Range(ge=1)] = 50       # hidden units of the meta network (official meta_dim 50)
    seq_len: Annotated[int, Range(ge=1)] = 20        # source history items of the characteristic encoder (official 20)


class MetaNet(nn.Module):
    """Characteristic encoder + meta network of one domain pair (module docstring)."""

    def __init__(self, d: int, meta_dim: int) -> None:
        super().__init__()
        self.d = d
        self.event_K = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, 1, bias=False))
        self.decoder = nn.Sequential(nn.Linear(d, meta_dim), nn.ReLU(), nn.Linear(meta_dim, d * d))

    def forward(self, hist: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """hist: (B, L, d) history item factors; mask: (B, L) bool valid. Returns W_u (B, d, d)."""
        logit = self.event_K(hist).squeeze(-1).masked_fill(~mask, -1e8)
        a = torch.softmax(logit, 1) * mask.any(1, keepdim=True)      # a user without history: p_u = 0
        p = (a[:, :, None] * hist).sum(1)
        return self.decoder(p).view(-1, self.d, self.d)


class PTUPCDR(BridgedMF):
    """PTUPCDR (module docstring); config keys in :class:`PTUPCDRConfig`."""

    name: ClassVar[str] = "ptupcdr"
    Config = PTUPCDRConfig
    bridge_stage = "meta"

    def __init__(self, ctx: ModelContext) -> None:
        super().__init__(ctx)
        c = self.cfg
        n = self.n_users
        self.init_factors(ctx, c.dim, "transfers between domains")
        self.metas = nn.ModuleDict({f"{s}>{t}": MetaNet(c.dim, c.meta_dim) for s, t in self.pairs})
        indptr, items = positive_lists(ctx.ds, self.n_dom)          # oldest first
        L = c.seq_len
        end = torch.as_tensor(indptr[1:])
        take = torch.as_tensor(np.diff(indptr)).clamp_max(L)
        j = torch.arange(L)[None, :]
        mask = j < take[:, None]
        idx = (end[:, None] - take[:, None] + j).clamp(0, max(len(items) - 1, 0))
        hist = torch.as_tensor(items)[idx] * mask if len(items) else torch.zeros_like(idx)
        self.register_buffer("hist", hist.view(self.n_dom, n, L), persistent=False)   # last L items
        self.register_buffer("hist_mask", mask.view(self.n_dom, n, L), persistent=False)
        if not any(bool((self.active[s] & self.active[t]).any()) for s, t in self.pairs):
            raise GnnrecError(f"ptupcdr: no user of {ctx.ds.name!r} has train items in two domains, so "
                              f"there is nobody to train a bridge on")

    # ---- embeddings -----------------------------------------------------------
    def bridge_module(self) -> nn.Module:
        return self.metas

    def bridge(self, s: int, t: int, users: torch.Tensor) -> torch.Tensor:
        """``U^s[u] W_u^{s->t}`` of ``users`` (B,) -> (B, dim)."""
        w = self.metas[f"{s}>{t}"](self.item0[self.hist[s, users]], self.hist_mask[s, users])
        return torch.bmm(self.factors()[s, users][:, None, :], w).squeeze(1)

    def domain_users(self) -> torch.Tensor:
        """(D, n_users, dim): own factors; bridged ones for users cold in a domain."""
        u = self.factors()
        out = []
        for t in range(self.n_dom):
            cold = torch.nonzero(self.cold[t]).ravel()
            ut = u[t]
            if len(cold):
                acc = torch.zeros(len(cold), u.shape[2], device=u.device, dtype=u.dtype)
                cnt = torch.zeros(len(cold), 1, device=u.device, dtype=u.dtype)
                for s in range(self.n_dom):
                    if s == t:
                        continue
                    w = self.active[s, cold].to(u.dtype)[:, None]
                    acc = acc + w * self.bridge(s, t, cold)
                    cnt = cnt + w
                ut = ut.index_put((cold,), acc / cnt.clamp_min(1.0))
            out.append(ut)
        return torch.stack(out)

    def stage_batches(self, stage: str, epoch: int, generator: torch.Generator) -> Iterator[Any] | None:
        return None                  # both stages: the trainer's rows

    def batch_loss(self, stage: str, batch: Any) -> torch.Tensor | None:
        """Stage ``meta``: BPR of the bridged users on the rows of bridge users (module docstring);
        stage ``mf``: None (the trainer's ranking loss + L2 on ``forward()``)."""
        if stage != "meta":
            return None
        b: Batch = batch
        losses = []
        for s, t in self.pairs:
            m = (b.domain == t) & self.active[s, b.users]
            if not bool(m.any()):
                continue
            u = self.bridge(s, t, b.users[m])
            pos = (u * self.item0[b.pos[m]]).sum(-1, keepdim=True)
            neg = (u[:, None, :] * self.item0[b.neg[m]]).sum(-1)
            losses.append(F.softplus(neg - pos).mean())
        if not losses:
            return self.item0.new_zeros((), requires_grad=True) * b.weight
        return torch.stack(losses).mean() * b.weight
