"""Prepared-dataset folders: columnar files plus ``manifest.json``, written atomically.

Layout of a prepared folder::

    users.parquet  items.parquet  train.parquet  valid.parquet  test.parquet
    manifest.json  {format, name, domains, protocol, inputs: {path: sha256},
                    outputs: {file: sha256}, counts, fingerprint, gnnrec_version}

The folder is written to a temp sibling and renamed into place, so a crash
never leaves a half-written dataset; :func:`load_prepared` verifies every
output checksum before trusting the files (``verify=False`` skips that).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from gnnrec import __version__
from gnnrec.data.schema import SPLITS, DataError, Dataset
from gnnrec.utils.files import atomic_dir, read_json_object, sha256_file, write_json

FORMAT = "gnnrec-dataset/1"
_TABLES = ("users", "items") + SPLITS


def save_prepared(ds: Dataset, folder: str | os.PathLike,
                  inputs: dict[str, str] | None = None) -> Path:
    """Write ``ds`` to ``folder`` atomically; ``inputs`` maps input file -> sha256."""
    folder = Path(folder)
    with atomic_dir(folder) as tmp:
        outputs: dict[str, str] = {}
        for name in _TABLES:
            path = tmp / f"{name}.parquet"
            getattr(ds, name).to_parquet(path, index=False)
            outputs[path.name] = sha256_file(path)
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "name": ds.name,
            "domains": ds.domains,
            "protocol": ds.protocol,
            "inputs": inputs or {},
            "outputs": outputs,
            "counts": ds.summary(),
            "fingerprint": ds.fingerprint(),
            "gnnrec_version": __version__,
        }
        write_json(tmp / "manifest.json", manifest)
    return folder


def is_prepared(folder: str | os.PathLike) -> bool:
    return (Path(folder) / "manifest.json").is_file()


def load_prepared(folder: str | os.PathLike, verify: bool = True) -> Dataset:
    """Load a folder written by :func:`save_prepared`."""
    folder = Path(folder)
    mpath = folder / "manifest.json"
    if not mpath.is_file():
        raise DataError(f"{folder} is not a prepared gnnrec dataset (no manifest.json); "
                        f"run `gnnrec data prepare` first")
    manifest = read_json_object(mpath, DataError, "re-run `gnnrec data prepare`")
    if manifest.get("format") != FORMAT:
        raise DataError(f"{mpath}: format {manifest.get('format')!r} is not {FORMAT!r}; "
                        f"re-run `gnnrec data prepare`")
    if not isinstance(manifest.get("outputs"), dict) or not isinstance(manifest.get("domains"), list) \
            or not isinstance(manifest.get("name"), str):
        raise DataError(f"{mpath} lacks its outputs, domains or name; the folder was modified: re-run "
                        f"`gnnrec data prepare`")
    if verify:
        for fname, digest in manifest["outputs"].items():
            path = folder / fname
            if not path.is_file() or sha256_file(path) != digest:
                raise DataError(f"{path} is missing or does not match the sha256 in {mpath}; "
                                f"the folder was modified or truncated: re-run `gnnrec data prepare`")
    tables = {n: pd.read_parquet(folder / f"{n}.parquet") for n in _TABLES}
    return Dataset(name=manifest["name"], domains=list(manifest["domains"]),
                   protocol=manifest.get("protocol", {}), **tables)
