"""Typed config sections: dataclasses filled from parsed YAML by a loud resolver.

A section is a dataclass whose fields carry the type, the default (written
once) and a ``# comment`` saying what the key does -- TorchRec's
``EmbeddingBagConfig`` style::

    @dataclass
    class TrainConfig:
        epochs: Annotated[int, Range(ge=1)] = 30      # maximum epochs per stage
        loss: Literal["bpr", "softmax"] = "bpr"       # ranking loss

:func:`fill` builds a section from a mapping of raw values and rejects, naming
the key, its source (file or override) and the fix:

* an unknown key (listing the valid ones);
* a value of the wrong type (``int`` where ``float`` is expected is widened;
  YAML 1.1 reads ``1e-3`` as a string, which is parsed as a float);
* a value outside :class:`Range` or not among a ``Literal``'s choices;
* ``None`` for a key whose type is not ``X | None``.

:func:`comments` reads the ``# comment`` of every field from the class source,
for ``--help`` and ``--model-keys``.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import re
import types
import typing
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from gnnrec.errors import GnnrecError


class ConfigError(GnnrecError, ValueError):
    """A bad configuration; the message names the key, the source and the fix."""


@dataclass(frozen=True)
class Range:
    """Allowed interval of a numeric key: ``ge <= x``, ``gt < x``, ``x <= le``, ``x < lt``."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def check(self, x: float) -> str | None:
        """The violated bound as text (e.g. ``">= 1"``), or None when ``x`` is inside."""
        if math.isnan(x):
            return "a number (not nan)"
        for bound, ok, op in ((self.ge, lambda b: x >= b, ">="), (self.gt, lambda b: x > b, ">"),
                              (self.le, lambda b: x <= b, "<="), (self.lt, lambda b: x < b, "<")):
            if bound is not None and not ok(bound):
                return f"{op} {bound:g}"
        return None

    def __str__(self) -> str:
        lo = f"[{self.ge:g}" if self.ge is not None else f"({self.gt:g}" if self.gt is not None else "(-inf"
        hi = f"{self.le:g}]" if self.le is not None else f"{self.lt:g})" if self.lt is not None else "inf)"
        return f"{lo}, {hi}"


@dataclass(frozen=True)
class Spec:
    """What a field accepts: base type, optional None, choices, range, list element type."""

    kind: type
    optional: bool = False
    choices: tuple | None = None
    range: Range | None = None
    item: type | None = None        # element type of a list


def _spec(tp: Any) -> Spec:
    rng = None
    if typing.get_origin(tp) is typing.Annotated:
        tp, *extra = typing.get_args(tp)
        rng = next((e for e in extra if isinstance(e, Range)), None)
    optional = False
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in args:
        optional = True
        rest = [a for a in args if a is not type(None)]
        tp = rest[0]
        if typing.get_origin(tp) is typing.Annotated:
            tp, *extra = typing.get_args(tp)
            rng = next((e for e in extra if isinstance(e, Range)), rng)
    if typing.get_origin(tp) is Literal:
        choices = typing.get_args(tp)
        return Spec(type(choices[0]), optional, choices, rng)
    if typing.get_origin(tp) is list:
        (item,) = typing.get_args(tp) or (object,)
        return Spec(list, optional, None, rng, item)
    return Spec(tp, optional, None, rng)


@lru_cache(maxsize=None)
def field_specs(cls: type) -> dict[str, Spec]:
    """Field name -> :class:`Spec` of a config dataclass (resolves string annotations)."""
    hints = typing.get_type_hints(cls, include_extras=True)
    return {f.name: _spec(hints[f.name]) for f in dataclasses.fields(cls)}


def _type_name(spec: Spec) -> str:
    if spec.kind is float:
        return "int or float"
    if spec.kind is list:
        return f"a list of {spec.item.__name__}" if spec.item not in (None, object) else "a list"
    return spec.kind.__name__


def check_value(key: str, value: Any, spec: Spec, src: str) -> Any:
    """``value`` converted to the field's type, or :class:`ConfigError` naming ``key`` and ``src``."""
    if value is None:
        if spec.optional:
            return None
        raise ConfigError(f"{src}: {key} must be {_type_name(spec)}, got null")
    ok = True
    if spec.kind is float:
        if isinstance(value, str):
            try:                                   # YAML 1.1 reads "1e-3" as a string
                value = float(value)
            except ValueError:
                ok = False
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            ok = False
        else:
            value = float(value)
    elif spec.kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif spec.kind is list:
        ok = isinstance(value, list) and (spec.item in (None, object) or all(
            isinstance(v, spec.item) and not (isinstance(v, bool) and spec.item is int) for v in value))
    else:
        ok = isinstance(value, spec.kind)
    if not ok:
        raise ConfigError(f"{src}: {key} must be {_type_name(spec)}, got {type(value).__name__} {value!r}")
    if spec.kind is float and not math.isfinite(value):
        raise ConfigError(f"{src}: {key} must be a finite number, got {value!r}")
    if spec.choices is not None and value not in spec.choices:
        raise ConfigError(f"{src}: {key} must be one of {list(spec.choices)}, got {value!r}")
    if spec.range is not None:
        for v in (value if spec.kind is list else [value]):
            bad = spec.range.check(float(v))
            if bad is not None:
                raise ConfigError(f"{src}: {key} must be {bad} (allowed {spec.range}), got {v!r}")
    return value


def fill(cls: type, values: dict[str, Any], sources: dict[str, str], prefix: str = "",
         default_source: str = "config") -> Any:
    """An instance of the dataclass ``cls`` from ``values`` (checked; unset keys keep defaults).

    ``sources`` maps a dotted key (``prefix + name``) to where its value came
    from, for the error messages.
    """
    specs = field_specs(cls)
    unknown = sorted(set(values) - set(specs))
    if unknown:
        key = prefix + unknown[0]
        raise ConfigError(f"{sources.get(key, default_source)}: unknown key {key!r}; valid keys: "
                          f"{', '.join(prefix + k for k in sorted(specs))}")
    kw = {name: check_value(prefix + name, v, specs[name], sources.get(prefix + name, default_source))
          for name, v in values.items()}
    return cls(**kw)


def defaults_of(cls: type) -> dict[str, Any]:
    """Field name -> default value of a config dataclass."""
    out = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:      # type: ignore[misc]
            out[f.name] = f.default_factory()                   # type: ignore[misc]
    return out


_COMMENT = re.compile(r"^\s+(\w+)\s*:[^#]*?(?:=.*?)?#\s*(.*?)\s*$")


@lru_cache(maxsize=None)
def comments(cls: type) -> dict[str, str]:
    """Field name -> the ``# comment`` on its line in the source of ``cls`` (and its bases)."""
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass) or klass is object:
            continue
        try:
            src = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        names = {f.name for f in dataclasses.fields(klass)}
        for line in src.splitlines():
            m = _COMMENT.match(line)
            if m and m.group(1) in names:
                out[m.group(1)] = m.group(2)
    return out
