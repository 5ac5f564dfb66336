"""What one training step computes: full-graph steps and neighbour-sampled (mini-batch) steps.

The loop (:mod:`gnnrec.train.loop`) is the same for both; it asks a step
source for an epoch of step inputs and for each input's loss:

* :class:`FullGraphSteps` -- the positive sampler orders the train rows, each
  batch of ``batch_size`` rows gets ``negatives`` same-domain negatives that are
  not train positives of the user, and one full propagation ``model()``
  serves the batch (with ``train.cold_sim`` the epoch's graph hides one domain
  of some bridge users: :mod:`gnnrec.train.coldsim`). Multi-stage models may
  supply their own batches and losses (``stage_batches`` / ``batch_loss``).
* :class:`SampledSteps` -- for each domain ``d`` a PyG ``LinkNeighborLoader``
  over the train ``HeteroData`` yields ``batch_size * pairs_d / pairs``
  positive pairs of ``(user, interacts, item_d)`` with ``negatives`` "triplet"
  negatives drawn uniformly from ``item_d`` (a negative that is a train
  positive of its user is dropped from the loss -- PyG draws negatives before
  the sub-graph is sampled, so they cannot be redrawn), and the neighbourhood
  of all seeds sampled with fan-outs ``train.fanouts``
  (:class:`gnnrec.graph.sampler.TorchNeighborSampler`). Every step holds one
  batch of every domain (loss = row-weighted mean), like a full-graph batch;
  one epoch is one pass over the distinct train pairs. The model runs on the
  sub-graph only (:meth:`gnnrec.models.Recommender.forward_sampled`); its ID
  tables get sparse gradients and a row-sparse Adam (:mod:`gnnrec.train.optim`),
  so a step costs O(rows it touches).

**Schedule.** Full-graph steps cost one propagation over every edge each, so
with a fixed batch an epoch costs (#steps ~ edges) x (one propagation ~
edges): quadratic in the graph. When ``train.mode: auto`` resolves to
full-graph, :func:`full_graph_schedule` caps an epoch at :data:`FULL_STEPS`
steps -- the batch grows to ``ceil(train rows / FULL_STEPS)`` when the
configured one would need more -- and scales the learning rate linearly with
the batch ratio, at most :data:`LR_SCALE_MAX` times, so an epoch costs
O(edges) and moves the embeddings about as far as the configured schedule.
Measured on ML-1M-CD (experiments/scale_schedule.py, results/scale_schedule/):
at 4x and 8x the batch, the linear rule tracks or beats the default's valid
NDCG@20 at every epoch (40 epochs: 0.2692 and 0.2686 vs 0.2631), while the
square-root rule advised for Adam (Malladi et al. 2022) lags (0.2469, 0.2328)
and an unchanged rate stalls (0.2180, 0.1993). Larger ratios were not
measured, hence the cap. Every shipped config is within the cap
(ML-1M-CD: 31 steps of 16,384) but amazon-ao's flagship, which was selected at 38 steps
and pins ``train.mode: full``; that mode keeps the configured batch
and learning rate. The curve behind the rule: experiments/README.md (scale).

Loss of a step: BPR or sampled softmax on the rows + ``reg`` times the L2 of
their layer-0 rows / batch size. All randomness of epoch ``e`` of stage ``s``
comes from generators seeded by (seed, s, e), so a resumed run replays exactly.

Data parallel (``torchrun``; :mod:`gnnrec.train.distributed`): with
``shard = (rank, world)`` a full-graph rank draws the same batch as every other
rank and keeps rows ``rank::world`` (its loss weighted ``world * rows_r / rows``,
so the averaged gradient is the single-process one); a sampled rank owns the
pairs ``rank::world`` of every domain and draws ``batch_size / world`` per step.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from gnnrec.data.schema import Dataset
from gnnrec.train.context import RunError
from gnnrec.models.base import Batch, Recommender
from gnnrec.train.coldsim import ColdStartSimulator
from gnnrec.train.config import RunConfig
from gnnrec.train.losses import bpr_loss, l2_penalty, softmax_loss
from gnnrec.train.sampling import NegativeSampler, PositiveSampler

USER = "user"
FULL_STEPS = 32       # most full-graph steps per epoch that train.mode=auto schedules (module docstring)
LR_SCALE_MAX = 8.0    # the largest batch ratio whose linear lr rule was measured (module docstring)


@dataclass(frozen=True)
class Schedule:
    """The batch (positive rows per step) and Adam learning rate a run trains with."""

    batch: int
    lr: float
    note: str = ""


def full_graph_schedule(cfg: RunConfig, rows: int) -> Schedule:
    """``train.batch_size``/``lr``, or, under ``train.mode: auto`` when that batch needs more than
    :data:`FULL_STEPS` steps for ``rows`` train rows, batch ``ceil(rows / FULL_STEPS)`` and the
    learning rate times ``min(batch / batch_size, LR_SCALE_MAX)`` (module docstring)."""
    t = cfg.train
    grown = math.ceil(rows / FULL_STEPS)
    if t.mode != "auto" or grown <= t.batch_size:
        return Schedule(t.batch_size, t.lr)
    lr = t.lr * min(grown / t.batch_size, LR_SCALE_MAX)
    return Schedule(grown, lr, f"{rows} train rows: batch {t.batch_size} -> {grown} ({FULL_STEPS} full-graph "
                               f"steps per epoch), lr {t.lr:g} -> {lr:.4g} (linear rule, at most x{LR_SCALE_MAX:g}); "
                               f"train.mode=full keeps the configured batch")


def epoch_generator(seed: int, stage: int, epoch: int, device: torch.device) -> torch.Generator:
    """The generator of every draw of one epoch (seeded by seed, stage index, epoch)."""
    g = torch.Generator(device=device)
    g.manual_seed(seed * 1_000_003 + stage * 10_007 + epoch)
    return g


def _seed_model(seed: int, stage: int, epoch: int) -> None:
    """Seed torch's global generator: model-internal randomness (DropEdge, loader shuffles)."""
    torch.manual_seed(seed * 7919 + stage * 101 + epoch)


