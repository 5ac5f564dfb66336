"""Mini-batch training: PyG LinkNeighborLoader batches, quality vs full-graph, mode choice."""

from __future__ import annotations

import json

import pytest
import torch
from torch_geometric.loader import LinkNeighborLoader
from torch_geometric.sampler import NegativeSampling

from gnnrec.data.synthetic import SynthConfig, generate
from gnnrec.errors import GnnrecError
from gnnrec.graph.hetero import build_hetero
from gnnrec.graph.sampler import TorchNeighborSampler
from gnnrec.train import RunError, resolve, train_run

SYN = SynthConfig(users=1200, items=400, edges=24_000, seed=3)


@pytest.fixture(scope="module")
def syn():
    return generate(SYN)


def _batch(data, seed: int, fanouts=(4, 2)):
    et = ("user", "interacts", "item_d1")
    sampler = TorchNeighborSampler(data, list(fanouts), seed=seed)
    torch.manual_seed(seed)
    loader = LinkNeighborLoader(data, num_neighbors=list(fanouts), edge_label_index=(et, None),
                                batch_size=64, shuffle=True, neighbor_sampler=sampler,
                                neg_sampling=NegativeSampling("triplet", 2))
    return next(iter(loader))


def test_sampled_edges_are_real_fanout_bounded_and_seeded(syn):
    ds = syn.dataset
    data = build_hetero(ds)
    b = _batch(data, seed=0)
    assert b["user"].src_index.shape == (64,) and b["item_d1"].dst_neg_index.shape == (64, 2)
    for et in b.edge_types:
        ei = b[et].edge_index
        full = data[et].edge_index
        off = {t: (0 if t == "user" else ds.item_block(t[5:]).start) for t in (et[0], et[2])}
        src = b[et[0]].n_id[ei[0]] - off[et[0]]
        dst = b[et[2]].n_id[ei[1]] - off[et[2]]
        real = set(zip(full[0].tolist(), full[1].tolist()))
        assert all(p in real for p in zip(src.tolist(), dst.tolist())), et
        assert len(set(zip(src.tolist(), dst.tolist()))) == len(src)            # no repeats
        assert torch.bincount(ei[1]).max() <= 4                                  # fan-out of hop 1
    again = _batch(data, seed=0)
    assert torch.equal(again["user"].n_id, b["user"].n_id)


def _run(tmp_path, syn, name, mode, model="cd-lightgcn", epochs=8, extra=None):
    shape = {"dim": 32, "layers": 2} if model != "mf" else {"dim": 32}
    cfg = resolve({"name": name, "dataset": "synthetic", "runs_dir": str(tmp_path), "seed": 0,
                   "model": {"name": model, **shape},
                   "train": {"epochs": epochs, "batch_size": 1024, "lr": 0.01, "patience": 50,
                             "mode": mode, "fanouts": [10, 5], "threads": 1, **(extra or {})}})
    class Feats:                                   # the synthetic text-like features
        item = syn.item_features
    return train_run(cfg, ds=syn.dataset, feats=Feats if model == "hgt" else None,
                     progress=False, export=False)


def test_minibatch_matches_full_graph_quality(tmp_path, syn):
    """Equal epochs (8): mini-batch NDCG@20 within 3% (relative) of full-graph training."""
    full = _run(tmp_path, syn, "full", "full")
    mini = _run(tmp_path, syn, "mini", "minibatch")
    events = [json.loads(line) for line in (mini.run_dir / "log.jsonl").read_text().splitlines()]
    assert any(e["event"] == "memory" and e["mode"] == "minibatch" for e in events)
    assert full.best_score > 0.05
    assert mini.best_score >= 0.97 * full.best_score, (mini.best_score, full.best_score)


def test_hgt_minibatch_trains(tmp_path, syn):
    mini = _run(tmp_path, syn, "hgt", "minibatch", model="hgt", epochs=1)
    assert mini.best_score > 0.05                 # well above random (~0.01 at 200 items)


def test_auto_mode_uses_the_estimator(tmp_path, syn, monkeypatch):
    monkeypatch.setenv("GNNREC_MEMORY_BUDGET_GB", "0.001")
    res = _run(tmp_path, syn, "auto", "auto", epochs=1)
    events = [json.loads(line) for line in (res.run_dir / "log.jsonl").read_text().splitlines()]
    mem = [e for e in events if e["event"] == "memory"][0]
    assert mem["mode"] == "minibatch" and "full-graph would need" in mem["reason"]


def test_unsupported_model_in_minibatch_mode_is_a_clear_error(tmp_path, syn):
    with pytest.raises(RunError, match="no mini-batch path"):
        _run(tmp_path, syn, "mf", "minibatch", model="mf", epochs=1)


def test_norm_exp_in_minibatch_mode_is_a_clear_error(tmp_path, syn):
    from gnnrec.train import load_config
    cfg = load_config(None, [f"runs_dir={tmp_path}", "name=g", "dataset=synthetic",
                             "model.name=cd-lightgcn", "model.norm_exp=0.3", "train.mode=minibatch",
                             "train.epochs=1"])
    with pytest.raises(GnnrecError, match="norm_exp"):
        train_run(cfg, ds=syn.dataset, progress=False, export=False)


