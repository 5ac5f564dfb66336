"""UniCDR: towards universal cross-domain recommendation (Cao et al., WSDM 2023).

"Towards Universal Cross-Domain Recommendation". No graph network: a user's
representation in domain ``k`` aggregates the ID embeddings of items they
interacted with -- a *domain-specific* part from domain ``k``'s items and a
*domain-shared* part from the items of the other domains -- so a user with
no history in ``k`` still gets a representation there. Re-implemented from
the paper and checked against the authors' code (cjx96/UniCDR @ b216bc0:
same loss and scores to 1e-6 with its weights copied in,
``tests/models/test_official_equivalence.py``).

**Parameters** (d = ``dim``, D domains): user tables ``E^k_u`` (n_users, d)
per domain and ``S_u`` (n_users, d) shared; item table ``E_i`` (n_items, d)
(each item in its domain); aggregators ``agg_0 .. agg_{D-1}`` and a shared
``agg_D``; a bilinear critic ``B_k(x, y) = x^T W_k y + b_k`` per domain.

**Aggregator** ``agg(e, X)`` of a user vector ``e`` (B, d) and a context ``X``
(B, n, d) of item embeddings with a validity mask (padding)::

    mean:           pool = sum_j X_j / #valid
    user_attention: a_j = tanh(W_att X_j + b) . e;  alpha = softmax over valid j;  pool = sum_j alpha_j X_j
    agg(e, X) = lambda_a e + (1 - lambda_a) W_agg pool                     (W_agg: d x d, no bias)

**User and score** in domain ``k`` (dropout ``p`` on both parts and on the
attention weights in training)::

    spec_k(u)  = agg_k(E^k_u[u], E_i[C_k(u)])               C_k: u's items in domain k
    share_k(u) = agg_D(S_u[u], E_i[G(u)])                   G: u's items in the other domains
    u_k = spec_k(u) + share_k(u);   score(u, i) = u_{d(i)} . E_i[i]

exported with the block layout of :mod:`gnnrec.models.domain_blocks`.

**Training** (one row ``(u, i+, i-_1..n, k)`` of the trainer's sampler): ``C_k``
= a random ``min(maxlen, floor((1 - mask_rate) |P_u^k|))`` of u's other
train items in k (interaction masking), ``G`` = such a sample of every other
domain's items (domain masking: never domain k's), then::

    L_k = lambda_loss [ mean BCE(<u_k, E_i[i+]>, 1) + mean BCE(<u_k, E_i[i-]>, 0) ]
        + (1 - lambda_loss) [ BCE(B_k(spec, share), 1) + BCE(B_k(spec[perm], share), 0) ]
    L = sum_k L_k (rows of domain k) + l2 / 2 ||theta||^2

(``perm``: the batch's rows of domain k shifted by a random offset.)

**Evaluation contexts**: ``C_k(u)`` = u's ``eval_len`` most recent train items
in k (timestamp, then row order); ``G(u)`` = the ``eval_len`` most recent of
every domain, domain k included (``eval_own_in_shared``, as the official
evaluation does) -- deterministic.

**gnnrec's users.** A user *cold* in k has no item in ``C_k``: with
``zero_cold_specific`` (default) the specific part is dropped (their ``E^k_u``
row was never trained) and ``u_k = share_k(u)``, the shared ID row (trained
through their other domains' rows) aggregated with their other-domain items
-- the official inter-domain task's transfer (there through the other domain's
local table). A *warm* user has both parts.

**Cost.** Per step only the batch's rows (gathers of B x (maxlen + (D-1)
maxlen + negatives) rows; the context sampler is vectorised over the batch),
plus the dense Adam update of the ID tables; evaluation aggregates every
user with precomputed attention keys, in chunks. Measured step with 10
negatives, one thread, d = 128 (CPU seconds): 1,024 rows 0.22-0.25 on
ML-1M-CD; 4,096 rows 0.5-0.8 on ML-1M-CD, 1.1-1.6 on Sport/Cloth;
evaluation 2.6-4.8.

Deviations from the official code, stated:

1. Label leakage fixed: the official ``cur_context.remove(pos_item)``
   compares an int with ``[item, score]`` pairs and never removes the
   positive, which sits in its own context in most samples; gnnrec samples
   the context from the *other* positives.
2. Masked softmax: padded slots get -inf (the official code gives them
   logit 0, which adds e^0 = 1 per padded slot to the denominator, and does
   not subtract the maximum). An all-padded context pools to 0.
3. Evaluation contexts are the most recent items (official: a fresh random
   sample at every evaluation, so its scores are stochastic).
4. ``--static_sample`` (README) is not reproduced: its cache is indexed by call
   order and, with the iterator bug, only ~63% of the train rows are ever used.
5. An "epoch" is one pass over the train rows (official: 500 iterations of
   512 rows per domain). Negatives: the trainer's (never positives).
6. ``item_similarity`` (EASE-weighted pooling, which needs a dense item x item
   inverse per domain) is not implemented; ``mean`` and ``user_attention`` are.
7. ``zero_cold_specific`` (gnnrec addition, above); ``l2`` = the official
   weight decay 1e-5.
8. ID tables start N(0, 0.1^2) (gnnrec's :data:`~gnnrec.models.base.INIT_STD`),
   not ``nn.Embedding``'s N(0, 1): with 128 dimensions N(0, 1) rows give random
   initial scores of std ~11 that the few large-batch steps a CPU run affords
   do not overcome (ML-1M-CD, 60 steps of 4,096 rows: valid NDCG@20 0.004-0.038
   per group with N(0, 1), 0.046-0.346 with N(0, 0.1^2), above popularity).

Selection is on validation (the official intra-domain task selects on test).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from gnnrec.errors import GnnrecError
from gnnrec.models.base import Batch, Embeddings, ModelConfig, ModelContext, Recommender, init_embedding
from gnnrec.models.disencdr import l2_term
from gnnrec.models.domain_blocks import block_layout
from gnnrec.utils.config import Range

EVAL_CHUNK = 2048       # users aggregated at once in evaluation


@dataclass
class UniCDRConfig(ModelConfig):
    """``model:`` keys of ``unicdr`` (defaults: the paper / official code)."""

    dim: Annotated[int, Range(ge=1)] = 128                       # embedding width d (official latent_dim 128)
    aggregator: Literal["user_attention", "mean"] = "user_attention"   # context pooling (official README)
    lambda_a: Annotated[float, Range(ge=0, le=1)] = 0.5          # weight of the user ID row in agg (official 0.5)
    lambda_loss: Annotated[float, Range(ge=0, le=1)] = 0.4       # BCE weight; 1 - it weighs the critic (official 0.4)
    dropout: Annotated[float, Range(ge=0, lt=1)] = 0.3           # user parts, items, attention (official 0.3)
    maxlen: Annotated[int, Range(ge=1)] = 10                     # context items per domain in training (official 10)
    mask_rate: Annotated[float, Range(ge=0, lt=1)] = 0.1         # share of a user's items masked (official 0.1)
    eval_len: Annotated[int, Range(ge=1)] = 50                   # context items per domain in evaluation (official 50)
    eval_own_in_shared: bool = True                              # evaluation: shared part also sees domain k (official)
    zero_cold_specific: bool = True                              # no specific part where a user has no train item
    l2: Annotated[float, Range(ge=0)] = 1e-5                     # Adam-coupled L2 on all parameters (official 1e-5)


class Aggregator(nn.Module):
    """``agg(e, X) = lambda_a e + (1 - lambda_a) W_agg pool(e, X)`` (module docstring)."""

    def __init__(self, d: int, kind: str, lambda_a: float, dropout: float) -> None:
        super().__init__()
        self.kind, self.lambda_a, self.p = kind, lambda_a, dropout
        self.W_agg = nn.Linear(d, d, bias=False)
        if kind == "user_attention":
            self.W_att = nn.Linear(d, d)
        self.official_softmax = False          # official masked softmax (equivalence tests only)

    def keys(self, x: torch.Tensor) -> torch.Tensor:
        """Attention keys ``tanh(W_att x)`` of item rows (..., d)."""
        return torch.tanh(self.W_att(x))

    def forward(self, e: torch.Tensor, seq: torch.Tensor, mask: torch.Tensor,
                keys: torch.Tensor | None = None) -> torch.Tensor:
        """e: (B, d); seq: (B, n, d) with padded rows zero; mask: (B, n) bool valid; keys: (B, n, d)
        precomputed :meth:`keys` of ``seq`` (optional). Returns (B, d)."""
        if self.kind == "mean":
            pool = seq.sum(1) / (mask.sum(1, keepdim=True).to(seq.dtype) + 1e-12)
        else:
            k = self.keys(seq) if keys is None else keys
            a = torch.bmm(k, e[:, :, None]).squeeze(-1)                      # (B, n)
            if self.official_softmax:
                ea = a.masked_fill(~mask, 0.0).exp()
                w = ea / (ea.sum(1, keepdim=True) + 1e-12)
            else:
                w = torch.softmax(a.masked_fill(~mask, float("-inf")), 1).nan_to_num(0.0)
            w = F.dropout(w, self.p, self.training)
            pool = torch.bmm(w[:, None, :], seq).squeeze(1)
        return self.lambda_a * e + (1 - self.lambda_a) * self.W_agg(pool)


def positive_lists(ds, n_dom: int) -> tuple[np.ndarray, np.ndarray]:
    """CSR of every (domain, user)'s distinct train items, oldest first (timestamp, then row order):
    row ``k * n_users + u``; returns (indptr (D n_users + 1,), items)."""
    tr = ds.train.reset_index(drop=True)
    tr = tr.assign(order=np.arange(len(tr))).sort_values(["domain", "user", "timestamp", "order"])
    tr = tr.drop_duplicates(["domain", "user", "item"], keep="last")
    tr = tr.sort_values(["domain", "user", "timestamp", "order"])
    rows = tr["domain"].to_numpy() * ds.n_users + tr["user"].to_numpy()
    counts = np.bincount(rows, minlength=n_dom * ds.n_users)
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), tr["item"].to_numpy().astype(np.int64)


def sample_rows(indptr: torch.Tensor, items: torch.Tensor, rows: torch.Tensor, counts: torch.Tensor,
                width: int, exclude: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """For each row r, ``counts[r]`` distinct random items of CSR row ``rows[r]`` (never ``exclude[r]``).

    Returns items (B, width) and mask (B, width) bool (slots ``>= counts[r]`` padded). Draws from
    torch's global generator. ``counts`` must not exceed the row's eligible items.
    """
    b = len(rows)
    start, deg = indptr[rows], indptr[rows + 1] - indptr[rows]
    m = max(int(deg.max()) if b else 0, 1)
    j = torch.arange(m, device=rows.device)[None, :]
    valid = j < deg[:, None]
    cand = items[(start[:, None] + j).clamp_max(max(len(items) - 1, 0))] if len(items) else \
        torch.zeros(b, m, dtype=torch.long, device=rows.device)
    if exclude is not None:
        valid &= cand != exclude[:, None]
    key = torch.rand(b, m, device=rows.device).masked_fill(~valid, 2.0)
    k = min(width, m)
    pick = key.topk(k, dim=1, largest=False).indices
    out = torch.zeros(b, width, dtype=torch.long, device=rows.device)
    out[:, :k] = cand.gather(1, pick)
    mask = torch.arange(width, device=rows.device)[None, :] < counts[:, None]
    return out * mask, mask


class UniCDR(Recommender):
    """UniCDR (module docstring); config keys in :class:`UniCDRConfig`."""

    name: ClassVar[str] = "unicdr"
    Config = UniCDRConfig

    def __init__(self, ctx: ModelContext) -> None:
        super().__init__(ctx)
        self.n_dom = len(ctx.ds.domains)
        if self.n_dom < 2:
            raise GnnrecError(f"unicdr needs two or more domains; {ctx.ds.name!r} has {ctx.ds.domains}")
        c = self.cfg
        d, n = c.dim, self.n_users
        self.user_spec = init_embedding(self.n_dom * n, d)   # row k * n_users + u: E^k_u
        self.user_share = init_embedding(n, d)               # S_u
        self.item0 = init_embedding(self.n_items, d)         # E_i
        self.aggs = nn.ModuleList(Aggregator(d, c.aggregator, c.lambda_a, c.dropout)
                                  for _ in range(self.n_dom + 1))
        self.critics = nn.ModuleList(nn.Bilinear(d, d, 1) for _ in range(self.n_dom))
        indptr, items = positive_lists(ctx.ds, self.n_dom)
        dev = ctx.device
        self.register_buffer("indptr", torch.as_tensor(indptr, device=dev), persistent=False)
        self.register_buffer("pos_items", torch.as_tensor(items, device=dev), persistent=False)
        deg = torch.as_tensor(np.diff(indptr), device=dev).view(self.n_dom, n)
        self.register_buffer("degree", deg, persistent=False)                  # (D, n_users)
        # evaluation contexts: the eval_len most recent items per (domain, user)
        last = torch.arange(c.eval_len, device=dev)[None, :]
        take = deg.view(-1, 1).clamp_max(c.eval_len)
        idx = (torch.as_tensor(indptr[1:], device=dev)[:, None] - take + last).clamp_min(0)
        emask = last < take
        ectx = torch.where(emask, self.pos_items[idx.clamp_max(max(len(items) - 1, 0))] if len(items)
                           else torch.zeros_like(idx), torch.zeros_like(idx))
        self.register_buffer("eval_ctx", ectx.view(self.n_dom, n, -1), persistent=False)
        self.register_buffer("eval_mask", emask.view(self.n_dom, n, -1), persistent=False)
        self.register_buffer("item_domain", torch.as_tensor(ctx.ds.item_domain(), dtype=torch.int64,
                                                            device=dev), persistent=False)

    # ---- randomness hook (the equivalence tests replace it) ------------------------------
    def _shift(self, b: int) -> int:
        return int(torch.randint(1, b, (1,)).item())

    # ---- user representations -----------------------------------------------------------
    def _gather(self, idx: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.item0[idx] * mask[..., None].to(self.item0.dtype)

    def _keys(self, agg: Aggregator, idx: torch.Tensor) -> torch.Tensor | None:
        """Attention keys of the items ``idx`` (..., n) -> (..., n, d): computed once per item when
        the table is smaller than the gathered rows, else on the gathered rows (same values)."""
        if agg.kind != "user_attention":
            return None
        if self.item0.shape[0] <= idx.numel():
            return agg.keys(self.item0)[idx]
        return agg.keys(self.item0[idx])

    def user_parts(self, k: int, users: torch.Tensor, ctx: torch.Tensor, cmask: torch.Tensor,
                   gctx: torch.Tensor, gmask: torch.Tensor, keys: tuple | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        """(spec_k, share_k) of ``users`` (B,) in domain k, given their contexts: ctx (B, n) items of
        domain k and gctx (B, m) items of any domain (global ids), masks True where valid;
        ``keys``: precomputed attention keys of every item for (agg_k, agg_D). Dropout in training."""
        spec_agg, share_agg = self.aggs[k], self.aggs[self.n_dom]
        if keys is not None:
            ks, kg = keys[0][ctx], keys[1][gctx]
        else:
            ks, kg = self._keys(spec_agg, ctx), self._keys(share_agg, gctx)
        spec = spec_agg(self.user_spec[k * self.n_users + users], self._gather(ctx, cmask), cmask, ks)
        share = share_agg(self.user_share[users], self._gather(gctx, gmask), gmask, kg)
        if self.cfg.zero_cold_specific:
            spec = spec * (self.degree[k, users] > 0)[:, None].to(spec.dtype)
        return F.dropout(spec, self.cfg.dropout, self.training), F.dropout(share, self.cfg.dropout, self.training)

    def eval_contexts(self, k: int, users: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Deterministic evaluation contexts (module docstring) of ``users`` in domain k."""
        ctx, cmask = self.eval_ctx[k, users], self.eval_mask[k, users]
        parts = [(self.eval_ctx[j, users], self.eval_mask[j, users] & (self.cfg.eval_own_in_shared or j != k))
                 for j in range(self.n_dom)]
        return ctx, cmask, torch.cat([p[0] for p in parts], 1), torch.cat([p[1] for p in parts], 1)

    def domain_users(self) -> torch.Tensor:
        """(D, n_users, d) user vectors ``spec_k + share_k`` with the evaluation contexts."""
        keys = None
        if self.cfg.aggregator == "user_attention":
            keys = [agg.keys(self.item0) for agg in self.aggs]
        out = []
        for k in range(self.n_dom):
            rows = []
            for s in range(0, self.n_users, EVAL_CHUNK):
                users = torch.arange(s, min(s + EVAL_CHUNK, self.n_users), device=self.item0.device)
                kk = None if keys is None else (keys[k], keys[self.n_dom])
                spec, share = self.user_parts(k, users, *self.eval_contexts(k, users), keys=kk)
                rows.append(spec + share)
            out.append(torch.cat(rows))
        return torch.stack(out)

    def forward(self) -> Embeddings:
        u, v = block_layout(self.domain_users(), self.item0, self.item_domain)
        return Embeddings(u, v, self.user_spec, self.item0)

    def user_rows(self, users: torch.Tensor, domains: torch.Tensor) -> torch.Tensor:
        """Specific ID row of (user, domain): ``domain * n_users + user``."""
        return domains * self.n_users + users

    # ---- training -----------------------------------------------------------------------------
    def train_contexts(self, k: int, users: torch.Tensor, pos: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Random training contexts of rows (users, pos) of domain k (module docstring):
        ctx (B, maxlen) from u's other items in k, gctx (B, D maxlen) from the other domains."""
        c, n = self.cfg, self.n_users
        keep = 1.0 - c.mask_rate

        def count(deg: torch.Tensor) -> torch.Tensor:
            return torch.clamp_max(torch.floor(deg.to(torch.float64) * keep).long(), c.maxlen)

        deg = self.degree[k, users]
        ctx, cmask = sample_rows(self.indptr, self.pos_items, k * n + users,
                                 torch.minimum(count(deg), deg - 1).clamp_min(0), c.maxlen, exclude=pos)
        g, gm = [], []
        for j in range(self.n_dom):
            if j == k:
                g.append(torch.zeros_like(ctx))
                gm.append(torch.zeros_like(cmask))
                continue
            it, mk = sample_rows(self.indptr, self.pos_items, j * n + users, count(self.degree[j, users]),
                                 c.maxlen)
            g.append(it)
            gm.append(mk)
        return ctx, cmask, torch.cat(g, 1), torch.cat(gm, 1)

    def critic(self, k: int, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``B_k(x, y) = x^T W_k y + b_k`` per row, (B,): ``nn.Bilinear``'s parameters, computed as
        ``((x W_k) * y).sum(-1)`` (``torch.bilinear`` was 45% of a step)."""
        bil = self.critics[k]
        return ((x @ bil.weight[0]) * y).sum(-1) + bil.bias[0]

    def domain_loss(self, k: int, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor,
                    ctx: torch.Tensor, cmask: torch.Tensor, gctx: torch.Tensor, gmask: torch.Tensor
                    ) -> torch.Tensor:
        """``L_k`` of rows of domain k with given contexts (module docstring); neg: (B, n_neg)."""
        c = self.cfg
        spec, share = self.user_parts(k, users, ctx, cmask, gctx, gmask)
        user = spec + share
        ip = F.dropout(self.item0[pos], c.dropout, self.training)
        ineg = F.dropout(self.item0[neg], c.dropout, self.training)
        sp = (user * ip).sum(-1)
        sn = (user[:, None, :] * ineg).sum(-1)
        rec = F.binary_cross_entropy_with_logits(sp, torch.ones_like(sp)) \
            + F.binary_cross_entropy_with_logits(sn, torch.zeros_like(sn))
        b = len(users)
        critic = sp.new_zeros(())
        if b > 1:
            shifted = (torch.arange(b, device=users.device) + self._shift(b)) % b
            cp, cn = self.critic(k, spec, share), self.critic(k, spec[shifted], share)
            critic = F.binary_cross_entropy_with_logits(cp, torch.ones_like(cp)) \
                + F.binary_cross_entropy_with_logits(cn, torch.zeros_like(cn))
        return c.lambda_loss * rec + (1 - c.lambda_loss) * critic

    def batch_loss(self, stage: str, batch: Any) -> torch.Tensor | None:
        """``sum_k L_k`` over the batch's rows of each domain, contexts sampled here (+ L2)."""
        b: Batch = batch
        loss = self.item0.new_zeros(())
        for k in range(self.n_dom):
            m = b.domain == k
            if not bool(m.any()):
                continue
            users, pos = b.users[m], b.pos[m]
            loss = loss + self.domain_loss(k, users, pos, b.neg[m], *self.train_contexts(k, users, pos))
        return (loss + l2_term(self, self.cfg.l2)) * b.weight
