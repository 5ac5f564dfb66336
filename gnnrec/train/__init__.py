"""Training stage: configs -> runs (``runs/<name>/``), checkpoints, evaluation, export.

* :func:`train_run` (``cfg`` dict from :func:`load_config`) -> :class:`RunResult`
* :func:`load_run` (run folder) -> :class:`LoadedRun` (model with best weights, dataset, config)
* :func:`export_model` (model, dataset) -> :class:`gnnrec.export.contract.Export`
"""

from gnnrec.train.checkpoint import CheckpointError
from gnnrec.train.config import ConfigError, load_config, resolve
from gnnrec.train.context import RunError
from gnnrec.train.run import LoadedRun, export_model, load_run
from gnnrec.train.trainer import RunResult, train_run

__all__ = ["CheckpointError", "ConfigError", "LoadedRun", "RunError", "RunResult", "export_model",
           "load_config", "load_run", "resolve", "train_run"]
