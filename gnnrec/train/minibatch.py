"""Mini-batch training for graphs that do not fit: PyG ``LinkNeighborLoader`` link batches.

Mode choice (``train.mode``: ``auto`` | ``full`` | ``minibatch``) is made by
:func:`fit_with_mode` from the memory estimator (:mod:`gnnrec.graph.memory`),
which logs why; ``auto`` trains full-graph whenever the estimate fits. For
full-graph CPU runs of propagation models with ``train.threads`` unset, the
thread count is picked by timing a step (:func:`gnnrec.graph.kernels.pick_threads`).

One mini-batch step (models: the joint LightGCN family ``cd-lightgcn``,
``cd-lightgcn-text``, and ``hgt``):

1. For each domain ``d`` a ``LinkNeighborLoader`` over the train ``HeteroData``
   (:attr:`gnnrec.graph.Graph.hetero`) yields ``batch_size`` positive pairs of
   the edge type ``(user, interacts, item_d)`` with ``negatives`` "triplet"
   negatives drawn uniformly from ``item_d`` (same domain, as in full-graph
   training; a negative that is a train positive of its user is dropped from
   the loss -- PyG draws negatives before the subgraph is sampled, so they
   cannot be redrawn the way the full-graph sampler does), and the
   neighbourhood of all seeds sampled with fan-outs ``train.fanouts`` (one per
   layer, :class:`gnnrec.graph.sampler.TorchNeighborSampler`). Domain ``d``'s
   loader takes ``batch_size * pairs_d / pairs`` pairs per step, and every step
   holds one batch of every domain (loss = row-weighted mean), like a
   full-graph batch; one epoch = one pass over the distinct train pairs.
2. The model runs on the sampled subgraph only:

   * LightGCN: layer-0 rows of the subgraph's nodes, then ``layers`` rounds of
     ``x'_v = (deg_v / s_v) * sum_{sampled u->v} x_u / sqrt(deg_u deg_v)``
     (the full graph's symmetric normalisation, rescaled by the share of
     ``v``'s neighbours that were sampled, ``s_v`` of ``deg_v``, so the sum is
     an unbiased estimate of the full-graph product), final = layer mean;
     layer ``l`` only runs over the edges of hops ``<= L - l + 1`` (the nodes
     it feeds are within ``L - l`` hops of a seed; PyG's trim-to-layer idea);
   * HGT: the model's own ``HGTConv`` layers on the subgraph's
     ``edge_index_dict`` with layer-0 rows of its nodes.
3. Loss on the seed rows: BPR or sampled softmax + L2 of their layer-0 rows
   (as in full-graph training); an Adam step. The ID embedding tables get
   sparse gradients and a row-sparse ("lazy") Adam (:mod:`gnnrec.train.optim`),
   so a step costs O(rows it touches), not O(all nodes); under DDP they stay
   dense (gradients are all-reduced dense).

Evaluation uses layer-wise full inference: every layer is computed for all
nodes before the next (LightGCN: one sparse product per layer; HGT:
:func:`hgt_layerwise`, each layer over destination-node chunks of
``chunk`` nodes), so no neighbourhood is sampled at test time.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from gnnrec.data.schema import Dataset
from gnnrec.graph.memory import (DeviceOOM, GraphSize, device_budget, estimate, log_decision,
                                 oom_guard)
from gnnrec.graph.sampler import TorchNeighborSampler
from gnnrec.models.base import Recommender
from gnnrec.train.context import RunError
from gnnrec.train.losses import bpr_loss, l2_penalty, softmax_loss
from gnnrec.train.trainer import Trainer

log = logging.getLogger(__name__)

USER = "user"
SUPPORTED = ("cd-lightgcn", "cd-lightgcn-text", "hgt")


def _rows(table: Tensor, idx: Tensor, sparse: bool) -> Tensor:
    """``table[idx]``; with ``sparse`` the table's gradient is a sparse row tensor
    (:mod:`gnnrec.train.optim`)."""
    return F.embedding(idx, table, sparse=True) if sparse else table[idx]


def id_tables(model: Recommender) -> list[nn.Parameter]:
    """The ID embedding tables a mini-batch step reads only a few rows of."""
    names = ("user0", "item_id") if model.name == "hgt" else ("user_emb", "item_emb")
    return [t for t in (getattr(model, n, None) for n in names) if isinstance(t, nn.Parameter)]


def _lightgcn_rows(model: Recommender, uid: Tensor, iid: Tensor,
                   sparse: bool = False) -> tuple[Tensor, Tensor]:
    """Layer-0 rows of users ``uid`` and global items ``iid`` of a LightGCN-family model."""
    u = (_rows(model.user_emb, uid, sparse) if model.user_emb is not None
         else torch.zeros(len(uid), model.dim, device=uid.device))
    if model.uses_text and model.cfg["user_text"]:
        u = u + model.user_proj(model.user_text[uid])
    if not model.uses_text:
        return u, _rows(model.item_emb, iid, sparse)
    if len(model.item_proj) == 1:
        i = model.item_proj[0](model.text[iid])
    else:
        dom = model.item_domain[iid]
        i = torch.zeros(len(iid), model.dim, device=uid.device, dtype=model.text.dtype)
        for d, proj in enumerate(model.item_proj):
            m = (dom == d).nonzero(as_tuple=True)[0]
            i = i.index_put((m,), proj(model.text[iid[m]]))
    if model.term_bag is not None:
        i = i + model.term_bag(iid)
    if model.item_emb is not None:
        i = i + _rows(model.item_emb, iid, sparse) * model.item_id_mask[iid]
    return u, i


def _hgt_rows(model: Recommender, t: str, gid: Tensor, sparse: bool = False) -> Tensor:
    """Layer-0 rows of node type ``t`` (global ids ``gid``) of an HGT model."""
    if t == USER:
        return _rows(model.user0, gid, sparse)
    if not model.use_text:
        return _rows(model.item_id, gid, sparse)
    x = model.proj[t](model.text[gid])
    if model.item_id is None:
        return x
    return x + _rows(model.item_id, gid, sparse) * model.item_id_mask[gid]


class SubgraphModel:
    """Runs a supported model on one sampled ``HeteroData`` batch (module docstring, step 2)."""

    def __init__(self, model: Recommender, ds: Dataset, graph) -> None:
        if model.name not in SUPPORTED:
            raise RunError(f"train.mode=minibatch supports {list(SUPPORTED)}, not {model.name!r}; "
                           f"train it with train.mode=full")
        if model.cfg.get("pop_bias"):
            raise RunError("model.pop_bias has no mini-batch path; use train.mode=full")
        if float(model.cfg.get("norm_exp", 0.5)) != 0.5:
            raise RunError(f"model.norm_exp={model.cfg['norm_exp']} has no mini-batch path (sampled "
                           f"subgraphs use LightGCN's D^-1/2 A D^-1/2); use train.mode=full or "
                           f"model.norm_exp=0.5")
        self.model = model
        self.sparse = False        # ID-table rows with sparse gradients (MiniBatchTrainer sets it)
        self.kind = "hgt" if model.name == "hgt" else "lightgcn"
        self.item_types = [f"item_{d}" for d in ds.domains]
        dev = next(model.parameters()).device
        tr = ds.train
        pairs = torch.unique(torch.as_tensor(tr["user"].to_numpy() * ds.n_items + tr["item"].to_numpy()))
        self.deg_user = torch.bincount(pairs // ds.n_items, minlength=ds.n_users).float().to(dev)
        self.deg_item = torch.bincount(pairs % ds.n_items, minlength=ds.n_items).float().to(dev)

    def __call__(self, b) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """(final rows per node type, layer-0 rows per node type) for the batch's nodes."""
        if self.kind == "hgt":
            return self._hgt(b)
        return self._lightgcn(b)

    def _lightgcn(self, b) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        m = self.model
        types = [USER] + self.item_types
        n_id = {t: b[t].n_id for t in types}
        off, n = {}, 0
        for t in types:
            off[t], n = n, n + len(n_id[t])
        items = torch.cat([n_id[t] for t in self.item_types])
        u0, i0 = _lightgcn_rows(m, n_id[USER], items, self.sparse)
        x = torch.cat([u0, i0])
        deg = torch.cat([self.deg_user[n_id[USER]], self.deg_item[items]])
        layers = m.layers
        # edges grouped by the hop that sampled them (hop h: destinations at distance h-1)
        src, dst, hop = [], [], []
        for et in b.edge_types:
            ei = b[et].edge_index
            counts = b[et].get("num_sampled_edges")
            src.append(ei[0] + off[et[0]])
            dst.append(ei[1] + off[et[2]])
            hop.append(torch.repeat_interleave(torch.arange(1, len(counts) + 1, device=ei.device),
                                               torch.as_tensor(counts, device=ei.device))
                       if counts is not None else torch.ones(ei.shape[1], dtype=torch.long,
                                                             device=ei.device))
        src_t, dst_t, hop_t = torch.cat(src), torch.cat(dst), torch.cat(hop)
        sampled = torch.bincount(dst_t, minlength=n).float().clamp_min(1)
        val = (deg[dst_t] / deg[src_t].clamp_min(1)).sqrt() / sampled[dst_t]
        w = m.layer_weights or [1.0 / (layers + 1)] * (layers + 1)
        out, h = x * w[0], x
        for layer, wl in enumerate(w[1:], start=1):
            # layer l is only needed at nodes within L - l hops of a seed (PyG's trim-to-layer)
            keep = (hop_t <= layers - layer + 1).nonzero(as_tuple=True)[0]
            s_l, d_l = src_t[keep], dst_t[keep]
            h = torch.zeros_like(h).index_add(0, d_l, h[s_l] * val[keep, None])
            out = out + wl * h
        final = {t: out[off[t]:off[t] + len(n_id[t])] for t in types}
        layer0 = {t: x[off[t]:off[t] + len(n_id[t])] for t in types}
        return final, layer0

    def _hgt(self, b) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        m = self.model
        h = {t: _hgt_rows(m, t, b[t].n_id, self.sparse) for t in m.node_types}
        layer0 = dict(h)
        edges = {et: b[et].edge_index for et in m.edge_types}
        outs = [h]
        for conv in m.convs:
            new = conv({k: m.dropout(v) for k, v in h.items()}, edges)
            h = {k: (new.get(k) if new.get(k) is not None else h[k]) for k in m.node_types}
            outs.append(h)
        if m.cfg["combine"] == "mean":
            h = {k: torch.stack([o[k] for o in outs]).mean(0) for k in m.node_types}
        return h, layer0


