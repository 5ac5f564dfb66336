"""The model contract, run over every registered model (gnnrec.models.base).

Shapes, finiteness, inner-product scores, no state left behind by a forward
pass, the layer-0 rows of the L2 term, config keys with a comment each, and --
where a model supports mini-batches -- equality of the sub-graph path with the
full graph when every neighbour is sampled.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from gnnrec.models import MODELS, build_model, model_class
from gnnrec.models.base import Embeddings, Recommender
from gnnrec.utils.config import comments
from tests.helpers import model_ctx

SMALL = {"dim": 8, "layers": 2}           # where a model has these keys


pytestmark = pytest.mark.usefixtures("one_thread")


def _model(ds, name: str, **cfg) -> Recommender:
    keys = {f.name for f in dataclasses.fields(model_class(name).Config)}
    kw = {k: v for k, v in SMALL.items() if k in keys}
    if name == "emcdr":
        kw["min_bridge"] = 2
    torch.manual_seed(0)
    m = build_model(model_ctx(ds, name, **kw, **cfg))
    if not m.trainable:
        m.fit()
    return m


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_keeps_the_contract(name, tiny):
    cls = model_class(name)
    assert cls.name == name and cls.memory_family in ("lightgcn", "hgt", "mf")
    notes = comments(cls.Config)
    assert all(f.name in notes for f in dataclasses.fields(cls.Config)), "every key needs a # comment"
    m = _model(tiny, name)
    state = dict(vars(m))
    emb = m()
    assert isinstance(emb, Embeddings)
    assert vars(m).keys() == state.keys(), "forward() must not leave attributes behind"
    u, v = m.embeddings()
    assert u.shape[0] == tiny.n_users and v.shape[0] == tiny.n_items and u.shape[1] == v.shape[1]
    assert u.dtype == v.dtype == torch.float32 and torch.isfinite(u).all() and torch.isfinite(v).all()
    m.eval()
    again = m()
    torch.testing.assert_close(again.users.float() @ again.items.float().T, u @ v.T)   # score = U . V
    u2, v2 = m.embeddings()
    assert torch.equal(u, u2) and torch.equal(v, v2), "embeddings() is deterministic in eval mode"
    if m.trainable:
        m.train()
        emb = m()
        users, doms = torch.tensor([0, 5, 7]), torch.tensor([0, 1, 0])
        rows = m.user_rows(users, doms)
        assert emb.users0 is not None and emb.items0 is not None
        assert emb.users0[rows].shape[0] == 3 and emb.items0.shape[0] == tiny.n_items
        loss = emb.users[users].sum() + emb.items.sum() + emb.users0[rows].square().sum()
        loss.backward()
        assert any(p.grad is not None for p in m.parameters())


def _sampled_batch(ds, graph, layers: int, seed: int = 0):
    from torch_geometric.loader import LinkNeighborLoader
    from torch_geometric.sampler import NegativeSampling

    from gnnrec.graph.sampler import TorchNeighborSampler

    data = graph.hetero
    et = ("user", "interacts", f"item_{ds.domains[1]}")
    sampler = TorchNeighborSampler(data, [-1] * layers, seed=seed)
    torch.manual_seed(seed)
    loader = LinkNeighborLoader(data, num_neighbors=[-1] * layers, edge_label_index=(et, None),
                                batch_size=16, shuffle=True, neighbor_sampler=sampler,
                                neg_sampling=NegativeSampling("triplet", 2))
    return next(iter(loader)), et[2]


@pytest.mark.parametrize("name", [n for n in MODELS if model_class(n).supports_minibatch])
def test_sampled_subgraph_equals_the_full_graph_with_every_neighbour(name, tiny):
    """A sampled step with fan-out -1 (all neighbours) gives the seeds their full-graph rows."""
    from gnnrec.graph import Graph

    m = _model(tiny, name).eval()
    m.prepare_sampled()
    batch, item_t = _sampled_batch(tiny, Graph(tiny), m.cfg.layers)
    with torch.no_grad():
        full = m()
        final, layer0 = m.forward_sampled(batch)
    ui, pi = batch["user"].src_index, batch[item_t].dst_pos_index
    users, items = batch["user"].n_id[ui], batch[item_t].n_id[pi]
    torch.testing.assert_close(final["user"][ui], full.users[users], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(final[item_t][pi], full.items[items], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(layer0["user"][ui], full.users0[users])
    torch.testing.assert_close(layer0[item_t][pi], full.items0[items])
    assert all(t.requires_grad for t in m.id_tables())
