"""Run a suite end to end: plan, train (or read cached runs), collect, tables, plots."""


from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from gnnrec.bench.runner import BenchError, RunRecord, RunSpec, is_done, plan, run_all
from gnnrec.bench.suites import Suite, get_suite
from gnnrec.data.schema import Dataset


@dataclass
class SuiteResult:
    records: list[RunRecord]
    out_dir: Path
    metrics: pd.DataFrame
    table: str

    @property
    def failed(self) -> list[RunRecord]:
        return [r for r in self.records if r.status == "failed"]


def load_suite_datasets(suite: Suite) -> dict[str, Dataset]:
    from gnnrec.data import load_dataset

    return {name: load_dataset(name) for name in suite.datasets}


def run_suite(suite: str | Suite, models: list[str] | None = None, seeds: int | list[int] = 3,
              budget: str = "full", runs_dir: str | os.PathLike = "runs/bench",
              results_dir: str | os.PathLike = "results", configs_root: str | os.PathLike = "configs",
              overrides: list[str] | None = None, datasets: dict[str, Dataset] | None = None,
              transform: str | None = None, out_name: str | None = None,
              report_only: bool = False, progress: bool = True, projection: bool = True,
              command: str | None = None, replace_results: bool = False) -> SuiteResult:
    """Run (or resume) a suite and write ``<results_dir>/<out_name or suite>/``.

    ``seeds``: a count (seeds 0..n-1) or explicit list. ``report_only``: train
    nothing, report the runs already finished (others are listed as pending).
    ``datasets`` replaces loading (e.g. a transformed split; name it in
    ``transform`` so its runs get their own cache keys). A ``report_only`` rebuild
    that would turn a model's existing figures into "pending" (no finished run
    matches its current config: a config or a model default changed) raises
    :class:`BenchError` unless ``replace_results``.
    """
    from gnnrec.bench.collect import write_results
    from gnnrec.bench.plots import render_plots
    from gnnrec.bench.tables import render_tables

    s = get_suite(suite) if isinstance(suite, str) else suite
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    if not seed_list:
        raise BenchError("at least one seed is needed")
    models = list(models or s.default_models)
    dsets = datasets or load_suite_datasets(s)
    specs = plan(s, models, seed_list, budget, Path(runs_dir), Path(configs_root), dsets,
                 overrides, transform)
    if report_only:
        records = [RunRecord(sp, "done", cached=True, info=_bench_info(sp)) if is_done(sp)
                   else RunRecord(sp, "n/a" if sp.skip_reason else "pending", error=sp.skip_reason)
                   for sp in specs]
        for r in records:
            r.wall_s = r.info.get("wall_s")
    out_dir = Path(results_dir) / (out_name or s.name)
    if report_only and not replace_results:
        _refuse_lost_figures(out_dir, records)
    if not report_only:
        records = run_all(specs, dsets, progress)
    command = command or _default_command(s.name, models, seed_list, budget, overrides)
    metrics = write_results(s, records, out_dir, dsets, command, budget, projection)
    render_plots(out_dir)
    table = render_tables(out_dir)
    return SuiteResult(records, out_dir, metrics, table)


def held_models(out_dir: str | os.PathLike) -> set[str]:
    """Models whose figures ``out_dir`` (a suite's results folder) holds in its ``summary.csv``."""
    summary = Path(out_dir) / "summary.csv"
    return set(pd.read_csv(summary, usecols=["model"])["model"]) if summary.is_file() else set()


def _refuse_lost_figures(out_dir: Path, records: list[RunRecord]) -> None:
    """Raise if a report-only rebuild would blank models that ``out_dir`` holds figures of."""
    held = held_models(out_dir)
    pending = [r for r in records if r.status == "pending" and r.spec.model in held]
    if pending:
        models = sorted({r.spec.model for r in pending})
        raise BenchError(
            f"--report-only: {out_dir} holds figures of {', '.join(models)}, but no finished run "
            f"matches their current configs ({len(pending)} pending, e.g. {pending[0].spec.run_dir}); "
            f"a config or a model default changed since. Run the suite without --report-only to "
            f"train them (finished runs are cached), or pass --replace-results.")


def _bench_info(spec: RunSpec) -> dict:
    import json
    return json.loads((spec.run_dir / "bench.json").read_text(encoding="utf-8"))


def _default_command(suite: str, models: list[str], seeds: list[int], budget: str,
                     overrides: list[str] | None) -> str:
    seeds_arg = str(len(seeds)) if seeds == list(range(len(seeds))) else ",".join(map(str, seeds))
    cmd = f"gnnrec benchmark --suite {suite} --models {','.join(models)} --seeds {seeds_arg} " \
          f"--budget {budget}"
    return cmd + "".join(f" --set {o}" for o in overrides or [])

