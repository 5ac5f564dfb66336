"""disencdr, cdrib, unicdr and ptupcdr on the tiny dataset: the papers' mechanisms, what cold users
get, and training through the real trainer (the official-code comparison is
tests/models/test_official_equivalence.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gnnrec.models.base import Batch
from gnnrec.models.registry import build_model
from gnnrec.models.unicdr import sample_rows
from gnnrec.models.vbge import DomainGraph, gauss_kl
from tests.helpers import model_ctx


pytestmark = pytest.mark.usefixtures("one_thread")


def _model(ds, name: str, **cfg):
    torch.manual_seed(0)
    return build_model(model_ctx(ds, name, False, **cfg))


def _cold(ds, d: int) -> list[int]:
    """Users with no train item in domain d and some in the other."""
    tr = ds.train
    has = [set(tr[tr.domain == x].user) for x in range(2)]
    return sorted(has[1 - d] - has[d])


def _batch(ds, rows: int = 64, seed: int = 0) -> Batch:
    tr = ds.train.sample(rows, random_state=seed)
    users = torch.as_tensor(tr.user.to_numpy())
    doms = torch.as_tensor(tr.domain.to_numpy())
    g = np.random.default_rng(seed)
    neg = torch.as_tensor([g.integers(ds.item_block(int(d)).start, ds.item_block(int(d)).stop)
                           for d in doms.tolist()])[:, None]
    return Batch(users=users, pos=torch.as_tensor(tr.item.to_numpy()), neg=neg, domain=doms)


def _other_domain_items(ds, user: int, d: int) -> torch.Tensor:
    tr = ds.train
    return torch.as_tensor(tr[(tr.user == user) & (tr.domain == 1 - d)]["item"].to_numpy().copy())


# ---- building blocks ---------------------------------------------------------------
def test_domain_graph_is_mean_aggregation_with_exact_gradients():
    users, items = np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 0, 1, 2])
    g = DomainGraph(users, items, 4, 3)                 # user 3 has no edge
    a = torch.zeros(4, 3)
    a[users, items] = 1
    uv = a / a.sum(1, keepdim=True).clamp_min(1)
    vu = a.T / a.T.sum(1, keepdim=True).clamp_min(1)
    x = torch.randn(3, 5, requires_grad=True)
    y = torch.randn(4, 5, requires_grad=True)
    torch.testing.assert_close(g.to_users(x), uv @ x)
    torch.testing.assert_close(g.to_items(y), vu @ y)
    assert torch.equal(g.to_users(x)[3], torch.zeros(5))
    w = torch.randn(4, 5)
    (gx,) = torch.autograd.grad((g.to_users(x) * w).sum(), x)
    torch.testing.assert_close(gx, uv.T @ w)            # backward with the stored transpose


def test_gauss_kl_matches_torch_distributions():
    mu1, s1, mu2, s2 = torch.randn(6, 3), torch.rand(6, 3) + 0.5, torch.randn(6, 3), torch.rand(6, 3) + 0.5
    ref = torch.distributions.kl_divergence(torch.distributions.Normal(mu1, s1),
                                            torch.distributions.Normal(mu2, s2)).mean(0).sum()
    torch.testing.assert_close(gauss_kl(mu1, s1, mu2, s2), ref)


# ---- DisenCDR ------------------------------------------------------------------------
def test_disencdr_rate_is_per_user_and_cold_users_take_the_shared_part_only(tiny):
    m = _model(tiny, "disencdr", dim=8, dropout=0.0).eval()
    cold_a, cold_b = _cold(tiny, 0), _cold(tiny, 1)
    assert cold_a and cold_b
    assert (m.rate[cold_a] == 0).all() and (m.rate[cold_b] == 1).all()      # lam_u: one domain only
    with torch.no_grad():
        users, items, _ = m.encode()
        mu, _ = m.cross_gaussian(m.user_share[:m.n_users], m.user_share[m.n_users:])
    torch.testing.assert_close(users[0, cold_a], mu[cold_a])                # u^x = z_sh for x-cold users
    warm = [u for u in range(tiny.n_users) if u not in cold_a + cold_b]
    assert not torch.allclose(users[0, warm], mu[warm])
    u, n = cold_a[0], tiny.n_users
    before = users[0, u].clone()
    with torch.no_grad():                                # the user's domain-a share row plays no part ...
        m.user_share[u] += 1.0
        torch.testing.assert_close(m.encode()[0][0, u], before)
        m.user_share[n + u] += 1.0                       # ... their domain-b row (graph b) does
        assert not torch.allclose(m.encode()[0][0, u], before)


def test_disencdr_warmup_phase_trains_the_specific_encoders_only(tiny):
    m = _model(tiny, "disencdr", dim=8, warmup_epochs=2).train()
    assert m.stage_batches("main", 1, torch.Generator()) is None and int(m.phase) == 0
    m.batch_loss("main", _batch(tiny)).backward()
    assert m.cross[0].head.user_mean.weight.grad is None and m.user_share.grad is None
    assert m.specific[1].head.item_mean.weight.grad is not None
    m.zero_grad(set_to_none=True)
    m.stage_batches("main", 3, torch.Generator())
    assert int(m.phase) == 1
    m.batch_loss("main", _batch(tiny)).backward()
    assert m.cross[0].head.user_mean.weight.grad is not None and m.user_share.grad is not None
    assert "phase" in m.state_dict()                     # the best checkpoint restores its phase


def test_disencdr_samples_in_training_only(tiny):
    m = _model(tiny, "disencdr", dim=8, dropout=0.0)
    m.train()
    a, b = m.encode()[0], m.encode()[0]
    assert not torch.allclose(a, b)
    m.eval()
    torch.testing.assert_close(m.encode()[0], m.encode()[0])


# ---- CDRIB ---------------------------------------------------------------------------
def test_cdrib_scores_cold_users_with_the_other_domains_encoder(tiny):
    m = _model(tiny, "cdrib", dim=8, layers=2, dropout=0.0).eval()
    cold_a = _cold(tiny, 0)
    with torch.no_grad():
        users, items, _ = m.encode()
        per_dom = m.domain_users(users)
        u, v = m.embeddings()
    torch.testing.assert_close(per_dom[0, cold_a], users[1, cold_a])       # domain a from encoder b
    warm = [x for x in range(tiny.n_users) if x not in cold_a]
    torch.testing.assert_close(per_dom[0, warm], users[0, warm])
    assert u.shape == (tiny.n_users, 2 * 2 * 8)
    i = tiny.item_block(0).start
    torch.testing.assert_close(u[cold_a[0]] @ v[i], users[1, cold_a[0]] @ items[i])
    x, n = cold_a[0], tiny.n_users
    before = u[x].clone()
    with torch.no_grad():                                # encoder b reads the user's domain-b ID row
        m.user0[x] += 1.0
        torch.testing.assert_close(m.embeddings()[0][x, :16], before[:16])
        m.user0[n + x] += 1.0
        assert not torch.allclose(m.embeddings()[0][x, :16], before[:16])


def test_cdrib_reconstruction_sets(tiny):
    paper = _model(tiny, "cdrib", dim=8, layers=2)
    bridge = paper.active.all(0)
    assert paper.own_rows.all() and torch.equal(paper.cross_rows[0], bridge)
    assert set(paper.bridge.tolist()) == set(torch.nonzero(bridge).ravel().tolist())
    official = _model(tiny, "cdrib", dim=8, layers=2, in_domain=False)
    assert torch.equal(official.own_rows[0], ~bridge)
    assert torch.equal(official.eval_cross[0], ~official.active[0] | bridge)   # warm bridge users: cross
    m = _model(tiny, "cdrib", dim=8, layers=2).train()
    b = _batch(tiny)
    users, items, _ = m.encode()
    both = m.reconstruction(users, items, b)
    m.cross_rows.zero_()
    assert float(m.reconstruction(users, items, b)) < float(both)           # cross terms add loss
    assert float(m.critic_loss(users)) > 0


# ---- UniCDR ---------------------------------------------------------------------------
def test_unicdr_sampler_draws_distinct_items_without_the_positive():
    indptr = torch.tensor([0, 5, 8])
    items = torch.tensor([10, 11, 12, 13, 14, 20, 21, 22])
    rows = torch.tensor([0] * 200 + [1] * 200)
    exclude = torch.tensor([12] * 200 + [-1] * 200)
    counts = torch.tensor([3] * 200 + [2] * 200)
    torch.manual_seed(0)
    out, mask = sample_rows(indptr, items, rows, counts, 4, exclude)
    assert mask.sum(1).tolist() == counts.tolist()
    for r in range(400):
        got = out[r][mask[r]].tolist()
        assert len(set(got)) == len(got)
        assert set(got) <= ({10, 11, 13, 14} if r < 200 else {20, 21, 22})
    assert set(out[:200][mask[:200]].tolist()) == {10, 11, 13, 14}          # every eligible item drawn


def test_unicdr_cold_users_get_the_shared_part_from_their_other_domain(tiny):
    m = _model(tiny, "unicdr", dim=8, dropout=0.0).eval()
    cold_a = _cold(tiny, 0)
    u0 = cold_a[0]
    assert not m.eval_mask[0, u0].any() and m.eval_mask[1, u0].any()
    with torch.no_grad():
        users = m.domain_users()
        spec, share = m.user_parts(0, torch.tensor(cold_a), *m.eval_contexts(0, torch.tensor(cold_a)))
    assert torch.equal(spec, torch.zeros_like(spec))
    torch.testing.assert_close(users[0, cold_a], share)
    with torch.no_grad():
        m.item0[_other_domain_items(tiny, u0, 0)] += 1.0
        assert not torch.allclose(users[0, u0], m.domain_users()[0, u0])
    tr = tiny.train
    mine = tr[(tr.user == 5) & (tr.domain == 1)].sort_values("timestamp")["item"].tolist()
    ctx = m.eval_ctx[1, 5][m.eval_mask[1, 5]].tolist()
    assert ctx == mine[-m.cfg.eval_len:]                                      # most recent, oldest first


def test_unicdr_training_contexts_hide_the_positive_and_the_rows_domain(tiny):
    m = _model(tiny, "unicdr", dim=8, maxlen=3).train()
    b = _batch(tiny, 128)
    for k in range(2):
        sel = b.domain == k
        ctx, cmask, g, gm = m.train_contexts(k, b.users[sel], b.pos[sel])
        assert not ((ctx == b.pos[sel][:, None]) & cmask).any()
        assert not gm[:, k * 3:(k + 1) * 3].any() and gm[:, (1 - k) * 3:(2 - k) * 3].any()
        assert (m.item_domain[ctx[cmask]] == k).all() and (m.item_domain[g[gm]] == 1 - k).all()
        assert (cmask.sum(1) <= 3).all()
    assert torch.isfinite(m.batch_loss("main", b))


def test_unicdr_fixed_softmax_ignores_padding():
    from gnnrec.models.unicdr import Aggregator

    agg = Aggregator(4, "user_attention", 0.5, 0.0).eval()
    e, seq = torch.randn(2, 4), torch.randn(2, 3, 4)
    mask = torch.tensor([[True, True, False], [False, False, False]])
    seq = seq * mask[..., None]
    out = agg(e, seq, mask)
    short = agg(e[:1], seq[:1, :2], mask[:1, :2])
    torch.testing.assert_close(out[:1], short)                               # padding changes nothing
    torch.testing.assert_close(out[1], 0.5 * e[1])                           # all padded: the ID part
    agg.official_softmax = True
    assert not torch.allclose(agg(e, seq, mask)[:1], short)


# ---- PTUPCDR --------------------------------------------------------------------------
def test_ptupcdr_bridges_cold_users_and_keeps_warm_factors(tiny):
    m = _model(tiny, "ptupcdr", dim=6, meta_dim=5).eval()
    cold_a = _cold(tiny, 0)
    with torch.no_grad():
        users = m.domain_users()
        f = m.factors()
        torch.testing.assert_close(users[0, cold_a], m.bridge(1, 0, torch.tensor(cold_a)))
        warm = [u for u in range(tiny.n_users) if u not in cold_a]
        torch.testing.assert_close(users[0, warm], f[0, warm])
        w = m.metas["1>0"](m.item0[m.hist[1, cold_a[:1]]], m.hist_mask[1, cold_a[:1]])
        torch.testing.assert_close(users[0, cold_a[0]], f[1, cold_a[0]] @ w[0])   # U^s[u] W_u


def test_ptupcdr_meta_stage_trains_the_meta_networks_on_bridge_rows(tiny):
    m = _model(tiny, "ptupcdr", dim=6, meta_dim=5)
    m.set_stage("meta")
    assert {id(p) for p in m.stage_parameters("meta")} == {id(p) for p in m.metas.parameters()}
    assert not m.user0.requires_grad and m.stage_selection("meta") is None
    assert m.stage_selection("mf") == {"select_scenarios": ["warm"]}
    assert m.batch_loss("mf", None) is None
    b = _batch(tiny, 128)
    opt = torch.optim.Adam(m.stage_parameters("meta"), lr=0.05)
    first = float(m.batch_loss("meta", b))
    for _ in range(60):
        loss = m.batch_loss("meta", b)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss) < first


# ---- through the real trainer -------------------------------------------------------------
@pytest.mark.parametrize("model,stages", [
    ({"name": "disencdr", "dim": 8, "warmup_epochs": 2}, ["main"]),
    ({"name": "cdrib", "dim": 8, "layers": 2, "critic_users": 8}, ["main"]),
    ({"name": "unicdr", "dim": 8, "maxlen": 3}, ["main"]),
    ({"name": "ptupcdr", "dim": 8, "meta_dim": 6}, ["mf", "meta"]),
])
def test_trains_with_the_trainer_and_loss_decreases(tiny, tmp_path, model, stages):
    from gnnrec.train import resolve, train_run

    epochs = 8
    cfg = resolve({"name": f"t_{model['name']}", "dataset": "tiny", "runs_dir": str(tmp_path), "seed": 0,
                   "model": model, "train": {"epochs": epochs, "batch_size": 64, "lr": 0.01,
                                             "patience": epochs, "threads": 1}})
    res = train_run(cfg, ds=tiny, progress=False, export=True)
    log = [json.loads(line) for line in (res.run_dir / "log.jsonl").read_text().splitlines()]
    losses: dict[str, list[float]] = {}
    for rec in log:
        if rec["event"] == "epoch":
            losses.setdefault(rec["stage"], []).append(rec["loss"])
    assert list(losses) == stages
    for stage, ls in losses.items():
        start = ls[2] if model["name"] == "disencdr" else ls[0]              # after the warm-up epochs
        assert len(ls) == epochs and ls[-1] < start, (stage, ls)
    u, v = res.model.embeddings()
    assert u.shape[0] == tiny.n_users and v.shape[0] == tiny.n_items and torch.isfinite(u).all()
    assert (res.run_dir / "export" / "manifest.json").is_file()
    summary = json.loads((res.run_dir / "summary.json").read_text())
    assert {"a/cold", "b/cold", "a/warm", "b/warm"} <= set(summary["test"])
