"""Benchmark suites: train + evaluate many models and seeds, cache runs, write ``results/``.

>>> from gnnrec.bench import run_suite
>>> out = run_suite("ml100k-cd", models=["pop", "mf"], seeds=1, budget="smoke")  # doctest: +SKIP
>>> print(out.table)                                                             # doctest: +SKIP

Stages: :mod:`~gnnrec.bench.suites` (what to run), :mod:`~gnnrec.bench.runner`
(plan, run, cache), :mod:`~gnnrec.bench.collect` (data files),
:mod:`~gnnrec.bench.significance`, :mod:`~gnnrec.bench.tables`,
:mod:`~gnnrec.bench.plots`, :mod:`~gnnrec.bench.readme`.
"""

from gnnrec.utils.lazy import lazy

__getattr__, __dir__, __all__ = lazy(__name__, {
    "BenchError": "gnnrec.bench.runner",
    "SUITES": "gnnrec.bench.suites",
    "Suite": "gnnrec.bench.suites",
    "get_suite": "gnnrec.bench.suites",
    "SuiteResult": "gnnrec.bench.suite",
    "held_models": "gnnrec.bench.suite",
    "run_suite": "gnnrec.bench.suite",
})
