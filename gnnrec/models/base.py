"""The model interface every gnnrec recommender implements.

A model is a :class:`Recommender` (a ``torch.nn.Module``) built from a
:class:`ModelContext`::

    ctx = ModelContext(ds=ds, graph=Graph(ds, text, device), text=text,
                       device=device, config={"name": "cd-lightgcn", "dim": 64, ...})
    model = build_model(ctx)            # gnnrec.models.registry

Context fields: ``ds`` (:class:`gnnrec.data.Dataset`), ``graph``
(:class:`gnnrec.graph.Graph`: cached ``joint_adj`` / ``domain_adj`` sparse CSR
tensors, ``hetero`` PyG HeteroData, ``facts``), ``text`` (item text embeddings,
float32 (n_items, t) L2-normalised numpy array, or None), ``device``,
``config`` (the resolved ``model:`` section: the class's :attr:`defaults`
overridden by the YAML/CLI, plus ``name``) and ``seed``.

Scoring contract: :meth:`Recommender.embeddings` returns final user and item
embeddings ``U`` (n_users, d) and ``V`` (n_items, d), float32, and the score
of (u, i) is ``U[u] . V[i]``. Evaluation and export use nothing else.

Training contract (gradient models, ``trainable = True``):

* ``forward() -> (U, V)`` -- the same embeddings with autograd (one full
  propagation); the trainer gathers batch rows and applies the ranking loss
  (BPR or sampled softmax) itself;
* ``layer0(batch) -> list[Tensor]`` -- the layer-0 rows of the batch's users,
  positives and negatives (ID embeddings, projected text ...) that get the L2
  penalty ``reg * sum ||x||^2 / B`` (called right after ``forward()``, so it
  may reuse tensors cached there);
* multi-stage hooks (EMCDR-style): ``stages()`` names the stages run in order
  (default ``["main"]``); before each the trainer calls ``set_stage(s)`` and
  builds an optimiser over ``stage_parameters(s)``; ``stage_batches(s, epoch,
  generator)`` may yield custom batches (None: the trainer's positive/negative
  sampler), and ``batch_loss(s, batch)`` may return a custom loss (None: the
  trainer's ranking loss on ``forward()``). Each stage is early-stopped on the
  validation metric and ends with its best weights restored;
  ``after_training()`` runs once after the last stage.

Simulated cold start (``train.cold_sim``, :mod:`gnnrec.train.coldsim`): models
that set ``supports_cold_sim`` implement ``simulate_cold(keep)``: while in
training mode, propagate over the train rows where the (n_train,) bool numpy
mask ``keep`` is True; ``keep=None`` restores the full graph.

Closed-form models (``trainable = False``, e.g. popularity, text-only) fill
their embeddings in ``fit()``; the trainer calls it instead of gradient steps.

All persistent state must be parameters or buffers (so a safetensors
checkpoint of ``state_dict()`` restores the model exactly; no pickle).

Text: the trainer computes item text embeddings (``gnnrec.text``) when the
class sets ``needs_text`` (the dataset must have text) or ``wants_text``
(used when present), and passes them as ``ctx.text`` (the ``TextFeatures``
object is in ``ctx.extra["text_features"]``).

Adding a model: one module subclassing :class:`Recommender` (set ``name``,
``defaults``, ``needs_text`` / ``wants_text``) and one line in ``gnnrec/models/registry.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterable, Iterator

import numpy as np
import torch
from torch import nn

from gnnrec.data.schema import Dataset
from gnnrec.graph import Graph


@dataclass
class ModelContext:
    """Everything a model may be built from (see module docstring)."""

    ds: Dataset
    graph: Graph
    device: torch.device
    config: dict[str, Any]
    text: np.ndarray | None = None
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def text_tensor(self) -> torch.Tensor:
        """Item text embeddings as a float32 (n_items, t) tensor on the device."""
        if self.text is None:
            raise ValueError(f"model {self.config.get('name')!r} needs item text embeddings, but "
                             f"dataset {self.ds.name!r} has none")
        return torch.as_tensor(np.ascontiguousarray(self.text), dtype=torch.float32, device=self.device)


@dataclass
class Batch:
    """Interaction batch from the trainer's sampler: (B,) int64 tensors each.

    ``neg`` is (B, n_neg) same-domain items that are not train positives of
    the user in that domain.
    """

    users: torch.Tensor
    pos: torch.Tensor
    neg: torch.Tensor
    domain: torch.Tensor


class Recommender(nn.Module):
    """Base class; see the module docstring for the contract."""

    name: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {}
    needs_text: ClassVar[bool] = False     # refuse datasets without item text
    wants_text: ClassVar[bool] = False     # use item text when the dataset has it (ctx.text may be None)
    trainable: ClassVar[bool] = True
    supports_cold_sim: ClassVar[bool] = False

    def __init__(self, ctx: ModelContext) -> None:
        super().__init__()
        self.n_users = ctx.ds.n_users
        self.n_items = ctx.ds.n_items
        self.cfg = {**self.defaults, **{k: v for k, v in ctx.config.items() if k != "name"}}

    # ---- scoring ------------------------------------------------------------
    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(U, V): (n_users, d), (n_items, d) with autograd."""
        raise NotImplementedError

    @torch.no_grad()
    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Final float32 (U, V) in eval mode; score(u, i) = U[u] . V[i]."""
        was = self.training
        self.eval()
        try:
            u, v = self()
        finally:
            self.train(was)
        return u.float(), v.float()

    # ---- training hooks -------------------------------------------------------
    def layer0(self, batch: Batch) -> list[torch.Tensor]:
        """Layer-0 rows of the batch's users, positives and negatives, for L2."""
        return []

    def simulate_cold(self, keep: np.ndarray | None) -> None:
        """Train on the graph of the kept train rows (None: the full graph); see module docstring."""
        raise NotImplementedError(f"model {self.name!r} does not support train.cold_sim")

    def fit(self) -> None:
        """Closed-form fitting (``trainable = False`` models)."""

    def stages(self) -> list[str]:
        return ["main"]

    def set_stage(self, stage: str) -> None:
        """Switch to ``stage`` (freeze/unfreeze parts)."""

    def stage_parameters(self, stage: str) -> Iterable[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    def stage_batches(self, stage: str, epoch: int, generator: torch.Generator) -> Iterator[Any] | None:
        """Custom batches for ``stage``; None means the trainer's interaction sampler."""
        return None

    def batch_loss(self, stage: str, batch: Any) -> torch.Tensor | None:
        """Custom loss of one batch; None means the trainer's ranking loss."""
        return None

    def stage_selection(self, stage: str) -> dict[str, Any] | None:
        """``eval.select_*`` overrides while ``stage`` trains, e.g. ``{"select_scenarios": ["warm"]}``
        for a stage whose cold-user scores are not defined yet (None: the config's)."""
        return None

    def after_training(self) -> None:
        """Runs once after the last stage (best weights restored)."""

    def describe(self) -> dict[str, Any]:
        """Resolved hyperparameters and parameter count, for logs."""
        return {"model": self.name, **self.cfg,
                "parameters": int(sum(p.numel() for p in self.parameters()))}


def init_embedding(n: int, dim: int, std: float = 0.1) -> nn.Parameter:
    """(n, dim) normal(0, std) parameter (draws from torch's global generator)."""
    return nn.Parameter(torch.randn(n, dim) * std)
