"""Text features of a dataset's items (and optionally users), cached on disk.

``item_text_features(ds)`` renders one text per item with the dataset's
template (``configs/text/<name>.yaml``), encodes it with :class:`TextEncoder`
and returns a :class:`TextFeatures` whose ``item`` matrix is row-aligned with
``ds.items``. Embeddings are cached under ``<data dir>/embeddings`` (see
:mod:`gnnrec.text.cache`). A dataset without text returns None: models then
fall back to ID embeddings (never random vectors posing as text).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gnnrec.data.registry import data_dir
from gnnrec.data.schema import Dataset
from gnnrec.text.cache import EmbeddingCache
from gnnrec.text.cache import cache_key as _cache_key
from gnnrec.text.encoder import TextEncoder
from gnnrec.text.templates import load_text_config, render_texts, template_for

log = logging.getLogger(__name__)

UNAVAILABLE = "text features unavailable; models fall back to ID embeddings"


@dataclass
class TextFeatures:
    """Text embeddings of one entity type (``item`` or ``user``) of a dataset.

    ``vectors``: float32 ``(n, dim)``, row ``i`` = item/user index ``i``, rows
    L2-normalised except rows with no text at all, which are zero and flagged
    in ``empty`` (bool ``(n,)``). ``key`` is the cache sha256.
    """

    vectors: np.ndarray
    entity: str
    model_id: str
    key: str
    template: str
    empty: np.ndarray
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def item(self) -> np.ndarray:
        """Item vectors ``(ds.n_items, dim)``; only for item features."""
        if self.entity != "item":
            raise AttributeError(f"these are {self.entity} text features; use .{self.entity}")
        return self.vectors

    @property
    def user(self) -> np.ndarray:
        """User vectors ``(ds.n_users, dim)``; only for user features."""
        if self.entity != "user":
            raise AttributeError(f"these are {self.entity} text features; use .{self.entity}")
        return self.vectors


def default_cache_dir() -> Path:
    return data_dir() / "embeddings"


def item_texts(ds: Dataset, template: str | None = None) -> tuple[list[str], str]:
    """(one text per item, template used) -- what :func:`item_text_features` encodes."""
    cfg = load_text_config(ds.name)
    template = template or template_for(ds.name, ds.text_columns, "item")
    texts, _ = render_texts(ds.items, template, list_separator=cfg.list_separator,
                            values=cfg.values)
    return texts, template


def _profile_columns(ds: Dataset) -> list[str]:
    return [c for c in ds.users.columns if c != "user_id"]


def item_text_features(ds: Dataset, model: str | os.PathLike | None = None,
                       template: str | None = None, device: str = "auto",
                       batch_size: int = 256, max_length: int = 64,
                       cache_dir: str | os.PathLike | None = None, progress: bool = True,
                       encoder: TextEncoder | None = None, pooling: str | None = None,
                       ) -> TextFeatures | None:
    """Item text embeddings ``(ds.n_items, dim)`` or None when the dataset has no text.

    ``model``: None (bundled all-MiniLM-L6-v2), a folder or a cached hub name;
    ``template``: overrides ``configs/text/<ds.name>.yaml``; ``encoder``: reuse
    an already built :class:`TextEncoder` (then model/device/pooling/max_length
    are its own). Cached on disk under ``cache_dir`` (default
    ``<data dir>/embeddings``).
    """
    if not ds.has_text:
        log.info("dataset %s has no item text: %s", ds.name, UNAVAILABLE)
        return None
    cfg = load_text_config(ds.name)
    template = template or template_for(ds.name, ds.text_columns, "item")
    return _features(ds.name, "item", ds.items, template, cfg, model, device, batch_size,
                     max_length, cache_dir, progress, encoder, pooling)


def user_text_features(ds: Dataset, model: str | os.PathLike | None = None,
                       template: str | None = None, device: str = "auto",
                       batch_size: int = 256, max_length: int = 64,
                       cache_dir: str | os.PathLike | None = None, progress: bool = True,
                       encoder: TextEncoder | None = None, pooling: str | None = None,
                       ) -> TextFeatures | None:
    """User profile text embeddings ``(ds.n_users, dim)`` (e.g. "User: female, age 25-34,
    artist" for MovieLens), or None when users have no profile fields. Same
    options as :func:`item_text_features`; the template is the config's ``user``."""
    cols = _profile_columns(ds)
    cfg = load_text_config(ds.name)
    template = template or template_for(ds.name, cols, "user")
    if not cols or template is None:
        log.info("dataset %s has no user profile text: user %s", ds.name, UNAVAILABLE)
        return None
    return _features(ds.name, "user", ds.users, template, cfg, model, device, batch_size,
                     max_length, cache_dir, progress, encoder, pooling)


def _features(name: str, entity: str, frame: pd.DataFrame, template: str, cfg, model,
              device: str, batch_size: int, max_length: int, cache_dir, progress: bool,
              encoder: TextEncoder | None, pooling: str | None) -> TextFeatures | None:
    t0 = time.perf_counter()
    texts, rstats = render_texts(frame, template, list_separator=cfg.list_separator,
                                 values=cfg.values)
    if rstats.empty == len(texts):
        log.info("dataset %s: template %r gives no %s text: %s", name, template, entity,
                 UNAVAILABLE)
        return None
    log.debug("%s %s texts (template %r), e.g. %s", name, entity, template,
              " | ".join(texts[:3]))
    enc = encoder or TextEncoder(model, device=device, pooling=pooling, max_length=max_length)
    cache = EmbeddingCache(cache_dir or default_cache_dir())
    key = _cache_key(enc.identity(cache.file_digest), template, texts)
    empty = np.array([not t for t in texts], dtype=bool)
    hit = cache.load(key, len(texts))
    if hit is not None:
        vectors, meta = hit
        stats = {**meta.get("stats", {}), "from_cache": True,
                 "cache_file": str(cache.paths(key)[0]), "seconds": time.perf_counter() - t0}
        log.info("%s %s text features from cache %s (%.2f s)", name, entity,
                 cache.paths(key)[0], stats["seconds"])
        return TextFeatures(vectors, entity, meta.get("model_id", enc.model_id), key,
                            template, empty, stats)
    vectors = enc.encode(texts, batch_size=batch_size, progress=progress,
                         desc=f"{name} {entity} texts")
    s = enc.last_stats
    stats = {"n": s.n, "empty": s.empty, "truncated": s.truncated,
             "invalid_utf8": s.invalid_utf8 + rstats.invalid_utf8, "tokens": s.tokens,
             "encode_seconds": round(s.seconds, 3), "items_per_s": round(s.items_per_s, 1),
             "device": enc.device, "precision": enc.precision}
    npy = cache.save(key, vectors, {"dataset": name, "entity": entity, "model_id": enc.model_id,
                                    "pooling": enc.pooling, "max_length": enc.max_length,
                                    "template": template, "stats": stats})
    stats.update(from_cache=False, cache_file=str(npy), seconds=time.perf_counter() - t0)
    return TextFeatures(vectors, entity, enc.model_id, key, template, empty, stats)
