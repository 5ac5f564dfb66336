"""Full-ranking protocol: every group scored against every item of its domain.

For each domain ``d`` and each batch of at most ``batch_size`` groups (and at
most :data:`MAX_SCORES` scores) the batch's score block is one matrix product
``U[users] @ V[block_d].T`` (B, n_d) on the embeddings' device; masked items
(train positives, valid positives when scoring test, items absent from an
export) are set to ``-inf``; ``torch.topk`` gives the top-K lists and
:func:`gnnrec.eval.ranking.truth_ranks` the pessimistic truth ranks. Memory is
O(B * n_d); no Python loop runs over users or items.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from gnnrec.eval.metrics import topk_metrics
from gnnrec.eval.plan import MAX_SCORES, GroupScores, Plan
from gnnrec.eval.ranking import truth_ranks
from gnnrec.eval.sampled import Negatives, RowAccumulator, rank_candidates, rows_of

def gather_csr(ptr: torch.Tensor, groups: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Entry indices and batch-local rows of the CSR rows ``groups`` (vectorised)."""
    lens = ptr[groups + 1] - ptr[groups]
    rows = torch.repeat_interleave(torch.arange(len(groups), device=ptr.device), lens)
    first = torch.cumsum(lens, 0) - lens
    entry = torch.arange(int(lens.sum()), device=ptr.device) - first[rows] + ptr[groups][rows]
    return entry, rows


def batches(plan: Plan, selected: np.ndarray, batch_size: int) -> list[tuple[int, np.ndarray]]:
    """(domain, group ids) batches of the selected groups, never mixing domains."""
    out = []
    for d in range(len(plan.domains)):
        g = selected[(plan.g_dom[selected] == d)]
        if len(g) == 0:
            continue
        n_d = int(plan.item_offsets[d + 1] - plan.item_offsets[d])
        rows = max(1, min(batch_size, MAX_SCORES // max(n_d, 1)))
        out += [(d, g[i:i + rows]) for i in range(0, len(g), rows)]
    return out


@torch.inference_mode()
def full_ranking(plan: Plan, user_emb: torch.Tensor, item_emb: torch.Tensor, ks: tuple[int, ...],
                 selected: np.ndarray, batch_size: int, user_ok: np.ndarray,
                 item_ok: np.ndarray, progress: bool = False,
                 sampled: tuple[int, int, tuple[int, ...]] | None = None
                 ) -> tuple[GroupScores, GroupScores | None]:
    """Evaluate the ``selected`` groups of ``plan`` (see module docstring).

    ``sampled=(n_neg, seed, ks)`` also computes the sampled protocol from the
    same score blocks (identical to :func:`gnnrec.eval.sampled.sampled_ranking`,
    without a second matrix product); the second returned value is then its
    :class:`GroupScores`, else None.

    ``user_emb`` (n_users, dim) and ``item_emb`` (n_items, dim) float32 on one
    device; ``user_ok`` / ``item_ok`` bool (n_users,) / (n_items,): rows that
    exist (a missing user's groups are misses, a missing item is never ranked).
    """
    dev = user_emb.device
    t = plan.tensors(dev)
    kmax_nominal = max(ks)
    miss = kmax_nominal + 1
    item_bad = torch.as_tensor(~item_ok, device=dev)
    item_ok_t = ~item_bad
    values: dict[str, list[torch.Tensor]] = {}
    first_pos: dict[int, torch.Tensor] = {}
    todo = batches(plan, selected, batch_size)
    # one reused score buffer: fresh multi-MB tensors per batch cost page faults on CPU
    need = max((len(g) * int(plan.item_offsets[d + 1] - plan.item_offsets[d]) for d, g in todo),
               default=0)
    buf = torch.empty(need, dtype=user_emb.dtype, device=dev)
    acc, negs = (RowAccumulator(), {}) if sampled is not None else (None, {})
    for d, g_np in tqdm(todo, desc=f"evaluate {plan.split} (full)", unit="batch",
                        disable=not progress, leave=False):
        lo, hi = int(plan.item_offsets[d]), int(plan.item_offsets[d + 1])
        n_d = hi - lo
        g = torch.as_tensor(g_np, device=dev)
        scores = buf[:len(g_np) * n_d].view(len(g_np), n_d)
        torch.mm(user_emb[t["g_user"][g]], item_emb[lo:hi].T, out=scores)
        if acc is not None:                      # sampled protocol, before any masking
            n_neg, seed, s_ks = sampled
            rows, local = rows_of(plan, g_np)
            neg = negs.setdefault(d, Negatives(plan, d, n_neg, seed))(rows)
            cand = torch.as_tensor(np.concatenate([plan.rows["item"][rows, None], neg], 1),
                                   device=dev)
            flat = torch.as_tensor(local, device=dev)[:, None] * n_d + (cand - lo)
            s = torch.take(scores, flat)                   # (rows, 1 + N) candidate scores
            r_users = plan.rows["user"][rows]
            acc.add(plan.rows["group"][rows],
                    rank_candidates(s, item_ok_t[cand], torch.as_tensor(user_ok[r_users],
                                                                         device=dev), s_ks))
        m_entry, m_row = gather_csr(t["m_ptr"], g)
        scores[m_row, t["m_items"][m_entry]] = float("-inf")
        bad = item_bad[lo:hi]
        if bool(bad.any()):
            scores[:, bad] = float("-inf")
        kmax = min(kmax_nominal, n_d)
        vals, idx = torch.topk(scores, kmax, dim=1)
        t_entry, t_row = gather_csr(t["t_ptr"], g)
        n_truth = t["t_ptr"][g + 1] - t["t_ptr"][g]
        row_start = torch.cumsum(n_truth, 0) - n_truth
        rank, pos, row, best = truth_ranks(scores, vals, t_row, t["t_items"][t_entry],
                                           row_start, miss)            # overwrites scores
        out = topk_metrics(rank, pos, row, n_truth, ks)
        out["mrr"] = 1.0 / best
        ok = torch.as_tensor(user_ok[plan.g_user[g_np]], device=dev)
        listed = torch.isfinite(vals) & ok[:, None]                        # (B, kmax)
        pop = torch.where(listed, t["pop_pct"][lo:hi][idx], torch.zeros((), device=dev))
        cum_pop = torch.cumsum(pop.double(), 1)
        cum_n = torch.cumsum(listed.double(), 1)
        # first list position of every (scenario, item): coverage@K = #items first seen < K
        scen = torch.as_tensor(plan.g_scen[g_np], device=dev)
        first = first_pos.setdefault(d, torch.full((2, n_d), miss, dtype=torch.long, device=dev))
        where = scen[:, None] * n_d + idx
        posn = torch.arange(kmax, device=dev).expand_as(idx)
        first.view(-1).scatter_reduce_(0, where[listed], posn[listed], reduce="amin")
        for k in ks:
            c = min(k, kmax) - 1
            out[f"pop_pct@{k}"] = cum_pop[:, c] / cum_n[:, c]               # NaN when none listed
        for name, v in out.items():
            if not name.startswith("pop_pct"):
                v = torch.where(ok, v, torch.zeros_like(v))
            values.setdefault(name, []).append(v)
    covered = {d: np.stack([(f < k).cpu().numpy() for k in ks], axis=1)
               for d, f in first_pos.items()}                              # (2, nK, n_d)
    vals_np = {k: torch.cat(v).cpu().numpy() for k, v in values.items()}
    order = np.concatenate([g for _, g in todo]) if todo else np.zeros(0, dtype=np.int64)
    full = GroupScores(groups=order, values=vals_np, covered=covered)
    return full, (acc.finish(plan, order) if acc is not None else None)
