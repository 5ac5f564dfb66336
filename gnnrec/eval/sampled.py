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
from gnnrec.eval.metrics import sampled_metrics
from gnnrec.eval.plan import MAX_SCORES, GroupScores, Plan

CHUNK = 1024
_MAX_REDRAWS = 200


_HASH_BITS = 24


def _hash(key: np.ndarray) -> np.ndarray:
    """Multiplicative hash of int64 keys to [0, 2**_HASH_BITS)."""
    return ((key.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - _HASH_BITS)
            ).astype(np.int64)


def _known_filter(plan: Plan) -> np.ndarray:
    """Bool table over hashed (user, item) keys: False means surely never interacted."""
    if "known_filter" not in plan._dev:
        table = np.zeros(1 << _HASH_BITS, dtype=bool)
        table[_hash(plan.known)] = True
        plan._dev["known_filter"] = table
    return plan._dev["known_filter"]


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
    bloom = _known_filter(plan)
    for _ in range(_MAX_REDRAWS):
        key = users[:, None] * plan.n_items + neg
        bad = bloom[_hash(key)]                     # cheap prefilter, then the exact test
        if bad.any():
            k = key[bad]
            at = np.searchsorted(plan.known, k).clip(max=len(plan.known) - 1)
            bad[bad] = plan.known[at] == k
        if not bad.any():
            return neg
        neg[bad] = pool[rng.integers(0, len(pool), size=int(bad.sum()))]
    u = int(users[np.flatnonzero(bad.any(1))[0]])
    raise DataError(f"user index {u} has interacted with (nearly) every train item of domain "
                    f"{plan.domains[d]}: no negatives left to sample")


