"""Top-K metrics of one ranked list per (user, domain) group, from truth ranks.

For a group with truth set T (|T| >= 1), truth ranks r_t (1-based, see
:mod:`gnnrec.eval.ranking`) and a cut-off K, with hits = #{t : r_t <= K}:

* ``recall@K``    = hits / |T|
* ``precision@K`` = hits / K
* ``hr@K``        = 1 if hits > 0 else 0
* ``ndcg@K``      = sum_{r_t <= K} 1 / log2(r_t + 1)  /  sum_{i=1}^{min(|T|, K)} 1 / log2(i + 1)
  (binary relevance)
* ``map@K``       = (1 / min(|T|, K)) * sum_{r_t <= K} P@r_t, with P@r = #{t' : r_t' <= r} / r
* ``mrr``         = 1 / min_t r_t over the *whole* ranked list (not cut at K; 0 when
  no truth item is scored at all). Reported with k = 0, meaning "uncut".

The sampled protocol (one positive against N negatives, rank = 1 + #{negatives
scoring >= the positive}) uses ``mrr`` = 1 / rank, ``hr@K`` = [rank <= K] and
``ndcg@K`` = [rank <= K] / log2(rank + 1).
"""

from __future__ import annotations

import torch


def topk_metrics(rank: torch.Tensor, pos: torch.Tensor, row: torch.Tensor,
                 n_truth: torch.Tensor, ks: tuple[int, ...]) -> dict[str, torch.Tensor]:
    """Per-row recall/ndcg/hr/precision/map at every K in ``ks``.

    ``rank``, ``pos``, ``row`` are (nnz,) as returned by
    :func:`gnnrec.eval.ranking.truth_ranks`; ``n_truth`` is (B,) |T| per row.
    Returns ``{"ndcg@20": (B,) float64, ...}``. All K are handled in one pass:
    (nnz, len(ks)) hit matrices summed per row with one ``index_add``.
    """
    dev = rank.device
    n_rows = n_truth.numel()
    k_t = torch.tensor(ks, device=dev, dtype=torch.float64)            # (nK,)
    rank_f = rank.double()[:, None]
    hit = (rank_f <= k_t).double()                                      # (nnz, nK)
    parts = torch.cat([hit, hit / torch.log2(rank_f + 1.0), hit * pos.double()[:, None] / rank_f], 1)
    sums = torch.zeros(n_rows, parts.shape[1], dtype=torch.float64, device=dev).index_add_(0, row, parts)
    nk = len(ks)
    hits, dcg, ap = sums[:, :nk], sums[:, nk:2 * nk], sums[:, 2 * nk:]
    ideal = torch.cumsum(1.0 / torch.log2(torch.arange(2, max(ks) + 2, device=dev,
                                                           dtype=torch.float64)), 0)
    cut = torch.minimum(n_truth[:, None].double(), k_t)                 # (B, nK) min(|T|, K)
    vals = {"recall": hits / n_truth[:, None].double(), "precision": hits / k_t,
            "hr": (hits > 0).double(), "ndcg": dcg / ideal[cut.long() - 1], "map": ap / cut}
    return {f"{m}@{k}": v[:, j] for m, v in vals.items() for j, k in enumerate(ks)}


def sampled_metrics(rank: torch.Tensor, ks: tuple[int, ...]) -> dict[str, torch.Tensor]:
    """Per-positive sampled metrics from (n,) ranks among 1 + N candidates."""
    r = rank.double()
    out = {"mrr": 1.0 / r}
    for k in ks:
        hit = (r <= k).double()
        out[f"hr@{k}"] = hit
        out[f"ndcg@{k}"] = hit / torch.log2(r + 1.0)
    return out
