"""Sampled protocol of DisenCDR / CDRIB / UniCDR: one positive against N sampled negatives.

For every positive (user, item) row of the split, N items (default 999) are
drawn uniformly *with replacement* -- as the DisenCDR reference code does --
from the domain's train items (items with at least one train positive) that
the user has never interacted with (train, valid or test). Draws are seeded by
``(seed, domain, chunk of 1024 rows)``, so the negatives depend only on the
seed, the dataset and the split (not on batch size, device or filters).

rank = 1 + #{negatives scoring >= the positive} (ties count against the
model); per-positive MRR / HR@K / NDCG@K are averaged per (user, domain) group,
then over groups like the full protocol. Sampled figures can order models
differently from full ranking (Krichene & Rendle, KDD 2020): always read them
beside the full-ranking ones.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from gnnrec.data.schema import DataError
from gnnrec.eval.full import MAX_SCORES, GroupScores
from gnnrec.eval.metrics import sampled_metrics
from gnnrec.eval.plan import Plan

CHUNK = 1024
_MAX_REDRAWS = 200


def sample_negatives(plan: Plan, d: int, users: np.ndarray, n_neg: int, seed: int,
                     chunk: int) -> np.ndarray:
    """(len(users), n_neg) global item indices, uniform over the domain's train items
    each user has not interacted with (with replacement; seeded, see module doc)."""
    lo, hi = int(plan.item_offsets[d]), int(plan.item_offsets[d + 1])
    pool = lo + np.flatnonzero(plan.train_count[lo:hi] > 0)
    if len(pool) == 0:
        raise DataError(f"domain {plan.domains[d]} has no train items to sample negatives from")
    rng = np.random.default_rng([seed, d, chunk])
    neg = pool[rng.integers(0, len(pool), size=(len(users), n_neg))]
    for _ in range(_MAX_REDRAWS):
        key = users[:, None] * plan.n_items + neg
        at = np.searchsorted(plan.known, key).clip(max=len(plan.known) - 1)
        bad = plan.known[at] == key
        if not bad.any():
            return neg
        neg[bad] = pool[rng.integers(0, len(pool), size=int(bad.sum()))]
    u = int(users[np.flatnonzero(bad.any(1))[0]])
    raise DataError(f"user index {u} has interacted with (nearly) every train item of domain "
                    f"{plan.domains[d]}: no negatives left to sample")


def _score_rows(user_emb: torch.Tensor, item_emb: torch.Tensor, users: torch.Tensor,
                cand: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
    """(R, C) scores of candidate items ``cand`` (R, C) for ``users`` (R,), memory-bounded."""
    n_d, dim = hi - lo, item_emb.shape[1]
    out = torch.empty(cand.shape, dtype=item_emb.dtype, device=item_emb.device)
    if n_d <= 4 * cand.shape[1]:          # small domain: one matmul row, then gather
        step = max(1, MAX_SCORES // n_d)
        for i in range(0, len(users), step):
            s = user_emb[users[i:i + step]] @ item_emb[lo:hi].T
            out[i:i + step] = s.gather(1, cand[i:i + step] - lo)
    else:                                  # large domain: gather candidate vectors
        step = max(1, MAX_SCORES // (cand.shape[1] * dim))
        for i in range(0, len(users), step):
            v = item_emb[cand[i:i + step]]                       # (r, C, dim)
            out[i:i + step] = torch.bmm(v, user_emb[users[i:i + step]].unsqueeze(2)).squeeze(2)
    return out


@torch.inference_mode()
def sampled_ranking(plan: Plan, user_emb: torch.Tensor, item_emb: torch.Tensor,
                    ks: tuple[int, ...], selected: np.ndarray, n_neg: int, seed: int,
                    user_ok: np.ndarray, item_ok: np.ndarray,
                    progress: bool = False) -> GroupScores:
    """Sampled metrics of the ``selected`` groups (see module docstring)."""
    dev = user_emb.device
    item_ok_t = torch.as_tensor(item_ok, device=dev)
    sel = np.zeros(plan.n_groups, dtype=bool)
    sel[selected] = True
    r_user, r_item, r_group = plan.rows["user"], plan.rows["item"], plan.rows["group"]
    per_row: dict[str, list[np.ndarray]] = {}
    row_groups: list[np.ndarray] = []
    jobs = []
    for d in range(len(plan.domains)):
        rows_d = np.flatnonzero(plan.g_dom[r_group] == d)
        jobs += [(d, c, rows_d[i:i + CHUNK]) for c, i in enumerate(range(0, len(rows_d), CHUNK))]
    for d, c, rows in tqdm(jobs, desc=f"evaluate {plan.split} (sampled)", unit="chunk",
                           disable=not progress, leave=False):
        keep = sel[r_group[rows]]
        if not keep.any():
            continue
        neg = sample_negatives(plan, d, r_user[rows], n_neg, seed, c)[keep]
        rows = rows[keep]
        lo, hi = int(plan.item_offsets[d]), int(plan.item_offsets[d + 1])
        cand = torch.as_tensor(np.concatenate([r_item[rows, None], neg], axis=1), device=dev)
        users = torch.as_tensor(r_user[rows], device=dev)
        s = _score_rows(user_emb, item_emb, users, cand, lo, hi)
        s = torch.where(item_ok_t[cand], s, torch.full_like(s, float("-inf")))
        pos = s[:, :1]
        rank = 1 + (s[:, 1:] >= pos).sum(1).double()
        miss = ~torch.isfinite(pos[:, 0]) | ~torch.as_tensor(user_ok[r_user[rows]], device=dev)
        rank = torch.where(miss, torch.full_like(rank, float("inf")), rank)
        for name, v in sampled_metrics(rank, ks).items():
            per_row.setdefault(name, []).append(v.cpu().numpy())
        row_groups.append(r_group[rows])
    groups = np.flatnonzero(sel)
    slot = np.full(plan.n_groups, -1, dtype=np.int64)
    slot[groups] = np.arange(len(groups))
    rg = slot[np.concatenate(row_groups)] if row_groups else np.zeros(0, np.int64)
    counts = np.bincount(rg, minlength=len(groups)).astype(np.float64)
    values = {name: np.bincount(rg, weights=np.concatenate(v), minlength=len(groups)) / counts
              for name, v in per_row.items()}
    return GroupScores(groups=groups, values=values, covered={})
