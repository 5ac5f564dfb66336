"""Training stage: configs -> runs (``runs/<name>/``), checkpoints, evaluation, export.

* :func:`load_config` / :func:`resolve` -> :class:`RunConfig` (typed sections)
* :func:`train_run` (config) -> :class:`RunResult`; the loop itself is
  :func:`gnnrec.train.loop.fit`, the step sources :mod:`gnnrec.train.steps`
* :func:`load_run` (run folder) -> :class:`LoadedRun` (model with best weights, dataset, config)
* :func:`export_model` (model, dataset) -> :class:`gnnrec.export.contract.Export`
"""

from gnnrec.utils.lazy import lazy

__getattr__, __dir__, __all__ = lazy(__name__, {
    "CheckpointError": "gnnrec.train.checkpoint",
    "ConfigError": "gnnrec.train.config",
    "RunConfig": "gnnrec.train.config",
    "load_config": "gnnrec.train.config",
    "resolve": "gnnrec.train.config",
    "RunError": "gnnrec.train.context",
    "LoadedRun": "gnnrec.train.run",
    "RunResult": "gnnrec.train.run",
    "export_model": "gnnrec.train.run",
    "load_run": "gnnrec.train.run",
    "train_run": "gnnrec.train.run",
})
