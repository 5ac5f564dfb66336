"""Run configuration: YAML file + dotted CLI overrides -> a typed, validated :class:`RunConfig`.

Layout (every key optional; the defaults are the dataclass fields below)::

    name: ml1m_cd_cd_lightgcn_text   # run folder <runs_dir>/<name> (default: from the file name)
    dataset: ml1m-cd                 # registered name or folder (gnnrec.data.load_dataset)
    seed: 0
    device: auto                     # auto | cpu | cuda | cuda:N
    runs_dir: runs
    text:   {model, template}        # TextConfig
    model:  {name: cd-lightgcn-text, dim: 64, ...}   # the model class's Config
    train:  {epochs, batch_size, lr, ...}            # TrainConfig
    eval:   {ks, metric, k, select_domains, select_scenarios}   # EvalConfig
    export: {dtype}                  # ExportConfig

:func:`resolve` fills the sections with :func:`gnnrec.utils.config.fill`: an
unknown key, a value of the wrong type or outside its range is a
:class:`ConfigError` naming the key, the file or override it came from, and the
valid keys. ``model`` keys are those of the chosen model's ``Config``
(``gnnrec train --model-keys NAME``).
"""

from __future__ import annotations

import copy
import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml

from gnnrec.models.config import ModelConfig
from gnnrec.models.registry import UnknownModelError, model_class
from gnnrec.utils.config import ConfigError, Range, check_value, field_specs, fill

__all__ = ["ConfigError", "EvalConfig", "ExportConfig", "RunConfig", "TextConfig", "TrainConfig",
           "dump_config", "load_config", "parse_override", "resolve"]


@dataclass
class TextConfig:
    """``text:`` -- how item texts become embeddings (:func:`gnnrec.text.item_text_features`)."""

    model: str | None = None       # local transformers folder (default: the bundled all-MiniLM-L6-v2)
    template: str | None = None    # item text template (default: configs/text/<dataset>.yaml)


@dataclass
class TrainConfig:
    """``train:`` -- the training loop (:mod:`gnnrec.train.loop`)."""

    epochs: Annotated[int, Range(ge=1)] = 30              # maximum epochs of each stage
    batch_size: Annotated[int, Range(ge=1)] = 16384       # positive (user, item) rows per step
    lr: Annotated[float, Range(gt=0)] = 5e-3              # Adam learning rate
    reg: Annotated[float, Range(ge=0)] = 1e-4             # L2 on the batch's layer-0 rows, / batch size
    loss: Literal["bpr", "softmax"] = "bpr"               # BPR, or sampled softmax over the negatives
    negatives: Annotated[int, Range(ge=1)] = 1            # same-domain negatives per positive
    temperature: Annotated[float, Range(gt=0)] = 0.2      # sampled-softmax temperature
    cold_sim: Annotated[float, Range(ge=0, le=1)] = 0.0   # share of bridge users with one domain hidden per epoch
    eval_every: Annotated[int, Range(ge=1)] = 1           # epochs between validation scores
    patience: Annotated[int, Range(ge=1)] = 5             # evaluations without improvement before stopping
    min_epochs: Annotated[int, Range(ge=0)] = 0           # early stopping never ends a stage before this
    amp: bool = True                                      # bf16 autocast on CUDA
    threads: Annotated[int, Range(ge=1)] | None = None    # torch CPU threads (None: timed pick)
    mode: Literal["auto", "full", "minibatch"] = "auto"   # full-graph or neighbour-sampled steps
    fanouts: Annotated[list[int], Range(ge=-1)] = field(default_factory=lambda: [10, 5, 5])  # per hop (-1: all)