def test_minibatch_negatives_that_are_train_positives_leave_the_loss(tmp_path, monkeypatch):
    """On a dense tiny dataset many uniform negatives are positives: exactly those are masked."""
    import gnnrec.train.steps as mb
    from gnnrec.train.sampling import NegativeSampler
    from tests.conftest import make_tiny
    from tests.train.helpers import quick_cfg

    ds = make_tiny()
    train = set(zip(ds.train["user"].tolist(), ds.train["item"].tolist()))
    seen: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
    masks: list[torch.Tensor] = []
    real_pos, real_bpr = NegativeSampler.is_positive, mb.bpr_loss

    def spy_pos(self, users, items):
        out = real_pos(self, users, items)
        seen.append((users.expand_as(items).reshape(-1), items.reshape(-1), out.reshape(-1)))
        return out

    def spy_bpr(u, p, n, neg_ok=None):
        masks.append(neg_ok)
        return real_bpr(u, p, n, neg_ok)

    monkeypatch.setattr(NegativeSampler, "is_positive", spy_pos)
    monkeypatch.setattr(mb, "bpr_loss", spy_bpr)
    train_run(quick_cfg(tmp_path, "mb", epochs=1, mode="minibatch", fanouts=[4, 4], negatives=3),
              ds=ds, progress=False, export=False)
    users = torch.cat([s[0] for s in seen]).tolist()
    items = torch.cat([s[1] for s in seen]).tolist()
    flagged = torch.cat([s[2] for s in seen]).tolist()
    assert flagged == [(u, i) in train for u, i in zip(users, items)]   # global ids, right answer
    assert 0 < sum(flagged) < len(flagged)
    assert all(m is not None for m in masks) and sum(int((~m).sum()) for m in masks) == sum(flagged)


def test_sparse_adam_minibatch_run_resumes_exactly(tmp_path, monkeypatch):
    """ID tables train with row-sparse Adam; a run killed mid-epoch resumes to the same weights."""
    import numpy as np

    from gnnrec.train.optim import CombinedOptimizer
    from gnnrec.train.steps import SampledSteps
    from tests.train.helpers import quick_cfg

    kw = dict(epochs=3, mode="minibatch", fanouts=[4, 4], batch_size=32)
    full = train_run(quick_cfg(tmp_path, "full", **kw), progress=False, export=False)
    assert full.model.user_emb.grad is None or full.model.user_emb.grad.is_sparse
    import gnnrec.train.loop as loop

    seen_opt = []
    real_opt, real_step = loop.make_optimizer, SampledSteps.loss
    calls = {"n": 0}

    def spy_opt(*a, **k):
        seen_opt.append(real_opt(*a, **k))
        return seen_opt[-1]

    def dying(self, model, parts):
        calls["n"] += 1
        if calls["n"] == 12:                               # inside epoch 2 or 3
            raise KeyboardInterrupt("killed")
        return real_step(self, model, parts)

    monkeypatch.setattr(loop, "make_optimizer", spy_opt)
    monkeypatch.setattr(SampledSteps, "loss", dying)
    cfg = quick_cfg(tmp_path, "killed", **kw)
    with pytest.raises(KeyboardInterrupt):
        train_run(cfg, progress=False, export=False)
    assert isinstance(seen_opt[0], CombinedOptimizer)
    assert isinstance(seen_opt[0].optimizers[0], torch.optim.SparseAdam)
    monkeypatch.setattr(SampledSteps, "loss", real_step)
    resumed = train_run(cfg, resume=True, progress=False, export=False)
    u1, v1 = full.model.embeddings()
    u2, v2 = resumed.model.embeddings()
    assert torch.equal(u1, u2) and torch.equal(v1, v2)
    assert np.isclose(full.best_score, resumed.best_score)


def test_combined_optimizer_state_round_trip():
    from gnnrec.train.optim import CombinedOptimizer, make_optimizer

    table, w = torch.nn.Parameter(torch.randn(10, 3)), torch.nn.Parameter(torch.randn(3))
    opt = make_optimizer([table, w], 0.1, sparse=[table])
    assert isinstance(opt, CombinedOptimizer)
    for _ in range(2):
        opt.zero_grad()
        (torch.nn.functional.embedding(torch.tensor([1, 4]), table, sparse=True).sum() * w.sum()).backward()
        opt.step()
    sd = opt.state_dict()
    assert sorted(sd["state"]) == [0, 1]
    fresh_t, fresh_w = torch.nn.Parameter(table.detach().clone()), torch.nn.Parameter(w.detach().clone())
    other = make_optimizer([fresh_t, fresh_w], 0.1, sparse=[fresh_t])
    other.load_state_dict(sd)
    assert torch.equal(other.optimizers[0].state[fresh_t]["exp_avg"], opt.optimizers[0].state[table]["exp_avg"])
    assert torch.equal(other.optimizers[1].state[fresh_w]["exp_avg_sq"], opt.optimizers[1].state[w]["exp_avg_sq"])
