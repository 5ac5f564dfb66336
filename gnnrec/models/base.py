"""The model contract every gnnrec recommender implements.

A model is a :class:`Recommender` (a ``torch.nn.Module``) built from a
:class:`ModelContext`::

    ctx = ModelContext(ds=ds, graph=Graph(ds, text, device), text=text, device=device,
                       config=CDLightGCNText.Config(name="cd-lightgcn-text", dim=64))
    model = build_model(ctx)            # gnnrec.models.registry

Context fields: ``ds`` (:class:`gnnrec.data.Dataset`), ``graph``
(:class:`gnnrec.graph.Graph`: cached adjacencies, ``hetero`` PyG HeteroData,
degrees), ``text`` (item text embeddings, float32 (n_items, t) L2-normalised
numpy array, or None), ``device``, ``config`` (an instance of the class's
:attr:`Recommender.Config` dataclass: the ``model:`` section of a run config,
defaults written once there) and ``seed``.

**Scoring.** ``forward() -> Embeddings``: final user vectors ``U`` (n_users, d)
and item vectors ``V`` (n_items, d) with autograd; the score of (u, i) is
``U[u] . V[i]``. :meth:`Recommender.embeddings` returns them in eval mode as
float32; evaluation, export and serving use nothing else. ``Embeddings`` also
carries the layer-0 rows the L2 term of the loss needs (``users0`` / ``items0``,
rows of (user, domain) pairs given by :meth:`Recommender.user_rows`); a forward
pass leaves no state behind.

**Ways to run** (a trainer never looks inside a model):

* full graph -- ``forward()``;
* sampled sub-graph (``supports_minibatch``) -- :meth:`Recommender.prepare_sampled`
  once, then :meth:`Recommender.forward_sampled` per PyG ``HeteroData`` batch:
  final and layer-0 rows per node type of the batch's nodes; ID tables that a
  step only gathers rows of are :meth:`Recommender.id_tables` (sparse
  gradients). Models implement both with one ``propagate`` method, which also
  serves layer-wise inference.
* simulated cold start (``supports_cold_sim``, :mod:`gnnrec.train.coldsim`):
  :meth:`Recommender.simulate_cold` switches the training-mode graph to the
  kept train rows (``None`` restores the full graph);
* multi-stage training (EMCDR-style): ``stages()`` names the stages run in
  order; before each the trainer calls ``set_stage(s)`` and builds an optimiser
  over ``stage_parameters(s)``; ``stage_batches(s, epoch, generator)`` may yield
  custom batches (None: the trainer's positive/negative sampler), and
  ``batch_loss(s, batch)`` may return a custom loss (None: the ranking loss on
  ``forward()``); ``stage_selection(s)`` may narrow the validation groups;
  ``after_training()`` runs once after the last stage;
* closed form (``trainable = False``): ``fit()`` fills buffers, no gradients.

**Capabilities** are class attributes, read by the trainer, the memory
estimator and the benchmark: ``needs_text`` / ``wants_text``, ``trainable``,
``supports_minibatch``, ``supports_cold_sim``, ``memory_family`` (activation
model of :mod:`gnnrec.graph.memory`) and ``ours`` (gnnrec's own models, tested
against the baselines in benchmark reports).

All persistent state is parameters or buffers (a safetensors checkpoint of
``state_dict()`` restores the model exactly; no pickle).

Adding a model: one module subclassing :class:`Recommender` (``name``, a
``Config`` dataclass with a comment per key, capabilities) and one line in
``gnnrec/models/registry.py``; ``tests/models/test_contract.py`` then runs it
through the shared checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterable, Iterator, NamedTuple

import numpy as np
import torch
from torch import nn

from gnnrec.data.schema import Dataset
from gnnrec.errors import GnnrecError
from gnnrec.graph import Graph
from gnnrec.models.config import ModelConfig

__all__ = ["Batch", "Embeddings", "INIT_STD", "ModelConfig", "ModelContext", "Recommender", "gather",
           "init_embedding"]

INIT_STD = 0.1      # std of the normal initialisation of every ID embedding table


@dataclass
class ModelContext:
    """Everything a model may be built from (see module docstring)."""

    ds: Dataset
    graph: Graph
    device: torch.device
    config: ModelConfig
    text: np.ndarray | None = None
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def text_tensor(self) -> torch.Tensor:
        """Item text embeddings as a float32 (n_items, t) tensor on the device."""
        if self.text is None:
            raise GnnrecError(f"model {self.config.name!r} needs item text embeddings, but dataset "
                              f"{self.ds.name!r} has none")
        return torch.as_tensor(np.ascontiguousarray(self.text), dtype=torch.float32, device=self.device)


@dataclass
class Batch:
    """Interaction batch from the trainer's sampler: (B,) int64 tensors each.

    ``neg`` is (B, n_neg) same-domain items that are not train positives of
    the user in that domain; ``weight`` multiplies the batch's loss (a
    data-parallel rank's share of the whole batch, :mod:`gnnrec.train.steps`).
    """

    users: torch.Tensor
    pos: torch.Tensor
    neg: torch.Tensor
    domain: torch.Tensor
    weight: float = 1.0


class Embeddings(NamedTuple):
    """One forward pass; ``score(u, i) = users[u] . items[i]``.

    users: (n_users, d); items: (n_items, d); users0: (n_user_rows, d0) layer-0
    user rows (row of a (user, domain) pair: :meth:`Recommender.user_rows`) and
    items0: (n_items, d0) layer-0 item rows, the rows the L2 term penalises
    (None: no L2 term).
    """

    users: torch.Tensor
    items: torch.Tensor
    users0: torch.Tensor | None = None
    items0: torch.Tensor | None = None


class Recommender(nn.Module):
    """Base class; see the module docstring for the contract."""

    name: ClassVar[str] = ""
    Config: ClassVar[type[ModelConfig]] = ModelConfig
    needs_text: ClassVar[bool] = False          # refuse datasets without item text
    wants_text: ClassVar[bool] = False          # use item text when the dataset has it
    trainable: ClassVar[bool] = True            # False: closed form (fit())
    supports_minibatch: ClassVar[bool] = False  # forward_sampled() on PyG neighbour-sampled batches
    supports_cold_sim: ClassVar[bool] = False   # simulate_cold() (train.cold_sim)
    memory_family: ClassVar[str] = "mf"         # lightgcn | hgt | mf: gnnrec.graph.memory's activation model
    ours: ClassVar[bool] = False                # gnnrec's own model (vs a baseline) in benchmark reports

    def __init__(self, ctx: ModelContext) -> None:
        super().__init__()
        self.n_users = ctx.ds.n_users
        self.n_items = ctx.ds.n_items
        self.cfg = ctx.config

    # ---- scoring ------------------------------------------------------------
    def forward(self) -> Embeddings:
        """Final vectors with autograd (and the layer-0 rows of the L2 term)."""
        raise NotImplementedError

    @torch.no_grad()
    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Final float32 (U, V) in eval mode; score(u, i) = U[u] . V[i]."""
        was = self.training
        self.eval()
        try:
            emb = self()
        finally:
            self.train(was)
        return emb.users.float(), emb.items.float()

    def user_rows(self, users: torch.Tensor, domains: torch.Tensor) -> torch.Tensor:
        """Rows of ``Embeddings.users0`` holding the (user, domain) pairs; (B,) -> (B,)."""
        return users

    def foldin_map(self) -> Any:
        """The exact linear part of the user vectors as a function of a history
        (:class:`gnnrec.export.foldin.FoldinMap`), carried by exports; None when there is none."""
        return None

    # ---- sampled sub-graphs (supports_minibatch) ------------------------------------
    def prepare_sampled(self) -> None:
        """Build what :meth:`forward_sampled` needs; raise :class:`GnnrecError` when this
        configuration has no sampled path."""
        raise GnnrecError(f"model {self.name!r} has no mini-batch path; use train.mode=full")

    def forward_sampled(self, batch: Any, sparse: bool = False
                        ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """(final rows, layer-0 rows) per node type of a sampled PyG ``HeteroData`` batch.

        ``sparse``: gather ID-table rows with sparse gradients (:meth:`id_tables`).
        """
        raise NotImplementedError

    def id_tables(self) -> list[nn.Parameter]:
        """ID embedding tables a sampled step reads only a few rows of (sparse gradients)."""
        return []

    # ---- training hooks -------------------------------------------------------
    def simulate_cold(self, keep: np.ndarray | None) -> None:
        """Train on the graph of the kept train rows (None: the full graph); see module docstring."""
        raise GnnrecError(f"model {self.name!r} does not support train.cold_sim; set train.cold_sim=0")

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
        from dataclasses import asdict

        return {"model": self.name, **{k: v for k, v in asdict(self.cfg).items() if k != "name"},
                "parameters": int(sum(p.numel() for p in self.parameters()))}


def init_embedding(n: int, dim: int, std: float = INIT_STD) -> nn.Parameter:
    """(n, dim) normal(0, std) parameter (draws from torch's global generator)."""
    return nn.Parameter(torch.randn(n, dim) * std)


def gather(table: torch.Tensor, idx: torch.Tensor, sparse: bool = False) -> torch.Tensor:
    """``table[idx]``; with ``sparse`` the table's gradient is a sparse row tensor
    (:mod:`gnnrec.train.optim`)."""
    return torch.nn.functional.embedding(idx, table, sparse=True) if sparse else table[idx]
