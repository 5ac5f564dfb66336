"""The export contract: the boundary between any model and the outside world.

An export folder holds::

    user_embeddings.npy   (n_users, dim) float32 | float16 | int8
    item_embeddings.npy   (n_items, dim) float32 | float16 | int8
    user_scales.npy       (n_users,) float32, int8 exports only
    item_scales.npy       (n_items,) float32, int8 exports only
    user_ids.txt          one raw user id per line, row-aligned with user_embeddings
    item_ids.txt          one raw item id per line (namespaced ``domain:id`` for
                          per-domain datasets), row-aligned with item_embeddings
    items.tsv             item_id, domain, title (title empty when unknown), row-aligned
    seen.npz              optional CSR (n_users, n_items) int8: the train positives,
                          so serving excludes seen items and knows item popularity
    foldin_map.npy        optional (n_items, m) float32: the linear part of the user vectors
                          (the cross-domain item map), folded in from a history exactly
                          (:class:`gnnrec.export.foldin.FoldinMap`; manifest ``foldin.map``)
    index/<domain>.faiss  optional FAISS inner-product index per domain (row j of
                          the index = j-th item of that domain in items.tsv order)
    users.parquet, items.parquet
                          optional (id: string, vector: fixed_size_list<float32>[dim])
    manifest.json         see below

``manifest.json`` carries ``format``, ``score`` (always ``"dot"``), ``dim``,
``dtype``, ``n_users``, ``n_items``, ``domains``, ``created`` (UTC ISO time),
``gnnrec_version``, ``files`` (name -> sha256 of every other file), and what the
producer supplies in :attr:`Export.manifest`: ``model``, ``config`` (resolved),
``dataset`` (``{name, fingerprint}``; a plain name plus ``dataset_fingerprint``
is folded into that form), ``metrics`` (test metrics), ``foldin``
(the rule that turns an item history into a user vector, see
:mod:`gnnrec.export.foldin`) and, for lossy dtypes, ``quantization`` (the
validation NDCG@20 change, see :mod:`gnnrec.export.quality`).

The score of (user u, item i) is the inner product ``U[u] . V[i]``. int8 rows
are symmetric per-row quantised: ``V[i] ~= q[i] * scale[i]`` with
``scale[i] = max_j |V[i, j]| / 127``. Writes are atomic (temp folder +
rename); :func:`load_export` verifies every sha256, the row/id alignment and
finiteness, and refuses a tampered, truncated or inconsistent export: every
file in the folder must be listed in ``files`` with its sha256 (names are
relative, inside the folder: no ``..``, no absolute path, at most the
``index/`` subfolder), every file the manifest refers to (FAISS indexes) must
be one of them, ``dim`` / ``n_users`` / ``n_items`` must match the arrays, and
an export without users or items is refused.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from gnnrec import __version__
from gnnrec.errors import GnnrecError
from gnnrec.export.foldin import FoldinMap
from gnnrec.utils.files import atomic_dir, read_json_object, sha256_file, write_json

log = logging.getLogger(__name__)

FORMAT = "gnnrec-export/1"
DTYPES = ("float32", "float16", "int8")
INDEX_KINDS = ("exact", "ivf", "hnsw")
_RESERVED = ("files", "format", "score", "dim", "dtype", "n_users", "n_items",
             "created", "gnnrec_version", "domains", "extras")


class ExportError(GnnrecError, ValueError):
    """An export folder that cannot be trusted or used; the message says why and what to do."""


@dataclass
class Export:
    """An export held in memory; embeddings are float32 once loaded.

    ``user_emb`` is (n_users, dim), ``item_emb`` (n_items, dim); ``items`` has
    columns item_id, domain, title row-aligned with ``item_ids``; ``seen`` is a
    (n_users, n_items) CSR matrix of train positives.
    """

    user_ids: list[str]
    item_ids: list[str]
    user_emb: np.ndarray
    item_emb: np.ndarray
    items: pd.DataFrame | None = None          # item_id, domain, title
    seen: sp.csr_matrix | None = None          # (n_users, n_items) train positives
    manifest: dict[str, Any] = field(default_factory=dict)
    foldin_map: FoldinMap | None = None        # the user vectors' linear part (gnnrec.export.foldin)

    def __post_init__(self) -> None:
        self.user_emb = np.asarray(self.user_emb)
        self.item_emb = np.asarray(self.item_emb)
        check_embeddings(self.user_ids, self.user_emb, "user")
        check_embeddings(self.item_ids, self.item_emb, "item")
        if self.user_emb.shape[1] != self.item_emb.shape[1]:
            raise ExportError(f"user and item embeddings disagree in dimension: "
                              f"{self.user_emb.shape[1]} vs {self.item_emb.shape[1]}")
        if self.items is not None:
            if list(self.items["item_id"].astype(str)) != list(self.item_ids):
                raise ExportError("items table is not row-aligned with item_ids "
                                  "(same ids in the same order are required)")
        ds_info = self.manifest.get("dataset")
        if isinstance(ds_info, str):          # producers may give a name + a separate fingerprint
            self.manifest["dataset"] = {"name": ds_info,
                                        "fingerprint": self.manifest.pop("dataset_fingerprint", None)}
        if self.foldin_map is not None and (
                self.foldin_map.matrix.shape[0] != len(self.item_ids)
                or self.foldin_map.k_model + self.foldin_map.matrix.shape[1] != self.user_emb.shape[1]):
            raise ExportError(f"the fold-in map has shape {self.foldin_map.matrix.shape} and k_model "
                              f"{self.foldin_map.k_model}; expected ({len(self.item_ids)}, dim - k_model) for "
                              f"dim {self.user_emb.shape[1]}")
        if self.seen is not None and self.seen.shape != (len(self.user_ids), len(self.item_ids)):
            raise ExportError(f"seen matrix has shape {self.seen.shape}, expected "
                              f"(n_users, n_items) = ({len(self.user_ids)}, {len(self.item_ids)})")

    @property
    def dim(self) -> int:
        return int(self.item_emb.shape[1])

    def item_domains(self) -> np.ndarray:
        """Domain name of every item, shape (n_items,) (empty strings when unknown)."""
        if self.items is None:
            return np.full(len(self.item_ids), "", dtype=object)
        return self.items["domain"].astype(str).to_numpy(dtype=object)

    def domains(self) -> list[str]:
        """Domain names in order of first appearance among the items."""
        return list(dict.fromkeys(d for d in self.item_domains() if d))


def check_embeddings(ids: list[str], emb: np.ndarray, what: str) -> None:
    """Rows must match ids, be 2-D, non-empty and finite; ids must be unique."""
    if emb.ndim != 2:
        raise ExportError(f"{what} embeddings must be 2-D (rows x dim), got shape {emb.shape}")
    if emb.shape[0] == 0 or emb.shape[1] == 0:
        raise ExportError(f"the export has no {what}s (embeddings of shape {emb.shape}): nothing can be "
                          f"served or evaluated; export a trained model with at least one {what}")
    if len(ids) != emb.shape[0]:
        raise ExportError(f"{what}_ids has {len(ids)} ids but {what}_embeddings has "
                          f"{emb.shape[0]} rows; they must be row-aligned")
    if len(set(ids)) != len(ids):
        raise ExportError(f"{what}_ids contains duplicate ids")
    if emb.dtype.kind == "f" and not np.isfinite(emb).all():
        bad = int((~np.isfinite(emb)).any(axis=1).sum())
        raise ExportError(f"{what} embeddings contain NaN or infinite values in {bad} rows; "
                          f"the model diverged or the file is corrupt: re-train or re-export")


def quantize(x: np.ndarray, dtype: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Cast float32 rows (n, dim) to ``dtype``; int8 returns per-row scales (n,) = max|x| / 127."""
    if dtype not in DTYPES:
        raise ExportError(f"dtype {dtype!r} is not one of {DTYPES}")
    if dtype == "float32":
        return x.astype(np.float32), None
    if dtype == "float16":
        return x.astype(np.float16), None
    scale = np.abs(x).max(axis=1) / 127.0
    scale[scale == 0] = 1.0
    q = np.clip(np.rint(x / scale[:, None]), -127, 127).astype(np.int8)
    return q, scale.astype(np.float32)


