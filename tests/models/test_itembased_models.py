"""EASE, ItemKNN and RP3beta as registered models (gnnrec.models.itembased_models): trained by
``train_run``, exported and reloaded; scores against dense brute force; the dimension rule; the
memory limit."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from gnnrec.cli import main
from gnnrec.data.store import save_prepared
from gnnrec.errors import GnnrecError
from gnnrec.eval import evaluate_export
from gnnrec.export.contract import load_export
from gnnrec.export.foldin import foldin_matrix, item_degrees
from gnnrec.models import build_model
from gnnrec.models.itembased import itemknn_weights, rp3beta_weights
from gnnrec.models.itembased_models import (PEAK_COPIES, ItemBasedMemoryError, check_memory, pack_columns,
                                            unpack_columns, vector_bytes)
from gnnrec.train import load_run, train_run
from tests.conftest import make_tiny
from tests.helpers import model_ctx
from tests.train.helpers import quick_cfg

# 26 = n_items - 1 of the tiny data: no neighbour is cut, so the brute force below is the whole model
PARAMS = {"ease": {"lam": 2.0}, "itemknn": {"k": 26, "shrink": 1.5},
          "rp3beta": {"alpha": 0.8, "beta": 0.3, "k": 26}}
FORMS = {"items": 40, "users": 20}          # n_users of the tiny data (27 items): dim = min(n_users, n_items)


pytestmark = pytest.mark.usefixtures("one_thread")


# ----------------------------------------------------------------------------- dense brute force

def _ease(x: np.ndarray, lam: float) -> np.ndarray:
    p = np.linalg.inv(x.T @ x + lam * np.eye(x.shape[1]))
    w = -p / np.diag(p)[None, :]
    np.fill_diagonal(w, 0.0)
    return w


def _itemknn(x: np.ndarray, shrink: float) -> np.ndarray:
    norm = np.sqrt((x ** 2).sum(0))
    den = norm[:, None] * norm[None, :] + shrink
    w = np.divide(x.T @ x, den, out=np.zeros((x.shape[1],) * 2), where=den > 0)
    np.fill_diagonal(w, 0.0)
    return w


def _rp3beta(x: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    def rows(m: np.ndarray) -> np.ndarray:
        s = m.sum(1, keepdims=True)
        return np.divide(m, s, out=np.zeros_like(m), where=s > 0)

    pop = x.sum(0)
    w = rows(x.T) ** alpha @ rows(x) ** alpha
    w = w * np.where(pop > 0, pop, 1.0)[None, :] ** -beta
    np.fill_diagonal(w, 0.0)
    return rows(w)                                   # no truncation at k = n_items - 1


def _reference(name: str, x: np.ndarray) -> np.ndarray:
    p = PARAMS[name]
    if name == "ease":
        return _ease(x, p["lam"])
    if name == "itemknn":
        return _itemknn(x, p["shrink"])
    return _rp3beta(x, p["alpha"], p["beta"])


# ----------------------------------------------------------------------------- runs

@pytest.fixture(scope="module", params=[(m, f) for m in PARAMS for f in FORMS], ids=lambda p: f"{p[0]}-{p[1]}")
def run(request, tmp_path_factory):
    name, form = request.param
    tmp = tmp_path_factory.mktemp(f"{name}-{form}")
    folder = tmp / "tiny"
    save_prepared(make_tiny(n_users=FORMS[form], n_items=(15, 12)), folder, inputs={})
    cfg = quick_cfg(tmp, f"{name}_{form}", model=name, model_kw=PARAMS[name], dataset=folder)
    return name, form, train_run(cfg, progress=False)


def test_scores_are_r_times_w_and_dim_follows_the_rule(run):
    name, form, res = run
    ds = res.ds
    x = ds.train_matrix().toarray().astype(np.float64)
    u, v = res.model.embeddings()
    assert u.shape[1] == v.shape[1] == min(ds.n_users, ds.n_items)
    assert (u.shape[1] == ds.n_items) == (form == "items")
    s = (u.double() @ v.double().T).numpy()
    want = x @ _reference(name, x)
    unseen = x == 0              # users-form EASE omits the + R term, which only touches train items
    seen_too = not (name == "ease" and form == "users")
    np.testing.assert_allclose(s if seen_too else s[unseen], want if seen_too else want[unseen],
                               rtol=1e-4, atol=1e-5)
    if form == "items":          # the user vector is the train row
        assert torch.equal(u, torch.as_tensor(x, dtype=torch.float32))


def test_export_and_reload_give_the_runs_vectors_and_figures(run, tmp_path):
    name, form, res = run
    u, v = res.model.embeddings()
    exp = load_export(res.run_dir / "export")
    assert np.array_equal(exp.user_emb, u.numpy()) and np.array_equal(exp.item_emb, v.numpy())
    again = load_run(res.run_dir, device="cpu")
    u2, v2 = again.model.embeddings()
    assert torch.equal(u, u2) and torch.equal(v, v2)
    out = tmp_path / "export"
    assert main(["export", str(res.run_dir), "--out", str(out)]) == 0      # the CLI path, from the checkpoint
    a = res.test.table.set_index(["domain", "scenario", "metric", "k"])["value"].sort_index()
    b = evaluate_export(out, res.ds, split="test", ks=tuple(res.config.eval.ks))
    b = b.table.set_index(["domain", "scenario", "metric", "k"])["value"].sort_index()
    assert list(a.index) == list(b.index)
    assert ((a.isna() & b.isna()) | ((a - b).abs() <= 1e-6)).all()
    m = json.loads((out / "manifest.json").read_text())
    assert m["model"] == name and m["dim"] == u.shape[1]
    assert m["config"]["model"] == {"name": name, **PARAMS[name]}


def test_items_form_folds_new_users_in_exactly(run):
    name, form, res = run
    exp = load_export(res.run_dir / "export")
    m = json.loads((res.run_dir / "export" / "manifest.json").read_text())
    if form == "users":
        assert exp.foldin_map is None and "map" not in m["foldin"]
        return
    ds = res.ds
    r = ds.train_matrix()
    for rule in ("mean", "lightgcn", "unit_mean"):
        got = foldin_matrix(r, exp.item_emb, rule, item_degrees(r, ds.n_items), exp.foldin_map,
                            ds.items["domain"].to_numpy())
        assert np.array_equal(got, exp.user_emb)
    assert all(v == 1.0 for ratios in m["foldin"]["ratios"].values() for v in ratios.values())


# ----------------------------------------------------------------------------- neighbours cut at k

@pytest.mark.parametrize("name", ["itemknn", "rp3beta"])
def test_the_stored_neighbours_are_the_top_k_weights(name, tiny):
    kw = {"k": 3, "shrink": 0.5} if name == "itemknn" else {"k": 3, "alpha": 1.0, "beta": 0.5}
    m = build_model(model_ctx(tiny, name, text=False, **kw))
    m.fit()
    r = tiny.train_matrix()
    w = itemknn_weights(r, 3, 0.5) if name == "itemknn" else rp3beta_weights(r, 1.0, 0.5, 3)
    assert (m.weight_matrix() != w).nnz == 0
    assert int(np.diff(sp.csc_matrix(w).indptr).max()) == 3
    u, v = m.embeddings()
    np.testing.assert_allclose((u @ v.T).numpy(), (r @ w).toarray(), rtol=1e-6, atol=1e-6)


def test_pack_columns_round_trips_and_refuses_overfull_columns():
    rng = np.random.default_rng(0)
    w = sp.random(30, 30, density=0.2, random_state=1, format="csr", dtype=np.float32)
    w.data = rng.uniform(0.1, 1.0, w.nnz).astype(np.float32)
    width = int(np.diff(sp.csc_matrix(w).indptr).max())
    idx, val = pack_columns(w, width)
    assert idx.shape == val.shape == (width, 30)
    assert (unpack_columns(idx, val) != w).nnz == 0
    with pytest.raises(GnnrecError, match="more than"):
        pack_columns(w, width - 1)


# ----------------------------------------------------------------------------- memory limit

def test_a_catalogue_too_big_for_the_exact_vectors_is_refused_with_the_limit_and_the_fix():
    with pytest.raises(ItemBasedMemoryError) as e:          # 10^6 x 3*10^6: ~15 TiB of vectors
        check_memory("itemknn", "huge", 1_000_000, 3_000_000, 0)
    msg = str(e.value)
    assert isinstance(e.value, GnnrecError)
    assert "min(n_users, n_items) = 1,000,000" in msg and "Fix:" in msg and "users" in msg
    need = PEAK_COPIES * vector_bytes(500, 300) + 1000
    check_memory("ease", "mid", 500, 300, 1000, have=need)                  # exactly fits
    with pytest.raises(ItemBasedMemoryError, match="keep the items"):
        check_memory("ease", "mid", 500, 300, 1000, have=need - 1)


def test_vector_bytes_follow_the_dimension_rule():
    assert vector_bytes(40, 27) == 4 * (40 + 27) * 27 + 4 * 27 ** 2       # items form + identity fold-in map
    assert vector_bytes(20, 27) == 4 * (20 + 27) * 20                      # users form


def test_models_are_training_free_and_describe_their_keys(tiny):
    for name in PARAMS:
        m = build_model(model_ctx(tiny, name, text=False, **PARAMS[name]))
        assert not m.trainable and m.describe() == {"model": name, **PARAMS[name], "parameters": 0}
