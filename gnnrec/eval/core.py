"""Public entry points: :func:`evaluate` (embeddings) and :func:`evaluate_export` (export folders).

Scores are inner products ``user_emb[u] . item_emb[i]``; each (user, domain)
group of the split is ranked against its own domain's items only. See
:mod:`gnnrec.eval.full` and :mod:`gnnrec.eval.sampled` for the protocols,
:mod:`gnnrec.eval.ranking` for the tie rule, :mod:`gnnrec.eval.metrics` for
the metric definitions and :mod:`gnnrec.eval.result` for aggregation and CIs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

from gnnrec import __version__
from gnnrec.data.schema import DataError, Dataset
from gnnrec.eval.full import full_ranking
from gnnrec.eval.plan import SCEN_NAMES, GroupScores, Plan, get_plan
from gnnrec.eval.result import EvalResult, summarize
from gnnrec.eval.sampled import sampled_ranking
from gnnrec.export.contract import Export, load_export

log = logging.getLogger(__name__)

EVALUATOR_VERSION = "1.0"
PROTOCOLS = ("full", "sampled")
TIE_RULE = "pessimistic: among equal scores every non-truth item ranks above every truth item"


class EvalError(DataError):
    """Inputs the evaluator cannot score honestly; the message says what to fix."""


def _as_tensor(x: Any, what: str, device: torch.device) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    elif isinstance(x, torch.Tensor):
        t = x.detach()
    else:
        raise EvalError(f"{what} must be a torch.Tensor or numpy array, got {type(x).__name__}")
    if t.ndim != 2:
        raise EvalError(f"{what} must be 2-D (rows x dim), got shape {tuple(t.shape)}")
    if not t.is_floating_point():
        t = t.float()
    t = t.to(device=device, dtype=torch.float32)
    bad = ~torch.isfinite(t).all(dim=1)
    if bool(bad.any()):
        raise EvalError(f"{what} has NaN or infinite values in {int(bad.sum())} of {t.shape[0]} "
                        f"rows (first: row {int(torch.nonzero(bad)[0])}); the model diverged or "
                        f"the file is corrupt -- retrain with a lower learning rate or re-export")
    return t


@contextlib.contextmanager
def _torch_threads(n: int | None):
    """Temporarily run torch CPU ops on ``n`` threads (None: leave the setting alone)."""
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _check_ks(ks: Sequence[int], what: str = "ks") -> tuple[int, ...]:
    try:
        out = tuple(sorted({int(k) for k in ks}))
    except (TypeError, ValueError):
        raise EvalError(f"{what} must be positive integers, got {ks!r}") from None
    if not out or out[0] < 1:
        raise EvalError(f"{what} must be positive integers, got {ks!r}")
    return out


def _select(plan: Plan, ds: Dataset, domains: Sequence[str] | None,
            scenarios: Sequence[str] | None) -> np.ndarray:
    keep = np.ones(plan.n_groups, dtype=bool)
    if domains is not None:
        unknown = sorted(set(domains) - set(ds.domains))
        if unknown:
            raise EvalError(f"unknown domains {unknown}; {ds.name} has {ds.domains}")
        keep &= np.isin(plan.g_dom, [ds.domain_index(d) for d in domains])
    if scenarios is not None:
        unknown = sorted(set(scenarios) - set(SCEN_NAMES))
        if unknown:
            raise EvalError(f"unknown scenarios {unknown}; expected some of {SCEN_NAMES}")
        keep &= np.isin(plan.g_scen, [SCEN_NAMES.index(s) for s in scenarios])
    sel = np.flatnonzero(keep)
    if len(sel) == 0:
        raise EvalError(f"no {plan.split} groups in domains={domains} x scenarios={scenarios}")
    return sel


def _groups_frame(plan: Plan, ds: Dataset, gs: GroupScores) -> pd.DataFrame:
    u = plan.g_user[gs.groups]
    frame = pd.DataFrame({
        "user": ds.users["user_id"].to_numpy()[u], "user_index": u,
        "domain": np.asarray(plan.domains, dtype=object)[plan.g_dom[gs.groups]],
        "scenario": np.asarray(SCEN_NAMES, dtype=object)[plan.g_scen[gs.groups]]})
    for name, v in gs.values.items():
        frame[name] = v
    return frame


def evaluate(user_emb: torch.Tensor | np.ndarray, item_emb: torch.Tensor | np.ndarray,
             ds: Dataset, split: str = "test", ks: Sequence[int] = (10, 20, 50),
             protocol: str = "full", **kwargs: Any) -> EvalResult:
    """Evaluate embeddings on ``split`` of ``ds`` with one protocol.

    Same arguments as :func:`evaluate_many` with ``protocol`` (``"full"`` or
    ``"sampled"``) instead of ``protocols``.
    """
    if protocol not in PROTOCOLS:
        raise EvalError(f"protocol {protocol!r} is not one of {PROTOCOLS}")
    return evaluate_many(user_emb, item_emb, ds, split=split, ks=ks, protocols=(protocol,),
                         **kwargs)[protocol]


def evaluate_many(user_emb: torch.Tensor | np.ndarray, item_emb: torch.Tensor | np.ndarray,
                  ds: Dataset, split: str = "test", ks: Sequence[int] = (10, 20, 50),
                  protocols: Sequence[str] = ("full", "sampled"), n_negatives: int = 999,
                  seed: int = 0,
             batch_size: int = 2048, device: str | torch.device | None = None,
             domains: Sequence[str] | None = None, scenarios: Sequence[str] | None = None,
             progress: bool = False, bootstrap: int = 1000,
             sampled_ks: Sequence[int] = (1, 5, 10), threads: int | None = None,
             present_users: np.ndarray | None = None,
             present_items: np.ndarray | None = None) -> dict[str, EvalResult]:
    """Evaluate embeddings on ``split`` of ``ds``; one :class:`EvalResult` per protocol.

    With both protocols, the sampled candidates are read from the full
    protocol's score blocks (one matrix product per block, not two); results
    equal separate :func:`evaluate` calls.

    Args:
        user_emb: (ds.n_users, dim) user vectors; item_emb: (ds.n_items, dim).
            Score = inner product. Tensor or ndarray; any float dtype.
        ds: the dataset; ``split``: ``"valid"`` or ``"test"``.
        ks: cut-offs of the full protocol. A K larger than a domain's catalogue
            is allowed: that domain's list holds every item, precision still
            divides by K, and ``meta["k_exceeds_catalogue"]`` records it.
        protocols: any of ``"full"`` (rank every item of the domain) and
            ``"sampled"`` (each positive against ``n_negatives`` sampled items;
            HR/NDCG at ``sampled_ks`` plus MRR).
        seed: seeds negative sampling and the bootstrap.
        batch_size: groups scored per matrix product (memory ~ batch x domain size).
        device: where to score; None = the device of ``user_emb`` (CPU for arrays).
        domains / scenarios: restrict to these domain names / ``warm`` | ``cold``.
        progress: show a tqdm bar. bootstrap: replicates for 95% CIs (0 = none).
        threads: torch CPU threads while scoring (None: unchanged). On an
            oversubscribed CPU, 1 thread avoids OpenMP stalls on the many small ops.
        present_users / present_items: bool (n_users,) / (n_items,) masks of rows
            that really exist (used by :func:`evaluate_export`): an absent user's
            groups are counted and scored as misses, an absent item is never
            ranked (and is a miss when it is ground truth).
    """
    t0 = time.perf_counter()
    protocols = tuple(dict.fromkeys(protocols))
    bad = [p for p in protocols if p not in PROTOCOLS]
    if bad or not protocols:
        raise EvalError(f"protocols {list(protocols)} must be some of {PROTOCOLS}")
    if device is None:
        device = user_emb.device if isinstance(user_emb, torch.Tensor) else torch.device("cpu")
    device = torch.device(device)
    U = _as_tensor(user_emb, "user_emb", device)
    V = _as_tensor(item_emb, "item_emb", device)
    if U.shape[0] != ds.n_users or V.shape[0] != ds.n_items:
        raise EvalError(f"embeddings have {U.shape[0]} user and {V.shape[0]} item rows but "
                        f"{ds.name} has {ds.n_users} users and {ds.n_items} items; rows must "
                        f"follow the dataset's user/item index (use evaluate_export for id-keyed "
                        f"exports)")
    if U.shape[1] != V.shape[1]:
        raise EvalError(f"user and item embeddings disagree in dimension: {U.shape[1]} vs "
                        f"{V.shape[1]}; score = inner product needs equal dimensions")
    ks = _check_ks(ks)
    sampled_ks = _check_ks(sampled_ks, "sampled_ks")
    if batch_size < 1 or n_negatives < 1 or bootstrap < 0:
        raise EvalError("batch_size and n_negatives must be >= 1 and bootstrap >= 0")
    user_ok = np.ones(ds.n_users, bool) if present_users is None else np.asarray(present_users, bool)
    item_ok = np.ones(ds.n_items, bool) if present_items is None else np.asarray(present_items, bool)
    if user_ok.shape != (ds.n_users,) or item_ok.shape != (ds.n_items,):
        raise EvalError("present_users / present_items must be bool arrays of length "
                        "n_users / n_items")

    plan = get_plan(ds, split)
    sel = _select(plan, ds, domains, scenarios)
    miss_groups = sel[~user_ok[plan.g_user[sel]]]
    if len(miss_groups):
        log.warning("%d of %d %s groups (%d users) have no user vector: scored as misses",
                    len(miss_groups), len(sel), split, len(np.unique(plan.g_user[miss_groups])))
    scores: dict[str, GroupScores] = {}
    with _torch_threads(threads):
        if "full" in protocols:
            samp = (n_negatives, seed, sampled_ks) if "sampled" in protocols else None
            scores["full"], s_gs = full_ranking(plan, U, V, ks, sel, batch_size, user_ok,
                                                item_ok, progress, sampled=samp)
            if s_gs is not None:
                scores["sampled"] = s_gs
        else:
            scores["sampled"] = sampled_ranking(plan, U, V, sampled_ks, sel, n_negatives, seed,
                                                user_ok, item_ok, progress)
    sizes = np.diff(plan.item_offsets)
    too_big = {plan.domains[d]: int(sizes[d]) for d in sorted(set(plan.g_dom[sel].tolist()))
               if max(ks) > sizes[d]}
    if too_big and "full" in protocols:
        log.warning("K=%d exceeds the catalogue of %s: those lists hold every item", max(ks), too_big)
    seconds = round(time.perf_counter() - t0, 4)
    out = {}
    for proto in protocols:
        full = proto == "full"
        used_ks = ks if full else sampled_ks
        meta = {
            "evaluator_version": EVALUATOR_VERSION, "gnnrec_version": __version__,
            "dataset": {"name": ds.name, "fingerprint": plan.fingerprint, "n_users": ds.n_users,
                        "n_items": ds.n_items, "domains": list(ds.domains)},
            "params": {
                "protocol": proto, "split": split, "ks": list(used_ks),
                "n_negatives": None if full else n_negatives,
                "negatives": None if full else "uniform with replacement over the domain's train "
                                               "items the user never interacted with",
                "seed": seed, "bootstrap": bootstrap, "ci": "95% stratified percentile bootstrap",
                "masked": ("train positives" + (" + valid positives" if split == "test" else ""))
                if full else None,
                "ties": TIE_RULE,
                "mrr": "1 / rank of the first hit in the full list (uncut)" if full else
                       "1 / rank of the positive among itself and its negatives",
                "domains": list(domains) if domains is not None else None,
                "scenarios": list(scenarios) if scenarios is not None else None},
            "n_groups": int(len(sel)),
            "missing_users": int(len(np.unique(plan.g_user[miss_groups]))),
            "missing_groups": int(len(miss_groups)),
            "missing_items": int((~item_ok).sum()),
            "k_exceeds_catalogue": too_big if full else {},
            "device": str(device),
            "seconds": seconds,
            "protocols_in_pass": list(protocols),
        }
        table = summarize(plan, scores[proto], used_ks if full else (), bootstrap, seed)
        out[proto] = EvalResult(protocol=proto, split=split, ks=used_ks, table=table,
                                groups=_groups_frame(plan, ds, scores[proto]), meta=meta)
    return out


def align_export(export: Export, ds: Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                        np.ndarray, dict[str, Any]]:
    """Reorder an export's rows to ``ds``'s user/item index.

    Returns ``(user_emb, item_emb, present_users, present_items, info)``; rows
    of ids absent from the export are zero and flagged absent. Raises
    :class:`EvalError` when no id matches (wrong dataset) or an item's domain
    disagrees with the dataset's.
    """
    info: dict[str, Any] = {}
    out = []
    for what, ids, emb, ds_ids in (
            ("user", export.user_ids, export.user_emb, ds.users["user_id"].to_numpy()),
            ("item", export.item_ids, export.item_emb, ds.items["item_id"].to_numpy())):
        pos = pd.Index(ids).get_indexer(ds_ids)
        present = pos >= 0
        if not present.any():
            raise EvalError(f"none of the export's {len(ids)} {what} ids matches {ds.name}'s "
                            f"{what} ids (export {list(ids[:3])} vs dataset {list(ds_ids[:3])}); "
                            f"was it exported from another dataset? Per-domain item ids are "
                            f"namespaced 'domain:id'")
        mat = np.zeros((len(ds_ids), emb.shape[1]), dtype=np.float32)
        mat[present] = emb[pos[present]]
        extra = len(ids) - int(present.sum())
        info[f"export_{what}s_not_in_dataset"] = extra
        info[f"dataset_{what}s_not_in_export"] = int((~present).sum())
        out += [mat, present]
        if what == "item" and export.items is not None:
            exp_dom = export.item_domains()[pos[present]]
            ds_dom = ds.items["domain"].to_numpy()[present]
            wrong = np.flatnonzero((exp_dom != "") & (exp_dom != ds_dom))
            if len(wrong):
                i = int(wrong[0])
                raise EvalError(f"export item {ds.items['item_id'].to_numpy()[present][i]} has "
                                f"domain {exp_dom[i]!r} but {ds.name} puts it in {ds_dom[i]!r} "
                                f"({len(wrong)} items disagree); wrong dataset or bad export")
    fp = (export.manifest.get("dataset") or {}).get("fingerprint")
    info["export_dataset_fingerprint"] = fp
    return out[0], out[2], out[1], out[3], info


def evaluate_export(export: Export | str | os.PathLike, ds: Dataset, protocol: str = "full",
                    **kwargs: Any) -> EvalResult:
    """:func:`evaluate` an export (object or folder) on ``ds``; ids are aligned by name.

    Users of the split absent from the export are counted
    (``meta["missing_users"]``) and scored as misses; dataset items absent from
    the export are never ranked (``meta["missing_items"]``).
    """
    if protocol not in PROTOCOLS:
        raise EvalError(f"protocol {protocol!r} is not one of {PROTOCOLS}")
    return evaluate_export_many(export, ds, protocols=(protocol,), **kwargs)[protocol]


def evaluate_export_many(export: Export | str | os.PathLike, ds: Dataset,
                         protocols: Sequence[str] = ("full", "sampled"),
                         **kwargs: Any) -> dict[str, EvalResult]:
    """:func:`evaluate_many` for an export (see :func:`evaluate_export`)."""
    if not isinstance(export, Export):
        export = load_export(export)
    U, V, pu, pi, info = align_export(export, ds)
    out = evaluate_many(U, V, ds, protocols=protocols, present_users=pu, present_items=pi,
                        **kwargs)
    fp = info["export_dataset_fingerprint"]
    for res in out.values():
        if fp and fp != res.meta["dataset"]["fingerprint"]:
            log.warning("the export was made on dataset fingerprint %s..., evaluating on %s...",
                        fp[:12], res.meta["dataset"]["fingerprint"][:12])
        res.meta["export"] = {**info, "model": export.manifest.get("model"),
                              "dim": export.dim, "dtype": export.manifest.get("dtype")}
    return out
