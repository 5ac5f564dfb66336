"""Any interaction table (TSV / CSV / Parquet) with a column mapping -> :class:`RawData`.

``columns`` maps the canonical names to the file's: ``user`` and ``item`` are
required; ``domain`` (else every row is in domain ``domain_value``),
``rating`` (else 1.0) and ``timestamp`` (else the row's position) are
optional. An optional item-text table (same formats) adds text columns: its
``text_id`` column holds the raw item id and every other column is kept as
text. When raw item ids are only unique within a domain pass
``namespace=True``: items become ``<domain>:<id>`` (the text table then
matches on the raw id in every domain, or on (domain, id) when it has the
``domain`` column of the mapping).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from gnnrec.data.clean import assemble
from gnnrec.data.readers import read_table
from gnnrec.data.schema import DataError, RawData, namespaced
from gnnrec.utils.files import sha256_file

REQUIRED = ("user", "item")
OPTIONAL = ("domain", "rating", "timestamp")


def parse_mapping(text: str) -> dict[str, str]:
    """``"user=uid,item=iid"`` -> {"user": "uid", "item": "iid"} (checked)."""
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, col = part.partition("=")
        if not sep or not col.strip():
            raise DataError(f"column mapping {part!r} must look like user=COLUMN")
        out[key.strip()] = col.strip()
    unknown = set(out) - set(REQUIRED + OPTIONAL)
    if unknown:
        raise DataError(f"unknown mapping keys {sorted(unknown)}; use {REQUIRED + OPTIONAL}")
    return out


def read_any(path: str | os.PathLike, needed: list[str], numeric: list[str] = (),
             integer: list[str] = (), keep_all: bool = False) -> pd.DataFrame:
    """TSV (.tsv/.txt), CSV (.csv) or Parquet (.parquet) with a header row.

    Returns the ``needed`` columns (all columns when ``keep_all``); missing
    columns, empty ids and non-numbers raise :class:`DataError` with the line.
    """
    path = Path(path)
    if path.suffix == ".parquet":
        if not path.is_file():
            raise DataError(f"{path}: file not found")
        try:
            frame = pd.read_parquet(path)
        except Exception as e:          # pyarrow raises many types for a bad file
            raise DataError(f"{path}: not a readable parquet file ({type(e).__name__}: {e})"
                            ) from None
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise DataError(f"{path}: columns {missing} not found; it has {list(frame.columns)}")
        if len(frame) == 0:
            raise DataError(f"{path}: no rows")
        frame.attrs = {"source": str(path), "line_of": np.arange(1, len(frame) + 1)}
        for col in list(numeric) + list(integer):
            num = pd.to_numeric(frame[col], errors="coerce")
            if num.isna().any():
                i = int(np.flatnonzero(num.isna().to_numpy())[0])
                raise DataError(f"{path}, row {i + 1}: {col} {frame[col].iat[i]!r} is not a number")
            frame[col] = num.astype(np.int64) if col in integer else num
        for col in needed:
            if col not in list(numeric) + list(integer):
                frame[col] = frame[col].astype("string").astype(object)
        return frame
    sep = {".csv": ","}.get(path.suffix, "\t")
    if keep_all:
        frame = read_table(path, sep=sep, required=[])
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise DataError(f"{path}: header lacks columns {missing}; it has "
                            f"{list(frame.columns)}")
        return frame
    return read_table(path, list(dict.fromkeys(needed)), sep=sep, numeric=numeric,
                      integer=integer)


def read_generic(interactions: str | os.PathLike, columns: dict[str, str], name: str = "generic",
                 domain_value: str = "all", item_text: str | os.PathLike | None = None,
                 text_id: str = "item_id", namespace: bool = False,
                 ) -> tuple[RawData, dict[str, str]]:
    """Read an interaction table (+ optional item texts) into a RawData; see module doc."""
    missing = [k for k in REQUIRED if k not in columns]
    if missing:
        raise DataError(f"column mapping lacks {missing}; e.g. --columns user=uid,item=iid")
    t = read_any(interactions, [columns[k] for k in columns],
                 numeric=[columns["rating"]] if "rating" in columns else [],
                 integer=[columns["timestamp"]] if "timestamp" in columns else [])
    path = Path(interactions)
    dom = (t[columns["domain"]].astype(str).str.strip() if "domain" in columns
           else pd.Series(domain_value, index=t.index))
    raw_item = t[columns["item"]].astype(str).str.strip()
    item_ids = [namespaced(d, i) for d, i in zip(dom, raw_item)] if namespace else raw_item
    inter = pd.DataFrame({
        "user_id": t[columns["user"]].astype(str).str.strip().to_numpy(),
        "item_id": np.asarray(item_ids, dtype=object),
        "rating": t[columns["rating"]].to_numpy(np.float64) if "rating" in columns else 1.0,
        "timestamp": (t[columns["timestamp"]].to_numpy(np.int64) if "timestamp" in columns
                      else np.arange(len(t), dtype=np.int64))})
    inter.attrs = dict(t.attrs)
    items = pd.DataFrame({"item_id": inter["item_id"], "domain": dom.to_numpy(),
                          "_raw": raw_item.to_numpy()}).drop_duplicates(["item_id", "domain"])
    clash = items[items.duplicated("item_id", keep=False)]
    if len(clash):
        r = clash["_raw"].iat[0]
        raise DataError(f"{path}: item {r!r} appears in domains "
                        f"{sorted(set(clash.loc[clash['_raw'] == r, 'domain']))}; if item ids are "
                        f"only unique per domain pass --namespace-items")
    inputs = {path.name: sha256_file(path)}
    if item_text is not None:
        txt = read_any(item_text, [text_id], keep_all=True)
        txt.attrs = {}
        txt[text_id] = txt[text_id].astype(str).str.strip()
        dcol = columns.get("domain")
        keys = [text_id] + ([dcol] if namespace and dcol in txt.columns else [])
        dup = txt.duplicated(keys)
        if dup.any():
            raise DataError(f"{item_text}: item {txt[text_id][dup].iat[0]!r} listed twice; "
                            f"keep one text row per item")
        txt = txt.rename(columns={text_id: "_raw", **({dcol: "domain"} if len(keys) == 2 else {})})
        drop = ["item_id"] + (["domain"] if len(keys) == 1 else [])
        txt = txt.drop(columns=[c for c in drop if c in txt.columns])
        items = items.merge(txt, on=["_raw"] + (["domain"] if len(keys) == 2 else []), how="left")
        items = items.fillna("")
        inputs[Path(item_text).name] = sha256_file(item_text)
    items = items.drop(columns="_raw")
    domains = list(dict.fromkeys(sorted(items["domain"])))
    source = {"format": "table", "file": str(path), "columns": columns, "namespace": namespace}
    return assemble(name, None, items, domains, inter, source=source), inputs
