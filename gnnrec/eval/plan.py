"""Per-(dataset, split) evaluation structures, built once and cached.

A *group* is one (user, domain) pair that has ground truth in the split. Groups
are sorted by domain, then user, so the groups of domain ``d`` are the
contiguous range ``dom_ptr[d] : dom_ptr[d + 1]``. Two CSR structures hang off
the groups (``ptr`` of length n_groups + 1, item indices *local* to the
domain's item block ``ds.item_block(d)``):

* ``truth``: the group's ground-truth items (duplicates removed; never empty);
* ``mask``: items excluded from the group's ranking -- the user's train
  positives in that domain, plus the valid positives when the split is
  ``test``. An item that is also ground truth is never masked (it stays truth).

Also per item: ``train_count`` (train positives) and ``pop_pct``, the
popularity percentile of the item's train count inside its own domain
(mid-rank: ``100 * (#lower + 0.5 * #equal) / n_domain_items``).

:func:`get_plan` caches plans by ``ds.fingerprint()`` and split; the
fingerprint itself is cached per live Dataset object, so a trainer evaluating
every epoch pays the build cost once.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import numpy as np
import torch

from gnnrec.data.schema import DataError, Dataset

EVAL_SPLITS = ("valid", "test")
SCEN_NAMES = ("warm", "cold")
_MAX_PLANS = 4
MAX_SCORES = 1 << 25        # at most 32M scores (128 MiB float32) per score block


@dataclass
class CSR:
    """Ragged per-group item lists: group g owns ``items[ptr[g]:ptr[g+1]]``."""

    ptr: np.ndarray     # (n_groups + 1,) int64
    items: np.ndarray   # (nnz,) int64, local to the group's domain block
    group: np.ndarray   # (nnz,) int64, the owning group of every entry


@dataclass
class Plan:
    """Everything the evaluator needs about one split of one dataset (see module doc)."""

    fingerprint: str
    split: str
    n_users: int
    n_items: int
    domains: list[str]
    item_offsets: np.ndarray        # (n_domains + 1,)
    g_user: np.ndarray              # (n_groups,) int64 user index
    g_dom: np.ndarray               # (n_groups,) int64 domain index
    g_scen: np.ndarray              # (n_groups,) int64: 0 warm, 1 cold
    dom_ptr: np.ndarray             # (n_domains + 1,) group range of each domain
    truth: CSR
    mask: CSR
    train_count: np.ndarray         # (n_items,) int64
    pop_pct: np.ndarray             # (n_items,) float64 in [0, 100]
    rows: dict = field(default_factory=dict)
    # split positives sorted by group (sampled protocol): user, item, group, and ptr
    # (n_groups + 1,) so that group g owns rows ptr[g]:ptr[g+1]
    known: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    # sorted user * n_items + item over train, valid and test: what a user has interacted with
    _dev: dict = field(default_factory=dict, repr=False)

    @property
    def n_groups(self) -> int:
        return len(self.g_user)

    def tensors(self, device: torch.device) -> dict[str, torch.Tensor]:
        """The hot-path arrays as tensors on ``device`` (cached per device)."""
        key = str(device)
        if key not in self._dev:
            t = {name: torch.as_tensor(arr, device=device) for name, arr in (
                ("g_user", self.g_user), ("t_ptr", self.truth.ptr), ("t_items", self.truth.items),
                ("t_group", self.truth.group), ("m_ptr", self.mask.ptr),
                ("m_items", self.mask.items), ("m_group", self.mask.group),
                ("pop_pct", self.pop_pct.astype(np.float32)))}
            self._dev[key] = t
        return self._dev[key]


@dataclass
class GroupScores:
    """Per-group metric values of the evaluated groups, plus top-K coverage sets.

    ``groups`` (n,) plan group ids; ``values`` metric name -> (n,) float64;
    ``covered`` domain index -> (2 scenarios, len(ks), n_d) bool: items that
    appear in some top-K list of that domain x scenario.
    """

    groups: np.ndarray
    values: dict[str, np.ndarray]
    covered: dict[int, np.ndarray]


def _csr(group: np.ndarray, local: np.ndarray, n_groups: int) -> CSR:
    """CSR from (group, local item) pairs; sorts and removes duplicate pairs."""
    key = np.unique(group.astype(np.int64) * (1 << 32) + local.astype(np.int64))
    g, it = key >> 32, key & ((1 << 32) - 1)
    ptr = np.zeros(n_groups + 1, dtype=np.int64)
    np.cumsum(np.bincount(g, minlength=n_groups), out=ptr[1:])
    return CSR(ptr=ptr, items=it, group=g)


def _pop_percentile(counts: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Mid-rank percentile of each item's count within its domain block, (n_items,)."""
    out = np.zeros(len(counts), dtype=np.float64)
    for d in range(len(offsets) - 1):
        c = counts[offsets[d]:offsets[d + 1]]
        if len(c) == 0:
            continue
        s = np.sort(c)
        lower = np.searchsorted(s, c, side="left")
        equal = np.searchsorted(s, c, side="right") - lower
        out[offsets[d]:offsets[d + 1]] = 100.0 * (lower + 0.5 * equal) / len(c)
    return out


