"""Item and user text from table columns: per-dataset templates, cleaned values.

A template is a ``str.format``-style string over column names, e.g.
``"{title} ({year}). Genres: {genres}"``. Rendering drops an empty field
*together with the literal text that belongs to it*, so a missing year gives
``"Heat. Genres: Action, Crime"`` and missing genres ``"Heat (1995)"`` -- never
``"Heat (). Genres: "``. Ownership of the literal between two fields
``{a}<closing><separator><opening>{b}``:

* ``closing``  -- leading closing brackets/quotes (``)]}"'``), belongs to ``a``;
* ``separator`` -- then punctuation and spaces (``. , ; : | / - !?``), printed
  only between two present fields;
* ``opening``  -- the rest (a label such as ``Genres: `` or ``(``), belongs to ``b``.

Literal text before the first field belongs to it; literal text after the
last field is split into its closing part and a tail printed whenever any
field is present.

Per-dataset settings live in ``configs/text/<dataset>.yaml``::

    item: "{title} ({year}). Genres: {genres}"
    user: "User: {gender}, age {age}, {occupation}"     # optional
    list_separator: "|"          # "a|b" values are written "a, b"
    values:                      # optional code -> word maps per column
      gender: {M: male, F: female}
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from gnnrec.data.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

FALLBACK_TEMPLATE = "{title}"
_CLOSING = re.compile(r"^[)\]}\"'»]*")
_SEPARATOR = re.compile(r"^[\s.,;:|/!?\-–—]*")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"\s+")
_NULLS = {"", "nan", "None", "NaN", "<NA>"}


def config_dirs() -> list[Path]:
    """Folders searched for ``<dataset>.yaml``: ``$CWD/configs/text``, then the checkout's."""
    repo = Path(__file__).resolve().parents[2] / "configs" / "text"
    cwd = Path.cwd() / "configs" / "text"
    return [cwd] if cwd.resolve() == repo.resolve() else [cwd, repo]


@dataclass(frozen=True)
class TextConfig:
    """Text settings of one dataset (see module docstring)."""

    item: str | None = None
    user: str | None = None
    list_separator: str = "|"
    values: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    source: str = "built-in default"


def load_text_config(dataset_name: str) -> TextConfig:
    """Read ``configs/text/<dataset_name>.yaml``; an empty default when there is none."""
    import yaml

    for folder in config_dirs():
        path = folder / f"{dataset_name}.yaml"
        if not path.is_file():
            continue
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            raise DataError(f"{path}: not valid YAML ({e}); fix the file") from None
        unknown = set(raw) - {"item", "user", "list_separator", "values"}
        if not isinstance(raw, dict) or unknown:
            raise DataError(f"{path}: unknown keys {sorted(unknown)}; allowed: item, user, "
                            f"list_separator, values")
        values = {str(c): {str(k): str(v) for k, v in (m or {}).items()}
                  for c, m in (raw.get("values") or {}).items()}
        cfg = TextConfig(item=raw.get("item"), user=raw.get("user"),
                         list_separator=str(raw.get("list_separator", "|")),
                         values=values, source=str(path))
        for name in ("item", "user"):
            tpl = getattr(cfg, name)
            if tpl is not None:
                try:
                    parse_template(str(tpl))
                except DataError as e:
                    raise DataError(f"{path}: `{name}` template: {e}") from None
        return cfg
    return TextConfig()


def template_for(dataset_name: str, columns: Sequence[str] | None = None,
                 entity: str = "item") -> str | None:
    """The ``entity`` ("item" or "user") template for a dataset.

    From ``configs/text/<dataset_name>.yaml`` when it sets one; otherwise
    ``"{title}"`` for items (or, when ``columns`` is given and has no
    ``title``, every column as ``"{a}. {b}"``); for users, every profile
    column as ``"a: {a}, b: {b}"``, or None when there are no such columns.
    """
    cfg = load_text_config(dataset_name)
    configured = cfg.item if entity == "item" else cfg.user
    if configured:
        return str(configured)
    if entity == "item":
        if columns is None or "title" in columns or not columns:
            return FALLBACK_TEMPLATE
        return ". ".join(f"{{{c}}}" for c in columns)
    if not columns:
        return None
    return ", ".join(f"{c}: {{{c}}}" for c in columns)


@dataclass(frozen=True)
class _Group:
    separator: str    # printed before this group when an earlier group was printed
    opening: str
    field: str
    closing: str


