"""hgt, emcdr and bitgcf: shapes, inner-product scoring, the papers' mechanisms."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gnnrec.models.base import ModelContext
from gnnrec.models.bitgcf import BiTGCF, feature_transfer
from gnnrec.models.domain_blocks import block_layout
from gnnrec.models.emcdr import EMCDR
from gnnrec.models.hgt import HGT
from gnnrec.models.registry import model_class
from gnnrec.text.features import TextFeatures
from tests.helpers import model_ctx


pytestmark = pytest.mark.usefixtures("one_thread")


def _ctx(ds, name: str, text: np.ndarray | None = None, **cfg) -> ModelContext:
    torch.manual_seed(0)
    return model_ctx(ds, name, text if text is not None else False, **cfg)


def _text(ds, t: int = 16) -> np.ndarray:
    x = np.random.default_rng(1).normal(size=(ds.n_items, t)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_registry_names():
    assert model_class("hgt") is HGT and model_class("emcdr") is EMCDR and model_class("bitgcf") is BiTGCF


def test_block_layout_scores_each_domain_with_its_own_user_vector():
    users = torch.randn(2, 3, 4)
    items = torch.randn(5, 4)
    dom = torch.tensor([0, 0, 1, 1, 1])
    u, v = block_layout(users, items, dom)
    assert u.shape == (3, 8) and v.shape == (5, 8)
    expect = torch.stack([users[dom[i], :, :] @ items[i] for i in range(5)], 1)
    torch.testing.assert_close(u @ v.T, expect)


# ---- BiTGCF ---------------------------------------------------------------------
def test_feature_transfer_matches_the_two_domain_formula():
    e = torch.randn(2, 3, 4)
    deg = torch.tensor([[3.0, 0.0, 0.0], [1.0, 2.0, 0.0]])
    out = feature_transfer(e, deg, lam=0.8)
    for u in range(3):
        w = deg[:, u] / deg[:, u].sum() if deg[:, u].sum() > 0 else torch.full((2,), 0.5)
        common = w[0] * e[0, u] + w[1] * e[1, u]
        torch.testing.assert_close(out[0, u], 0.5 * (0.8 * e[0, u] + 0.2 * e[1, u] + common))
        torch.testing.assert_close(out[1, u], 0.5 * (0.8 * e[1, u] + 0.2 * e[0, u] + common))


def test_bitgcf_shapes_and_inner_product(tiny):
    m = BiTGCF(_ctx(tiny, "bitgcf", dim=8, layers=2))
    u, v = m.embeddings()
    assert u.shape == (tiny.n_users, 2 * 3 * 8) and v.shape == (tiny.n_items, 2 * 3 * 8)
    users, items = m.domain_embeddings()
    dom = tiny.item_domain()
    i = int(tiny.item_block(1).start)
    assert dom[i] == 1
    torch.testing.assert_close(u[5] @ v[i], users[1, 5] @ items[i])


def test_bitgcf_transfer_carries_other_domain_features_to_cold_users(tiny):
    """User 0 has no train item in domain 0: only the transfer gives them domain-1 signal there."""
    m = BiTGCF(_ctx(tiny, "bitgcf", dim=8, layers=2))
    assert float(m.degree[0, 0]) == 0 and float(m.degree[1, 0]) > 0
    before = m.domain_embeddings()[0][0, 0].detach().clone()
    with torch.no_grad():
        b_items = tiny.train[(tiny.train.user == 0) & (tiny.train.domain == 1)]["item"].to_numpy().copy()
        m.item0[torch.as_tensor(b_items)] += 1.0              # change what user 0 liked in domain 1
    after = m.domain_embeddings()[0][0, 0]
    assert not torch.allclose(before, after)


def test_bitgcf_mixes_shared_users_between_domains(tiny):
    m = BiTGCF(_ctx(tiny, "bitgcf", dim=8, layers=1))
    u = 5                                                    # warm in both domains
    before = m.domain_embeddings()[0][0, u].detach().clone()
    with torch.no_grad():
        m.user0[tiny.n_users + u] += 1.0                     # the user's domain-1 ID row
    assert not torch.allclose(before, m.domain_embeddings()[0][0, u])


# ---- EMCDR ----------------------------------------------------------------------
def test_emcdr_maps_cold_users_only(tiny):
    m = EMCDR(_ctx(tiny, "emcdr", dim=8, min_bridge=2))
    cold_a = (tiny.train.groupby("user")["domain"].apply(lambda d: 0 not in set(d)))
    cold_a = set(cold_a[cold_a].index)
    assert cold_a and set(torch.nonzero(m.cold[0]).ravel().tolist()) == cold_a
    with torch.no_grad():
        users = m.domain_users()
        f = m.factors()
        for u in range(tiny.n_users):
            if u in cold_a:
                torch.testing.assert_close(users[0, u], m.maps["1>0"](f[1, u:u + 1])[0])
                assert not torch.allclose(users[0, u], f[0, u])
            else:
                torch.testing.assert_close(users[0, u], f[0, u])
        u, v = m.embeddings()
    assert u.shape == (tiny.n_users, 16) and v.shape == (tiny.n_items, 16)


def test_emcdr_mapping_stage_trains_only_the_mapping_on_bridge_users(tiny):
    m = EMCDR(_ctx(tiny, "emcdr", dim=8, min_bridge=2))
    m.set_stage("mapping")
    assert {id(p) for p in m.stage_parameters("mapping")} == {id(p) for p in m.maps.parameters()}
    assert not m.user0.requires_grad
    batches = list(m.stage_batches("mapping", 0, torch.Generator().manual_seed(0)))
    seen = torch.cat([b[(0, 1)] for b in batches])
    bridge = set(m.bridges[(0, 1)].tolist())
    assert sorted(seen.tolist()) == sorted(bridge) and not bridge & set(torch.nonzero(m.cold.any(0)).ravel().tolist())
    opt = torch.optim.Adam(m.stage_parameters("mapping"), lr=1e-2)
    first = float(m.batch_loss("mapping", batches[0]).detach())
    for _ in range(50):
        loss = m.batch_loss("mapping", batches[0])
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.5 * first
    assert m.batch_loss("mf", None) is None and m.stage_batches("mf", 0, torch.Generator()) is None


# ---- HGT ------------------------------------------------------------------------
def test_hgt_uses_projected_text_for_items_and_ids_without_text(tiny):
    text = _text(tiny)
    m = HGT(_ctx(tiny, "hgt", text, dim=8, heads=2))
    assert m.use_text and m.item_id is None and set(m.proj) == {"item_a", "item_b"}
    u, v = m.embeddings()
    assert u.shape == (tiny.n_users, 8) and v.shape == (tiny.n_items, 8)
    torch.testing.assert_close(m.embeddings()[0], u)           # eval propagation is deterministic
    ids = HGT(_ctx(tiny, "hgt", None, dim=8, heads=2))
    assert not ids.use_text and ids.item_id is not None and ids.item_id.shape == (tiny.n_items, 8)
    text[4] = 0.0                                               # an item without any text
    part = HGT(_ctx(tiny, "hgt", text, dim=8, heads=2))
    assert part.item_id is not None and part.item_id_mask[:, 0].tolist() == [float(i == 4) for i in
                                                                             range(tiny.n_items)]
    x0 = part.item_input().detach().clone()
    with torch.no_grad():
        part.item_id += 1.0
    moved = (part.item_input() - x0).abs().sum(1) > 0
    assert moved.tolist() == [i == 4 for i in range(tiny.n_items)]


def test_hgt_state_dict_is_the_same_before_and_after_forward(tiny):
    """A checkpoint of a trained model must load into a freshly built one (ids-only and text)."""
    for text in (None, _text(tiny)):
        m = HGT(_ctx(tiny, "hgt", text, dim=8, heads=2))
        keys = set(m.state_dict())
        m()
        assert set(m.state_dict()) == keys
        HGT(_ctx(tiny, "hgt", text, dim=8, heads=2)).load_state_dict(m.state_dict())


def test_hgt_item_states_depend_on_their_text(tiny):
    text = _text(tiny)
    m = HGT(_ctx(tiny, "hgt", text, dim=8, heads=2, layers=1))
    v0 = m.embeddings()[1]
    m.text[3] = -m.text[3]
    v1 = m.embeddings()[1]
    assert not torch.allclose(v0[3], v1[3])


def test_hgt_edge_keep_subsamples_only_in_training(tiny):
    m = HGT(_ctx(tiny, "hgt", None, dim=8, heads=2, edge_keep=0.5)).eval()
    full = sum(e.shape[1] for e in m.edge_index_dict().values())
    m.train()
    assert sum(e.shape[1] for e in m.edge_index_dict().values()) < full
    m.eval()
    assert sum(e.shape[1] for e in m.edge_index_dict().values()) == full == 2 * len(tiny.train)


# ---- through the real trainer -------------------------------------------------------
def _train(tiny, tmp_path, model: dict, feats=None, epochs: int = 6):
    from gnnrec.train import resolve, train_run

    cfg = resolve({"name": f"t_{model['name']}", "dataset": "tiny", "runs_dir": str(tmp_path), "seed": 0,
                   "model": model, "train": {"epochs": epochs, "batch_size": 64, "lr": 0.02,
                                             "patience": epochs}})
    res = train_run(cfg, ds=tiny, feats=feats, progress=False, export=True)
    log = [json.loads(line) for line in (res.run_dir / "log.jsonl").read_text().splitlines()]
    losses: dict[str, list[float]] = {}
    groups: dict[str, set[str]] = {}
    for rec in log:
        if rec["event"] == "epoch":
            losses.setdefault(rec["stage"], []).append(rec["loss"])
            groups.setdefault(rec["stage"], set()).update(rec["val"])
    return res, losses, groups


def _text_features(ds) -> TextFeatures:
    vec = _text(ds)
    return TextFeatures(vectors=vec, entity="item", model_id="random-test-vectors", key="test",
                        template="{title}", empty=np.zeros(ds.n_items, bool))


@pytest.mark.parametrize("model,with_text", [
    ({"name": "hgt", "dim": 16, "heads": 2, "edge_keep": 0.8}, True),
    ({"name": "bitgcf", "dim": 8, "layers": 2}, False),
    ({"name": "emcdr", "dim": 8, "min_bridge": 2}, False),
])
def test_trains_with_the_trainer_and_loss_decreases(tiny, tmp_path, model, with_text):
    res, losses, groups = _train(tiny, tmp_path, model, _text_features(tiny) if with_text else None)
    expect = ["mf", "mapping"] if model["name"] == "emcdr" else ["main"]
    assert list(losses) == expect
    if model["name"] == "emcdr":        # MF is selected on warm users; the mapping on all groups
        assert groups == {"mf": {"a/warm", "b/warm"}, "mapping": {"a/warm", "b/warm", "a/cold", "b/cold"}}
    for stage, ls in losses.items():
        assert len(ls) >= 3 and ls[-1] < ls[0], (stage, ls)
    u, v = res.model.embeddings()
    assert u.shape[0] == tiny.n_users and v.shape[0] == tiny.n_items and u.shape[1] == v.shape[1]
    assert (res.run_dir / "export" / "manifest.json").is_file()
    if model["name"] == "hgt":
        assert res.model.use_text == with_text