@torch.no_grad()
def hgt_layerwise(model: Recommender, chunk: int = 1 << 18) -> tuple[Tensor, Tensor]:
    """HGT embeddings by layer-wise full inference (every neighbour, no sampling).

    Layer ``l`` is computed for all nodes from layer ``l-1`` of all nodes; the
    destination nodes of each type are processed in chunks of ``chunk`` (only
    the in-edges of a chunk are passed to the conv), bounding the per-edge
    attention tensors to one chunk's edges.
    """
    was = model.training
    model.eval()
    try:
        items = model.item_input()
        h = {USER: model.user0, **{t: items[b] for t, b in zip(model.item_types, model.blocks)}}
        all_edges = model.edge_index_dict()
        outs = [h]
        for conv in model.convs:
            new = {k: v.clone() for k, v in h.items()}
            for t in model.node_types:
                n_t = h[t].shape[0]
                for a in range(0, n_t, chunk):
                    z = min(a + chunk, n_t)
                    sub = {}
                    for et, ei in all_edges.items():
                        keep = (ei[1] >= a) & (ei[1] < z) if et[2] == t else torch.zeros(
                            ei.shape[1], dtype=torch.bool, device=ei.device)
                        sub[et] = ei[:, keep]
                    res = conv(h, sub).get(t)
                    if res is not None:
                        new[t][a:z] = res[a:z]
            h = new
            outs.append(h)
        if model.cfg["combine"] == "mean":
            h = {k: torch.stack([o[k] for o in outs]).mean(0) for k in model.node_types}
        return h[USER].float(), torch.cat([h[t] for t in model.item_types], 0).float()
    finally:
        model.train(was)


