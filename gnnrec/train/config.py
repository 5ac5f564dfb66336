"""Run configuration: YAML file + dotted CLI overrides -> validated, resolved dict.

Layout (every key optional; :data:`SCHEMA` holds defaults and types)::

    name: ml1m_cd_cd_lightgcn_text   # run folder runs/<name> (default: config file stem)
    dataset: ml1m-cd                 # registered name or folder (gnnrec.data.load_dataset)
    seed: 0
    device: auto                     # auto | cpu | cuda | cuda:N
    runs_dir: runs
    text:  {model: null, template: null}        # gnnrec.text.item_text_features options
    model: {name: cd-lightgcn-text, dim: 64, layers: 3, ...}   # keys = the model's defaults
    train: {epochs, batch_size, lr, reg, loss, negatives, ...}   # see SCHEMA
    eval:  {ks, metric, k, select_domains, select_scenarios}
    export: {dtype}

``model`` keys are validated against the chosen model class's ``defaults``.
Unknown keys raise :class:`ConfigError` listing the valid ones; values of the
wrong type raise naming the key, the expected type and the file.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import yaml

from gnnrec.models.registry import UnknownModelError, model_class

_NUM = (int, float)
# dotted key -> (default, allowed types, allowed values or None)
SCHEMA: dict[str, tuple[Any, tuple[type, ...], tuple | None]] = {
    "name": (None, (str,), None),
    "dataset": ("ml1m-cd", (str,), None),
    "seed": (0, (int,), None),
    "device": ("auto", (str,), None),
    "runs_dir": ("runs", (str,), None),
    "text.model": (None, (str,), None),
    "text.template": (None, (str,), None),
    "model.name": ("cd-lightgcn", (str,), None),
    "train.epochs": (30, (int,), None),
    "train.batch_size": (16384, (int,), None),
    "train.lr": (5e-3, _NUM, None),
    "train.reg": (1e-4, _NUM, None),
    "train.loss": ("bpr", (str,), ("bpr", "softmax")),
    "train.negatives": (1, (int,), None),
    "train.inbatch_negatives": (0, (int,), None),
    "train.temperature": (0.2, _NUM, None),
    "train.sampling": ("uniform", (str,), ("uniform", "balanced", "target")),
    "train.target_domains": (None, (list,), None),
    "train.target_weight": (2.0, _NUM, None),
    "train.cold_sim": (0.0, _NUM, None),                                 # gnnrec.train.coldsim
    "train.eval_every": (1, (int,), None),
    "train.patience": (5, (int,), None),
    "train.min_epochs": (0, (int,), None),         # early stopping cannot end training before this
    "train.amp": (True, (bool,), None),
    "train.threads": (None, (int,), None),
    "train.mode": ("auto", (str,), ("auto", "full", "minibatch")),   # gnnrec.train.minibatch
    "train.fanouts": ([10, 5, 5], (list,), None),                      # neighbours per layer
    "eval.ks": ([10, 20, 50], (list,), None),
    "eval.metric": ("ndcg", (str,), ("ndcg", "recall", "hr", "mrr")),
    "eval.k": (20, (int,), None),
    "eval.select_domains": (None, (list,), None),
    "eval.select_scenarios": (["warm", "cold"], (list,), None),
    "export.dtype": ("float32", (str,), ("float32", "float16", "int8")),
}
SECTIONS = ("text", "model", "train", "eval", "export")


class ConfigError(ValueError):
    """A bad configuration; the message names the key, the source and the fix."""


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and (key in SECTIONS):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in flat.items():
        if "." in k:
            sec, sub = k.split(".", 1)
            out.setdefault(sec, {})[sub] = v
        else:
            out[k] = v
    return out


def parse_override(text: str) -> tuple[str, Any]:
    """``"train.epochs=30"`` -> ("train.epochs", 30) (value parsed as YAML)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key=value, e.g. train.epochs=30")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw != "" else None
    except yaml.YAMLError as e:
        raise ConfigError(f"override {text!r}: cannot parse value ({e})") from None
    return key.strip(), value


