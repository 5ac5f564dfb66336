"""Training stage: configs -> runs (``runs/<name>/``), checkpoints, evaluation, export.

* :func:`load_config` / :func:`resolve` -> :class:`RunConfig` (typed sections)
* :func:`train_run` (config) -> :class:`RunResult`; the loop itself is
  :func:`gnnrec.train.loop.fit`, the step sources :mod:`gnnrec.train.steps`
* :func:`load_run` (run folder) -> :class:`LoadedRun` (model with best weights, dataset, config)
* :func:`export_model` (model, dataset) -> :class:`gnnrec.export.contract.Export`
"""

from gnnrec.train.checkpoint import CheckpointError
from gnnrec.train.config import ConfigError, RunConfig, load_config, resolve
from gnnrec.train.context import RunError
from gnnrec.train.run import LoadedRun, RunResult, export_model, load_run, train_run

__all__ = ["CheckpointError", "ConfigError", "LoadedRun", "RunConfig", "RunError", "RunResult",
           "export_model", "load_config", "load_run", "resolve", "train_run"]
