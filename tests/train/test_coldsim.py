"""Simulated cross-domain cold start (train.cold_sim): the mask, the epoch graph, the rules."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gnnrec.models.registry import build_model
from gnnrec.train import RunError, train_run
from gnnrec.train.coldsim import ColdStartSimulator
from gnnrec.train.config import ConfigError
from tests.conftest import make_tiny
from tests.helpers import model_ctx
from tests.train.helpers import quick_cfg


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_mask_hides_one_domain_of_the_drawn_share_of_bridge_users():
    ds = make_tiny()
    sim = ColdStartSimulator(ds, 0.5)
    keep = sim.keep_mask(_gen(0))
    tr = ds.train
    users, doms = tr["user"].to_numpy(), tr["domain"].to_numpy()
    hidden = {(u, d) for u, d in zip(users[~keep], doms[~keep])}
    hidden_users = {u for u, _ in hidden}
    assert len(hidden_users) == round(0.5 * len(sim.bridge))
    assert len(hidden) == len(hidden_users)                      # one domain per user
    for u, d in hidden:                                          # every row of (u, d) goes
        assert not keep[(users == u) & (doms == d)].any()
        assert keep[(users == u) & (doms != d)].all()            # the other domain stays
    assert set(hidden_users) <= set(sim.bridge.tolist())
    assert np.array_equal(keep, sim.keep_mask(_gen(0)))          # deterministic per generator
    assert not np.array_equal(keep, sim.keep_mask(_gen(1)))
    with pytest.raises(ValueError, match="cold_sim"):
        ColdStartSimulator(ds, 1.5)


def _model(ds, name="cd-lightgcn-text"):
    return build_model(model_ctx(ds, name, dim=8, layers=2))


def test_training_mode_propagates_over_the_kept_rows_only():
    ds = make_tiny()
    model = _model(ds)
    keep = ColdStartSimulator(ds, 1.0).keep_mask(_gen(0))
    full_u, full_v = model.embeddings()
    model.train()
    model.simulate_cold(keep)
    sim_u = model().users
    # a user who lost a domain gets another training representation; eval always uses the full graph
    assert not torch.allclose(sim_u, full_u)
    u2, v2 = model.embeddings()
    assert torch.equal(u2, full_u) and torch.equal(v2, full_v)
    # the simulated graph equals a model built on the kept rows alone (same weights)
    kept = make_tiny()
    kept.train = ds.train[keep].reset_index(drop=True)
    other = _model(kept)
    other.load_state_dict(model.state_dict())
    other.train()
    assert torch.allclose(other().users, sim_u, atol=1e-6)
    model.simulate_cold(None)
    assert torch.equal(model().users, full_u)


def test_cold_sim_runs_are_deterministic_and_checked(tmp_path):
    a = train_run(quick_cfg(tmp_path, "a", epochs=2, cold_sim=0.5), progress=False, export=False)
    b = train_run(quick_cfg(tmp_path, "b", epochs=2, cold_sim=0.5), progress=False, export=False)
    c = train_run(quick_cfg(tmp_path, "c", epochs=2), progress=False, export=False)
    assert torch.equal(a.model.embeddings()[0], b.model.embeddings()[0])
    assert not torch.equal(a.model.embeddings()[0], c.model.embeddings()[0])
    with pytest.raises(RunError, match="does not support"):
        train_run(quick_cfg(tmp_path, "mf", model="mf", model_kw={"dim": 8}, cold_sim=0.5),
                  progress=False, export=False)
    with pytest.raises(ConfigError, match="cold_sim"):
        quick_cfg(tmp_path, "bad", cold_sim=2.0)
    with pytest.raises(RunError, match="mini-batch"):
        train_run(quick_cfg(tmp_path, "mb", cold_sim=0.5, mode="minibatch", fanouts=[4, 4]),
                  progress=False, export=False)
