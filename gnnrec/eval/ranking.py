"""Ranks of ground-truth items inside a batch of score rows, ties broken pessimistically.

Tie rule (deterministic, never optimistic): the ranked list orders items by
score, descending; among items with *equal* score every non-truth item comes
before every truth item. Truth items tied with each other take the next ranks
in any order -- with binary relevance every metric depends only on the *set*
of truth ranks, which this rule fixes. So, for a truth item ``t`` of row ``r``
with score ``s_t``::

    rank(t) = #{unmasked j : s_j >= s_t} - #{truth t' : s_t' == s_t} + tiepos(t) + 1

with ``tiepos`` = 0, 1, ... over the truth items sharing that score. Masked
items carry score ``-inf`` and never precede a finite truth score. A truth
item with score ``-inf`` (an item absent from an export) is a miss.
"""

from __future__ import annotations

import torch

NEG_INF = float("-inf")


def _sort_truth(t_row: torch.Tensor, t_score: torch.Tensor) -> torch.Tensor:
    """Permutation ordering truth entries by (row ascending, score descending), stable."""
    by_score = torch.argsort(t_score, descending=True, stable=True)
    by_row = torch.argsort(t_row[by_score], stable=True)
    return by_score[by_row]


def truth_ranks(scores: torch.Tensor, vals: torch.Tensor, t_row: torch.Tensor,
                t_col: torch.Tensor, row_start: torch.Tensor, miss: int
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pessimistic ranks of the truth entries of a batch.

    Args:
        scores: (B, n) scores, masked entries already ``-inf``.
        vals: (B, kmax) ``torch.topk(scores, kmax).values`` (descending).
        t_row: (nnz,) row of every truth entry, ascending (entries grouped by row).
        t_col: (nnz,) column of every truth entry.
        row_start: (B,) index of each row's first truth entry in ``t_row``.
        miss: the rank reported for an entry ranked below ``kmax`` (> every cut-off).

    ``scores`` is overwritten (counting in place avoids a temporary as large
    as the score block). Returns ``(rank, pos, t_row_sorted, best_rank)``:
    ``rank`` (nnz,) int64, the exact pessimistic rank when ``<= kmax``, else
    ``miss``; ``pos`` (nnz,) the 1-based position of the entry among its row's
    truth items ordered by rank; ``t_row_sorted`` the rows in that order;
    ``best_rank`` (B,) float64, the uncut rank of the row's best truth item
    (``inf`` when none is scored). Entry outputs follow the sorted order.
    """
    nnz, kmax = t_row.numel(), vals.shape[1]
    dev = scores.device
    s = scores[t_row, t_col]
    perm = _sort_truth(t_row, s)
    row, s = t_row[perm], s[perm]
    ar = torch.arange(nnz, device=dev)
    new_row = torch.ones(nnz, dtype=torch.bool, device=dev)
    new_row[1:] = row[1:] != row[:-1]
    start = new_row.clone()
    start[1:] |= s[1:] != s[:-1]
    run = torch.cumsum(start.long(), 0) - 1
    run_first = torch.nonzero(start).squeeze(1)
    tiepos = ar - run_first[run]
    n_tied = torch.bincount(run)[run]
    pos = ar - row_start[row] + 1

    v_k = vals[:, -1]
    above = s > v_k[row]
    at = (s == v_k[row]) & torch.isfinite(s)
    count_ge = (vals[row] >= s[:, None]).sum(1)          # exact when s > v_k
    if bool(at.any()):                                   # ties at the cut: count the whole row
        rows_at = torch.unique(row[at])
        full = torch.zeros(len(vals), dtype=count_ge.dtype, device=dev)
        full[rows_at] = _count_ge(scores[rows_at], v_k[rows_at]).long()
        count_ge = torch.where(at, full[row], count_ge)
    rank = count_ge - n_tied + tiepos + 1
    ok = (above | at) & (rank <= kmax)
    rank = torch.where(ok, rank, torch.full_like(rank, miss))

    s_best = s[row_start]                    # first entry of each row after sorting
    n_ge_best = scores.ge_(s_best[:, None]).sum(1)      # in place: scores become 0/1 here
    best = n_ge_best.double() - n_tied[row_start] + 1
    best = torch.where(torch.isfinite(s_best), best, torch.full_like(best, float("inf")))
    return rank, pos, row, best


def _count_ge(scores: torch.Tensor, thresh: torch.Tensor) -> torch.Tensor:
    """(B,) float32 count of entries of each row of ``scores`` >= ``thresh`` (exact below 2**24;
    a float sum is several times faster than summing a bool tensor on CPU)."""
    return (scores >= thresh[:, None]).float().sum(1)