@dataclass
class EvalConfig:
    """``eval:`` -- validation metrics and the early-stopping score."""

    ks: Annotated[list[int], Range(ge=1)] = field(default_factory=lambda: [10, 20, 50])  # cut-offs
    metric: Literal["ndcg", "recall", "hr", "mrr"] = "ndcg"   # selection metric
    k: Annotated[int, Range(ge=1)] = 20                     # selection cut-off (one of ks)
    select_domains: list[str] | None = None                 # groups averaged (None: every domain)
    select_scenarios: list[str] = field(default_factory=lambda: ["warm", "cold"])  # warm and/or cold


@dataclass
class ExportConfig:
    """``export:`` -- the export written after training."""

    dtype: Literal["float32", "float16", "int8"] = "float32"   # vector storage


DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
SECTIONS = {"text": TextConfig, "train": TrainConfig, "eval": EvalConfig, "export": ExportConfig}


@dataclass
class RunConfig:
    """One run: where it goes, what it trains on, and every section."""

    name: str | None = None          # run folder <runs_dir>/<name> (default: the config file's name)
    dataset: str = "ml1m-cd"         # registered dataset name or prepared folder
    seed: Annotated[int, Range(ge=0)] = 0   # seeds the model, the sampler and every epoch's draws
    device: str = "auto"             # auto (CUDA when present) | cpu | cuda | cuda:N
    runs_dir: str = "runs"           # parent folder of run folders
    text: TextConfig = field(default_factory=TextConfig)
    model: ModelConfig = field(default_factory=lambda: model_class("cd-lightgcn").Config(name="cd-lightgcn"))
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    export: ExportConfig = field(default_factory=ExportConfig)

    def to_dict(self) -> dict[str, Any]:
        """Nested plain dict (the ``config.yaml`` of a run)."""
        return dataclasses.asdict(self)

    def non_defaults(self) -> dict[str, Any]:
        """Nested dict of the values that differ from the defaults (``model.name`` always kept).

        Adding a key with a default never changes it, so it identifies what a
        run computes across versions (the benchmark cache key).
        """
        base = RunConfig(model=type(self.model)(name=self.model.name))
        mine, ref = self.to_dict(), base.to_dict()
        out: dict[str, Any] = {}
        for k, v in mine.items():
            if isinstance(v, dict):
                diff = {kk: vv for kk, vv in v.items() if ref[k].get(kk) != vv}
                if k == "model":
                    diff = {"name": self.model.name, **diff}
                if diff:
                    out[k] = diff
            elif v != ref[k]:
                out[k] = v
        return out

    def replace(self, **sections: Any) -> RunConfig:
        """A copy with top-level keys or whole sections replaced (``cfg.replace(name="x")``)."""
        return dataclasses.replace(copy.deepcopy(self), **sections)


_TOP = {f.name for f in dataclasses.fields(RunConfig)} - set(SECTIONS) - {"model"}


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


def _valid_top() -> list[str]:
    return sorted(_TOP) + [f"{s}.*" for s in ("text", "model", "train", "eval", "export")]


