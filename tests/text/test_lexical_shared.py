"""Title terms on real Amazon Art/Office: they link the two domains for cold users."""

from __future__ import annotations

import numpy as np

from ..conftest import needs_shared


def _ndcg20(scores: np.ndarray, truth: set[int]) -> float:
    top = np.argsort(-scores, kind="stable")[:20]
    dcg = sum(1.0 / np.log2(r + 2) for r, i in enumerate(top) if int(i) in truth)
    return dcg / sum(1.0 / np.log2(r + 2) for r in range(min(len(truth), 20)))


@needs_shared("amazon-ao")
def test_title_terms_predict_cold_users_other_domain():
    """Score a cold user's target-domain items by the TF-IDF overlap with the titles of the
    user's other-domain train items: NDCG@20 on the valid cold groups is many times a random
    ranking's (with ~19k items per domain and ~8 truth items, about 0.001)."""
    from gnnrec.data.registry import load_dataset
    from gnnrec.text import item_texts
    from gnnrec.text.lexical import lexical_features

    ds = load_dataset("amazon-ao")
    x, vocab = lexical_features(item_texts(ds)[0])
    assert 10_000 < len(vocab) < 60_000
    art, office = ds.item_block("art"), ds.item_block("office")
    in_art, in_office = (np.asarray(x[b].sum(axis=0)).ravel() > 0 for b in (art, office))
    both = in_art & in_office
    assert both.mean() > 0.3                          # a third of the terms occur in both domains
    r = ds.train_matrix()
    cold = ds.valid[ds.valid["scenario"] == "cold"]
    for d, block in enumerate((art, office)):
        xd = x[block]
        vals = [_ndcg20(np.asarray(xd @ np.asarray(x[r[u].indices].sum(axis=0)).ravel()).ravel(),
                        set(int(i) - block.start for i in g))
                for u, g in cold[cold["domain"] == d].groupby("user")["item"]]
        assert len(vals) > 400 and np.mean(vals) > 0.008, (ds.domains[d], np.mean(vals))