def _ranking_loss(cfg: RunConfig, u: Tensor, p: Tensor, n: Tensor, ok: Tensor | None = None) -> Tensor:
    t = cfg.train
    if t.loss == "bpr":
        return bpr_loss(u, p, n, ok)
    return softmax_loss(u, p, n, t.temperature, neg_ok=ok)


class FullGraphSteps:
    """Batches of train rows; every step propagates over the whole graph (module docstring)."""

    sparse = False        # ID tables get dense gradients
    find_unused = False   # DDP: every step uses every trainable parameter

    def __init__(self, model: Recommender, ds: Dataset, cfg: RunConfig, device: torch.device,
                 shard: tuple[int, int] = (0, 1)) -> None:
        self.model, self.cfg, self.device, self.shard = model, cfg, device, shard
        self.pos = PositiveSampler(ds, device)
        self.schedule = full_graph_schedule(cfg, len(self.pos.users))
        self.neg = NegativeSampler(ds, device)
        self.amp = cfg.train.amp and device.type == "cuda"
        self.cold_sim: ColdStartSimulator | None = None
        if cfg.train.cold_sim > 0:
            if not model.supports_cold_sim:
                raise RunError(f"train.cold_sim={cfg.train.cold_sim}: model {model.name!r} does not "
                                  f"support simulated cold start (cd-lightgcn and cd-lightgcn-text do); "
                                  f"set train.cold_sim=0")
            self.cold_sim = ColdStartSimulator(ds, cfg.train.cold_sim)

    def epoch(self, stage: str, si: int, epoch: int) -> tuple[Iterator[Any], int | None]:
        """(the epoch's step inputs, their number or None when the stage brings its own)."""
        gen = epoch_generator(self.cfg.seed, si, epoch, self.device)
        _seed_model(self.cfg.seed, si, epoch)
        self.model.train()
        if self.cold_sim is not None:
            self.model.simulate_cold(self.cold_sim.keep_mask(gen))
        custom = self.model.stage_batches(stage, epoch, gen)
        if custom is not None:
            return self._restoring(custom), None
        order = self.pos.epoch_order(gen)
        bs = self.schedule.batch
        steps = math.ceil(len(order) / bs)
        return self._restoring(self._batch(order[i * bs:(i + 1) * bs], gen) for i in range(steps)), steps

    def _restoring(self, batches) -> Iterator[Any]:
        """``batches``, then the full graph back (simulated cold start ends with the epoch)."""
        try:
            yield from batches
        finally:
            if self.cold_sim is not None:
                self.model.simulate_cold(None)

    def _batch(self, rows: Tensor, gen: torch.Generator) -> Batch:
        users, doms = self.pos.users[rows], self.pos.domains[rows]
        b = Batch(users=users, pos=self.pos.items[rows], domain=doms,
                  neg=self.neg.sample(users, doms, self.cfg.train.negatives, gen))
        rank, world = self.shard
        if world == 1:
            return b
        mine = torch.arange(rank, len(rows), world, device=rows.device)   # the same draw on every rank
        return Batch(users=b.users[mine], pos=b.pos[mine], neg=b.neg[mine], domain=b.domain[mine],
                     weight=world * len(mine) / max(len(rows), 1))

    def loss(self, model: Recommender, b: Batch) -> tuple[Tensor, int]:
        """(ranking loss + L2 of the batch's layer-0 rows, rows) of one full propagation."""
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            emb = model()
            loss = _ranking_loss(self.cfg, emb.users[b.users], emb.items[b.pos], emb.items[b.neg])
            rows = [] if emb.users0 is None else [emb.users0[model.user_rows(b.users, b.domain)],
                                                  emb.items0[b.pos], emb.items0[b.neg]]
            reg = l2_penalty(rows, len(b.users))
        return (loss.float() + self.cfg.train.reg * reg.float()) * b.weight, len(b.users)


