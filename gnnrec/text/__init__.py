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

from gnnrec.utils.lazy import lazy

__getattr__, __dir__, __all__ = lazy(__name__, {
    "TextEncoder": "gnnrec.text.encoder",
    "TextError": "gnnrec.text.encoder",
    "default_model_path": "gnnrec.text.encoder",
    "UNAVAILABLE": "gnnrec.text.features",
    "TextFeatures": "gnnrec.text.features",
    "item_text_features": "gnnrec.text.features",
    "item_texts": "gnnrec.text.features",
    "user_text_features": "gnnrec.text.features",
    "render_texts": "gnnrec.text.templates",
    "template_for": "gnnrec.text.templates",
    "text_only_embeddings": "gnnrec.text.zero_shot",
})