def resolve(raw: dict[str, Any] | None, overrides: list[str] | None = None, source: str = "config",
            default_name: str | None = None) -> RunConfig:
    """Merge defaults, ``raw`` (parsed YAML) and ``overrides`` into a validated :class:`RunConfig`."""
    raw = copy.deepcopy(raw or {})
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: top level must be a mapping of sections, got {type(raw).__name__}")
    srcs: dict[str, str] = {}
    sections: dict[str, dict[str, Any]] = {s: {} for s in (*SECTIONS, "model")}
    top: dict[str, Any] = {}
    for k, v in raw.items():
        if k in sections:
            if not isinstance(v, dict):
                raise ConfigError(f"{source}: section {k!r} must be a mapping, got {v!r}")
            sections[k].update(v)
            srcs.update({f"{k}.{kk}": source for kk in v})
        else:
            top[k] = v
            srcs[k] = source
    for ov in overrides or []:
        k, v = parse_override(ov)
        sec, _, sub = k.partition(".")
        if sub and sec in sections:
            sections[sec][sub] = v
        else:
            top[k] = v
        srcs[k] = f"override {ov!r}"
    if "name" in top and top["name"] in (None, ""):
        raise ConfigError(f"{srcs['name']}: name is empty; give the run a folder name, e.g. name=my_run")
    unknown = sorted(set(top) - _TOP)
    if unknown:
        raise ConfigError(f"{srcs[unknown[0]]}: unknown key {unknown[0]!r}; valid keys: "
                          f"{', '.join(_valid_top())}")
    model = dict(sections["model"])
    name = model.pop("name", "cd-lightgcn")
    try:
        cls = model_class(str(name))
    except UnknownModelError as e:
        raise ConfigError(f"{srcs.get('model.name', source)}: {e}") from None
    specs = field_specs(RunConfig)
    kw = {k: check_value(k, v, specs[k], srcs[k]) for k, v in top.items()}
    kw["model"] = fill(cls.Config, {"name": name, **model}, srcs, "model.", source)
    kw.update({s: fill(c, sections[s], srcs, f"{s}.", source) for s, c in SECTIONS.items()})
    cfg = RunConfig(**kw)
    if not DEVICE.match(cfg.device):
        raise ConfigError(f"{srcs.get('device', source)}: device {cfg.device!r} is not one of auto, cpu, "
                          f"cuda, cuda:N")
    if 0 in cfg.train.fanouts or not cfg.train.fanouts:
        raise ConfigError(f"{srcs.get('train.fanouts', source)}: train.fanouts {cfg.train.fanouts} needs "
                          f"one fan-out per layer, each >= 1 or -1 (every neighbour)")
    ev = cfg.eval
    if ev.k not in ev.ks:
        raise ConfigError(f"{srcs.get('eval.k', source)}: eval.k={ev.k} (the selection cut-off) must "
                          f"be one of eval.ks={ev.ks}")
    bad = sorted(set(ev.select_scenarios) - {"warm", "cold"})
    if bad or not ev.select_scenarios:
        raise ConfigError(f"{srcs.get('eval.select_scenarios', source)}: eval.select_scenarios must "
                          f"be a non-empty list of warm / cold, got {ev.select_scenarios}")
    if cfg.name is None:
        cfg.name = default_name or f"{cfg.dataset}_{cfg.model.name}".replace("/", "_")
    check_run_name(cfg.name, srcs.get("name", source))
    return cfg


def check_run_name(name: str, src: str = "config") -> None:
    """A run name is one folder name inside ``runs_dir``: no separator, not ``.``/``..``, no NUL."""
    bad = (not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name
           or name != name.strip() or os.path.isabs(name))
    if bad:
        raise ConfigError(f"{src}: name={name!r} must be a single folder name inside runs_dir (no '/', "
                          f"'\\', '.', '..', NUL or surrounding spaces), e.g. name=my_run")


def load_config(path: str | os.PathLike | None, overrides: list[str] | None = None) -> RunConfig:
    """Read a YAML config (or none: defaults) and apply overrides; see :func:`resolve`."""
    if path is None:
        return resolve({}, overrides, source="defaults")
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{p} is a folder, not a config file; give a YAML file such as "
                          f"configs/ml1m_cd/cd_lightgcn.yaml (or '-' for the defaults)")
    if not p.is_file():
        raise ConfigError(f"config file {p} not found")
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError(f"{p}: not UTF-8 text (byte {e.start}: {e.reason}); save the config as "
                          f"UTF-8") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML ({' '.join(str(e).split())}); fix the syntax") from None
    # configs/<dataset>/<model>.yaml -> run name <dataset>_<model>; elsewhere the file stem
    stem = f"{p.parent.name}_{p.stem}" if p.resolve().parent.parent.name == "configs" else p.stem
    return resolve(raw if raw is not None else {}, overrides, source=str(p), default_name=stem)


def dump_config(cfg: RunConfig) -> str:
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)
