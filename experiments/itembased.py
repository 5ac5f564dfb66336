"""Training-free item-based baselines (EASE, ItemKNN, RP3beta): valid grids, selection, test.

The strong simple baselines of Dacrema et al. (RecSys 2019), from
:mod:`gnnrec.models.itembased`: each model is an item-item matrix ``W`` and a
user's scores are ``r_u W`` (``r_u``: the user's train row over *both*
domains, so a user cold in one domain is scored from the other). Scored by
gnnrec's own evaluator as an inner product:

* catalogue <= users (ml1m-cd): ``U = R`` (dense train rows), ``V = W^T``;
* catalogue > users (amazon-ao): ``U = I`` (one-hot users), ``V = (R W)^T``,
  dimension n_users instead of n_items; EASE uses its exact dual
  factorisation ``U = (R R^T + lam I)^-1``, ``V[i] = -R[:, i] / P_ii``
  (:func:`gnnrec.models.itembased.ease_factors`; its missing ``+ R`` term only
  touches train items, which the evaluator masks).

Datasets: ml1m-cd, amazon-ao and the DisenCDR splits amazon-disencdr-sport_cloth /
-phone_electronic (every user a bridge user, warm rows only). Hyper-parameters
are selected on the VALID mean of NDCG@20 over the domain x scenario groups
that have rows (four, or two on the DisenCDR splits); the selected setting is
refitted and scored on TEST. While the best setting sits at the edge of a parameter's tried values
the grid grows one step past it (x3 lambda, x2 k, +0.2 alpha/beta, x10
shrink; at most 4 extra fits per model and dataset, see ``beyond_edges``).
A sparse ``W`` identical to one already scored (e.g. k=500 when no item has
more than 200 neighbours) reuses its metrics.

**Chunked scoring** (catalogue and user count both above :data:`DENSE_MAX_DIM`:
amazon-ao, the DisenCDR splits). The inner-product forms cost groups x
domain items x min(n_users, n_items) flops per evaluation (~5 min on
amazon-ao, ~8 min on sport_cloth on one thread). Instead, the users of the split
are scored :data:`CHUNK` at a time: the chunk's scores ``R[c] @ W`` (sparse
products) are evaluated by gnnrec's evaluator as ``U = I_c``, ``V = S_c^T`` on
the dataset restricted to the chunk's users (:func:`user_subset`), and the
per-group metrics of all chunks are averaged per cell. A group's ranking
depends on its own user's scores, train (and, for test, valid) positives only,
so every per-group NDCG / Recall equals the full evaluation's (tested) up to
the rounding of the scores: chunks sum ``R[c] @ W`` in float64 and round once,
the dense ``U = I`` form summed in float32, so mathematically tied ItemKNN
scores can break differently (amazon-ao, k=50 shrink=100: art/warm NDCG@20
0.05806 chunked vs 0.05811 dense; the other cells and EASE equal). What
chunking cannot give is the bootstrap CIs and the popularity / coverage
columns, so chunked TEST rows carry no CI.

Outputs in ``results/itembased/``: ``grid.csv`` (one row per fit: valid
metrics per group, fit CPU / wall seconds, peak RSS), ``test.csv``,
``table.md``; ``lowrank.csv`` (``--lowrank``: EASE as a rank-r inner product
at the selected lambda); ``scale.json`` (``--scale``: Cholesky-inverse timings
extrapolated to amazon-ao's catalogue, the dense dual W, column checks).

    python experiments/itembased.py                      # grids, selection, test
    python experiments/itembased.py --lowrank --scale    # the large-catalogue EASE studies
    python experiments/itembased.py --table-only         # rebuild table.md from the CSVs
    python experiments/itembased.py --write-configs      # configs/<suite>/<model>.yaml from the selection

Run on one thread (OMP_NUM_THREADS=1 etc.; torch is set to 1 here).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gnnrec.data import load_dataset  # noqa: E402
from gnnrec.eval import evaluate  # noqa: E402
from gnnrec.models.itembased import (_spd_inverse_, ease_factors, ease_lowrank_factors,  # noqa: E402
                                     ease_weights, itemknn_weights, rp3beta_weights)

OUT = ROOT / "results" / "itembased"
DATASETS = ("ml1m-cd", "ml1m-3d", "amazon-ao", "amazon-disencdr-sport_cloth", "amazon-disencdr-phone_electronic")
SCEN = ("warm", "cold")
KS = (10, 20, 50)
GRIDS: dict[str, list[dict[str, Any]]] = {
    "ease": [{"lam": v} for v in (100.0, 300.0, 1000.0, 3000.0, 10000.0)],
    "itemknn": [{"k": k, "shrink": s}
                for k, s in itertools.product((50, 100, 200, 500, 1000), (0.0, 10.0, 100.0))],
    "rp3beta": [{"alpha": a, "beta": b, "k": k}
                for a, b, k in itertools.product((0.5, 0.8, 1.0), (0.0, 0.2, 0.4, 0.6), (100, 200, 500, 1000))],
}
REFERENCE = {  # test NDCG@20, current flagship model (3-seed mean), for the table
    "ml1m-cd": {("action", "cold"): 0.5522, ("drama", "cold"): 0.4885, ("action", "warm"): 0.0961,
                ("drama", "warm"): 0.0836},
    "amazon-ao": {("art", "warm"): 0.0370, ("art", "cold"): 0.0524, ("office", "warm"): 0.0420,
                  ("office", "cold"): 0.0733},
}
DENSE_MAX_DIM = 4096          # inner-product forms up to this dimension are evaluated whole
CHUNK = 512                   # users per chunk of the chunked scoring (module docstring)
SANITY = {("action", "cold"): 0.5126, ("drama", "cold"): 0.4739, ("action", "warm"): 0.0967,
          ("drama", "warm"): 0.0847}          # EASE lam 3000 on ml1m-cd test, an independent check


# ----------------------------------------------------------------------------- measuring

def _status(field: str) -> float:
    """A /proc/self/status memory field in GiB (NaN off Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return float("nan")


def measured(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, dict[str, float]]:
    """Run ``fn(*args, **kwargs)``; its CPU and wall seconds, the RSS before and the peak RSS while it ran (GiB)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")          # reset VmHWM to the current RSS
    except OSError:
        pass
    base = _status("VmRSS")
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn(*args, **kwargs)
    return out, {"cpu_s": round(time.process_time() - c0, 2), "wall_s": round(time.perf_counter() - t0, 2),
                 "rss_before_gib": round(base, 3), "peak_rss_gib": round(_status("VmHWM"), 3)}


def key_of(params: dict[str, Any]) -> str:
    return json.dumps({k: params[k] for k in sorted(params)}, sort_keys=True)


# ----------------------------------------------------------------------------- models as vectors

def fit(model: str, R: sp.csr_matrix, params: dict[str, Any]) -> Any:
    """The model's fitted object: dense W, sparse W, or EASE factors (n_users < n_items)."""
    if model == "ease":
        if R.shape[0] < R.shape[1]:
            return ease_factors(R, params["lam"])
        return ease_weights(R, params["lam"], method="primal")
    if model == "itemknn":
        return itemknn_weights(R, params["k"], params["shrink"])
    if model == "rp3beta":
        return rp3beta_weights(R, params["alpha"], params["beta"], params["k"])
    raise ValueError(model)


def fingerprint(obj: Any) -> str | None:
    """Hash of a sparse W (identical matrices score identically); None for dense models."""
    if not sp.issparse(obj):
        return None
    W = sp.csr_matrix(obj)
    W.sort_indices()
    h = hashlib.sha1()
    for a in (W.indptr, W.indices, W.data):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def vectors(obj: Any, R: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """(U, V), float32, with U @ V.T ranking every user's unseen items as ``R @ W``."""
    n_users, n_items = R.shape
    if hasattr(obj, "user"):                                    # EaseFactors (dual, dim n_users)
        return obj.user, np.ascontiguousarray(obj.item.toarray(), dtype=np.float32)
    if n_items <= n_users:                                      # U = R, V = W^T (dim n_items)
        U = np.ascontiguousarray(R.toarray(), dtype=np.float32)
        V = obj.T if isinstance(obj, np.ndarray) else obj.T.toarray()
        return U, np.ascontiguousarray(V, dtype=np.float32)
    S = R @ obj                                                 # U = I, V = (R W)^T (dim n_users)
    S = S.toarray() if sp.issparse(S) else np.asarray(S)
    return np.eye(n_users, dtype=np.float32), np.ascontiguousarray(S.T, dtype=np.float32)


def score_rows(obj: Any, R: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
    """Dense float32 scores (len(rows), n_items) of users ``rows``: ``R[rows] @ W``
    (EASE factors: without the ``R`` term, which only touches the users' train items)."""
    if hasattr(obj, "user"):                                    # (n_items, n_users) sparse @ (n_users, c)
        return np.ascontiguousarray(np.asarray(obj.item @ obj.user[:, rows]).T, dtype=np.float32)
    X = sp.csr_matrix(R[rows], dtype=np.float64)
    S = X @ (obj.astype(np.float64) if sp.issparse(obj) else obj)
    S = S.toarray() if sp.issparse(S) else np.asarray(S)
    return np.ascontiguousarray(S, dtype=np.float32)


def user_subset(ds, users: np.ndarray):
    """``ds`` restricted to ``users`` (re-indexed 0..len-1 in that order): the same items, each
    user's own train / valid / test rows."""
    from gnnrec.data.schema import Dataset

    remap = np.full(ds.n_users, -1, dtype=np.int64)
    remap[users] = np.arange(len(users))

    def part(frame: pd.DataFrame) -> pd.DataFrame:
        keep = remap[frame["user"].to_numpy()] >= 0
        out = frame.loc[keep].copy()
        out["user"] = remap[out["user"].to_numpy()]
        return out

    return Dataset(name=f"{ds.name}[{len(users)} users from {int(users[0])}]",
                   users=ds.users.iloc[users].reset_index(drop=True), items=ds.items,
                   domains=list(ds.domains), train=part(ds.train), valid=part(ds.valid), test=part(ds.test))


class GroupMeans:
    """Cells of per-group metrics (the evaluator's means of finite group values), ``value()`` like
    :class:`gnnrec.eval.result.EvalResult`'s."""

    def __init__(self, groups: pd.DataFrame) -> None:
        self.groups = groups

    def value(self, metric: str, k: int, domain: str, scenario: str) -> float:
        g = self.groups[(self.groups["domain"] == domain) & (self.groups["scenario"] == scenario)]
        if g.empty:
            raise KeyError(f"no {domain}/{scenario} groups")
        return float(g[f"{metric}@{k}"].mean())


def evaluate_chunked(obj: Any, R: sp.csr_matrix, ds, split: str, chunk: int = CHUNK) -> GroupMeans:
    """Per-group full-ranking metrics of ``R @ W`` on ``split``, ``chunk`` users at a time (module
    docstring): the same per-group values as one evaluation of the inner-product form."""
    users = np.unique(ds.split(split)["user"].to_numpy())
    frames = []
    for lo in range(0, len(users), chunk):
        c = users[lo:lo + chunk]
        S = score_rows(obj, R, c)
        res = evaluate(np.eye(len(c), dtype=np.float32), np.ascontiguousarray(S.T), user_subset(ds, c),
                       split=split, ks=KS, bootstrap=0, threads=1)
        g = res.groups.copy()
        g["user_index"] = c[g["user_index"].to_numpy()]
        frames.append(g)
    return GroupMeans(pd.concat(frames, ignore_index=True))


def present_cells(res, ds) -> list[tuple[str, str]]:
    """The (domain, scenario) cells of ``res`` that have groups."""
    out = []
    for d in ds.domains:
        for s in SCEN:
            try:
                res.value("ndcg", 20, domain=d, scenario=s)
            except KeyError:
                continue
            out.append((d, s))
    return out


def group_metrics(res, ds, prefix: str = "") -> dict[str, float]:
    row: dict[str, float] = {}
    groups = present_cells(res, ds)
    for d, s in groups:
        for m in ("ndcg", "recall"):
            row[f"{prefix}{m}@20/{d}/{s}"] = round(res.value(m, 20, domain=d, scenario=s), 5)
    row[f"{prefix}mean_ndcg@20"] = round(float(np.mean([row[f"{prefix}ndcg@20/{d}/{s}"]
                                                        for d, s in groups])), 5)
    return row


def chunked(R: sp.csr_matrix) -> bool:
    return min(R.shape) > DENSE_MAX_DIM


def score(obj: Any, R: sp.csr_matrix, ds, split: str, bootstrap: int) -> tuple[Any, dict[str, float]]:
    if chunked(R):
        return measured(evaluate_chunked, obj, R, ds, split)
    U, V = vectors(obj, R)
    return measured(evaluate, U, V, ds, split=split, ks=KS, bootstrap=bootstrap, threads=1)


# ----------------------------------------------------------------------------- grid / selection / test

def load_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path) if path.exists() else pd.DataFrame()


def append_row(path: Path, row: dict[str, Any]) -> None:
    frame = pd.concat([load_csv(path), pd.DataFrame([row])], ignore_index=True)
    frame.to_csv(path, index=False)


MAX_EXTRA = 4                     # at most this many fits beyond the grid's edges, per model and dataset
STEPS = {"lam": ("mul", 3.0, 1.0, 1e6), "k": ("mul", 2.0, 5, None), "beta": ("add", 0.2, 0.0, 1.0),
         "shrink": ("mul", 10.0, 0.0, 1e4), "alpha": ("add", 0.2, 0.1, 1.6)}


def beyond_edges(g: pd.DataFrame, n_items: int) -> list[dict[str, Any]]:
    """Untried neighbours of the best setting one step past the edge of the tried values of a parameter.

    The best setting's value of a parameter is the largest (smallest) tried with the others held at
    the best (or of all tried values, when it was only tried at this setting): one step up (down)
    -- x3 lambda, x2 k (up to n_items), +0.2 beta / alpha, x10 shrink.
    """
    params = [json.loads(p) for p in g["params"]]
    best = params[int(np.argmax(g["valid_mean_ndcg@20"].to_numpy()))]
    tried = {key_of(p) for p in params}
    out = []
    for name, (kind, step, lo, hi) in STEPS.items():
        if name not in best:
            continue
        line = sorted({p[name] for p in params if all(p[o] == best[o] for o in best if o != name)})
        if len(line) == 1:                             # only tried here: is it an edge of all tried values?
            line = sorted({p[name] for p in params})
        v = best[name]
        cands = []
        if v == line[-1] and len(line) > 1:
            cands.append(v * step if kind == "mul" else round(v + step, 3))
        if v == line[0] and len(line) > 1 and v > 0:
            cands.append(v / step if kind == "mul" else round(v - step, 3))
        for c in cands:
            if name == "k":
                c = int(min(c, n_items - 1))
            elif name == "lam":
                c = round(float(c), 1)
            if (lo is not None and c < lo) or (hi is not None and c > hi) or c == v:
                continue
            q = {**best, name: c}
            if key_of(q) not in tried:
                out.append(q)
    return out


def run_grid(name: str, model: str, ds, R: sp.csr_matrix, grid_csv: Path, staged: bool = False) -> pd.DataFrame:
    """Fit and VALID-score every grid point not yet in ``grid_csv``, then grow it past an edge optimum.

    ``staged`` (RP3beta only): alpha x beta at k=200 first, then the other k at the best (alpha, beta).
    """
    todo = list(GRIDS[model])
    if staged and model == "rp3beta":
        todo = [p for p in todo if p["k"] == 200]
        stage2 = True
    else:
        stage2 = False
    base = {key_of(p) for p in GRIDS[model]}
    seen: dict[str, dict[str, Any]] = {}
    while todo:
        params = todo.pop(0)
        key = key_of(params)
        done = load_csv(grid_csv)
        if len(done) and ((done["dataset"] == name) & (done["model"] == model) & (done["params"] == key)).any():
            prev = done[(done["dataset"] == name) & (done["model"] == model) & (done["params"] == key)].iloc[0]
            if isinstance(prev.get("w_hash"), str):
                seen[prev["w_hash"]] = prev.to_dict()
        else:
            obj, fit_m = measured(fit, model, R, params)
            h = fingerprint(obj)
            row: dict[str, Any] = {"dataset": name, "model": model, "params": key,
                                   "fit_cpu_s": fit_m["cpu_s"], "fit_wall_s": fit_m["wall_s"],
                                   "rss_before_gib": fit_m["rss_before_gib"],
                                   "fit_peak_rss_gib": fit_m["peak_rss_gib"],
                                   "nnz": int(obj.nnz) if sp.issparse(obj) else None, "w_hash": h}
            if h is not None and h in seen:
                same = seen[h]
                row.update({k: v for k, v in same.items() if k.startswith("valid_")})
                row.update({"eval_wall_s": 0.0, "note": f"same W as {same['params']}"})
            else:
                res, ev = score(obj, R, ds, "valid", bootstrap=0)
                row.update(group_metrics(res, ds, "valid_"))
                row.update({"eval_cpu_s": ev["cpu_s"], "eval_wall_s": ev["wall_s"],
                            "eval_peak_rss_gib": ev["peak_rss_gib"], "note": ""})
            del obj
            append_row(grid_csv, row)
            if h is not None:
                seen[h] = row
            print(f"{name} {model} {key}: valid mean NDCG@20 {row['valid_mean_ndcg@20']:.4f} "
                  f"(fit {row['fit_cpu_s']:.1f} cpu-s / {row['fit_wall_s']:.1f} s, peak "
                  f"{row['fit_peak_rss_gib']:.2f} GiB)", flush=True)
        if stage2 and not todo:
            stage2 = False
            g = load_csv(grid_csv)
            g = g[(g["dataset"] == name) & (g["model"] == model)]
            best = json.loads(g.loc[g["valid_mean_ndcg@20"].idxmax(), "params"])
            todo = [{**best, "k": k} for k in sorted({p["k"] for p in GRIDS[model]}) if k != best["k"]]
        if not todo and not stage2:                          # grow the grid past an edge optimum
            g = load_csv(grid_csv)
            g = g[(g["dataset"] == name) & (g["model"] == model)]
            room = MAX_EXTRA - int((~g["params"].isin(base)).sum())
            if room > 0:
                todo = beyond_edges(g, R.shape[1])[:room]
    g = load_csv(grid_csv)
    return g[(g["dataset"] == name) & (g["model"] == model)]


def run_test(name: str, model: str, params: dict[str, Any], ds, R: sp.csr_matrix, test_csv: Path,
             tag: str = "selected") -> dict[str, Any]:
    done = load_csv(test_csv)
    key = key_of(params)
    if len(done):
        hit = done[(done["dataset"] == name) & (done["model"] == model) & (done["params"] == key)
                   & (done["tag"] == tag)]
        if len(hit):
            return hit.iloc[0].to_dict()
    obj, fit_m = measured(fit, model, R, params)
    res, ev = score(obj, R, ds, "test", bootstrap=1000)
    row = {"dataset": name, "model": model, "params": key, "tag": tag, **group_metrics(res, ds, "test_"),
           "fit_cpu_s": fit_m["cpu_s"], "fit_wall_s": fit_m["wall_s"],
           "fit_peak_rss_gib": fit_m["peak_rss_gib"], "eval_wall_s": ev["wall_s"]}
    for d, s in present_cells(res, ds):
        if hasattr(res, "table"):                      # chunked scoring has no bootstrap CIs
            t = res.table
            c = t[(t.metric == "ndcg") & (t.k == 20) & (t.domain == d) & (t.scenario == s)].iloc[0]
            row[f"test_ndcg@20_ci/{d}/{s}"] = f"[{c['ci_low']:.4f}, {c['ci_high']:.4f}]"
    append_row(test_csv, row)
    print(f"{name} {model} {key} TEST: " + ", ".join(f"{d}/{s} {row[f'test_ndcg@20/{d}/{s}']:.4f}"
                                                    for d, s in present_cells(res, ds)), flush=True)
    return row


def selected(grid: pd.DataFrame) -> dict[str, Any]:
    return json.loads(grid.loc[grid["valid_mean_ndcg@20"].idxmax(), "params"])


# ----------------------------------------------------------------------------- EASE beyond the dense W

def thin_svd(R: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact thin SVD of R (descending) from the eigendecomposition of its smaller Gram matrix (float64)."""
    X = sp.csr_matrix(R, dtype=np.float64)
    if X.shape[0] <= X.shape[1]:
        ev, Q = np.linalg.eigh((X @ X.T).toarray())
        ev, Q = ev[::-1], Q[:, ::-1]
        keep = ev > 1e-8 * ev[0]
        s, Q = np.sqrt(ev[keep]), np.ascontiguousarray(Q[:, keep])
        Vt = (np.asarray(X.T @ Q) / s[None, :]).T
    else:
        ev, V = np.linalg.eigh((X.T @ X).toarray())
        ev, V = ev[::-1], V[:, ::-1]
        keep = ev > 1e-8 * ev[0]
        s, V = np.sqrt(ev[keep]), np.ascontiguousarray(V[:, keep])
        Q = np.asarray(X @ V) / s[None, :]
        Vt = V.T
    return Q, s, Vt


def run_lowrank(name: str, ds, R: sp.csr_matrix, lam: float, out_csv: Path,
                ranks: tuple[int, ...] = (32, 128, 512, 2048)) -> None:
    """EASE as a rank-r inner product (user/item vectors of dimension r), VALID, vs the exact model."""
    svd, m = measured(thin_svd, R)
    print(f"{name}: thin SVD rank {len(svd[1])} in {m['cpu_s']:.1f} cpu-s; s_1 {svd[1][0]:.1f}, "
          f"sqrt(lam) {lam ** 0.5:.1f}, #s > sqrt(lam): {(svd[1] > lam ** 0.5).sum()}", flush=True)
    exact = ease_factors(R, lam) if R.shape[0] < R.shape[1] else None
    d_exact = exact.diag if exact is not None else None
    if d_exact is None:                                          # primal side: diag of G^-1
        G = (sp.csr_matrix(R, dtype=np.float64).T @ R).toarray() + lam * np.eye(R.shape[1])
        d_exact = np.diag(np.linalg.inv(G))
        del G
    s = svd[1]
    for r in [r for r in ranks if r < len(s)] + [len(s)]:
        for dname, dg in (("rank-r", None), ("exact", d_exact)):
            U, V = ease_lowrank_factors(R, lam, r, svd=svd, diag=dg)
            res, ev = measured(evaluate, U, V, ds, split="valid", ks=KS, bootstrap=0, threads=1)
            tail = s[r:]
            row = {"dataset": name, "lam": lam, "rank": r, "diag": dname, "full_rank": len(s),
                   "max_dropped_weight": float((tail / (tail ** 2 + lam)).max()) if len(tail) else 0.0,
                   "max_kept_weight": float((s[:r] / (s[:r] ** 2 + lam)).max()),
                   **group_metrics(res, ds, "valid_"), "eval_wall_s": ev["wall_s"]}
            append_row(out_csv, row)
            print(f"{name} lowrank r={r} diag={dname}: valid mean {row['valid_mean_ndcg@20']:.4f}", flush=True)


def run_scale(out_json: Path, lam: float) -> None:
    """How the dense primal EASE scales to amazon-ao's catalogue, and the dual dense W there."""
    info: dict[str, Any] = {"threads": torch.get_num_threads(),
                            "omp": os.environ.get("OMP_NUM_THREADS")}
    rng = np.random.default_rng(0)
    timing = []
    for n in (3000, 6000, 9000):
        for dt in (np.float64, np.float32):
            A = rng.standard_normal((n, n // 4)).astype(dt)
            G = np.ascontiguousarray(A @ A.T) + np.eye(n, dtype=dt) * n
            _, m = measured(_spd_inverse_, G)
            timing.append({"n": n, "dtype": np.dtype(dt).name, **m})
            print(f"Cholesky inverse n={n} {np.dtype(dt).name}: {m['cpu_s']:.1f} cpu-s, {m['wall_s']:.1f} s",
                  flush=True)
            del A, G
    info["cholesky_inverse"] = timing
    ds = load_dataset("amazon-ao")
    R = ds.train_matrix()
    n = R.shape[1]
    for dt in ("float64", "float32"):
        rows = [t for t in timing if t["dtype"] == dt]
        c = np.mean([t["cpu_s"] / t["n"] ** 3 for t in rows if t["n"] >= 6000])
        info[f"primal_{dt}_estimate"] = {"n_items": n, "cpu_s": round(c * n ** 3, 1),
                                         "gram_gib": round(n ** 2 * np.dtype(dt).itemsize / 2**30, 2),
                                         "peak_gib": round(n ** 2 * (np.dtype(dt).itemsize
                                                                     + (4 if dt == "float64" else 0)) / 2**30, 2)}
    print(json.dumps({k: v for k, v in info.items() if k.startswith("primal")}), flush=True)
    F, mf = measured(ease_factors, R, lam)
    info["factors"] = {"lam": lam, **mf}
    W, md = measured(ease_weights, R, lam, method="dual")
    info["dual_dense_W"] = {"lam": lam, **md, "W_gib": round(W.nbytes / 2**30, 2)}
    print(f"dual dense W: {md['cpu_s']:.1f} cpu-s, peak {md['peak_rss_gib']:.2f} GiB", flush=True)
    # columns of W three ways: dense dual, factors, and conjugate gradients on the sparse primal G
    from scipy.sparse.linalg import cg
    X = sp.csr_matrix(R, dtype=np.float64)
    G = sp.csr_matrix(X.T @ X) + lam * sp.identity(n, format="csr")
    pop = np.asarray(X.sum(axis=0)).ravel()
    cols = [int(np.argmax(pop)), int(np.argsort(pop)[len(pop) // 2]), int(np.flatnonzero(pop == 1)[0])]
    checks = []
    for j in cols:
        e = np.zeros(n)
        e[j] = 1.0
        p, flag = cg(G, e, rtol=1e-12, maxiter=5000)
        b = -p / p[j]
        b[j] = 0.0
        checks.append({"item": j, "pop": int(pop[j]), "cg_flag": int(flag),
                       "max_abs_dual_vs_cg": float(np.abs(W[:, j] - b).max()),
                       "max_abs_factors_vs_cg": float(np.abs(F.weights_column(R, j) - b).max()),
                       "max_abs_col": float(np.abs(b).max())})
    info["column_checks"] = checks
    print(json.dumps(checks), flush=True)
    del W
    out_json.write_text(json.dumps(info, indent=2) + "\n")


# ----------------------------------------------------------------------------- table

def fmt_params(p: str) -> str:
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in json.loads(p).items())


def write_table(out: Path) -> None:
    grid, test = load_csv(out / "grid.csv"), load_csv(out / "test.csv")
    if grid.empty:
        return
    lines = ["# Item-based baselines (EASE, ItemKNN, RP3beta)", "",
             "Generated by `experiments/itembased.py`. Selection: VALID mean NDCG@20 over the "
             "domain x scenario groups with rows; the selected setting is refitted on train and scored on TEST "
             "(full ranking over the domain's items, train (+ valid) positives masked). User vector = "
             "the user's train row over both domains.", ""]
    for name in [d for d in DATASETS if d in set(grid["dataset"])]:
        g = grid[grid["dataset"] == name]
        have = [c.split("/")[1:] for c in g.columns
                if c.startswith("valid_ndcg@20/") and g[c].notna().any()]
        groups = [(d, s) for s in ("cold", "warm") for d, s2 in have if s2 == s]
        lines += [f"## {name}", "",
                  "| model | selected | valid mean | " + " | ".join(f"{d}/{s} NDCG@20 (R@20)" for d, s in groups)
                  + " | fits | fit cpu-s (wall) | fit peak GiB |",
                  "|---|---|---|" + "---|" * len(groups) + "---|---|---|"]
        for model in GRIDS:
            gm = g[g["model"] == model]
            if gm.empty:
                continue
            best = gm.loc[gm["valid_mean_ndcg@20"].idxmax()]
            t = test[(test["dataset"] == name) & (test["model"] == model) & (test["params"] == best["params"])
                     & (test["tag"] == "selected")] if len(test) else pd.DataFrame()
            cells = [f"{t.iloc[0][f'test_ndcg@20/{d}/{s}']:.4f} ({t.iloc[0][f'test_recall@20/{d}/{s}']:.4f})"
                     if len(t) else "-" for d, s in groups]
            lines.append(f"| {model} | {fmt_params(best['params'])} | {best['valid_mean_ndcg@20']:.4f} | "
                         + " | ".join(cells) + f" | {len(gm)} | {gm['fit_cpu_s'].median():.1f} "
                         f"({gm['fit_wall_s'].median():.1f}) | {gm['fit_peak_rss_gib'].max():.2f} |")
        ref = REFERENCE.get(name)
        if ref:
            lines.append("| flagship (3-seed mean) | - | - | " + " | ".join(f"{ref[(d, s)]:.4f}" for d, s in groups)
                         + " | | | |")
        if name == "ml1m-cd" and len(test):
            t = test[(test["dataset"] == name) & (test["tag"] == "sanity")]
            if len(t):
                got = " / ".join(f"{t.iloc[0][f'test_ndcg@20/{d}/{s}']:.4f}" for d, s in SANITY)
                want = " / ".join(f"{v:.4f}" for v in SANITY.values())
                cells = " / ".join(f"{d}/{s}" for d, s in SANITY)
                lines += ["", f"Sanity check, EASE lam=3000 test NDCG@20 ({cells}): {got} "
                          f"(independent check: {want})."]
        lines += ["", "Test cells: NDCG@20 (Recall@20). fit cpu-s / wall: median over the grid "
                  "(one thread, shared 2-core machine); fit peak GiB: the largest process peak RSS "
                  "during a fit (includes the loaded dataset).", "", "Grid (valid mean NDCG@20):", ""]
        for model in GRIDS:
            gm = g[g["model"] == model].sort_values("valid_mean_ndcg@20", ascending=False)
            if gm.empty:
                continue
            lines.append(f"- {model}: " + "; ".join(f"{fmt_params(p)} {v:.4f}" for p, v in
                                                     zip(gm["params"], gm["valid_mean_ndcg@20"])))
        lines.append("")
    low = load_csv(out / "lowrank.csv")
    if len(low):
        lines += ["## EASE as a low-rank inner product (valid mean NDCG@20)", "",
                  "| dataset | lam | rank | P_ii | valid mean | max dropped weight s/(s^2+lam) |",
                  "|---|---|---|---|---|---|"]
        for _, r in low.iterrows():
            lines.append(f"| {r['dataset']} | {r['lam']:g} | {r['rank']} (of {r['full_rank']}) | {r['diag']} | "
                         f"{r['valid_mean_ndcg@20']:.4f} | {r['max_dropped_weight']:.2e} |")
        lines.append("")
    if (out / "scale.json").exists():
        sc = json.loads((out / "scale.json").read_text())
        lines += ["## EASE at amazon-ao's catalogue (38,396 items), one thread", "",
                  "```", json.dumps({k: v for k, v in sc.items() if k != "cholesky_inverse"}, indent=1), "```", ""]
    (out / "table.md").write_text("\n".join(lines))


# ----------------------------------------------------------------------------- configs

TITLES = {"ease": "EASE (Steck, WWW 2019): closed-form item-item ridge regression with a zero diagonal",
          "itemknn": "ItemKNN: the k most shrunk-cosine-similar items per item (Dacrema et al., RecSys 2019)",
          "rp3beta": "RP3beta (Paudel et al., TiiS 2017): popularity-penalised 3-step random walk"}


def config_text(name: str, model: str, g: pd.DataFrame, where: str, path: str,
                grid: str = "results/itembased/grid.csv") -> str:
    """``configs/<suite>/<model>.yaml`` with the valid-selected setting of grid rows ``g`` (one dataset
    and model), their grid and valid scores in the header."""
    g = g.sort_values("valid_mean_ndcg@20", ascending=False, kind="stable")
    best = json.loads(g["params"].iloc[0])
    entries = [f"{fmt_params(p)}: {v:.4f}" for p, v in zip(g["params"], g["valid_mean_ndcg@20"])]
    lines = [f"# {TITLES[model]}, over every domain's items, training-free, on {where}",
             "# Selected on the valid mean NDCG@20 over the domain x scenario groups by experiments/itembased.py",
             f"# ({grid}); the {len(g)} settings tried, valid mean NDCG@20, best first:"]
    line = "#  "
    for e in entries:
        if len(line) + len(e) + 2 > 112:
            lines.append(line.rstrip("; "))
            line = "#  "
        line += e + "; "
    lines += [line.rstrip("; "), f"# gnnrec train {path}", f"dataset: {name}", "seed: 0", "model:",
              f"  name: {model}"] + [f"  {k}: {json.dumps(v)}" for k, v in best.items()]
    return "\n".join(lines) + "\n"


def write_configs(grid_csv: Path, root: Path = ROOT / "configs") -> list[Path]:
    """The valid-selected config of every (dataset, model) of ``grid_csv`` (:func:`config_text`); the
    dataset's description is taken from the suite folder's ``pop.yaml`` header."""
    grid = load_csv(grid_csv)
    out = []
    for name in [d for d in DATASETS if len(grid) and d in set(grid["dataset"])]:
        folder = root / name.replace("-", "_")
        head = (folder / "pop.yaml").read_text(encoding="utf-8").splitlines()[0]
        where = head.split(" on ", 1)[1] if " on " in head else name
        for model in GRIDS:
            g = grid[(grid["dataset"] == name) & (grid["model"] == model)]
            if g.empty:
                continue
            path = folder / f"{model}.yaml"
            full = grid_csv.resolve()
            where_grid = str(full.relative_to(ROOT)) if full.is_relative_to(ROOT) else str(grid_csv)
            path.write_text(config_text(name, model, g, where, str(path.relative_to(ROOT)), where_grid),
                            encoding="utf-8")
            out.append(path)
    return out


# ----------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    ap.add_argument("--models", nargs="+", default=list(GRIDS), choices=list(GRIDS))
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--lowrank", action="store_true", help="EASE rank-r study at the selected lambda")
    ap.add_argument("--scale", action="store_true", help="primal timing extrapolation, dual dense W")
    ap.add_argument("--no-grid", action="store_true", help="skip grids/test (with --lowrank/--scale)")
    ap.add_argument("--table-only", action="store_true")
    ap.add_argument("--write-configs", action="store_true",
                    help="write configs/<suite>/{ease,itemknn,rp3beta}.yaml from the valid selection in grid.csv")
    ap.add_argument("--staged", nargs="*", default=[d for d in DATASETS if d != "ml1m-cd"], choices=DATASETS,
                    help="datasets whose RP3beta grid is staged (alpha x beta at k=200, then k at the best); "
                         "default: every dataset but ml1m-cd")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.table_only:
        write_table(args.out)
        return
    if args.write_configs:
        for path in write_configs(args.out / "grid.csv"):
            print(f"wrote {path.relative_to(ROOT)}")
        return
    for name in args.datasets:
        ds = load_dataset(name)
        R = ds.train_matrix()
        print(f"{name}: {ds.n_users} users, {ds.n_items} items, {R.nnz} train positives", flush=True)
        if not args.no_grid:
            for model in args.models:
                grid = run_grid(name, model, ds, R, args.out / "grid.csv", staged=name in args.staged)
                run_test(name, model, selected(grid), ds, R, args.out / "test.csv")
                write_table(args.out)
            if name == "ml1m-cd" and "ease" in args.models:
                run_test(name, "ease", {"lam": 3000.0}, ds, R, args.out / "test.csv", tag="sanity")
        if args.lowrank:
            g = load_csv(args.out / "grid.csv")
            g = g[(g["dataset"] == name) & (g["model"] == "ease")]
            run_lowrank(name, ds, R, selected(g)["lam"], args.out / "lowrank.csv")
        write_table(args.out)
    if args.scale:
        g = load_csv(args.out / "grid.csv")
        g = g[(g["dataset"] == "amazon-ao") & (g["model"] == "ease")]
        run_scale(args.out / "scale.json", selected(g)["lam"] if len(g) else 300.0)
        write_table(args.out)


if __name__ == "__main__":
    main()
