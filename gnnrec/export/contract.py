"""The export contract: the boundary between any model and the outside world.

An export folder holds::

    user_embeddings.npy   float32 (n_users, dim)   (float16, or int8 + scales)
    item_embeddings.npy   float32 (n_items, dim)
    user_ids.txt          one raw user id per line, row-aligned with user_embeddings
    item_ids.txt          one raw item id per line (namespaced ``domain:id`` for
                          per-domain datasets), row-aligned with item_embeddings
    items.tsv             item_id, domain, title (when known)
    manifest.json         {format, model, score: "dot", dim, dtype, dataset,
                           created, gnnrec_version, files: {name: sha256}, ...}

and optionally ``user_scales.npy`` / ``item_scales.npy`` (int8 exports: the
float vector of row ``i`` is ``emb[i] * scales[i]``), ``seen.npz`` (CSR matrix
user x item of the train positives, so serving can exclude seen items).

The score of (user u, item i) is the inner product ``U[u] . V[i]``. Writes are
atomic (temp folder + rename); :func:`load_export` verifies every sha256 and
the row/id alignment, and refuses a tampered, truncated or inconsistent export.
"""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from gnnrec import __version__
from gnnrec.utils.files import atomic_dir, read_json, sha256_file, write_json

FORMAT = "gnnrec-export/1"
DTYPES = ("float32", "float16", "int8")


class ExportError(ValueError):
    """An export folder that cannot be trusted or used; the message says why and what to do."""


@dataclass
class Export:
    """An export held in memory; embeddings are always float32 once loaded."""

    user_ids: list[str]
    item_ids: list[str]
    user_emb: np.ndarray
    item_emb: np.ndarray
    items: pd.DataFrame | None = None          # item_id, domain, title
    seen: sp.csr_matrix | None = None          # (n_users, n_items) train positives
    manifest: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.user_emb = np.asarray(self.user_emb)
        self.item_emb = np.asarray(self.item_emb)
        check_embeddings(self.user_ids, self.user_emb, "user")
        check_embeddings(self.item_ids, self.item_emb, "item")
        if self.user_emb.shape[1] != self.item_emb.shape[1]:
            raise ExportError(f"user and item embeddings disagree in dimension: "
                              f"{self.user_emb.shape[1]} vs {self.item_emb.shape[1]}")

    @property
    def dim(self) -> int:
        return int(self.item_emb.shape[1])


def check_embeddings(ids: list[str], emb: np.ndarray, what: str) -> None:
    """Rows must match ids, be 2-D and finite; ids must be unique."""
    if emb.ndim != 2:
        raise ExportError(f"{what} embeddings must be 2-D (rows x dim), got shape {emb.shape}")
    if len(ids) != emb.shape[0]:
        raise ExportError(f"{what}_ids has {len(ids)} ids but {what}_embeddings has "
                          f"{emb.shape[0]} rows; they must be row-aligned")
    if len(set(ids)) != len(ids):
        raise ExportError(f"{what}_ids contains duplicate ids")
    if emb.dtype.kind == "f" and not np.isfinite(emb).all():
        bad = int((~np.isfinite(emb)).any(axis=1).sum())
        raise ExportError(f"{what} embeddings contain NaN or infinite values in {bad} rows; "
                          f"the model diverged or the file is corrupt: re-train or re-export")