class SampledSteps:
    """Neighbour-sampled link batches, one per domain per step (module docstring)."""

    def __init__(self, model: Recommender, ds: Dataset, cfg: RunConfig, graph, device: torch.device,
                 shard: tuple[int, int] = (0, 1)) -> None:
        from torch_geometric.loader import LinkNeighborLoader
        from torch_geometric.sampler import NegativeSampling

        from gnnrec.graph.sampler import TorchNeighborSampler

        t = cfg.train
        if t.cold_sim > 0:
            raise RunError(f"train.cold_sim={t.cold_sim} rebuilds the full graph each epoch and has "
                              f"no mini-batch path; use train.mode=full or train.cold_sim=0")
        if not model.supports_minibatch:
            raise RunError(f"train.mode=minibatch: model {model.name!r} has no mini-batch path; "
                              f"train it with train.mode=full")
        model.prepare_sampled()
        self.model, self.cfg, self.device = model, cfg, device
        self.schedule = Schedule(t.batch_size, t.lr)
        self.neg = NegativeSampler(ds, device)
        rank, world = shard
        self.sparse = world == 1                 # DDP all-reduces dense gradients only
        self.find_unused = True                  # DDP: a step may lack a domain whose last batch came early
        layers = int(getattr(model.cfg, "layers", len(t.fanouts)))
        if len(t.fanouts) < layers:
            raise RunError(f"train.fanouts {t.fanouts} gives {len(t.fanouts)} hops but the model has "
                              f"{layers} layers; give one fan-out per layer, e.g. "
                              f"train.fanouts={[10] + [5] * (layers - 1)}")
        self.fanouts = list(t.fanouts[:layers])
        data = graph.hetero
        self.sampler = TorchNeighborSampler(data, self.fanouts, seed=cfg.seed)
        batch_size = max(1, t.batch_size // world)
        self.item_types = [f"item_{d}" for d in ds.domains]
        ets = [(USER, "interacts", it) for it in self.item_types]
        n_all = sum(int(data[et].edge_index.shape[1]) for et in ets)
        self.loaders, self.loader_types = [], []
        for et in ets:
            pairs = data[et].edge_index
            n = (pairs.shape[1] // world) * world            # equal shards -> equal step counts
            if n == 0:
                continue
            # every step holds every domain, in proportion to its pairs (as full-graph batches do)
            bs = max(1, round(batch_size * pairs.shape[1] / n_all))
            self.loader_types.append(et[2])
            self.loaders.append(LinkNeighborLoader(
                data, num_neighbors=self.fanouts,
                edge_label_index=(et, pairs if world == 1 else pairs[:, rank:n:world]),
                batch_size=bs, shuffle=True, neg_sampling=NegativeSampling("triplet", t.negatives),
                neighbor_sampler=self.sampler))

    def epoch(self, stage: str, si: int, epoch: int) -> tuple[Iterator[Any], int]:
        """(the epoch's steps: lists of (sampled batch, item type of its positives), their number)."""
        _seed_model(self.cfg.seed, si, epoch)                         # loader shuffles, negatives
        self.sampler.generator.manual_seed(self.cfg.seed * 1_000_003 + epoch)
        self.model.train()
        its = [iter(ld) for ld in self.loaders]
        n_steps = max(len(ld) for ld in self.loaders)

        def steps() -> Iterator[list]:
            for _ in range(n_steps):
                yield [(b.to(self.device), t) for it, t in zip(its, self.loader_types)
                       if (b := next(it, None)) is not None]
        return steps(), n_steps

    def loss(self, model: Recommender, parts: list) -> tuple[Tensor, int]:
        """Row-weighted mean of the domain batches' losses (= the mean over all the step's rows)."""
        losses, sizes = [], []
        for b, item_t in parts:
            final, layer0 = model.forward_sampled(b, self.sparse)
            ui, pi, ni = b[USER].src_index, b[item_t].dst_pos_index, b[item_t].dst_neg_index
            if ni.dim() == 1:
                ni = ni[:, None]
            ok = ~self.neg.is_positive(b[USER].n_id[ui][:, None], b[item_t].n_id[ni])
            loss = _ranking_loss(self.cfg, final[USER][ui], final[item_t][pi], final[item_t][ni], ok)
            reg = l2_penalty([layer0[USER][ui], layer0[item_t][pi], layer0[item_t][ni]], len(ui))
            losses.append(loss.float() + self.cfg.train.reg * reg.float())
            sizes.append(len(ui))
        total = sum(sizes)
        return sum(loss * (n / total) for loss, n in zip(losses, sizes)), total
