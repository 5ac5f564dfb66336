"""Text features: item (and user) texts -> cached LLM sentence embeddings.

Public API::

    feats = item_text_features(ds)          # TextFeatures | None
    feats.item                              # float32 (ds.n_items, dim), L2-normalised rows
    feats.dim, feats.model_id, feats.key    # key = cache sha256
    user_text_features(ds)                  # profile text (age, occupation, ...) or None
    template_for("ml1m-cd")                 # "{title} ({year}). Genres: {genres}"
    TextEncoder(model=None).encode(texts)   # any texts -> (n, dim) float32
    default_model_path()                    # bundled all-MiniLM-L6-v2 folder
    text_only_embeddings(ds, feats)         # zero-shot text-only recommender
"""

from gnnrec.text.encoder import TextEncoder, TextError, default_model_path
from gnnrec.text.features import (UNAVAILABLE, TextFeatures, item_text_features, item_texts,
                                  user_text_features)
from gnnrec.text.templates import render_texts, template_for
from gnnrec.text.zero_shot import text_only_embeddings

__all__ = ["TextEncoder", "TextError", "TextFeatures", "UNAVAILABLE", "default_model_path",
           "item_text_features", "item_texts", "render_texts", "template_for",
           "text_only_embeddings", "user_text_features"]
