"""Helpers shared by the test packages: model contexts and text features on generated data."""

from __future__ import annotations

import numpy as np
import torch

from gnnrec.data.schema import Dataset
from gnnrec.graph import Graph
from gnnrec.models.base import ModelContext
from gnnrec.models.registry import model_class
from gnnrec.text.features import TextFeatures
from gnnrec.utils.config import fill


def random_text(ds: Dataset, dim: int = 12, seed: int = 0) -> np.ndarray:
    """(n_items, dim) L2-normalised random float32 rows, a stand-in for title embeddings."""
    v = np.random.default_rng(seed).normal(size=(ds.n_items, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def text_features(ds: Dataset, dim: int = 12, seed: int = 0) -> TextFeatures:
    """:func:`random_text` as the TextFeatures object training and text-only read."""
    return TextFeatures(vectors=random_text(ds, dim, seed), entity="item", model_id="random-unit-vectors",
                        key="t", template="{title}", empty=np.zeros(ds.n_items, bool))


def model_ctx(ds: Dataset, name: str, text: bool | np.ndarray = True, **cfg) -> ModelContext:
    """A CPU :class:`ModelContext` for model ``name`` with config keys ``cfg`` (typed, checked).

    ``text``: True for random text features, False for none, or the (n_items, t) rows.
    """
    feats = None
    if text is True:
        feats = text_features(ds)
        text = feats.item
    elif text is False:
        text = None
    config = fill(model_class(name).Config, {"name": name, **cfg}, {}, "model.")     # checked
    return ModelContext(ds=ds, graph=Graph(ds, text), device=torch.device("cpu"), config=config,
                        text=text, extra={"text_features": feats})
