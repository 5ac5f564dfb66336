"""experiments/cold_signals.py: the user-k-NN signal against a brute-force loop, the ridge map
against its closed form."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from tests.experiments.helpers import load_experiment


def _brute(r: np.ndarray, u: int, source: np.ndarray, k: int) -> np.ndarray:
    x = r[:, source]
    x = x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-12)
    sim = x @ x[u]
    sim[u] = -np.inf
    nb = np.argsort(-sim, kind="stable")[:k]
    return sum(sim[v] * r[v] for v in nb)


def test_user_knn_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    r = (rng.random((30, 12)) < 0.3).astype(np.float32)
    # distinct similarities so the k nearest are unique: weight each user's rows differently
    r[:, :6] *= rng.integers(1, 4, size=(30, 6))
    source = np.arange(12) < 6
    users = np.array([0, 5, 17])
    got = load_experiment("cold_signals").user_knn(sp.csr_matrix(r), users, source, k=4)
    assert got.shape == (3, 12)
    for row, u in enumerate(users):
        np.testing.assert_allclose(got[row], _brute(r, u, source, 4), rtol=1e-5, atol=1e-6)


def test_user_knn_ignores_the_user_itself() -> None:
    r = np.eye(4, dtype=np.float32)
    r[:, 3] = 0.0
    r[0, 3] = 1.0                                          # only user 0 has target item 3
    got = load_experiment("cold_signals").user_knn(sp.csr_matrix(r), np.array([0]), np.arange(4) < 3, k=3)
    assert got[0, 3] == 0.0                                # its own target row never counts


def test_ridge_map_is_the_closed_form_on_users_with_both_sides() -> None:
    rng = np.random.default_rng(1)
    r = (rng.random((40, 10)) < 0.35).astype(np.float32)
    source = np.arange(10) < 4
    r[:5, ~source] = 0.0                                   # five users without target rows: not fitted on
    r[5, source] = 0.0
    lam = 2.5
    s, t = r[6:, :4], r[6:, 4:]
    keep = (s.sum(1) > 0) & (t.sum(1) > 0)
    s, t = s[keep], t[keep]
    want = np.linalg.solve(s.T @ s + lam * np.eye(4), s.T @ t)
    got = load_experiment("cold_signals").ridge_map(sp.csr_matrix(r), source, lam)
    assert got.shape == (4, 6)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_sequence_cooc_weights_pairs_by_distance_in_the_train_sequence() -> None:
    import types

    import pandas as pd

    # user 0 buys 0, 1, 2 in that order (timestamps out of row order); user 1 buys 2 then 0,
    # far apart in time -- only the rank in the user's train rows counts
    train = pd.DataFrame({"user": [0, 0, 0, 1, 1], "item": [2, 0, 1, 0, 2],
                          "timestamp": [30, 10, 20, 5000, 7]})
    ds = types.SimpleNamespace(train=train, n_items=4)
    tau = 2.0
    got = load_experiment("cold_signals").sequence_cooc(ds, tau).toarray()
    chunked = load_experiment("cold_signals").sequence_cooc(ds, tau, max_pairs=1).toarray()
    e1, e2 = np.exp(-1 / tau), np.exp(-2 / tau)
    want = np.zeros((4, 4))
    want[0, 1] = want[1, 0] = e1                           # user 0: positions 1 and 2
    want[1, 2] = want[2, 1] = e1                           # user 0: positions 2 and 3
    want[0, 2] = want[2, 0] = e2 + e1                      # user 0: 1 and 3; user 1: 2 and 1
    np.testing.assert_allclose(got, want)
    np.testing.assert_allclose(chunked, want)                # one user per chunk: same sums