def parse_template(template: str) -> tuple[list[_Group], str]:
    """Split a template into field groups and the trailing tail (see module docstring)."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as e:
        raise DataError(f"template {template!r} is malformed ({e}); use {{column}} placeholders "
                        f"and {{{{ }}}} for literal braces") from None
    literals, fields, pending = [], [], ""
    for lit, name, spec, conv in parts:     # escaped braces split a literal into parts
        pending += lit
        if name is not None:
            if spec or conv:
                raise DataError(f"template {template!r}: {{{name}}} has a format spec or "
                                f"conversion; placeholders must be plain column names")
            literals.append(pending)
            fields.append(name)
            pending = ""
    literals.append(pending)
    if not fields:
        raise DataError(f"template {template!r} has no {{column}} placeholder")
    bad = [f for f in fields if not re.fullmatch(r"[A-Za-z_]\w*", f)]
    if bad:
        raise DataError(f"template {template!r}: placeholders must be plain column names, "
                        f"got {bad}")
    groups: list[_Group] = []
    opening, separator = literals[0], ""
    for i, name in enumerate(fields):
        nxt = literals[i + 1]
        closing = _CLOSING.match(nxt).group(0)
        rest = nxt[len(closing):]
        groups.append(_Group(separator, opening, name, closing))
        separator = _SEPARATOR.match(rest).group(0)
        opening = rest[len(separator):]
    tail = separator + opening            # after the last field: printed when anything is
    return groups, tail


@dataclass
class RenderStats:
    """What rendering found: rows with no text at all, values with invalid UTF-8."""

    empty: int = 0
    invalid_utf8: int = 0


def to_text(value: str | bytes | bytearray, stats: RenderStats | None = None) -> str:
    """Valid, NFC-normalised UTF-8 text with control characters and runs of whitespace
    collapsed to one space; undecodable bytes (or lone surrogates from
    ``errors="surrogateescape"``) become U+FFFD and are counted in ``stats``."""
    if isinstance(value, (bytes, bytearray)):
        try:
            text = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            text = bytes(value).decode("utf-8", errors="replace")
            if stats is not None:
                stats.invalid_utf8 += 1
    else:
        text = str(value)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = text.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="replace")
            if stats is not None:
                stats.invalid_utf8 += 1
    text = unicodedata.normalize("NFC", _CONTROL.sub(" ", text))
    return _SPACES.sub(" ", text).strip()


def clean_value(value: Any, list_separator: str = "|",
                stats: RenderStats | None = None) -> str:
    """One table cell as text: "" for missing (None, NaN, "nan"), integral floats
    without ``.0``, ``a|b`` lists as ``a, b``, otherwise as :func:`to_text`."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer():
            value = int(value)
    if not isinstance(value, (bytes, bytearray)):
        value = str(value)
    text = to_text(value, stats)
    if list_separator and list_separator in text:
        text = ", ".join(p.strip() for p in text.split(list_separator) if p.strip())
    return "" if text in _NULLS else text


def render(groups: list[_Group], tail: str, values: Mapping[str, str]) -> str:
    """Fill parsed ``groups`` with cleaned ``values``; empty fields vanish with their text."""
    out: list[str] = []
    for g in groups:
        v = values.get(g.field, "")
        if not v:
            continue
        if out:
            out.append(g.separator)
        out.append(g.opening + v + g.closing)
    if not out:
        return ""
    out.append(tail)
    return _SPACES.sub(" ", "".join(out)).strip()


def render_texts(frame: pd.DataFrame, template: str, *, list_separator: str = "|",
                 values: Mapping[str, Mapping[str, str]] | None = None,
                 ) -> tuple[list[str], RenderStats]:
    """One text per row of ``frame`` (items or users) from ``template``.

    ``values[col]`` maps raw codes to words (e.g. MovieLens occupation codes).
    Unknown columns in the template raise :class:`DataError` naming them.
    Returns (texts, stats); rows whose fields are all empty give "".
    """
    groups, tail = parse_template(template)
    missing = [g.field for g in groups if g.field not in frame.columns]
    if missing:
        raise DataError(f"text template {template!r} names columns {missing} that the table "
                        f"lacks (it has {list(frame.columns)}); edit configs/text/<dataset>.yaml "
                        f"or pass --template")
    stats = RenderStats()
    maps = values or {}
    cols: dict[str, list[str]] = {}
    for name in dict.fromkeys(g.field for g in groups):
        cleaned = [clean_value(v, list_separator, stats) for v in frame[name].tolist()]
        if name in maps:
            cleaned = [maps[name].get(v, v) for v in cleaned]
        cols[name] = cleaned
    names = list(cols)
    texts = [render(groups, tail, dict(zip(names, row))) for row in zip(*cols.values())]
    stats.empty = sum(1 for t in texts if not t)
    return texts, stats
