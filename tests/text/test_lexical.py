"""TF-IDF lexical item features (gnnrec.text.lexical): terms, weights, filters, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from gnnrec.text.lexical import lexical_features

TEXTS = ["Sharpie fine point marker, black", "Sharpie permanent marker set",
         "Fiskars craft scissors", "Fiskars paper trimmer", "Elmer's glue stick"]


def test_shared_brand_and_product_words_link_items():
    x, vocab = lexical_features(TEXTS)
    assert set(vocab) == {"sharpie", "marker", "fiskars"}           # df >= 2 only
    sim = (x @ x.T).toarray()
    assert sim[0, 1] > 0.99 and sim[2, 3] > 0.99                   # same brand (+ product word)
    assert sim[0, 2] == 0 and sim[0, 3] == 0
    assert x[4].nnz == 0                                           # no kept term: zero row
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    assert np.allclose(norms[:4], 1.0, atol=1e-6) and norms[4] == 0
    assert x.dtype == np.float32 and x.shape == (5, 3)


def test_rarer_terms_weigh_more():
    texts = ["red pen", "red pen", "red pen", "red ink", "blue ink", "blue pen"]
    x, vocab = lexical_features(texts, max_df=1.0)
    row = dict(zip(vocab, x[3].toarray().ravel()))                 # "red ink"
    assert row["ink"] > row["red"] > 0                             # df 2 vs df 4


def test_filters_and_bad_arguments():
    x, vocab = lexical_features(TEXTS, min_df=1, max_df=0.3)       # terms in > 1.5 texts dropped
    assert "sharpie" not in vocab and "glue" in vocab
    x, vocab = lexical_features(["one", "two"])                    # nothing occurs twice
    assert vocab == [] and x.shape == (2, 0)
    with pytest.raises(ValueError, match="min_df"):
        lexical_features(TEXTS, min_df=0)
    with pytest.raises(ValueError, match="max_df"):
        lexical_features(TEXTS, max_df=0.0)