def build_plan(ds: Dataset, split: str, fingerprint: str) -> Plan:
    """Build the :class:`Plan` of ``split`` (``valid`` or ``test``) of ``ds``."""
    if split not in EVAL_SPLITS:
        raise DataError(f"cannot evaluate split {split!r}: choose one of {EVAL_SPLITS}")
    df = ds.split(split)
    if len(df) == 0:
        raise DataError(f"{ds.name}: split {split!r} is empty, nothing to evaluate")
    nu, offs = ds.n_users, ds.item_offsets
    user, item, dom = (df[c].to_numpy(np.int64) for c in ("user", "item", "domain"))
    scen = (df["scenario"].to_numpy() == "cold").astype(np.int64)
    gkey = dom * nu + user
    keys, g_of_row = np.unique(gkey, return_inverse=True)
    n_groups = len(keys)
    g_scen = np.zeros(n_groups, dtype=np.int64)
    g_scen[g_of_row] = scen
    mixed = np.flatnonzero(g_scen[g_of_row] != scen)
    if len(mixed):
        r = int(mixed[0])
        raise DataError(f"{ds.name}/{split}: user {ds.users['user_id'].iat[user[r]]} has both warm "
                        f"and cold rows in domain {ds.domains[dom[r]]}; a (user, domain) group "
                        f"must have one scenario -- fix the split")
    g_dom, g_user = keys // nu, keys % nu
    truth = _csr(g_of_row, item - offs[dom], n_groups)

    mask_parts = [ds.train] + ([ds.valid] if split == "test" else [])
    mg, mi = [], []
    for part in mask_parts:
        pk = part["domain"].to_numpy(np.int64) * nu + part["user"].to_numpy(np.int64)
        pos = np.searchsorted(keys, pk).clip(max=n_groups - 1)
        hit = keys[pos] == pk
        mg.append(pos[hit])
        mi.append(part["item"].to_numpy(np.int64)[hit] - offs[part["domain"].to_numpy(np.int64)[hit]])
    mg_a, mi_a = np.concatenate(mg), np.concatenate(mi)
    tkey = truth.group * (1 << 32) + truth.items
    keep = ~np.isin(mg_a * (1 << 32) + mi_a, tkey)
    mask = _csr(mg_a[keep], mi_a[keep], n_groups)

    counts = np.bincount(ds.train["item"].to_numpy(np.int64), minlength=ds.n_items)
    dom_ptr = np.searchsorted(g_dom, np.arange(len(ds.domains) + 1), side="left")
    order = np.argsort(g_of_row, kind="stable")
    rows = {"user": user[order], "item": item[order], "group": g_of_row[order],
            "ptr": np.searchsorted(g_of_row[order], np.arange(n_groups + 1))}
    known = np.unique(np.concatenate([
        ds.split(s)["user"].to_numpy(np.int64) * ds.n_items + ds.split(s)["item"].to_numpy(np.int64)
        for s in ("train", "valid", "test")]))
    return Plan(fingerprint=fingerprint, split=split, n_users=nu, n_items=ds.n_items,
                domains=list(ds.domains), item_offsets=np.asarray(offs, dtype=np.int64),
                g_user=g_user, g_dom=g_dom, g_scen=g_scen, dom_ptr=dom_ptr.astype(np.int64),
                truth=truth, mask=mask, train_count=counts,
                pop_pct=_pop_percentile(counts, offs), rows=rows, known=known)


_FINGERPRINTS: dict[int, tuple[weakref.ref, str]] = {}
_PLANS: dict[tuple[str, str], Plan] = {}


def fingerprint_of(ds: Dataset) -> str:
    """``ds.fingerprint()``, computed once per live Dataset object."""
    hit = _FINGERPRINTS.get(id(ds))
    if hit is not None and hit[0]() is ds:
        return hit[1]
    fp = ds.fingerprint()
    key = id(ds)
    _FINGERPRINTS[key] = (weakref.ref(ds, lambda _r, k=key: _FINGERPRINTS.pop(k, None)), fp)
    return fp


def get_plan(ds: Dataset, split: str) -> Plan:
    """Cached :func:`build_plan` (keyed by dataset fingerprint and split)."""
    fp = fingerprint_of(ds)
    key = (fp, split)
    if key not in _PLANS:
        if len(_PLANS) >= _MAX_PLANS:
            _PLANS.pop(next(iter(_PLANS)))
        _PLANS[key] = build_plan(ds, split, fp)
    return _PLANS[key]
