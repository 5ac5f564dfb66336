"""Models: every recommender exposes user/item embeddings scored by inner product.

See :mod:`gnnrec.models.base` for the interface and :mod:`gnnrec.models.registry`
for the names.
"""

from gnnrec.utils.lazy import lazy

__getattr__, __dir__, __all__ = lazy(__name__, {
    "Batch": "gnnrec.models.base",
    "Embeddings": "gnnrec.models.base",
    "ModelContext": "gnnrec.models.base",
    "Recommender": "gnnrec.models.base",
    "MODELS": "gnnrec.models.registry",
    "build_model": "gnnrec.models.registry",
    "model_class": "gnnrec.models.registry",
})
