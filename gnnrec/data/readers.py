"""Strict delimited-file reading with errors that name the file, line and fix.

Every loader reads text tables through :func:`read_table`, so malformed lines,
wrong column counts, non-numeric numbers, undecodable bytes and empty files are
reported the same way everywhere, never as a traceback from inside pandas.
"""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
import pandas as pd

from gnnrec.data.schema import DataError


def _decode(path: Path, encoding: str) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found; check the path or run `gnnrec data fetch`") from None
    try:
        return raw.decode(encoding)
    except LookupError:
        raise DataError(f"{path}: unknown encoding {encoding!r}; use a Python codec name such "
                        f"as utf-8 or latin-1") from None
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DataError(f"{path}, line {line}: bytes are not valid {encoding} ({e.reason}); "
                        f"re-save the file as {encoding} or pass the right encoding") from None


def read_table(path: str | os.PathLike, columns: Sequence[str] | None = None, *,
               sep: str = "\t", header: bool = True, encoding: str = "utf-8",
               numeric: Iterable[str] = (), integer: Iterable[str] = (),
               required: Iterable[str] | None = None, allow_empty: bool = False) -> pd.DataFrame:
    """Read a delimited text file into a DataFrame of strings (plus checked numbers).

    * ``header=True``: the first line names the columns; ``columns`` (if given)
      must all be present, and only those are kept. RecBole-style ``name:type``
      headers are accepted (the ``:type`` suffix is dropped).
    * ``header=False``: ``columns`` names the fields of every line.
    * Every data line must have exactly as many fields as the header; the
      first that does not raises :class:`DataError` with its line number.
    * ``numeric`` columns are parsed as float, ``integer`` ones as int64; the
      first unparsable value raises with its line number.
    * ``sep`` may be a multi-character separator such as ``"::"``.
    """
    path = Path(path)
    text = _decode(path, encoding).replace("\r\n", "\n").replace("\r", "\n")   # universal newlines
    head, _, body = text.partition("\n") if header else ("", "", text)
    if not text.strip() or (header and not body.strip() and not allow_empty):
        raise DataError(f"{path}: file is empty" + (" (header only)" if text.strip() else "")
                        + "; it needs at least one data line")
    if header:
        names = [re.sub(r":[a-z_]+$", "", h.strip()) for h in _split(head.rstrip("\r"), sep)]
    else:
        if columns is None:
            raise ValueError("columns are required when header=False")
        names = list(columns)
    width = len(names)
    offset = 1 if header else 0
    numeric, integer = list(numeric), list(integer)
    kinds = {**{c: np.float64 for c in numeric}, **{c: np.int64 for c in integer}}
    fast = _fast_parse(body, names, sep, offset, kinds)
    if fast is not None:
        frame, line_of = fast
    else:
        rows: list[list[str]] = []
        lines: list[int] = []
        for lineno, fields in _records(body, sep, offset):
            if len(fields) != width:
                raise DataError(f"{path}, line {lineno}: expected {width} fields separated by "
                                f"{sep!r} ({', '.join(names)}), found {len(fields)}: "
                                f"{sep.join(fields)[:120]!r}; fix or delete that line")
            rows.append(fields)
            lines.append(lineno)
        if not rows and not allow_empty:
            raise DataError(f"{path}: no data lines; the file must hold at least one row")
        frame = pd.DataFrame(rows, columns=names, dtype=object)
        line_of = np.asarray(lines, dtype=np.int64)
    if columns is not None and header:
        missing = [c for c in columns if c not in names]
        if missing:
            raise DataError(f"{path}: header {names} lacks columns {missing}; "
                            f"the file must have columns {list(columns)}")
        frame = frame.loc[:, list(columns)]
    for col in required if required is not None else (columns or []):
        empty = frame[col].isna() | (frame[col].astype(str).str.strip() == "")
        if empty.any():
            i = int(np.flatnonzero(empty.to_numpy())[0])
            raise DataError(f"{path}, line {line_of[i]}: column {col!r} is empty; "
                            f"every row needs a {col}")
    for col, kind in [(c, "float") for c in numeric] + [(c, "int") for c in integer]:
        frame[col] = _to_number(frame[col], kind, path, col, line_of)
    frame.attrs["source"] = str(path)
    frame.attrs["line_of"] = line_of
    return frame


_UNIT_SEP = "\x1f"