def _score_rows(user_emb: torch.Tensor, item_emb: torch.Tensor, users: torch.Tensor,
                cand: torch.Tensor, lo: int, hi: int, buf: torch.Tensor) -> torch.Tensor:
    """(R, C) scores of candidate items ``cand`` (R, C) for ``users`` (R,), memory-bounded.

    Small domains: one score row per user by matrix product, then a gather.
    Large domains: gather the candidates' vectors (into the reused ``buf``) and
    take R matrix-vector products.
    """
    n_d, dim = hi - lo, item_emb.shape[1]
    rows, n_c = cand.shape
    out = torch.empty(cand.shape, dtype=item_emb.dtype, device=item_emb.device)
    if n_d <= 4 * n_c:
        step = max(1, min(rows, len(buf) // n_d))
        for i in range(0, rows, step):
            r = min(step, rows - i)
            s = buf[:r * n_d].view(r, n_d)
            torch.mm(user_emb[users[i:i + r]], item_emb[lo:hi].T, out=s)
            out[i:i + r] = s.gather(1, cand[i:i + r] - lo)
    else:
        step = max(1, min(rows, len(buf) // (n_c * dim)))
        for i in range(0, rows, step):
            r = min(step, rows - i)
            v = buf[:r * n_c * dim].view(r * n_c, dim)
            torch.index_select(item_emb, 0, cand[i:i + r].reshape(-1), out=v)
            out[i:i + r] = torch.bmm(user_emb[users[i:i + r]].unsqueeze(1),
                                     v.view(r, n_c, dim).transpose(1, 2))[:, 0]
    return out


class Negatives:
    """Seeded negatives of domain ``d``'s rows, drawn per chunk of :data:`CHUNK` rows.

    Row ``r`` (an index into ``plan.rows``) always receives the same negatives
    for a given (seed, n_neg), whichever subset or batch asks for it.
    """

    def __init__(self, plan: Plan, d: int, n_neg: int, seed: int) -> None:
        self.plan, self.d, self.n_neg, self.seed = plan, d, n_neg, seed
        self.start = int(plan.rows["ptr"][plan.dom_ptr[d]])
        self.stop = int(plan.rows["ptr"][plan.dom_ptr[d + 1]])
        self.chunks: dict[int, np.ndarray] = {}

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), n_neg) global item indices for ascending ``rows`` of this domain."""
        local = rows - self.start
        cid = local // CHUNK
        for c in np.unique(cid):
            if c not in self.chunks:
                a = self.start + int(c) * CHUNK
                users = self.plan.rows["user"][a:min(a + CHUNK, self.stop)]
                self.chunks[int(c)] = sample_negatives(self.plan, self.d, users, self.n_neg,
                                                       self.seed, int(c))
        for c in [c for c in self.chunks if c < cid.min()]:    # rows arrive in order
            del self.chunks[c]
        out = np.empty((len(rows), self.n_neg), dtype=np.int64)
        for c in np.unique(cid):
            at = cid == c
            out[at] = self.chunks[int(c)][local[at] - int(c) * CHUNK]
        return out


def rank_candidates(s: torch.Tensor, ok_items: torch.Tensor, ok_users: torch.Tensor,
                    ks: tuple[int, ...]) -> dict[str, torch.Tensor]:
    """Per-row sampled metrics from (R, 1 + N) scores, the positive in column 0.

    ``ok_items`` (R, 1 + N) False for items absent from an export (score -inf);
    ``ok_users`` (R,) False for users absent from it (a miss).
    """
    s = torch.where(ok_items, s, torch.full_like(s, float("-inf")))
    pos = s[:, :1]
    rank = 1 + (s[:, 1:] >= pos).float().sum(1).double()
    miss = ~torch.isfinite(pos[:, 0]) | ~ok_users
    rank = torch.where(miss, torch.full_like(rank, float("inf")), rank)
    return sampled_metrics(rank, ks)


class RowAccumulator:
    """Collects per-row sampled metrics and averages them per group at the end."""

    def __init__(self) -> None:
        self.values: dict[str, list[np.ndarray]] = {}
        self.groups: list[np.ndarray] = []

    def add(self, groups: np.ndarray, metrics: dict[str, torch.Tensor]) -> None:
        for name, v in metrics.items():
            self.values.setdefault(name, []).append(v.cpu().numpy())
        self.groups.append(groups)

    def finish(self, plan: Plan, groups: np.ndarray) -> GroupScores:
        """Per-group means over rows for the evaluated ``groups`` (ascending)."""
        slot = np.full(plan.n_groups, -1, dtype=np.int64)
        slot[groups] = np.arange(len(groups))
        rg = slot[np.concatenate(self.groups)] if self.groups else np.zeros(0, np.int64)
        counts = np.bincount(rg, minlength=len(groups)).astype(np.float64)
        values = {name: np.bincount(rg, weights=np.concatenate(v), minlength=len(groups)) / counts
                  for name, v in self.values.items()}
        return GroupScores(groups=groups, values=values, covered={})


def rows_of(plan: Plan, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows (indices into ``plan.rows``) of ``groups`` and each row's position in ``groups``."""
    ptr = plan.rows["ptr"]
    lens = ptr[groups + 1] - ptr[groups]
    where = np.repeat(np.arange(len(groups)), lens)
    first = np.cumsum(lens) - lens
    return np.arange(int(lens.sum())) - first[where] + ptr[groups][where], where


@torch.inference_mode()
def sampled_ranking(plan: Plan, user_emb: torch.Tensor, item_emb: torch.Tensor,
                    ks: tuple[int, ...], selected: np.ndarray, n_neg: int, seed: int,
                    user_ok: np.ndarray, item_ok: np.ndarray,
                    progress: bool = False) -> GroupScores:
    """Sampled metrics of the ``selected`` groups (see module docstring)."""
    dev = user_emb.device
    item_ok_t = torch.as_tensor(item_ok, device=dev)
    r_user, r_item, r_group = plan.rows["user"], plan.rows["item"], plan.rows["group"]
    acc = RowAccumulator()
    buf = torch.empty(MAX_SCORES // 2, dtype=user_emb.dtype, device=dev)   # reused scratch
    jobs = []
    for d in range(len(plan.domains)):
        rows, _ = rows_of(plan, selected[plan.g_dom[selected] == d])
        jobs += [(d, rows[i:i + CHUNK]) for i in range(0, len(rows), CHUNK)]
    negs: dict[int, Negatives] = {}
    for d, rows in tqdm(jobs, desc=f"evaluate {plan.split} (sampled)", unit="chunk",
                        disable=not progress, leave=False):
        neg = negs.setdefault(d, Negatives(plan, d, n_neg, seed))(rows)
        lo, hi = int(plan.item_offsets[d]), int(plan.item_offsets[d + 1])
        cand = torch.as_tensor(np.concatenate([r_item[rows, None], neg], axis=1), device=dev)
        users = torch.as_tensor(r_user[rows], device=dev)
        s = _score_rows(user_emb, item_emb, users, cand, lo, hi, buf)
        acc.add(r_group[rows], rank_candidates(s, item_ok_t[cand],
                                               torch.as_tensor(user_ok[r_user[rows]], device=dev),
                                               ks))
    return acc.finish(plan, np.sort(selected))
