"""Models: every recommender exposes user/item embeddings scored by inner product.

See :mod:`gnnrec.models.base` for the interface and :mod:`gnnrec.models.registry`
for the names.
"""

from gnnrec.models.base import Batch, ModelContext, Recommender
from gnnrec.models.registry import MODELS, build_model, model_class

__all__ = ["MODELS", "Batch", "ModelContext", "Recommender", "build_model", "model_class"]