def _fast_parse(body: str, names: list[str], sep: str, offset: int, kinds: dict[str, type]
                ) -> tuple[pd.DataFrame, np.ndarray] | None:
    """pandas' C parser for well-formed bodies; None sends the caller to the strict loop.

    The body qualifies when it has no blank lines, no quote characters, and every
    line has exactly ``len(names) - 1`` separators (counted with numpy on the
    bytes); the strict loop then would produce the same table, so results never
    depend on which path ran, and malformed files still get its line-exact errors.
    """
    if len(sep) > 1:
        if _UNIT_SEP in body:
            return None
        body, sep = body.replace(sep, _UNIT_SEP), _UNIT_SEP
    if not body or '"' in body or len(sep.encode()) != 1:
        return None
    buf = np.frombuffer(body.encode("utf-8"), dtype=np.uint8)
    nl = np.flatnonzero(buf == 10)
    n_lines = len(nl) + (0 if buf[-1] == 10 else 1)
    starts = np.concatenate([[0], nl + 1])[:n_lines]
    ends = np.concatenate([nl, [len(buf)]])[:n_lines]
    lens = ends - starts - (buf[np.maximum(ends - 1, 0)] == 13)
    seps = np.flatnonzero(buf == ord(sep))
    per_line = np.bincount(np.searchsorted(nl, seps), minlength=n_lines)[:n_lines]
    if (lens <= 0).any() or (per_line != len(names) - 1).any():
        return None
    dtypes = {n: kinds.get(n, str) for n in names}
    try:
        frame = pd.read_csv(io.StringIO(body), sep=sep, header=None, names=names, dtype=dtypes,
                            quoting=csv.QUOTE_NONE, keep_default_na=False, engine="c",
                            skip_blank_lines=False)
    except (ValueError, OverflowError):       # a non-numeric value: the strict loop names it
        return None
    if len(frame) != n_lines:
        return None
    return frame, np.arange(1 + offset, n_lines + 1 + offset, dtype=np.int64)


def _split(line: str, sep: str) -> list[str]:
    if len(sep) == 1:
        return next(csv.reader([line], delimiter=sep, quoting=csv.QUOTE_NONE), [])
    return line.split(sep)


def _records(body: str, sep: str, offset: int) -> Iterator[tuple[int, list[str]]]:
    """Yield (1-based file line, fields) for every non-blank line of ``body``."""
    if len(sep) == 1:
        reader = csv.reader(io.StringIO(body), delimiter=sep, quoting=csv.QUOTE_NONE)
        for fields in reader:
            if fields and any(f.strip() for f in fields):
                yield reader.line_num + offset, fields
        return
    for i, line in enumerate(body.splitlines(), start=1 + offset):
        if line.strip():
            yield i, line.split(sep)


_INT64_MAX = 2 ** 63 - 1


def _to_number(col: pd.Series, kind: str, path: Path, name: str, line_of: np.ndarray) -> pd.Series:
    """``col`` as int64 / float64; the first value that is not a (finite, in-range) number raises
    :class:`DataError` naming the file and line."""
    if pd.api.types.is_numeric_dtype(col):     # already parsed by the fast path
        parsed = col
    else:
        parsed = pd.to_numeric(col.astype(str).str.strip(), errors="coerce")
        bad = parsed.isna().to_numpy() & ~col.isna().to_numpy() \
            & ~col.astype(str).str.strip().str.lower().isin(["nan", "-nan"]).to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataError(f"{path}, line {line_of[i]}: {name} {col.iat[i]!r} is not a number; "
                            f"fix that value ({int(bad.sum())} such rows in the file)")

    def fail(mask: np.ndarray, what: str) -> None:
        if mask.any():
            i = int(np.flatnonzero(mask)[0])
            raise DataError(f"{path}, line {line_of[i]}: {name} {str(col.iat[i])!r} {what}; fix that "
                            f"value ({int(mask.sum())} such rows in the file)")

    if kind == "int":
        if parsed.dtype.kind in "iu":
            big = parsed.to_numpy() > _INT64_MAX if parsed.dtype.kind == "u" else np.zeros(len(parsed), bool)
            fail(big, f"is out of the 64-bit integer range (|{name}| <= {_INT64_MAX})")
            return parsed.astype(np.int64)
        exact = pd.to_numeric(col.astype(str).str.strip(), errors="coerce") if not \
            pd.api.types.is_numeric_dtype(col) else parsed
        values = exact.to_numpy(dtype=np.float64)
        fail(~np.isfinite(values), "is not a finite number")
        fail(np.abs(values) >= 2.0 ** 63, f"is out of the 64-bit integer range (|{name}| <= {_INT64_MAX})")
        fail(np.mod(values, 1) != 0, "is not an integer")
        return parsed.astype(np.int64)
    values = parsed.to_numpy(dtype=np.float64)
    fail(~np.isfinite(values), "is not a finite number")
    return parsed.astype(np.float64)
