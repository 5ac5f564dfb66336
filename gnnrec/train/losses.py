"""Ranking losses over gathered embeddings.

u: (B, d) user rows, p: (B, d) positive item rows, n: (B, m, d) negatives.

* BPR: ``mean_{b,j} -log sigmoid(u_b . p_b - u_b . n_bj)``.
* Sampled softmax: ``mean_b -log softmax(s_b / T)[0]`` over the logits
  ``s_b = [u_b . p_b, u_b . n_b1..m, u_b . x_c for in-batch items x_c]``;
  in-batch candidates are the positives of other rows, masked (-inf) when
  their domain differs from row b's or they equal b's positive.
* L2: ``reg * sum_t ||t||^2 / B`` over the batch's layer-0 rows.

``neg_ok`` (B, m) bool, optional: False drops that negative (e.g. a mini-batch
negative that is a train positive of the user): BPR averages over the kept
terms only, sampled softmax masks its logit.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bpr_loss(u: torch.Tensor, p: torch.Tensor, n: torch.Tensor,
             neg_ok: torch.Tensor | None = None) -> torch.Tensor:
    pos = (u * p).sum(-1, keepdim=True)                       # (B, 1)
    neg = torch.einsum("bd,bmd->bm", u, n)                     # (B, m)
    terms = F.softplus(neg - pos)
    if neg_ok is None:
        return terms.mean()
    return (terms * neg_ok).sum() / neg_ok.sum().clamp_min(1)


def softmax_loss(u: torch.Tensor, p: torch.Tensor, n: torch.Tensor, temperature: float,
                 inbatch: torch.Tensor | None = None, inbatch_ok: torch.Tensor | None = None,
                 neg_ok: torch.Tensor | None = None) -> torch.Tensor:
    """inbatch: (C, d) candidate rows; inbatch_ok: (B, C) bool, False = masked."""
    s_neg = torch.einsum("bd,bmd->bm", u, n)
    if neg_ok is not None:
        s_neg = s_neg.masked_fill(~neg_ok, float("-inf"))
    logits = [(u * p).sum(-1, keepdim=True), s_neg]
    if inbatch is not None:
        s = u @ inbatch.T
        logits.append(s.masked_fill(~inbatch_ok, float("-inf")))
    z = torch.cat(logits, dim=1).float() / temperature
    return (torch.logsumexp(z, dim=1) - z[:, 0]).mean()


def l2_penalty(rows: list[torch.Tensor], batch_size: int) -> torch.Tensor:
    if not rows:
        return torch.zeros(())
    return sum(r.float().pow(2).sum() for r in rows) / batch_size
