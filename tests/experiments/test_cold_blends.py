"""experiments/cold_blends.py: the factorised sequence co-occurrence map equals its dense form."""

from __future__ import annotations

import numpy as np

from tests.experiments.helpers import load_experiment


def test_seq_cooc_blocks_at_full_rank_are_the_dense_cross_domain_map(tiny) -> None:
    blends = load_experiment("cold_blends")
    signals = load_experiment("cold_signals")
    tau = 3.0
    rank = tiny.n_items                                    # full rank: the factorisation is exact
    u, v = blends.seq_cooc_blocks(tiny, tau, rank=rank)
    assert u.shape == (tiny.n_users, len(tiny.domains) * rank) and v.shape[1] == u.shape[1]
    c = signals.sequence_cooc(tiny, tau).toarray()
    r = tiny.train_matrix(np.float64).toarray()
    dom = tiny.item_domain()
    got = (u.double() @ v.double().T).numpy()
    for d in range(len(tiny.domains)):
        src, tgt = dom != d, dom == d
        want = r[:, src] @ c[np.ix_(src, tgt)]             # a user's other domains -> domain d
        np.testing.assert_allclose(got[:, tgt], want, rtol=1e-6, atol=1e-8)
