"""On-disk cache of text embeddings, keyed by everything that determines them.

An entry is ``<root>/<key>.npy`` (float32 ``(n, dim)``) plus ``<root>/<key>.json``
(metadata including the ``.npy``'s sha256). ``key`` is the sha256 of the model
identity (sha256 of every config/tokenizer/weight file, pooling, max_length,
precision), the template and the exact texts, so any change of model,
template or text gives a new key. The ``.json`` is written last (after an
atomic rename of the ``.npy``), so a crash never leaves a loadable half entry;
a ``.npy`` whose checksum, shape or dtype disagrees with its ``.json`` is
reported, deleted and recomputed, never returned.

Hashing multi-GB weight files on every run would be slow, so file digests are
memoised in ``<root>/file-digests.json`` by (real path, size, mtime).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from gnnrec.utils.files import read_json, sha256_file, write_json

log = logging.getLogger(__name__)

FORMAT = "gnnrec-text-cache/1"


def cache_key(identity: dict[str, Any], template: str, texts: Sequence[str]) -> str:
    """sha256 over (format, model identity, template, number of texts, each text)."""
    h = hashlib.sha256()
    h.update(FORMAT.encode())
    h.update(json.dumps(identity, sort_keys=True).encode())
    h.update(b"\x00template\x00" + template.encode("utf-8"))
    h.update(f"\x00{len(texts)}\x00".encode())
    for t in texts:
        h.update(t.encode("utf-8") + b"\x00")
    return h.hexdigest()


class EmbeddingCache:
    """``.npy`` + ``.json`` entries under ``root`` (see module docstring)."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self._digests: dict[str, str] | None = None

    def paths(self, key: str) -> tuple[Path, Path]:
        return self.root / f"{key}.npy", self.root / f"{key}.json"

    # ---- file digests (model identity) ---------------------------------------
    def file_digest(self, path: Path) -> str:
        """sha256 of ``path``, memoised by (real path, size, mtime_ns)."""
        memo = self.root / "file-digests.json"
        if self._digests is None:
            try:
                self._digests = dict(read_json(memo)) if memo.is_file() else {}
            except (OSError, ValueError, TypeError):
                self._digests = {}
        real = Path(path).resolve()
        st = real.stat()
        token = f"{real}|{st.st_size}|{st.st_mtime_ns}"
        digest = self._digests.get(token)
        if digest is None:
            if st.st_size > 100 << 20:
                log.info("hashing %s (%.1f GB) once for the text cache key", real,
                         st.st_size / 1e9)
            digest = sha256_file(real)
            self._digests[token] = digest
            write_json(memo, self._digests)
        return digest

    # ---- entries -------------------------------------------------------------
    def load(self, key: str, n_rows: int) -> tuple[np.ndarray, dict[str, Any]] | None:
        """The cached ``(n_rows, dim)`` array and its metadata, or None (miss / corrupt)."""
        npy, meta_path = self.paths(key)
        if not meta_path.is_file():
            return None
        problem = None
        try:
            meta = read_json(meta_path)
            if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("key") != key:
                problem = "its metadata does not describe this key"
            elif not npy.is_file():
                problem = f"{npy.name} is missing"
            elif sha256_file(npy) != meta.get("sha256"):
                problem = f"{npy.name} does not match the sha256 in {meta_path.name}"
            else:
                arr = np.load(npy, allow_pickle=False)
                if arr.dtype != np.float32 or arr.shape != (n_rows, meta.get("dim")):
                    problem = f"array is {arr.dtype} {arr.shape}, expected float32 ({n_rows}, dim)"
                elif not np.isfinite(arr).all():
                    problem = "array has NaN or infinite values"
                else:
                    return arr, meta
        except (OSError, ValueError) as e:       # unreadable JSON or .npy
            problem = f"unreadable ({type(e).__name__}: {e})"
        log.warning("cache entry %s is corrupted (%s); deleting it and recomputing", npy, problem)
        self.remove(key)
        return None

    def save(self, key: str, arr: np.ndarray, meta: dict[str, Any]) -> Path:
        """Write an entry atomically; returns the ``.npy`` path."""
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        npy, meta_path = self.paths(key)
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{key}.", suffix=".npy", dir=self.root)
        try:
            with os.fdopen(fd, "wb") as f:
                np.save(f, arr, allow_pickle=False)
            digest = sha256_file(tmp)
            os.replace(tmp, npy)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        write_json(meta_path, {**meta, "format": FORMAT, "key": key, "sha256": digest,
                               "rows": int(arr.shape[0]), "dim": int(arr.shape[1])})
        return npy

    def remove(self, key: str) -> None:
        for p in self.paths(key):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