class MiniBatchTrainer(Trainer):
    """:class:`gnnrec.train.trainer.Trainer` whose epochs are neighbour-sampled link batches.

    Early stopping, checkpoints, resume and logging are the parent's; only the
    epoch loop differs (module docstring). HGT's ``embeddings()`` is served by
    :func:`hgt_layerwise` in this mode.
    """

    def __init__(self, model: Recommender, ds: Dataset, cfg: dict[str, Any], run_dir, device,
                 progress: bool = True, graph=None, shard: tuple[int, int] = (0, 1)) -> None:
        if float(cfg["train"]["cold_sim"]) > 0:
            raise RunError(f"train.cold_sim={cfg['train']['cold_sim']} rebuilds the full graph each "
                           f"epoch and has no mini-batch path; use train.mode=full or train.cold_sim=0")
        super().__init__(model, ds, cfg, run_dir, device, progress)
        from torch_geometric.loader import LinkNeighborLoader
        from torch_geometric.sampler import NegativeSampling

        graph = graph if graph is not None else model_graph(model, ds, device)
        self.sub = SubgraphModel(model, ds, graph)
        from gnnrec.train import distributed
        if shard[1] == 1 and not distributed.active():   # DDP all-reduces dense gradients only
            self.sub.sparse = True
            self.sparse_tables = id_tables(model)
        data = graph.hetero
        fanouts = [int(f) for f in (self.t.get("fanouts") or [10, 5, 5])]
        layers = int(model.cfg.get("layers", len(fanouts)))
        if len(fanouts) < layers:
            raise RunError(f"train.fanouts {fanouts} gives {len(fanouts)} hops but the model has "
                           f"{layers} layers; give one fan-out per layer, e.g. "
                           f"train.fanouts={[10] + [5] * (layers - 1)}")
        self.fanouts = fanouts[:layers]
        self.sampler = TorchNeighborSampler(data, self.fanouts, seed=int(cfg["seed"]))
        self.loaders, self.loader_types = [], []
        rank, size = shard
        ets = [(USER, "interacts", t) for t in self.sub.item_types]
        n_all = sum(int(data[et].edge_index.shape[1]) for et in ets)
        for et in ets:
            pairs = data[et].edge_index
            n = (pairs.shape[1] // size) * size            # equal shards -> equal step counts
            if n == 0:
                continue
            # every step holds every domain, in proportion to its pairs (as full-graph batches do)
            bs = max(1, round(int(self.t["batch_size"]) * pairs.shape[1] / n_all))
            self.loader_types.append(et[2])
            self.loaders.append(LinkNeighborLoader(
                data, num_neighbors=self.fanouts,
                edge_label_index=(et, pairs if size == 1 else pairs[:, rank:n:size]),
                batch_size=bs, shuffle=True,
                neg_sampling=NegativeSampling("triplet", int(self.t["negatives"])),
                neighbor_sampler=self.sampler))
        if model.name == "hgt":
            model.embeddings = lambda: hgt_layerwise(model)      # instance override (eval only)

    def _run_epoch(self, stage: str, si: int, epoch: int, opt: torch.optim.Optimizer,
                   bar_post: str) -> tuple[float, int]:
        seed = int(self.cfg["seed"])
        torch.manual_seed(seed * 7919 + si * 101 + epoch)         # loader shuffles, negatives
        self.sampler.generator.manual_seed(seed * 1_000_003 + epoch)
        self.model.train()
        its = [iter(ld) for ld in self.loaders]
        n_steps = max(len(ld) for ld in self.loaders)
        total, pairs = 0.0, 0
        bar = tqdm(range(n_steps), desc=f"{stage} epoch {epoch} (mini-batch)", leave=False,
                   disable=not self.progress, mininterval=1.0)
        for step in bar:
            parts = [(b.to(self.device), t) for it, t in zip(its, self.loader_types)
                     if (b := next(it, None)) is not None]
            loss, n = self._step_loss(parts)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach())
            pairs += n
            bar.set_postfix_str(f"loss {total / (step + 1):.4f}{bar_post}", refresh=False)
        bar.close()
        return total / max(n_steps, 1), pairs

    def _step_loss(self, parts: list) -> tuple[Tensor, int]:
        """Loss of one step: ``parts`` = [(sampled batch, item type of its positives)], one per domain."""
        return self.subgraph_loss(parts)

    def subgraph_loss(self, parts: list) -> tuple[Tensor, int]:
        """Row-weighted mean of the domain batches' losses (= the mean over all the step's rows)."""
        losses, sizes = [], []
        for b, item_t in parts:
            final, layer0 = self.sub(b)
            ui = b[USER].src_index
            pi = b[item_t].dst_pos_index
            ni = b[item_t].dst_neg_index
            if ni.dim() == 1:
                ni = ni[:, None]
            u, p, n = final[USER][ui], final[item_t][pi], final[item_t][ni]
            ok = ~self.neg.is_positive(b[USER].n_id[ui][:, None], b[item_t].n_id[ni])
            if self.t["loss"] == "bpr":
                loss = bpr_loss(u, p, n, ok)
            else:
                loss = softmax_loss(u, p, n, float(self.t["temperature"]), neg_ok=ok)
            reg = l2_penalty([layer0[USER][ui], layer0[item_t][pi], layer0[item_t][ni]], len(ui))
            losses.append(loss.float() + float(self.t["reg"]) * reg.float())
            sizes.append(len(ui))
        total = sum(sizes)
        return sum(l * (n / total) for l, n in zip(losses, sizes)), total