def dequantize(q: np.ndarray, scale: np.ndarray | None) -> np.ndarray:
    """Inverse of :func:`quantize` (lossy for float16/int8): float32 (n, dim)."""
    out = q.astype(np.float32)
    return out * scale[:, None] if scale is not None else out


def roundtrip(x: np.ndarray, dtype: str) -> np.ndarray:
    """What a reader of a ``dtype`` export will see for float32 rows ``x``."""
    return dequantize(*quantize(np.asarray(x, dtype=np.float32), dtype))


def _write_faiss(tmp: Path, exp: Export, kind: str) -> dict[str, Any]:
    """One inner-product FAISS index per domain under ``tmp/index``; returns manifest info."""
    from gnnrec.export.ann import build_index, save_index
    (tmp / "index").mkdir()
    dom = exp.item_domains()
    info: dict[str, Any] = {"kind": kind, "metric": "inner_product", "domains": {}}
    for d in exp.domains():
        idx = build_index(exp.item_emb[dom == d], kind)
        save_index(idx, tmp / "index" / f"{d}.faiss")
        info["domains"][d] = {"file": f"index/{d}.faiss", "n": int((dom == d).sum())}
    return info


def _write_parquet(tmp: Path, exp: Export) -> None:
    """``users.parquet`` / ``items.parquet``: (id string, vector fixed_size_list<float32>)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    for what, ids, emb in (("users", exp.user_ids, exp.user_emb), ("items", exp.item_ids, exp.item_emb)):
        flat = pa.array(np.ascontiguousarray(emb, dtype=np.float32).reshape(-1))
        vec = pa.FixedSizeListArray.from_arrays(flat, exp.dim)
        pq.write_table(pa.table({"id": pa.array(ids, pa.string()), "vector": vec}),
                       tmp / f"{what}.parquet")


def write_export(exp: Export, folder: str | os.PathLike, dtype: str = "float32",
                 overwrite: bool = True, faiss: str | None = None,
                 parquet: bool = False) -> Path:
    """Write ``exp`` to ``folder`` atomically in the export contract.

    ``faiss`` (``exact`` | ``ivf`` | ``hnsw``) adds per-domain inner-product
    indexes, ``parquet`` adds (id, vector) tables; both are built from the
    vectors as a reader will see them (after ``dtype`` quantisation).
    """
    if dtype not in DTYPES:
        raise ExportError(f"dtype {dtype!r} is not one of {DTYPES}")
    if faiss is not None and faiss not in INDEX_KINDS:
        raise ExportError(f"faiss index kind {faiss!r} is not one of {INDEX_KINDS}")
    folder = Path(folder)
    seen_view = Export(exp.user_ids, exp.item_ids, roundtrip(exp.user_emb, dtype),
                       roundtrip(exp.item_emb, dtype), exp.items, exp.seen, exp.manifest)
    extras: dict[str, Any] = {}
    with atomic_dir(folder, overwrite=overwrite) as tmp:
        for what, emb in (("user", exp.user_emb), ("item", exp.item_emb)):
            q, scale = quantize(np.asarray(emb, dtype=np.float32), dtype)
            np.save(tmp / f"{what}_embeddings.npy", q)
            if scale is not None:
                np.save(tmp / f"{what}_scales.npy", scale)
        (tmp / "user_ids.txt").write_text("".join(f"{u}\n" for u in exp.user_ids), encoding="utf-8")
        (tmp / "item_ids.txt").write_text("".join(f"{i}\n" for i in exp.item_ids), encoding="utf-8")
        items = exp.items if exp.items is not None else pd.DataFrame(
            {"item_id": exp.item_ids, "domain": "", "title": ""})
        items = items.loc[:, ["item_id", "domain", "title"]].copy()
        items["title"] = items["title"].fillna("").astype(str).str.replace(r"[\t\r\n]", " ", regex=True)
        items.to_csv(tmp / "items.tsv", sep="\t", index=False)
        if exp.seen is not None:
            sp.save_npz(tmp / "seen.npz", exp.seen.tocsr().astype(np.int8))
        foldin = dict(exp.manifest.get("foldin") or {})
        if exp.foldin_map is not None:
            np.save(tmp / "foldin_map.npy", np.asarray(exp.foldin_map.matrix, dtype=np.float32))
            foldin["map"] = exp.foldin_map.describe()
        if faiss is not None:
            extras["faiss"] = _write_faiss(tmp, seen_view, faiss)
        if parquet:
            _write_parquet(tmp, seen_view)
            extras["parquet"] = ["users.parquet", "items.parquet"]
        files = {p.relative_to(tmp).as_posix(): sha256_file(p)
                 for p in sorted(tmp.rglob("*")) if p.is_file()}
        manifest = {
            "format": FORMAT, "score": "dot", "dim": exp.dim, "dtype": dtype,
            "n_users": len(exp.user_ids), "n_items": len(exp.item_ids),
            "domains": exp.domains(),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "gnnrec_version": __version__,
            **{k: v for k, v in exp.manifest.items() if k not in _RESERVED},
            **({"foldin": foldin} if foldin else {}),
            "extras": extras,
            "files": files,
        }
        write_json(tmp / "manifest.json", manifest)
        _umask_permissions(tmp)
    return folder


def _umask_permissions(folder: Path) -> None:
    """Give the (mkdtemp/mkstemp, owner-only) export the usual umask permissions."""
    umask = os.umask(0)
    os.umask(umask)
    for p in [folder, *folder.rglob("*")]:
        os.chmod(p, (0o777 if p.is_dir() else 0o666) & ~umask)


def _read_ids(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _check_name(name: Any, mpath: Path) -> str:
    """A file name of the manifest: relative, inside the export (at most ``index/<file>``)."""
    parts = PurePosixPath(name).parts if isinstance(name, str) else ()
    ok = (isinstance(name, str) and name and "\\" not in name and "\x00" not in name
          and not PurePosixPath(name).is_absolute() and ".." not in parts and "." not in parts
          and (len(parts) == 1 or (len(parts) == 2 and parts[0] == "index")))
    if not ok:
        raise ExportError(f"{mpath} names the file {name!r}, which is not a plain file name inside the "
                          f"export (no '..', absolute path or subfolder other than index/); the manifest "
                          f"was edited or forged: re-export it")
    return name


def verify_files(folder: Path, manifest: dict[str, Any]) -> None:
    """Every file of the folder is listed in ``manifest['files']`` with a matching sha256, every
    listed name stays inside the folder, and every file the manifest refers to is listed."""
    mpath = folder / "manifest.json"
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise ExportError(f"{mpath} lists no file checksums; this export cannot be verified: "
                          f"re-export it with `gnnrec export`")
    for name in files:
        _check_name(name, mpath)
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    unlisted = sorted(present - set(files) - {"manifest.json"})
    if unlisted:
        raise ExportError(f"{folder / unlisted[0]} is not listed in {mpath} ({len(unlisted)} unlisted "
                          f"file(s)): an export holds only the files it lists; remove them or re-export")
    faiss = (manifest.get("extras") or {}).get("faiss") if isinstance(manifest.get("extras"), dict) else None
    for dom, info in ((faiss or {}).get("domains") or {}).items():
        ref = info.get("file") if isinstance(info, dict) else None
        if ref not in files:
            raise ExportError(f"{mpath}: the FAISS index of domain {dom!r} is {ref!r}, which is not one of "
                              f"the export's checksummed files; re-export it with --faiss")
        _check_name(ref, mpath)
    for name, digest in files.items():
        p = folder / name
        if not p.is_file():
            raise ExportError(f"{p} is listed in {mpath} but missing: the export is incomplete; "
                              f"re-export it")
        if sha256_file(p) != digest:
            raise ExportError(f"{p} does not match its sha256 in {mpath}: the file was changed "
                              f"or truncated after export; re-export it")


def _load_matrix(folder: Path, what: str, plain: bool = False) -> np.ndarray:
    path = folder / f"{what}_embeddings.npy"
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise ExportError(f"{path} is not a readable .npy array ({e}); re-export it") from None
    if plain and arr.dtype == np.float64:
        arr = arr.astype(np.float32)
    scale = None
    if arr.dtype == np.int8:
        spath = folder / f"{what}_scales.npy"
        if not spath.is_file():
            raise ExportError(f"{folder}: int8 {what} embeddings without {spath.name}")
        scale = np.load(spath, allow_pickle=False)
        if scale.shape != (arr.shape[0],):
            raise ExportError(f"{spath} has shape {scale.shape}, expected ({arr.shape[0]},)")
    elif arr.dtype not in (np.float32, np.float16):
        raise ExportError(f"{path} has dtype {arr.dtype}; expected one of {DTYPES}")
    return dequantize(arr, scale)


PLAIN_FILES = ("user_embeddings.npy", "item_embeddings.npy", "user_ids.txt", "item_ids.txt")
PLAIN_HELP = ("an embedding folder holds user_embeddings.npy (n_users x dim) and item_embeddings.npy "
              "(n_items x dim), float32/float16/float64 .npy arrays, and user_ids.txt / item_ids.txt "
              "(one id per line, row-aligned, the dataset's ids; per-domain item ids as domain:id); "
              "optional: items.tsv (item_id, domain[, title]) and seen.npz (train positives). "
              "score(u, i) = user row . item row")


def load_plain(folder: str | os.PathLike) -> Export:
    """An embedding folder written by another system (:data:`PLAIN_HELP`): loaded, not verified."""
    folder = Path(folder)
    missing = [f for f in PLAIN_FILES if not (folder / f).is_file()]
    if missing:
        raise ExportError(f"{folder} is neither a gnnrec export nor a plain embedding folder: missing "
                          f"{missing}; {PLAIN_HELP}")
    log.warning("%s: a plain embedding folder without a gnnrec manifest: nothing is verified; "
                "score = inner product", folder)
    user_emb, item_emb = _load_matrix(folder, "user", plain=True), _load_matrix(folder, "item", plain=True)
    items = None
    if (folder / "items.tsv").is_file():
        items = pd.read_csv(folder / "items.tsv", sep="\t", dtype=str, keep_default_na=False)
        if not {"item_id", "domain"} <= set(items.columns):
            raise ExportError(f"{folder / 'items.tsv'} needs the columns item_id and domain, has "
                              f"{list(items.columns)}")
        if "title" not in items:
            items["title"] = ""
        items = items.loc[:, ["item_id", "domain", "title"]]
    return Export(user_ids=_read_ids(folder / "user_ids.txt"), item_ids=_read_ids(folder / "item_ids.txt"),
                  user_emb=user_emb, item_emb=item_emb, items=items, seen=_load_seen(folder),
                  manifest={"model": folder.name, "plain": True, "score": "dot"})


def as_cosine(exp: Export) -> Export:
    """``exp`` with L2-normalised user and item rows: the inner product becomes the cosine
    (``--score cosine``, for embeddings trained that way; zero rows stay zero)."""
    def unit(x: np.ndarray) -> np.ndarray:
        n = np.linalg.norm(x, axis=1, keepdims=True)
        return (x / np.where(n > 0, n, 1.0)).astype(np.float32)
    return Export(exp.user_ids, exp.item_ids, unit(exp.user_emb), unit(exp.item_emb), exp.items,
                  exp.seen, {**exp.manifest, "score": "cosine"})


def load_export(folder: str | os.PathLike, verify: bool = True) -> Export:
    """Load and verify an export folder (see module docstring); a folder without a gnnrec manifest
    is read as a plain embedding folder (:func:`load_plain`, nothing verified).

    ``verify=False`` skips the sha256 checks (not the shape/alignment checks).
    """
    folder = Path(folder)
    mpath = folder / "manifest.json"
    if not folder.is_dir():
        raise ExportError(f"{folder}: no such export folder; {PLAIN_HELP}")
    if not mpath.is_file():
        return load_plain(folder)
    manifest = read_json_object(mpath, ExportError, "re-export it with `gnnrec export`")
    if not str(manifest.get("format") or "").startswith("gnnrec-export/"):
        return load_plain(folder)                # another system's manifest
    if manifest.get("format") != FORMAT:
        raise ExportError(f"{mpath}: format {manifest.get('format')!r} is not {FORMAT!r}")
    missing = [f for f in PLAIN_FILES if not (folder / f).is_file()]
    if missing:
        raise ExportError(f"{folder} is an incomplete gnnrec export: missing {missing}; "
                          f"create it again with `gnnrec export RUN_DIR --out {folder}`")
    if verify:
        verify_files(folder, manifest)
    user_emb, item_emb = _load_matrix(folder, "user"), _load_matrix(folder, "item")
    for key, want in (("dim", item_emb.shape[1]), ("n_users", user_emb.shape[0]),
                      ("n_items", item_emb.shape[0])):
        if manifest.get(key) != want:
            raise ExportError(f"{mpath}: {key} is {manifest.get(key)!r} but the arrays hold {want}; the "
                              f"manifest and the files disagree: re-export it")
    items = None
    if (folder / "items.tsv").is_file():
        items = pd.read_csv(folder / "items.tsv", sep="\t", dtype=str, keep_default_na=False)
    return Export(user_ids=_read_ids(folder / "user_ids.txt"),
                  item_ids=_read_ids(folder / "item_ids.txt"),
                  user_emb=user_emb, item_emb=item_emb,
                  items=items, seen=_load_seen(folder), manifest=manifest,
                  foldin_map=_load_foldin_map(folder, manifest))


def _load_foldin_map(folder: Path, manifest: dict[str, Any]) -> FoldinMap | None:
    info = (manifest.get("foldin") or {}).get("map") if isinstance(manifest.get("foldin"), dict) else None
    if not info:
        return None
    path = folder / "foldin_map.npy"
    try:
        matrix = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise ExportError(f"{path} is not a readable .npy array ({e}); re-export it") from None
    return FoldinMap(matrix=matrix, k_model=int(info["k_model"]), scales=dict(info.get("scales", {})),
                     blocks=list(info.get("blocks", [])))


def _load_seen(folder: Path) -> sp.csr_matrix | None:
    if not (folder / "seen.npz").is_file():
        return None
    try:
        return sp.load_npz(folder / "seen.npz").tocsr()
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as e:
        raise ExportError(f"{folder / 'seen.npz'} is unreadable ({e}); re-export it") from None
