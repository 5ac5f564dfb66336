"""Optional FAISS inner-product indexes (``pip install gnnrec[serve]`` for ``faiss-cpu``).

``exact`` is ``IndexFlatIP`` (brute force, identical ranking to a matrix
product); ``ivf`` is ``IndexIVFFlat`` with ``nlist = clamp(4 sqrt(n), 1, n/39)``
coarse cells trained on the vectors themselves (searched with ``nprobe``
cells); ``hnsw`` is ``IndexHNSWFlat`` (M = 32) with the inner-product metric.
"""

from __future__ import annotations

import logging
import math
import os
from typing import Any

import numpy as np

from gnnrec.errors import GnnrecError


def _faiss() -> Any:
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)   # its CPU-feature probing is noise
    try:
        import faiss
    except ImportError:
        raise GnnrecError("FAISS is not installed: `pip install faiss-cpu` (or the `serve` "
                          "extra: `pip install 'gnnrec[serve]'`), or export without --faiss") from None
    return faiss


def faiss_available() -> bool:
    import importlib.util
    return importlib.util.find_spec("faiss") is not None


def build_index(vectors: np.ndarray, kind: str = "exact", nprobe: int = 16) -> Any:
    """An inner-product index over ``vectors`` (n, dim) float32; row j keeps id j."""
    faiss = _faiss()
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    n, dim = x.shape
    if kind == "exact" or n < 2:
        index = faiss.IndexFlatIP(dim)
    elif kind == "ivf":
        nlist = max(1, min(int(4 * math.sqrt(n)), n // 39 or 1))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.train(x)
        index.nprobe = min(nprobe, nlist)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = 128
    else:
        raise ValueError(f"unknown index kind {kind!r}; expected exact, ivf or hnsw")
    index.add(x)
    return index


def save_index(index: Any, path: str | os.PathLike) -> None:
    _faiss().write_index(index, str(path))


def load_index(path: str | os.PathLike) -> Any:
    return _faiss().read_index(str(path))


def search(index: Any, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` (scores, row ids), each (n_queries, k); missing hits have id -1."""
    q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
    return index.search(q, min(k, index.ntotal))
