"""How much does each training-free signal know about cross-domain cold users?

For every cold (user, target domain) group of a split, the user's train items
are all in the *other* domain. This script scores the target domain's items
for those users with signals that need no training and reports NDCG@20 per
domain (same definition as gnnrec.eval: binary gains, ideal DCG over
min(|truth|, 20) items; ties broken towards more popular items):

* ``pop``           -- train popularity of the item;
* ``cooc``          -- item-to-item co-occurrence ("bought X, also bought Y"):
                       ``s(u, i) = sum_{j in I(u)} |U(j) & U(i)|`` = ``(r_u R^T R)_i``,
                       counted over every train user (the bridge users carry it);
* ``cooc-seq``      -- co-occurrence weighted by closeness in the user's train sequence:
                       ``C(j, i) = sum_{v in U(j) & U(i)} exp(-|p_vj - p_vi| / tau)`` with
                       ``p_v.`` the rank of the interaction in v's train rows by timestamp
                       (``--seq-tau``, default 20); items bought close together count more;
* ``cooc-norm``     -- the same with cosine-normalised co-occurrence
                       ``|U(j) & U(i)| / sqrt(|U(j)| |U(i)|)`` (popularity removed);
* ``user-knn``      -- user-based k-NN: the cosine similarity of the users' source-domain
                       (other domains') train rows, the user's ``KNN`` most similar users,
                       ``s(u, i) = sum_{v in N(u)} cos(u, v) r_vi``;
* ``ridge``         -- a linear cross-domain item-to-item map (EASE-like ridge regression)
                       fitted on the users with train rows in both parts:
                       ``W = (S^T S + lambda I)^{-1} S^T T`` for source columns ``S`` and
                       target columns ``T``; ``s(u, i) = (s_u W)_i`` (``--ridge-lambda``;
                       1000 won valid over 10 and 100 on amazon-ao);
* ``lexical``       -- TF-IDF overlap of titles (:mod:`gnnrec.text.lexical`):
                       ``s(u, i) = (sum_{j in I(u)} x_j) . x_i``;
* ``lexical+pop``   -- ``log(1 + pop_i) + 0.5 * z(lexical)`` (z: standardised over the domain).

These are baselines a graph model has to beat, not gnnrec models: ``cooc``
needs an n_items-wide user vector, so it does not fit the export contract
(ANN-ready dense vectors).

    python experiments/cold_signals.py --dataset amazon-ao        # valid and test
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp
from sklearn.preprocessing import normalize

ROOT = Path(__file__).resolve().parents[1]
K = 20
KNN = 200
RIDGE_LAMBDA = 1000.0
SEQ_TAU = 20.0


def ndcg_at_k(scores: np.ndarray, truth: set[int], k: int = K) -> float:
    top = np.argpartition(-scores, k)[:k]
    top = top[np.argsort(-scores[top], kind="stable")]
    dcg = sum(1.0 / np.log2(r + 2) for r, i in enumerate(top) if int(i) in truth)
    return dcg / sum(1.0 / np.log2(r + 2) for r in range(min(len(truth), k)))


def sequence_cooc(ds, tau: float, max_pairs: int = 5_000_000) -> sp.csr_matrix:
    """(n_items, n_items) ``cooc-seq`` of the module docstring, over every train user.

    Users are processed in chunks of at most about ``max_pairs`` (j, i) pairs (a user
    with n train rows has n^2), so memory stays bounded on dense datasets.
    """
    import pandas as pd

    tr = ds.train
    rows = pd.DataFrame({"u": tr["user"].to_numpy(), "i": tr["item"].to_numpy(),
                         "p": tr.groupby("user")["timestamp"].rank(method="first").to_numpy()})
    deg = rows["u"].value_counts().sort_index()
    chunk = np.cumsum(deg.to_numpy() ** 2) // max_pairs               # chunk id per user
    rows["c"] = pd.Series(chunk, index=deg.index).reindex(rows["u"]).to_numpy()
    out = sp.csr_matrix((ds.n_items, ds.n_items))
    for _, part in rows.groupby("c"):
        pairs = part.merge(part, on="u")
        pairs = pairs[pairs["i_x"] != pairs["i_y"]]
        w = np.exp(-np.abs(pairs["p_x"].to_numpy() - pairs["p_y"].to_numpy()) / tau)
        out = out + sp.csr_matrix((w, (pairs["i_x"].to_numpy(), pairs["i_y"].to_numpy())),
                                  shape=(ds.n_items, ds.n_items))
    return out.tocsr()


def signals(ds, seq_tau: float = SEQ_TAU) -> dict[str, object]:
    from gnnrec.text.features import item_texts
    from gnnrec.text.lexical import lexical_features

    r = ds.train_matrix()                                  # (n_users, n_items) 0/1
    pop = np.asarray(r.sum(axis=0)).ravel()
    cooc = (r.T @ r).tocsr()
    inv = 1.0 / np.sqrt(np.maximum(pop, 1.0))
    out: dict[str, object] = {"r": r, "pop": pop, "cooc": cooc, "cooc-seq": sequence_cooc(ds, seq_tau),
                              "cooc-norm": (sp.diags(inv) @ cooc @ sp.diags(inv)).tocsr()}
    if ds.has_text:
        out["lexical"] = lexical_features(item_texts(ds)[0])[0]
    return out


def user_knn(r: sp.csr_matrix, users: np.ndarray, source: np.ndarray, k: int = KNN) -> np.ndarray:
    """(len(users), n_items) user-k-NN scores from the columns where ``source`` (module docstring)."""
    x = normalize(r[:, np.flatnonzero(source)].astype(np.float32), norm="l2").tocsr()
    sim = (x[users] @ x.T).toarray()                       # (len(users), n_users) cosines
    sim[np.arange(len(users)), users] = 0.0                # not the user itself
    k = min(k, sim.shape[1] - 1)
    cut = np.argpartition(-sim, k, axis=1)[:, k:]
    np.put_along_axis(sim, cut, 0.0, axis=1)               # keep the k nearest
    return (sp.csr_matrix(sim) @ r).toarray()


def ridge_map(r: sp.csr_matrix, source: np.ndarray, lam: float) -> np.ndarray:
    """(n_source, n_target) ridge map from the ``source`` columns to the others (module docstring).

    Fitted on the users with train rows on both sides; one dense
    ``(n_source, n_source)`` Cholesky solve.
    """
    s, t = r[:, np.flatnonzero(source)].tocsr(), r[:, np.flatnonzero(~source)].tocsr()
    both = np.flatnonzero((s.getnnz(axis=1) > 0) & (t.getnnz(axis=1) > 0))
    s, t = s[both].astype(np.float32), t[both].astype(np.float32)
    gram = (s.T @ s).toarray()
    gram[np.diag_indices_from(gram)] += lam
    w = la.solve(gram, (s.T @ t).toarray(), assume_a="pos", overwrite_a=True, overwrite_b=True)
    return np.ascontiguousarray(w)                         # row-major: sparse rows @ w stay copy-free


def score_groups(ds, sig: dict[str, object], split: str,
                 ridge: dict[int, np.ndarray] | None = None) -> dict[tuple[str, str], float]:
    frame = getattr(ds, split)
    dom = ds.item_domain()
    r, pop = sig["r"], sig["pop"]
    tie = 1e-9 * np.log1p(pop)                             # ties -> more popular first
    res: dict[tuple[str, str], list[float]] = {}
    for d, name in enumerate(ds.domains):
        cold = frame[(frame["scenario"] == "cold") & (frame["domain"] == d)]
        mask = dom == d
        groups = list(cold.groupby("user")["item"])
        users = np.array([u for u, _ in groups], dtype=np.int64)
        knn = user_knn(r, users, ~mask)
        if ridge is not None:                              # (len(users), n_target) in one product
            rid = np.asarray(r[users][:, np.flatnonzero(~mask)].astype(np.float32) @ ridge[d])
        for row, (user, items) in enumerate(groups):
            truth = set(int(i) for i in items)
            src = r[user].indices
            s = {"pop": pop.astype(np.float64),
                 "cooc": np.asarray(sig["cooc"][src].sum(axis=0)).ravel(),
                 "cooc-seq": np.asarray(sig["cooc-seq"][src].sum(axis=0)).ravel(),
                 "cooc-norm": np.asarray(sig["cooc-norm"][src].sum(axis=0)).ravel(),
                 "user-knn": knn[row]}
            if ridge is not None:
                s["ridge"] = np.zeros(ds.n_items)
                s["ridge"][mask] = rid[row]
            if "lexical" in sig:
                x = sig["lexical"]
                lex = np.asarray(x @ np.asarray(x[src].sum(axis=0)).ravel()).ravel()
                z = (lex - lex[mask].mean()) / (lex[mask].std() + 1e-12)
                s["lexical"], s["lexical+pop"] = lex, np.log1p(pop) + 0.5 * z
            for sname, v in s.items():
                res.setdefault((name, sname), []).append(
                    ndcg_at_k(np.where(mask, v + tie, -np.inf), truth))
    return {key: float(np.mean(v)) for key, v in res.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="amazon-ao")
    p.add_argument("--splits", default="valid,test")
    p.add_argument("--ridge-lambda", type=float, default=RIDGE_LAMBDA,
                   help="L2 weight of the ridge map; 0 leaves the (minutes-long) ridge signal out")
    p.add_argument("--seq-tau", type=float, default=SEQ_TAU,
                   help="decay (in train-sequence positions) of the cooc-seq weights")
    a = p.parse_args()
    from gnnrec.data import load_dataset

    ds = load_dataset(a.dataset)
    sig = signals(ds, a.seq_tau)
    dom = ds.item_domain()
    ridge = ({d: ridge_map(sig["r"], dom != d, a.ridge_lambda) for d in range(len(ds.domains))}
             if a.ridge_lambda > 0 else None)
    names = (["pop", "cooc", "cooc-seq", "cooc-norm", "user-knn"] + (["ridge"] if ridge is not None else [])
             + (["lexical", "lexical+pop"] if "lexical" in sig else []))
    lines = [f"### Training-free signals for cross-domain cold users on `{a.dataset}` (NDCG@20)", "",
             "| split | domain | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for split in a.splits.split(","):
        res = score_groups(ds, sig, split, ridge)
        for name in ds.domains:
            lines.append(f"| {split} | {name}/cold | "
                         + " | ".join(f"{res[(name, n)]:.4f}" for n in names) + " |")
    lines += ["", f"Reproduce: `python experiments/cold_signals.py --dataset {a.dataset}`"]
    write_table(f"cold-signals-{a.dataset}", lines)


def write_table(folder: str, lines: list[str]) -> None:
    """Write ``lines`` to ``results/<folder>/table.md`` and print them."""
    out = ROOT / "results" / folder
    out.mkdir(parents=True, exist_ok=True)
    (out / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
