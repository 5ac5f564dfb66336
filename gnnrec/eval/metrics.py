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

FULL_METRICS = ("recall", "ndcg", "hr", "precision", "map")
LIST_METRICS = ("coverage", "pop_pct")
SAMPLED_METRICS = ("ndcg", "hr")


def _segment_sum(values: torch.Tensor, row: torch.Tensor, n_rows: int) -> torch.Tensor:
    out = torch.zeros(n_rows, dtype=torch.float64, device=values.device)
    return out.index_add_(0, row, values.double())


def topk_metrics(rank: torch.Tensor, pos: torch.Tensor, row: torch.Tensor,
                 n_truth: torch.Tensor, ks: tuple[int, ...]) -> dict[str, torch.Tensor]:
    """Per-row recall/ndcg/hr/precision/map at every K in ``ks``.

    ``rank``, ``pos``, ``row`` are (nnz,) as returned by
    :func:`gnnrec.eval.ranking.truth_ranks`; ``n_truth`` is (B,) |T| per row.
    Returns ``{"ndcg@20": (B,) float64, ...}``.
    """
    n_rows = n_truth.numel()
    n_t = n_truth.double()
    rank_f = rank.double()
    gain = 1.0 / torch.log2(rank_f + 1.0)
    kmax = max(ks)
    ideal = torch.cumsum(1.0 / torch.log2(torch.arange(2, kmax + 2, device=rank.device,
                                                           dtype=torch.float64)), 0)
    out: dict[str, torch.Tensor] = {}
    for k in ks:
        hit = (rank <= k).double()
        hits = _segment_sum(hit, row, n_rows)
        cut = torch.clamp(n_truth, max=k)
        out[f"recall@{k}"] = hits / n_t
        out[f"precision@{k}"] = hits / k
        out[f"hr@{k}"] = (hits > 0).double()
        out[f"ndcg@{k}"] = _segment_sum(hit * gain, row, n_rows) / ideal[cut - 1]
        out[f"map@{k}"] = _segment_sum(hit * pos.double() / rank_f, row, n_rows) / cut.double()
    return out


def sampled_metrics(rank: torch.Tensor, ks: tuple[int, ...]) -> dict[str, torch.Tensor]:
    """Per-positive sampled metrics from (n,) ranks among 1 + N candidates."""
    r = rank.double()
    out = {"mrr": 1.0 / r}
    for k in ks:
        hit = (r <= k).double()
        out[f"hr@{k}"] = hit
        out[f"ndcg@{k}"] = hit / torch.log2(r + 1.0)
    return out
