"""``gnnrec benchmark``: run a suite (cached, resumable), write results/<suite>/, update the README."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from gnnrec.bench.suites import SUITES


def _list(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def _seeds(text: str) -> int | list[int]:
    try:
        if "," in text:
            return [int(x) for x in _list(text)]
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--seeds wants a count (3) or a list (0,1,2), got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"--seeds must be >= 1, got {n}")
    return n


def register(sub: argparse._SubParsersAction) -> None:
    suites = "\n".join(f"  {n:16s} {s.description}" for n, s in SUITES.items())
    p = sub.add_parser(
        "benchmark", help="train + evaluate models x seeds of a suite; tables, significance, plots",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train and evaluate every model of a suite with several seeds through the "
                    "configs in configs/<suite dir>/<model>.yaml, caching each finished run "
                    "(an interrupted suite resumes), and write results/<suite>/: table.md "
                    "(mean ± std, best bold, significance footnotes), metrics.csv/json (every "
                    "metric, K and group of every run), summary.csv, runs.json (exact configs, "
                    "package versions, wall times), curves.csv, significance.json, plots/ "
                    "(PNG + SVG).\n\nsuites:\n" + suites,
        epilog="examples:\n"
               "  gnnrec benchmark --suite ml100k-cd --budget smoke --seeds 1      # CI smoke, ~2 min\n"
               "  gnnrec benchmark --suite ml1m-cd --models pop,mf,cd-lightgcn-text --seeds 3\n"
               "  gnnrec benchmark --suite ml1m-cd --report-only     # tables from finished runs\n"
               "  gnnrec benchmark --readme                          # regenerate README ## Results")
    p.add_argument("--suite", choices=sorted(SUITES), help="which suite to run")
    p.add_argument("--models", type=_list, default=None,
                   help="comma-separated model names (default: the suite's list)")
    p.add_argument("--seeds", type=_seeds, default=3, help="number of seeds (0..n-1) or a list "
                   "like 0,1,2 (default 3)")
    p.add_argument("--budget", choices=["smoke", "full"], default="full",
                   help="smoke caps epochs (train.epochs=2, patience 2) for CI; full uses the configs")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override applied to every run, e.g. --set model.layers=2 (repeatable)")
    p.add_argument("--runs-dir", default="runs/bench", help="where run folders live (default runs/bench)")
    p.add_argument("--results-dir", default="results", help="where results/<suite>/ goes")
    p.add_argument("--configs", default="configs", help="config root (default configs/)")
    p.add_argument("--report-only", action="store_true",
                   help="train nothing: rebuild tables and plots from the finished runs")
    p.add_argument("--readme", nargs="?", const="README.md", default=None, metavar="PATH",
                   help="rewrite the generated Results block of README.md from results/ "
                        "(alone, or after a suite)")
    p.add_argument("--replace-results", action="store_true",
                   help="let a run with fewer models replace results/<suite>/ (by default it "
                        "refuses to drop models that the existing tables hold), or a "
                        "--report-only rebuild show models pending whose figures it holds")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_benchmark)


def _benchmark(args: argparse.Namespace) -> int:
    from gnnrec.bench import held_models, run_suite
    from gnnrec.bench.readme import update_readme
    from gnnrec.errors import GnnrecError

    if args.suite is None and args.readme is None:
        raise GnnrecError("gnnrec benchmark: give --suite NAME (see --help) or --readme")
    rc = 0
    if args.suite is not None:
        # the command that reproduces the numbers (a --report-only rebuild trains nothing)
        argv = [a for a in sys.argv[1:] if a not in ("--report-only", "--quiet")]
        cmd = "gnnrec " + " ".join(shlex.quote(a) for a in argv) if "benchmark" in argv else None
        models = args.models or list(SUITES[args.suite].default_models)
        dropped = sorted(held_models(Path(args.results_dir) / args.suite) - set(models))
        if dropped and not args.replace_results:
            raise GnnrecError(
                f"{Path(args.results_dir) / args.suite} holds results of "
                f"{', '.join(dropped)}, which --models {','.join(models)} would drop from its tables. "
                f"Add them (finished runs are cached, not retrained): --models "
                f"{','.join(models + dropped)}; or write elsewhere with --results-dir DIR; "
                f"or pass --replace-results.")
        out = run_suite(args.suite, models, args.seeds, args.budget, args.runs_dir,
                        args.results_dir, args.configs, args.overrides,
                        report_only=args.report_only, progress=not args.quiet, command=cmd,
                        replace_results=args.replace_results)
        parts = out.table.split("\n## ")
        print("## " + parts[1] if len(parts) > 1 else out.table)
        print(f"results: {out.out_dir}")
        for r in out.failed:
            print(f"FAILED {r.spec.label}: {r.error.splitlines()[0]}", file=sys.stderr)
        rc = 1 if out.failed else 0
    if args.readme is not None:
        changed = update_readme(Path(args.readme), Path(args.results_dir))
        print(f"{args.readme}: Results section {'updated' if changed else 'unchanged'}")
    return rc