def model_graph(model: Recommender, ds: Dataset, device):
    """The :class:`gnnrec.graph.Graph` of a run (built anew when the model keeps none)."""
    from gnnrec.graph import Graph

    return Graph(ds, device=device)


def graph_size(model: Recommender, ds: Dataset, cfg: dict[str, Any], text_dim: int = 0) -> GraphSize:
    t = cfg["train"]
    return GraphSize(users=ds.n_users, items=ds.n_items, edges=len(ds.train),
                     dim=int(model.cfg.get("dim", 64)), layers=int(model.cfg.get("layers", 0) or 0),
                     batch_size=int(t["batch_size"]), negatives=int(t["negatives"]),
                     text_dim=text_dim, model=model.name,
                     fanouts=tuple(int(f) for f in (t.get("fanouts") or [10, 5, 5])))


TUNE_MIN_ROWS = 100_000          # graphs below this train with the configured thread count


def _tune_threads(model: Recommender, ds: Dataset, cfg: dict[str, Any], device) -> None:
    """``train.threads`` unset, CPU, big enough graph: time a propagation step at 1 vs all threads.

    On a busy machine one thread is often several times faster than two (spinning
    OpenMP barriers); the choice is logged. Set ``train.threads`` to fix it (e.g.
    for bit-identical reruns on another machine or load).
    """
    if (cfg["train"].get("threads") is not None or torch.device(device).type != "cpu"
            or len(ds.train) < TUNE_MIN_ROWS or model.name not in SUPPORTED + ("lightgcn",
                                                                             "lightgcn-text")):
        return
    from gnnrec.graph.kernels import pick_threads

    def step() -> None:
        users, items = model()
        (users.square().mean() + items.square().mean()).backward()

    model.train()
    pick_threads(step)
    model.zero_grad(set_to_none=True)


