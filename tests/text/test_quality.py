"""Real MiniLM on real ML-1M-CD item texts: franchise and genre neighbours are closer."""

from __future__ import annotations

import numpy as np
import pytest

from ..conftest import needs_shared

# (anchor, should be closer, than this unrelated title)
PAIRS = [
    ("Star Wars: Episode IV - A New Hope", "Star Wars: Episode V - The Empire Strikes Back",
     "Sleepless in Seattle"),
    ("Godfather, The", "Godfather: Part II, The", "Toy Story"),
    ("Toy Story", "Toy Story 2", "Halloween"),
    ("Sleepless in Seattle", "Notting Hill", "Alien"),
    ("Alien", "Aliens", "Notting Hill"),
    ("Halloween", "Scream", "Pretty Woman"),
    ("Notting Hill", "Pretty Woman", "Terminator 2: Judgment Day"),
]


@needs_shared("ml1m-cd")
def test_same_franchise_or_genre_is_closer(encoder):
    from gnnrec.data.registry import load_dataset
    from gnnrec.text import item_texts

    ds = load_dataset("ml1m-cd")
    texts, _ = item_texts(ds)
    by_title = {t: i for i, t in enumerate(ds.items["title"])}
    titles = sorted({t for p in PAIRS for t in p})
    missing = [t for t in titles if t not in by_title]
    if missing:
        pytest.fail(f"titles not in ml1m-cd items: {missing}")
    vecs = dict(zip(titles, encoder.encode([texts[by_title[t]] for t in titles],
                                           progress=False)))
    for anchor, near, far in PAIRS:
        s_near = float(np.dot(vecs[anchor], vecs[near]))
        s_far = float(np.dot(vecs[anchor], vecs[far]))
        assert s_near > s_far + 0.1, (anchor, near, s_near, far, s_far)
