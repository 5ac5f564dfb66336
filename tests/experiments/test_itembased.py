"""experiments/itembased.py: every inner-product form scores the unseen items as R @ W and the
evaluator gives the same figures whichever form is used."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from gnnrec.eval import evaluate
from gnnrec.models.itembased import ease_factors, ease_weights, itemknn_weights
from tests.conftest import make_tiny
from tests.experiments.helpers import load_experiment


def _check_form(mod, obj, r: sp.csr_matrix, w: np.ndarray) -> None:
    u, v = mod.vectors(obj, r)
    assert u.dtype == np.float32 and v.dtype == np.float32 and v.shape[0] == r.shape[1]
    unseen = r.toarray() == 0
    np.testing.assert_allclose((u @ v.T)[unseen], (r.toarray() @ w)[unseen], atol=1e-5)


def test_vector_forms_score_like_r_times_w() -> None:
    mod = load_experiment("itembased")
    rng = np.random.default_rng(0)
    for shape in ((40, 25), (15, 30)):                     # U = R form / U = I and dual-factor forms
        r = sp.csr_matrix((rng.random(shape) < 0.3).astype(np.float32))
        knn = itemknn_weights(r, 5, 1.0)
        _check_form(mod, knn, r, knn.toarray())
        dense = ease_weights(r, 3.0, method="primal")
        _check_form(mod, dense, r, dense.astype(np.float64))
        _check_form(mod, ease_factors(r, 3.0), r, dense.astype(np.float64))


def test_forms_evaluate_identically_and_fit_dispatches() -> None:
    mod = load_experiment("itembased")
    ds = make_tiny(n_users=40, n_items=(15, 12))
    r = ds.train_matrix()
    w = mod.fit("ease", r, {"lam": 2.0})
    assert isinstance(w, np.ndarray)                       # 40 users >= 27 items: primal
    a = evaluate(*mod.vectors(w, r), ds, split="valid", bootstrap=0)
    b = evaluate(np.eye(ds.n_users, dtype=np.float32), np.ascontiguousarray((r @ w).T, dtype=np.float32),
                 ds, split="valid", bootstrap=0)
    for d in ds.domains:
        for s in ("warm", "cold"):
            assert abs(a.value("ndcg", 20, domain=d, scenario=s) - b.value("ndcg", 20, domain=d, scenario=s)) < 1e-6
    row = mod.group_metrics(a, ds, "valid_")
    assert set(row) >= {"valid_mean_ndcg@20", "valid_ndcg@20/a/cold", "valid_recall@20/b/warm"}
    assert mod.fingerprint(mod.fit("itemknn", r, {"k": 5, "shrink": 0.0})) == \
        mod.fingerprint(itemknn_weights(r, 5, 0.0))
    assert mod.fingerprint(w) is None


def test_grid_grows_one_step_past_an_edge_optimum() -> None:
    import json

    import pandas as pd
    mod = load_experiment("itembased")
    rows = [({"alpha": a, "beta": b, "k": k}, v) for (a, b, k, v) in
            [(0.5, 0.0, 100, 0.1), (0.5, 0.6, 100, 0.2), (0.5, 0.6, 500, 0.3), (0.8, 0.6, 500, 0.25),
             (0.5, 0.7, 100, 0.05)]]
    g = pd.DataFrame({"params": [mod.key_of(p) for p, _ in rows], "valid_mean_ndcg@20": [v for _, v in rows]})
    got = [json.loads(mod.key_of(p)) for p in mod.beyond_edges(g, n_items=800)]
    assert {"alpha": 0.5, "beta": 0.6, "k": 799} in got          # k x2, capped at n_items - 1
    assert {"alpha": 0.5, "beta": 0.8, "k": 500} not in got      # 0.6 is not the largest beta tried
    assert {"alpha": 0.5, "beta": 0.4, "k": 500} not in got      # nor the smallest
    g1 = pd.DataFrame({"params": [mod.key_of(p) for p, _ in rows[:4]],
                       "valid_mean_ndcg@20": [v for _, v in rows[:4]]})
    got1 = [json.loads(mod.key_of(p)) for p in mod.beyond_edges(g1, n_items=800)]
    assert {"alpha": 0.5, "beta": 0.8, "k": 500} in got1         # only tried at this k, the largest beta
    assert {"alpha": 0.3, "beta": 0.6, "k": 500} in got          # alpha at its lower edge
    g2 = pd.DataFrame({"params": [mod.key_of({"lam": v}) for v in (100.0, 300.0)],
                       "valid_mean_ndcg@20": [0.2, 0.1]})
    assert mod.beyond_edges(g2, 10) == [{"lam": 33.3}]


def test_chunked_scoring_gives_the_evaluators_per_group_figures() -> None:
    """Users scored a few at a time on the restricted dataset = one evaluation of the whole form."""
    mod = load_experiment("itembased")
    for n_users in (40, 20):                               # U = R form; U = I / dual-factor forms
        ds = make_tiny(n_users=n_users, n_items=(15, 12))
        r = ds.train_matrix()
        for obj in (ease_weights(r, 2.0, method="primal"), itemknn_weights(r, 4, 1.0), ease_factors(r, 2.0)):
            for split in ("valid", "test"):
                whole = evaluate(*mod.vectors(obj, r), ds, split=split, ks=mod.KS, bootstrap=0)
                parts = mod.evaluate_chunked(obj, r, ds, split, chunk=7)
                assert len(parts.groups) == len(whole.groups)
                cells = mod.present_cells(whole, ds)
                assert cells == mod.present_cells(parts, ds) and len(cells) == 4
                for d, s in cells:
                    for m in ("ndcg", "recall"):
                        assert abs(parts.value(m, 20, d, s) - whole.value(m, 20, domain=d, scenario=s)) < 1e-6