def fit_with_mode(model: Recommender, ds: Dataset, cfg: dict[str, Any], run_dir, device,
                  progress: bool, resume: bool, graph=None, logger=None) -> float:
    """Pick full-graph or mini-batch training (estimator), train, answer OOM with advice."""
    text = getattr(model, "text", None)
    size = graph_size(model, ds, cfg, int(text.shape[1]) if isinstance(text, Tensor) else 0)
    est = estimate(size, device_budget(device), str(cfg["train"].get("mode") or "full"))
    if est.mode == "minibatch" and model.name not in SUPPORTED:
        if cfg["train"].get("mode") == "minibatch":
            raise RunError(f"train.mode=minibatch supports {list(SUPPORTED)}, not {model.name!r}")
        log.warning("memory: %s, but %r has no mini-batch path: training full-graph", est.reason,
                    model.name)
        est = estimate(size, est.budget_bytes, "full")
    log_decision(est)
    if est.mode == "full":
        _tune_threads(model, ds, cfg, device)
    if logger is not None:
        logger("memory", mode=est.mode, reason=est.reason, full_gib=round(est.full_bytes / 2**30, 3),
               minibatch_gib=round(est.minibatch_bytes / 2**30, 3),
               budget_gib=round(est.budget_bytes / 2**30, 3), threads=torch.get_num_threads())
    from gnnrec.train import distributed

    try:
        with oom_guard(est, device):
            if distributed.active():
                trainer = distributed.make_trainer(est.mode, model, ds, cfg, run_dir, device,
                                                   progress, graph)
            elif est.mode == "minibatch":
                trainer = MiniBatchTrainer(model, ds, cfg, run_dir, device, progress, graph=graph)
            else:
                trainer = Trainer(model, ds, cfg, run_dir, device, progress)
            return trainer.fit(resume)
    except DeviceOOM as e:
        raise RunError(str(e)) from None

