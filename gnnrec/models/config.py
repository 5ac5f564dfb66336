"""The base of every model's config section (light: configs resolve without importing torch)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ModelConfig:
    """Base of every model's ``Config`` (the ``model:`` section of a run config)."""

    name: str = ""   # registry name (gnnrec.models.registry)
