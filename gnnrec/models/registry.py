"""Model registry: config name -> ``"module:Class"`` (imported on use).

Adding a model = one module in ``gnnrec/models`` + one line in :data:`MODELS`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from gnnrec.errors import GnnrecError

if TYPE_CHECKING:
    from gnnrec.models.base import ModelContext, Recommender

# in the order benchmark tables list them (floors first)
MODELS: dict[str, str] = {
    "pop": "gnnrec.models.pop:Popularity",
    "mf": "gnnrec.models.mf:MF",
    "ease": "gnnrec.models.itembased_models:EASE",
    "itemknn": "gnnrec.models.itembased_models:ItemKNN",
    "rp3beta": "gnnrec.models.itembased_models:RP3beta",
    "lightgcn": "gnnrec.models.lightgcn:LightGCN",
    "cd-lightgcn": "gnnrec.models.lightgcn:CDLightGCN",
    "cd-lightgcn-text": "gnnrec.models.lightgcn:CDLightGCNText",
    "hgt": "gnnrec.models.hgt:HGT",
    "emcdr": "gnnrec.models.emcdr:EMCDR",
    "bitgcf": "gnnrec.models.bitgcf:BiTGCF",
    "disencdr": "gnnrec.models.disencdr:DisenCDR",
    "cdrib": "gnnrec.models.cdrib:CDRIB",
    "unicdr": "gnnrec.models.unicdr:UniCDR",
    "ptupcdr": "gnnrec.models.ptupcdr:PTUPCDR",
    "text-only": "gnnrec.models.text_only:TextOnly",
    "lightgcn-text": "gnnrec.models.lightgcn:LightGCNText",
}


class UnknownModelError(GnnrecError, KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def model_class(name: str) -> type["Recommender"]:
    """The class registered as ``name``; unknown names raise listing the valid ones."""
    if name not in MODELS:
        raise UnknownModelError(f"unknown model {name!r}; available: {', '.join(sorted(MODELS))}")
    mod, cls = MODELS[name].split(":")
    return getattr(importlib.import_module(mod), cls)


def build_model(ctx: "ModelContext") -> "Recommender":
    """Instantiate ``ctx.config.name`` on ``ctx.device``."""
    cls = model_class(ctx.config.name)
    if cls.needs_text and ctx.text is None:
        raise GnnrecError(f"model {cls.name!r} needs item text, but dataset {ctx.ds.name!r} has no "
                          f"text embeddings (ids only); use {cls.name.replace('-text', '')!r} instead")
    return cls(ctx).to(ctx.device)