def _quantize(x: np.ndarray, dtype: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Cast float32 rows to ``dtype``; int8 uses symmetric per-row scales (max|x| / 127)."""
    if dtype == "float32":
        return x.astype(np.float32), None
    if dtype == "float16":
        return x.astype(np.float16), None
    scale = np.abs(x).max(axis=1) / 127.0
    scale[scale == 0] = 1.0
    q = np.clip(np.rint(x / scale[:, None]), -127, 127).astype(np.int8)
    return q, scale.astype(np.float32)


def write_export(exp: Export, folder: str | os.PathLike, dtype: str = "float32",
                 overwrite: bool = True) -> Path:
    """Write ``exp`` to ``folder`` atomically in the export contract."""
    if dtype not in DTYPES:
        raise ExportError(f"dtype {dtype!r} is not one of {DTYPES}")
    folder = Path(folder)
    with atomic_dir(folder, overwrite=overwrite) as tmp:
        for what, emb in (("user", exp.user_emb), ("item", exp.item_emb)):
            q, scale = _quantize(emb.astype(np.float32), dtype)
            np.save(tmp / f"{what}_embeddings.npy", q)
            if scale is not None:
                np.save(tmp / f"{what}_scales.npy", scale)
        (tmp / "user_ids.txt").write_text("".join(f"{u}\n" for u in exp.user_ids), encoding="utf-8")
        (tmp / "item_ids.txt").write_text("".join(f"{i}\n" for i in exp.item_ids), encoding="utf-8")
        items = exp.items if exp.items is not None else pd.DataFrame(
            {"item_id": exp.item_ids, "domain": "", "title": ""})
        items.loc[:, ["item_id", "domain", "title"]].to_csv(tmp / "items.tsv", sep="\t", index=False)
        if exp.seen is not None:
            sp.save_npz(tmp / "seen.npz", exp.seen.tocsr().astype(np.int8))
        files = {p.name: sha256_file(p) for p in sorted(tmp.iterdir())}
        manifest = {
            "format": FORMAT, "score": "dot", "dim": exp.dim, "dtype": dtype,
            "n_users": len(exp.user_ids), "n_items": len(exp.item_ids),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "gnnrec_version": __version__,
            **{k: v for k, v in exp.manifest.items() if k not in ("files", "format")},
            "files": files,
        }
        write_json(tmp / "manifest.json", manifest)
    return folder


def _read_ids(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def load_export(folder: str | os.PathLike, verify: bool = True) -> Export:
    """Load and verify an export folder (see module docstring)."""
    folder = Path(folder)
    mpath = folder / "manifest.json"
    required = ["user_embeddings.npy", "item_embeddings.npy", "user_ids.txt", "item_ids.txt"]
    if not folder.is_dir():
        raise ExportError(f"{folder}: no such export folder")
    missing = [f for f in required if not (folder / f).is_file()]
    if missing:
        raise ExportError(f"{folder} is not a gnnrec export: missing {missing}")
    manifest = read_json(mpath) if mpath.is_file() else {}
    if verify and manifest.get("files"):
        for name, digest in manifest["files"].items():
            p = folder / name
            if not p.is_file():
                raise ExportError(f"{p} is listed in {mpath} but missing: the export is incomplete")
            if sha256_file(p) != digest:
                raise ExportError(f"{p} does not match its sha256 in {mpath}: the file was changed "
                                  f"or truncated after export; re-export it")
    embs = {}
    for what in ("user", "item"):
        try:
            arr = np.load(folder / f"{what}_embeddings.npy", allow_pickle=False)
        except ValueError as e:
            raise ExportError(f"{folder / f'{what}_embeddings.npy'} is not a readable .npy "
                              f"array ({e})") from None
        scale_path = folder / f"{what}_scales.npy"
        if arr.dtype == np.int8:
            if not scale_path.is_file():
                raise ExportError(f"{folder}: int8 {what} embeddings without {scale_path.name}")
            arr = arr.astype(np.float32) * np.load(scale_path, allow_pickle=False)[:, None]
        embs[what] = arr.astype(np.float32)
    items = None
    if (folder / "items.tsv").is_file():
        items = pd.read_csv(folder / "items.tsv", sep="\t", dtype=str, keep_default_na=False)
    seen = sp.load_npz(folder / "seen.npz").tocsr() if (folder / "seen.npz").is_file() else None
    return Export(user_ids=_read_ids(folder / "user_ids.txt"),
                  item_ids=_read_ids(folder / "item_ids.txt"),
                  user_emb=embs["user"], item_emb=embs["item"],
                  items=items, seen=seen, manifest=manifest)