def _check_type(key: str, value: Any, types: tuple[type, ...], choices: tuple | None, src: str) -> Any:
    if value is None:
        return None
    if float in types and isinstance(value, str):
        try:                                        # YAML 1.1 reads "1e-3" as a string
            return float(value)
        except ValueError:
            ok = False
    elif isinstance(value, bool) and bool not in types:
        ok = False
    elif float in types and isinstance(value, int):
        return float(value)
    else:
        ok = isinstance(value, types)
    if not ok:
        names = " or ".join(t.__name__ for t in types)
        raise ConfigError(f"{src}: {key} must be {names}, got {type(value).__name__} {value!r}")
    if choices is not None and value not in choices:
        raise ConfigError(f"{src}: {key} must be one of {list(choices)}, got {value!r}")
    return value


def resolve(raw: dict[str, Any] | None, overrides: list[str] | None = None, source: str = "config",
            default_name: str | None = None) -> dict[str, Any]:
    """Merge defaults, ``raw`` (parsed YAML) and ``overrides`` into a validated nested config."""
    raw = copy.deepcopy(raw or {})
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: top level must be a mapping of sections, got {type(raw).__name__}")
    for sec in SECTIONS:
        if sec in raw and not isinstance(raw[sec], dict):
            raise ConfigError(f"{source}: section {sec!r} must be a mapping, got {raw[sec]!r}")
    flat = _flatten(raw)
    srcs = {k: source for k in flat}
    for ov in overrides or []:
        k, v = parse_override(ov)
        flat[k] = v
        srcs[k] = f"override {ov!r}"
    name = flat.get("model.name", SCHEMA["model.name"][0])
    try:
        cls = model_class(str(name))
    except UnknownModelError as e:
        raise ConfigError(f"{srcs.get('model.name', source)}: {e}") from None
    model_keys = {f"model.{k}": v for k, v in cls.defaults.items()}
    valid = set(SCHEMA) | set(model_keys)
    unknown = sorted(set(flat) - valid)
    if unknown:
        k = unknown[0]
        sec = k.split(".")[0] + "." if "." in k else ""
        options = sorted(v for v in valid if v.startswith(sec)) if sec else sorted(
            v for v in valid if "." not in v) + [s + ".*" for s in SECTIONS]
        raise ConfigError(f"{srcs[k]}: unknown key {k!r} (model {name!r}); valid keys: {', '.join(options)}")
    out: dict[str, Any] = {}
    for k, (default, types, choices) in SCHEMA.items():
        out[k] = _check_type(k, flat[k], types, choices, srcs[k]) if k in flat else copy.deepcopy(default)
    for k, default in model_keys.items():
        if k in flat:
            types: tuple[type, ...] = (type(default),) if default is not None else (object,)
            if isinstance(default, float):
                types = _NUM
            out[k] = _check_type(k, flat[k], types, None, srcs[k])
        else:
            out[k] = copy.deepcopy(default)
    for k in ("train.epochs", "train.batch_size", "train.negatives", "model.dim"):
        if k in out and out[k] is not None and out[k] < 1:
            raise ConfigError(f"{srcs.get(k, source)}: {k} must be >= 1, got {out[k]}")
    if out["train.min_epochs"] < 0:
        raise ConfigError(f"{srcs.get('train.min_epochs', source)}: train.min_epochs must be >= 0, "
                          f"got {out['train.min_epochs']}")
    if not 0.0 <= out["train.cold_sim"] <= 1.0:
        raise ConfigError(f"{srcs.get('train.cold_sim', source)}: train.cold_sim is the share of bridge "
                          f"users hidden per epoch, in [0, 1]; got {out['train.cold_sim']}")
    if out["eval.k"] not in out["eval.ks"]:
        raise ConfigError(f"{srcs.get('eval.k', source)}: eval.k={out['eval.k']} (the selection "
                          f"cut-off) must be one of eval.ks={out['eval.ks']}")
    if out["name"] is None:
        out["name"] = default_name or f"{out['dataset']}_{out['model.name']}".replace("/", "_")
    return _nest(out)


def load_config(path: str | os.PathLike | None, overrides: list[str] | None = None) -> dict[str, Any]:
    """Read a YAML config (or none: defaults) and apply overrides; see :func:`resolve`."""
    if path is None:
        return resolve({}, overrides, source="defaults")
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {p} not found")
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML ({e})") from None
    # configs/<dataset>/<model>.yaml -> run name <dataset>_<model>; elsewhere the file stem
    stem = f"{p.parent.name}_{p.stem}" if p.resolve().parent.parent.name == "configs" else p.stem
    return resolve(raw if raw is not None else {}, overrides, source=str(p), default_name=stem)


def dump_config(cfg: dict[str, Any]) -> str:
    return yaml.safe_dump(cfg, sort_keys=False)
