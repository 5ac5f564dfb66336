"""Raw Amazon review data (2018 and 2023 releases) -> :class:`RawData`, one domain per category.

Review files (format detected per file; ``.gz`` is read transparently):

* 2018 ratings-only CSV (``<Category>.csv``): no header, ``item,user,rating,timestamp``
  (timestamp in seconds).
* 2018 reviews / 5-core JSON lines (``<Category>_5.json``): one object per
  line with ``reviewerID``, ``asin``, ``overall``, ``unixReviewTime`` (s).
* 2023 JSONL (``<Category>.jsonl``): ``user_id``, ``parent_asin`` (the item;
  ``asin`` when absent), ``rating``, ``timestamp`` (milliseconds -> seconds).

Metadata files (optional per category, JSON lines): 2018 ``meta_<Category>.json``
(``asin``, ``title``, ``category`` list, ``description`` list or str) and 2023
``meta_<Category>.jsonl`` (``parent_asin``, ``title``, ``categories`` list,
``description`` list, ``main_category``). They give the item text columns
``title``, ``categories`` (``" > "`` joined path), ``description`` (joined,
HTML tags removed, at most 2,000 characters).

Every category becomes a domain; users keep their raw ids, so a reviewer of
two categories is a bridge user. Item ids are namespaced ``<domain>:<asin>``
(an ASIN may be listed under several categories). Reviews are strict: a
malformed line raises :class:`DataError` with the file and line. Metadata
lines that are not valid JSON are skipped and counted (the public dumps
contain a few); the count is in ``RawData.source["meta_skipped"]``.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

from gnnrec.data.clean import assemble
from gnnrec.data.readers import read_table
from gnnrec.data.schema import DataError, RawData, namespaced
from gnnrec.utils.files import sha256_file

_TAG = re.compile(r"<[^>]+>")
MAX_DESCRIPTION = 2000


@dataclass(frozen=True)
class Category:
    """One domain: its review file and (optional) metadata file."""

    domain: str
    reviews: Path
    meta: Path | None = None


def _open_text(path: Path) -> io.TextIOBase:
    if not path.is_file():
        raise DataError(f"{path}: file not found; download it from the Amazon review data page "
                        f"or fix the path")
    raw = gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")
    return io.TextIOWrapper(raw, encoding="utf-8", errors="strict")


def _json_lines(path: Path, strict: bool = True) -> Iterator[tuple[int, dict[str, Any] | None]]:
    """(line number, object) per non-blank line; malformed lines raise or yield None."""
    with _open_text(path) as f:
        try:
            for lineno, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    if strict:
                        raise DataError(f"{path}, line {lineno}: not valid JSON ({e.msg} at column "
                                        f"{e.colno}); fix or delete that line") from None
                    yield lineno, None
                    continue
                if not isinstance(obj, dict):
                    if strict:
                        raise DataError(f"{path}, line {lineno}: expected a JSON object per line")
                    yield lineno, None
                    continue
                yield lineno, obj
        except UnicodeDecodeError as e:
            raise DataError(f"{path}: bytes are not valid UTF-8 ({e.reason}) near line "
                            f"{lineno + 1}; the Amazon dumps are UTF-8 -- re-download the file"
                            ) from None
        except (EOFError, gzip.BadGzipFile, OSError) as e:
            raise DataError(f"{path}: truncated or corrupt gzip ({e}); re-download it") from None


_FIELDS = {  # release -> (user, item, rating, timestamp, timestamp divisor)
    "2018": ("reviewerID", "asin", "overall", "unixReviewTime", 1),
    "2023": ("user_id", "parent_asin", "rating", "timestamp", 1000),
}


def _read_reviews_json(path: Path) -> pd.DataFrame:
    rows: list[tuple[str, str, Any, Any]] = []
    lines: list[int] = []
    release = None
    for lineno, obj in _json_lines(path):
        if release is None:
            release = "2018" if "reviewerID" in obj else "2023" if "user_id" in obj else None
            if release is None:
                raise DataError(f"{path}, line {lineno}: neither a 2018 review (reviewerID, asin, "
                                f"overall, unixReviewTime) nor a 2023 one (user_id, parent_asin, "
                                f"rating, timestamp); keys: {sorted(obj)[:8]}")
        uk, ik, rk, tk, _ = _FIELDS[release]
        item = obj.get(ik) or (obj.get("asin") if release == "2023" else None)
        missing = [k for k, v in ((uk, obj.get(uk)), (ik, item), (rk, obj.get(rk)),
                                  (tk, obj.get(tk))) if v in (None, "")]
        if missing:
            raise DataError(f"{path}, line {lineno}: missing {missing}; every review needs a "
                            f"user, an item, a rating and a time -- fix or delete that line")
        rows.append((str(obj[uk]), str(item), obj[rk], obj[tk]))
        lines.append(lineno)
    if not rows:
        raise DataError(f"{path}: no reviews (empty file); it needs at least one JSON line")
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"], dtype=object)
    line_of = np.asarray(lines)
    for col in ("rating", "timestamp"):
        num = pd.to_numeric(frame[col], errors="coerce")
        if num.isna().any():
            i = int(np.flatnonzero(num.isna().to_numpy())[0])
            raise DataError(f"{path}, line {line_of[i]}: {col} {frame[col].iat[i]!r} is not a "
                            f"number; fix that value")
        frame[col] = num
    frame["timestamp"] = (frame["timestamp"] // _FIELDS[release][4]).astype(np.int64)
    frame.attrs = {"source": str(path), "line_of": line_of, "release": release}
    return frame


def read_reviews(path: str | os.PathLike) -> pd.DataFrame:
    """One review file -> columns user_id, item_id (raw ASIN), rating, timestamp (seconds)."""
    path = Path(path)
    name = path.name.removesuffix(".gz")
    if name.endswith(".csv"):
        if path.name.endswith(".gz"):
            raise DataError(f"{path}: gunzip the ratings CSV first")
        t = read_table(path, ["item_id", "user_id", "rating", "timestamp"], sep=",", header=False,
                       numeric=["rating"], integer=["timestamp"])
        t = t[["user_id", "item_id", "rating", "timestamp"]]
        t.attrs["release"] = "2018-csv"
        return t
    if name.endswith((".json", ".jsonl")):
        return _read_reviews_json(path)
    raise DataError(f"{path}: unknown review file type; expected .csv (2018 ratings), .json "
                    f"(2018 reviews/5-core) or .jsonl (2023), optionally .gz")


def _text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, list):
        return " ".join(_text(x) for x in v if x)
    return str(v)


def read_meta(path: str | os.PathLike) -> tuple[pd.DataFrame, int]:
    """Metadata -> (columns asin, title, categories, description; skipped line count)."""
    path = Path(path)
    rows: dict[str, tuple[str, str, str]] = {}
    skipped = 0
    for _, obj in _json_lines(path, strict=False):
        if obj is None:
            skipped += 1
            continue
        asin = obj.get("parent_asin") or obj.get("asin")
        if not asin:
            skipped += 1
            continue
        cats = obj.get("categories") or obj.get("category") or []
        if isinstance(cats, list) and cats and isinstance(cats[0], list):   # 2014 nesting
            cats = cats[0]
        cat = " > ".join(str(c) for c in cats) if isinstance(cats, list) else str(cats)
        if not cat and obj.get("main_category"):
            cat = str(obj["main_category"])
        desc = _TAG.sub(" ", _text(obj.get("description")))
        desc = re.sub(r"\s+", " ", desc).strip()[:MAX_DESCRIPTION]
        rows[str(asin)] = (_text(obj.get("title")).strip(), cat, desc)
    if not rows:
        raise DataError(f"{path}: no metadata records ({skipped} unreadable lines); is it the "
                        f"right file?")
    frame = pd.DataFrame([(a, *v) for a, v in rows.items()],
                         columns=["asin", "title", "categories", "description"])
    return frame, skipped


def read_amazon(categories: list[Category], name: str = "amazon",
                require_meta: bool = False) -> tuple[RawData, dict[str, str]]:
    """Read several categories into one RawData (domains in the given order)."""
    if not categories:
        raise DataError("no Amazon categories given; pass at least one --domain NAME=REVIEWS[,META]")
    domains = [c.domain for c in categories]
    if len(set(domains)) != len(domains):
        raise DataError(f"domain names must be distinct, got {domains}")
    inters, item_tables = [], []
    inputs: dict[str, str] = {}
    source: dict[str, Any] = {"format": "amazon", "meta_skipped": {}, "items_without_meta": {}}
    for c in categories:
        rev = read_reviews(c.reviews)
        inputs[Path(c.reviews).name] = sha256_file(c.reviews)
        source.setdefault("releases", {})[c.domain] = rev.attrs.get("release")
        asins = pd.unique(rev["item_id"])
        items = pd.DataFrame({"item_id": [namespaced(c.domain, a) for a in asins],
                              "domain": c.domain, "asin": asins})
        if c.meta is not None:
            if not Path(c.meta).is_file():
                raise DataError(f"{c.meta}: metadata file not found for domain {c.domain!r}; "
                                f"download meta_<Category>.json(l).gz next to the reviews or "
                                f"leave the metadata out (items then have no text)")
            meta, skipped = read_meta(c.meta)
            inputs[Path(c.meta).name] = sha256_file(c.meta)
            source["meta_skipped"][c.domain] = skipped
            items = items.merge(meta, on="asin", how="left")
            source["items_without_meta"][c.domain] = int(items["title"].isna().sum())
        elif require_meta:
            raise DataError(f"domain {c.domain!r}: a metadata file is required (item text)")
        else:
            items = items.assign(title="", categories="", description="")
        item_tables.append(items.drop(columns="asin").fillna(""))
        ns = pd.DataFrame({"user_id": rev["user_id"],
                           "item_id": [namespaced(c.domain, a) for a in rev["item_id"]],
                           "rating": rev["rating"], "timestamp": rev["timestamp"]})
        ns.attrs = {k: v for k, v in rev.attrs.items() if k in ("source", "line_of")}
        inters.append(ns)
    items = pd.concat(item_tables, ignore_index=True)
    raw = assemble(name, None, items, domains, pd.concat(inters, ignore_index=True),
                   source=source)
    return raw, inputs
