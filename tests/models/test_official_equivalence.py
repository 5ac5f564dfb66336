"""gnnrec's DisenCDR, CDRIB, UniCDR and PTUPCDR against the authors' official code.

For each model: a toy two-domain dataset both codes read (the official text
files written to a temporary folder, the same rows as a gnnrec
:class:`~gnnrec.data.schema.Dataset`), the official model built from the
official checkout (``$GNNREC_OFFICIAL_DIR/<name>``, default
``/tmp/official/cpu/<name>``: the authors' repositories with the CPU edits of
the project's notes), its weights copied into the gnnrec model (one mapping
function per model), randomness switched off (dropout 0; reparameterisation
noise, critic permutations and shifts patched to the same values on both
sides) and the official bugs that gnnrec fixes switched back on where the
comparison needs them. Then the training loss of one batch and the
evaluation scores are compared to 1e-5.

Without the official checkout every test here is skipped (CI does not have it).
Each comparison also has a control (one official behaviour switched back off,
or another draw) that must *differ*, so a vacuous comparison cannot pass.

Observed max |difference| (float32, CPU, torch 2.13; each test prints its own
with ``pytest -s``)::

    disencdr  loss warm-up / full model   9.5e-07 / 9.5e-07 (noise 0);  1.5e-05 of 244 / 0 (drawn noise)
              eval scores s / t           5.0e-08 / 3.0e-08
    cdrib     loss (hinge, bce; noise 0 and drawn)   0.0
              eval scores s / t           8.9e-08 / 1.2e-07
    unicdr    loss per domain and summed  0.0  (user_attention and mean)
              eval scores                 0.0
    ptupcdr   bridged scores (train_meta) 3.6e-07;  MSE 9.5e-07;  exported cold-user scores (test_meta) 1.2e-07
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch.nn import functional as F

from gnnrec.data.schema import Dataset
from tests.helpers import model_ctx

OFFICIAL = Path(os.environ.get("GNNREC_OFFICIAL_DIR", "/tmp/official/cpu"))
TOL = 1e-5
SOFTPLUS_1 = math.log1p(math.e)          # softplus(1)

pytestmark = pytest.mark.usefixtures("one_thread")


@contextlib.contextmanager
def official(name: str):
    """Import path of the official ``name`` checkout; its top-level modules are dropped afterwards
    (the three Cao et al. repositories all have packages ``model`` and ``utils``)."""
    root = OFFICIAL / name
    if not root.is_dir():
        pytest.skip(f"official {name} checkout absent ({root}; set GNNREC_OFFICIAL_DIR)")
    clash = ("model", "utils", "models")

    def ours(mod: str) -> bool:
        return mod.split(".")[0] in clash

    saved = {k: sys.modules.pop(k) for k in list(sys.modules) if ours(k)}
    sys.path.insert(0, str(root))
    try:
        yield root
    finally:
        sys.path.remove(str(root))
        for k in [k for k in sys.modules if ours(k)]:
            del sys.modules[k]
        sys.modules.update(saved)


def report(what: str, ours: torch.Tensor | float, theirs: torch.Tensor | float) -> float:
    a = torch.as_tensor(ours, dtype=torch.float64)
    b = torch.as_tensor(theirs, dtype=torch.float64)
    assert a.shape == b.shape, (what, a.shape, b.shape)
    diff = float((a - b).abs().max()) if a.numel() else 0.0
    print(f"{what}: max |diff| = {diff:.2e} (scale {float(b.abs().max()):.3g})")
    assert diff <= TOL * max(1.0, float(b.abs().max())), what
    return diff


def write(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join("\t".join(map(str, r)) + "\n" for r in rows))


def two_domain_dataset(n_users: int, n_items: tuple[int, int], train: list[list[tuple[int, int]]],
                       test: list[list[tuple[int, int]]] | None = None, cold: tuple[set, set] = (set(), set())
                       ) -> Dataset:
    """gnnrec dataset of per-domain (user, local item) rows; domain 0 = "s", 1 = "t"; test rows of a
    user in ``cold[d]`` are scenario cold."""
    doms = ["s", "t"]
    items = pd.DataFrame({"item_id": [f"{d}:{j}" for d, n in zip(doms, n_items) for j in range(n)],
                          "domain": [d for d, n in zip(doms, n_items) for _ in range(n)]})
    users = pd.DataFrame({"user_id": [f"u{u}" for u in range(n_users)]})
    off = [0, n_items[0]]
    tr = [(u, off[d] + i, d, 1.0, k) for d in range(2) for k, (u, i) in enumerate(train[d])]
    te = [] if test is None else [(u, off[d] + i, d, 1.0, 10_000 + k, "cold" if u in cold[d] else "warm")
                                  for d in range(2) for k, (u, i) in enumerate(test[d])]
    cols = ["user", "item", "domain", "rating", "timestamp"]
    return Dataset(name="toy", users=users, items=items, domains=doms,
                   train=pd.DataFrame(tr, columns=cols),
                   valid=pd.DataFrame(te, columns=cols + ["scenario"]),
                   test=pd.DataFrame(te, columns=cols + ["scenario"]))


def first_appearance(rows: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Items renumbered by first appearance (the official DisenCDR remap is then the identity)."""
    seen: dict[int, int] = {}
    return [(u, seen.setdefault(i, len(seen))) for u, i in rows]


def random_rows(rng: np.random.Generator, users: list[int], n_items: int, lo: int, hi: int
                ) -> list[tuple[int, int]]:
    """Sorted-by-user rows, every item used at least once."""
    rows = []
    for u in users:
        k = int(rng.integers(lo, hi + 1))
        rows += [(u, int(i)) for i in rng.choice(n_items, size=k, replace=False)]
    used = {i for _, i in rows}
    for j, i in enumerate(sorted(set(range(n_items)) - used)):
        rows.append((users[j % len(users)], i))
    rows.sort(key=lambda r: r[0])
    return rows


def gnnrec_model(ds: Dataset, name: str, **cfg):
    from gnnrec.models.registry import build_model

    torch.manual_seed(0)
    return build_model(model_ctx(ds, name, False, **cfg))


def copy_into(model: torch.nn.Module, values: dict[str, torch.Tensor]) -> None:
    """``model``'s parameters named in ``values`` set to them; every parameter must be covered."""
    params = dict(model.named_parameters())
    missing = set(params) - set(values)
    assert not missing, f"official weights for {sorted(missing)} not mapped"
    with torch.no_grad():
        for k, v in values.items():
            assert params[k].shape == v.shape, (k, params[k].shape, v.shape)
            params[k].copy_(v)


# ------------------------------------------------------------------ VBGE weight mapping (Cao et al.)
def _lin(out: dict, ours: str, P: dict, theirs: str, transpose: bool) -> None:
    """official GraphConvolution weight (in, out) -> nn.Linear (out, in); nn.Linear as is."""
    w = P[theirs + ".weight"]
    out[ours + ".weight"] = w.T if transpose else w
    out[ours + ".bias"] = P[theirs + ".bias"]


def map_vbge(out: dict, ours: str, P: dict, theirs: str, layers: int, items: bool = True) -> None:
    """official singleVBGE/VBGE ``theirs.encoder.*`` -> gnnrec :class:`~gnnrec.models.vbge.VBGE` ``ours``."""
    for k in range(layers - 1):
        o, t = f"{ours}.hidden.{k}", f"{theirs}.encoder.{k}"
        _lin(out, o + ".user_in", P, t + ".gc1.gc1", True)
        _lin(out, o + ".user_out", P, t + ".gc3.gc1", True)
        _lin(out, o + ".user_union", P, t + ".user_union", False)
        if items:
            _lin(out, o + ".item_in", P, t + ".gc2.gc1", True)
            _lin(out, o + ".item_out", P, t + ".gc4.gc1", True)
            _lin(out, o + ".item_union", P, t + ".item_union", False)
    o, t = f"{ours}.head", f"{theirs}.encoder.{layers - 1}"
    _lin(out, o + ".user_in", P, t + ".gc1.gc1", True)
    _lin(out, o + ".user_mean", P, t + ".gc3_mean.gc1", True)
    _lin(out, o + ".user_logstd", P, t + ".gc3_logstd.gc1", True)
    _lin(out, o + ".user_union_mean", P, t + ".user_union_mean", False)
    _lin(out, o + ".user_union_logstd", P, t + ".user_union_logstd", False)
    if items:
        _lin(out, o + ".item_in", P, t + ".gc2.gc1", True)
        _lin(out, o + ".item_mean", P, t + ".gc4_mean.gc1", True)
        _lin(out, o + ".item_logstd", P, t + ".gc4_logstd.gc1", True)
        _lin(out, o + ".item_union_mean", P, t + ".item_union_mean", False)
        _lin(out, o + ".item_union_logstd", P, t + ".item_union_logstd", False)


def map_cross(out: dict, P: dict, layers: int) -> None:
    """official DisenCDR ``share_GNN`` (crossVBGE) -> gnnrec ``cross.0`` (source) / ``cross.1`` (target)."""
    for k in range(layers - 1):
        t = f"share_GNN.encoder.{k}"
        for x, gin, gout, side in ((0, "gc1", "gc3", "source"), (1, "gc2", "gc4", "target")):
            o = f"cross.{x}.hidden.{k}"
            _lin(out, o + ".user_in", P, f"{t}.{gin}.gc1", True)
            _lin(out, o + ".user_out", P, f"{t}.{gout}.gc1", True)
            _lin(out, o + ".user_union", P, f"{t}.{side}_user_union", False)
    t = f"share_GNN.encoder.{layers - 1}"
    for x, gin, gout, side in ((0, "gc1", "gc3", "source"), (1, "gc2", "gc4", "target")):
        o = f"cross.{x}.head"
        _lin(out, o + ".user_in", P, f"{t}.{gin}.gc1", True)
        _lin(out, o + ".user_mean", P, f"{t}.{gout}_mean.gc1", True)
        _lin(out, o + ".user_logstd", P, f"{t}.{gout}_logstd.gc1", True)
        _lin(out, o + ".user_union_mean", P, f"{t}.{side}_user_union_mean", False)
        _lin(out, o + ".user_union_logstd", P, f"{t}.{side}_user_union_logstd", False)


def official_disencdr_weights(P: dict, layers: int) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {
        "user_spec": torch.cat([P["source_user_embedding.weight"], P["target_user_embedding.weight"]]),
        "user_share": torch.cat([P["source_user_embedding_share.weight"],
                                 P["target_user_embedding_share.weight"]]),
        "item0": torch.cat([P["source_item_embedding.weight"], P["target_item_embedding.weight"]])}
    map_vbge(out, "specific.0", P, "source_specific_GNN", layers)
    map_vbge(out, "specific.1", P, "target_specific_GNN", layers)
    map_vbge(out, "share.0", P, "source_share_GNN", layers, items=False)
    map_vbge(out, "share.1", P, "target_share_GNN", layers, items=False)
    map_cross(out, P, layers)
    return out


class NoiseTape:
    """Pre-drawn N(0, 1) tensors handed out in call order: the official ``torch.randn(n, d)`` calls
    and gnnrec's ``_noise(like)`` draw the same values when both sample in the same order."""

    def __init__(self, shapes: list[tuple[int, int]], seed: int = 7, zero: bool = False) -> None:
        g = torch.Generator().manual_seed(seed)
        self.draws = [torch.zeros(s) if zero else torch.randn(s, generator=g) for s in shapes]
        self.i = 0

    def reset(self) -> "NoiseTape":
        self.i = 0
        return self

    def __call__(self, *shape, **kw) -> torch.Tensor:
        t = self.draws[self.i]
        self.i += 1
        if shape:
            want = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list, torch.Size)) \
                else tuple(shape)
            assert tuple(t.shape) == want, (t.shape, want)
        return t.clone()


# ------------------------------------------------------------------------------------ DisenCDR
def _disencdr_setup(tmp_path: Path, d: int = 8, layers: int = 2):
    rng = np.random.default_rng(3)
    U, NS, NT = 9, 7, 6
    src = first_appearance(random_rows(rng, list(range(U)), NS, 2, 4))
    tgt = first_appearance(random_rows(rng, list(range(U)), NT, 2, 4))
    write(tmp_path / "dataset/sa_cb/train.txt", [(u, i, 1) for u, i in src])
    write(tmp_path / "dataset/cb_sa/train.txt", [(u, i, 1) for u, i in tgt])
    ds = two_domain_dataset(U, (NS, NT), [src, tgt], [[(0, 0)], [(1, 0)]])
    rate = 0.6
    opt = dict(model="DisenCDR", feature_dim=d, hidden_dim=d, GNN=layers, dropout=0.0, optim="adam", lr=0.0,
               leakey=0.1, cuda=False, beta=0.9, rate=rate, source_user_num=U, target_user_num=U,
               source_item_num=NS, target_item_num=NT)
    return ds, opt, rate, src, tgt


def _disencdr_batch(rng: np.random.Generator, src, tgt, U: int, NS: int, NT: int):
    """An official batch (u, pos_s, neg_s, pos_t, neg_t) and the same rows as a gnnrec Batch."""
    from gnnrec.models.base import Batch

    ps = {u: [i for uu, i in src if uu == u] for u in range(U)}
    pt = {u: [i for uu, i in tgt if uu == u] for u in range(U)}
    u = torch.arange(U)
    sp = torch.tensor([int(rng.choice(ps[x])) for x in range(U)])
    tp = torch.tensor([int(rng.choice(pt[x])) for x in range(U)])
    sn = torch.tensor(rng.integers(0, NS, U))
    tn = torch.tensor(rng.integers(0, NT, U))
    ours = Batch(users=torch.cat([u, u]), pos=torch.cat([sp, tp + NS]), neg=torch.cat([sn, tn + NS])[:, None],
                 domain=torch.cat([torch.zeros(U, dtype=torch.long), torch.ones(U, dtype=torch.long)]))
    return [u, sp, sn, tp, tn], ours


@pytest.mark.parametrize("noise", ["zero", "drawn"])
def test_disencdr_matches_official(tmp_path, monkeypatch, noise):
    ds, opt, rate, src, tgt = _disencdr_setup(tmp_path)
    U, NS, NT, d = ds.n_users, 7, 6, opt["feature_dim"]
    with official("disencdr") as root:
        from model.trainer import CrossTrainer
        from utils.GraphMaker import GraphMaker

        torch.manual_seed(1)
        sG = GraphMaker(dict(opt), str(tmp_path / "dataset/sa_cb/train.txt"))
        tG = GraphMaker(dict(opt), str(tmp_path / "dataset/cb_sa/train.txt"))
        tr = CrossTrainer(opt)
        P = {k: v.detach().clone() for k, v in tr.model.state_dict().items()}
        # official draws: src user, src item, tgt user, tgt item (specific), shared user
        tape = NoiseTape([(U, d), (NS, d), (U, d), (NT, d), (U, d)], zero=noise == "zero")
        ob, ours_b = _disencdr_batch(np.random.default_rng(5), src, tgt, U, NS, NT)

        m = gnnrec_model(ds, "disencdr", dim=d, layers=2, dropout=0.0, beta=0.9,
                         prior_std=math.exp(0.1 + 0.9 * SOFTPLUS_1))        # official prior: sigma(1) = 3.6036
        copy_into(m, official_disencdr_weights(P, 2))
        m.rate.fill_(rate)                                                   # official global scalar rate
        m._double_exp = True                                                 # official exp(sigma) sampling
        monkeypatch.setattr(m, "_noise", lambda like: tape(tuple(like.shape)))
        monkeypatch.setattr(torch, "randn", tape)
        m.train()
        diffs = {}
        for epoch, phase in ((1, 0), (10, 1)):                              # warm-up, then the full model
            m.phase.fill_(phase)
            ours = float(m.batch_loss("main", ours_b))
            tape.reset()
            theirs = tr.reconstruct_graph(ob, sG.UV, sG.VU, tG.UV, tG.VU, None, None, epoch)
            tape.reset()
            diffs[f"loss phase {phase}"] = report(f"disencdr ({noise} noise) loss, epoch {epoch}", ours, theirs)
        m.rate.fill_(0.5)                                       # control: another rate changes the loss
        assert abs(float(m.batch_loss("main", ours_b)) - theirs) > 1e-4
        m.rate.fill_(rate)
        tape.reset()
        monkeypatch.undo()
        tr.model.eval()
        tr.evaluate_embedding(sG.UV, sG.VU, tG.UV, tG.VU)
        u, v = m.embeddings()
        scores = u @ v.T
        diffs["scores s"] = report("disencdr eval scores s", scores[:, :NS], tr.source_user @ tr.source_item.T)
        diffs["scores t"] = report("disencdr eval scores t", scores[:, NS:], tr.target_user @ tr.target_item.T)
    assert root.is_dir()


def test_disencdr_fixes_differ_from_the_official_bugs(tmp_path):
    """The gnnrec defaults (per-user rate, one exp) and the N(0, I) option do change the loss."""
    ds, *_ = _disencdr_setup(tmp_path)
    m = gnnrec_model(ds, "disencdr", dim=8, dropout=0.0).train()
    assert m.cfg.prior_std == pytest.approx(math.exp(0.1 + 0.9 * SOFTPLUS_1), abs=1e-4)   # official prior
    torch.manual_seed(0)
    a = m.encode()[2]
    m.cfg.prior_std = 1.0
    torch.manual_seed(0)
    b = m.encode()[2]
    assert not torch.allclose(a, b)
    torch.manual_seed(0)
    z1 = m.encode()[0]
    m._double_exp = True
    torch.manual_seed(0)
    assert not torch.allclose(z1, m.encode()[0])                            # exp(sigma) sampling differs
    assert not torch.allclose(m.rate, m.rate[0].expand_as(m.rate))         # per-user lam_u


# ------------------------------------------------------------------------------------ CDRIB
def _cdrib_setup(tmp_path: Path, d: int = 8, layers: int = 3):
    """CDRIB layout: overlapping users 0..C-1 (ids aligned), user 5 cold in s, 6 and 7 cold in t,
    users 8, 9 outside the overlap (in both files so that both user tables have 10 rows)."""
    rng = np.random.default_rng(11)
    U, NS, NT = 10, 7, 6
    cold_s, cold_t = {5}, {6, 7}
    src_all = random_rows(rng, list(range(U)), NS, 2, 3)
    tgt_all = random_rows(rng, list(range(U)), NT, 2, 3)
    src = [(u, i) for u, i in src_all if u not in cold_s]
    tgt = [(u, i) for u, i in tgt_all if u not in cold_t]
    for rows, n in ((src, NS), (tgt, NT)):                  # every item and the last user in train
        assert {i for _, i in rows} == set(range(n)) and max(u for u, _ in rows) == U - 1
    held_s = [(u, i) for u, i in src_all if u in cold_s]
    held_t = [(u, i) for u, i in tgt_all if u in cold_t]
    for name, tr in (("xa_yb", src), ("yb_xa", tgt)):
        write(tmp_path / f"dataset/{name}/train.txt", [(u, i, 1) for u, i in tr])
    ds = two_domain_dataset(U, (NS, NT), [src, tgt], [held_s, held_t], cold=(cold_s, cold_t))
    shared = min(min(u for u, _ in held_s), min(u for u, _ in held_t)) + 1      # official: 6
    opt = dict(model="CDRIB", feature_dim=d, hidden_dim=d, GNN=layers, dropout=0.0, optim="adam", lr=0.0,
               weight_decay=0.0, leakey=0.1, cuda=False, beta=1.5, margin=0.3, bce=False, user_batch_size=4,
               shared_user=shared, source_shared_user=max(u for u, _ in held_s) + 1,
               target_shared_user=max(u for u, _ in held_t) + 1, source_user_num=U, target_user_num=U,
               source_item_num=NS, target_item_num=NT)
    return ds, opt, src, tgt


def official_cdrib_weights(P: dict, layers: int) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {
        "user0": torch.cat([P["source_user_embedding.weight"], P["target_user_embedding.weight"]]),
        "item0": torch.cat([P["source_item_embedding.weight"], P["target_item_embedding.weight"]])}
    map_vbge(out, "enc.0", P, "source_GNN", layers)
    map_vbge(out, "enc.1", P, "target_GNN", layers)
    for k in (0, 2, 4):
        out[f"critic.{k}.weight"] = P[f"discri.{k}.weight"]
        out[f"critic.{k}.bias"] = P[f"discri.{k}.bias"]
    return out


def cdrib_official_semantics(m, opt: dict) -> None:
    """The official id ranges instead of gnnrec's bridge users: rows of users < shared_user are
    reconstructed cross-domain only, the others in-domain; source (target) scores of users below
    source_shared_user (target_shared_user) come from the other encoder; the critic draws
    positives from range(shared_user) and negatives from every id."""
    ids = torch.arange(m.n_users)
    k = opt["shared_user"]
    m.own_rows.copy_((ids >= k).expand(2, -1))
    m.cross_rows.copy_((ids < k).expand(2, -1))
    m.eval_cross.copy_(torch.stack([ids < opt["source_shared_user"], ids < opt["target_shared_user"]]))
    m.bridge = torch.arange(k)
    m.pool_0 = torch.arange(opt["source_user_num"])
    m.pool_1 = torch.arange(opt["target_user_num"])


@pytest.mark.parametrize("noise,critic", [("zero", "hinge"), ("drawn", "hinge"), ("drawn", "bce")])
def test_cdrib_matches_official(tmp_path, monkeypatch, noise, critic):
    from gnnrec.models.base import Batch

    ds, opt, src, tgt = _cdrib_setup(tmp_path)
    opt["bce"] = critic == "bce"
    U, NS, NT, d, L = ds.n_users, 7, 6, opt["feature_dim"], opt["GNN"]
    with official("cdrib"):
        from model.trainer import CrossTrainer
        from utils.GraphMaker import GraphMaker

        torch.manual_seed(2)
        sG = GraphMaker(dict(opt), str(tmp_path / "dataset/xa_yb/train.txt"))
        tG = GraphMaker(dict(opt), str(tmp_path / "dataset/yb_xa/train.txt"))
        tr = CrossTrainer(opt)
        P = {k: v.detach().clone() for k, v in tr.model.state_dict().items()}
        m = gnnrec_model(ds, "cdrib", dim=d, layers=L, dropout=0.0, beta=1.5, margin=0.3, critic=critic,
                         critic_users=4, in_domain=False, l2=0.0,
                         prior_std=math.exp(0.1 + 0.9 * F.softplus(torch.tensor(0.4)).item()))   # official 2.5136
        copy_into(m, official_cdrib_weights(P, L))
        cdrib_official_semantics(m, opt)
        # official draws: src item, src user, tgt item, tgt user
        tape = NoiseTape([(NS, d), (U, d), (NT, d), (U, d)], zero=noise == "zero")
        rp = torch.randperm

        def perm(n, **kw):
            return rp(n, generator=torch.Generator().manual_seed(n))

        monkeypatch.setattr(torch, "randn", tape)
        monkeypatch.setattr(torch, "randperm", perm)
        monkeypatch.setattr(m, "_noise", lambda like: tape(tuple(like.shape)))
        monkeypatch.setattr(m, "_perm", perm)
        rng = np.random.default_rng(4)
        su, sp = torch.tensor([u for u, _ in src]), torch.tensor([i for _, i in src])
        tu, tp = torch.tensor([u for u, _ in tgt]), torch.tensor([i for _, i in tgt])
        sn, tn = torch.tensor(rng.integers(0, NS, len(su))), torch.tensor(rng.integers(0, NT, len(tu)))
        ours_b = Batch(users=torch.cat([su, tu]), pos=torch.cat([sp, tp + NS]),
                       neg=torch.cat([sn, tn + NS])[:, None],
                       domain=torch.cat([torch.zeros(len(su), dtype=torch.long),
                                         torch.ones(len(tu), dtype=torch.long)]))
        m.train()
        ours = float(m.batch_loss("main", ours_b))
        tape.reset()
        theirs = tr.reconstruct_graph([su, sp, sn, tu, tp, tn], sG.UV, sG.VU, tG.UV, tG.VU)
        report(f"cdrib ({noise} noise, {critic}) loss", ours, theirs)
        m.cfg.prior_std = 1.0                                  # control: the gnnrec prior differs
        tape.reset()
        assert abs(float(m.batch_loss("main", ours_b)) - theirs) > 1e-3
        monkeypatch.undo()
        tr.model.eval()
        tr.evaluate_embedding(sG.UV, sG.VU, tG.UV, tG.VU)
        u, v = m.embeddings()
        scores = u @ v.T
        report("cdrib eval scores s", scores[:, :NS], tr.source_user @ tr.source_item.T)
        report("cdrib eval scores t", scores[:, NS:], tr.target_user @ tr.target_item.T)


# ------------------------------------------------------------------------------------ UniCDR
def official_unicdr_weights(P: dict, n_dom: int, aggregator: str) -> dict[str, torch.Tensor]:
    out = {"user_spec": torch.cat([P[f"specific_user_emb_list.{k}.weight"] for k in range(n_dom)]),
           "user_share": P["share_user_embedding.weight"],
           "item0": torch.cat([P[f"specific_item_emb_list.{k}.weight"][1:] for k in range(n_dom)])}
    for k in range(n_dom + 1):
        out[f"aggs.{k}.W_agg.weight"] = P[f"agg_list.{k}.W_agg.weight"]
        if aggregator == "user_attention":
            out[f"aggs.{k}.W_att.weight"] = P[f"agg_list.{k}.W_att.0.weight"]
            out[f"aggs.{k}.W_att.bias"] = P[f"agg_list.{k}.W_att.0.bias"]
    for k in range(n_dom):
        out[f"critics.{k}.weight"] = P[f"dis_list.{k}.weight"]
        out[f"critics.{k}.bias"] = P[f"dis_list.{k}.bias"]
    return out


def _padded(rng, n: int, n_items: int) -> list[int]:
    """A random official context row: up to ``n`` distinct items as raw id + 1, then 0 = padding."""
    row = [int(x) + 1 for x in rng.choice(n_items, size=min(int(rng.integers(0, n + 1)), n_items), replace=False)]
    return row + [0] * (n - len(row))


def _unicdr_contexts(rng, B: int, n: int, n_items: tuple[int, int], k: int, own_in_global: bool):
    """Official-format contexts of B rows of domain k: ctx (B, n) and gctx (B, 2, n); the global
    context's domain-k slots are padding unless ``own_in_global`` (training masks them)."""
    ctx = torch.tensor([_padded(rng, n, n_items[k]) for _ in range(B)])
    g = torch.tensor([[_padded(rng, n, n_items[j]) if (j != k or own_in_global) else [0] * n
                       for j in range(2)] for _ in range(B)])
    return ctx, g


def _to_gnnrec(ctx: torch.Tensor, off: int) -> tuple[torch.Tensor, torch.Tensor]:
    mask = ctx > 0
    return torch.where(mask, ctx - 1 + off, torch.zeros_like(ctx)), mask


@pytest.mark.parametrize("aggregator", ["user_attention", "mean"])
def test_unicdr_matches_official(tmp_path, monkeypatch, aggregator):
    U, NS, NT, d, n_neg, maxlen, B = 9, 7, 6, 8, 3, 4, 6
    rng = np.random.default_rng(2)
    src = random_rows(rng, list(range(U)), NS, 2, 4)
    tgt = random_rows(rng, list(range(U)), NT, 2, 4)
    ds = two_domain_dataset(U, (NS, NT), [src, tgt], [[(0, 0)], [(1, 0)]])
    off = [0, NS]
    opt = dict(model="UniCDR", task="dual-user-intra", num_domains=2, aggregator=aggregator, lambda_a=0.5,
               latent_dim=d, dropout=0.0, user_max=[U, U], item_max=[NS, NT], cuda=False, lambda_loss=0.4,
               optim="adam", lr=0.0, weight_decay=0.0)
    with official("unicdr"):
        from model.trainer import CrossTrainer

        torch.manual_seed(3)
        tr = CrossTrainer(opt)
        P = {k: v.detach().clone() for k, v in tr.model.state_dict().items()}
        m = gnnrec_model(ds, "unicdr", dim=d, aggregator=aggregator, lambda_a=0.5, lambda_loss=0.4, dropout=0.0,
                         maxlen=maxlen, l2=0.0)
        copy_into(m, official_unicdr_weights(P, 2, aggregator))
        for agg in m.aggs:
            agg.official_softmax = True                    # official masked softmax (padding logit 0)
        monkeypatch.setattr(torch, "randint", lambda lo, hi, size, **kw: torch.ones(size, dtype=torch.long))
        monkeypatch.setattr(m, "_shift", lambda b: 1)
        m.train()
        tr.model.train()
        tr.model.item_embedding_select()
        ours_total, theirs_total = 0.0, 0.0
        for k, n_it in enumerate((NS, NT)):
            users = torch.tensor(rng.integers(0, U, B))
            pos = torch.tensor(rng.integers(0, n_it, B)) + 1
            neg = torch.tensor(rng.integers(0, n_it, (B, n_neg))) + 1
            ctx, g = _unicdr_contexts(rng, B, maxlen, (NS, NT), k, own_in_global=False)
            ones = torch.ones(ctx.shape)
            theirs = tr.reconstruct_graph(k, (users, pos, neg, ctx, ones, g, torch.ones(g.shape)))
            c, cm = _to_gnnrec(ctx, off[k])
            gs = [_to_gnnrec(g[:, j], off[j]) for j in range(2)]
            ours = m.domain_loss(k, users, pos - 1 + off[k], neg - 1 + off[k], c, cm,
                                 torch.cat([x[0] for x in gs], 1), torch.cat([x[1] for x in gs], 1))
            report(f"unicdr {aggregator} loss domain {k}", float(ours), float(theirs))
            ours_total, theirs_total = ours_total + float(ours), theirs_total + float(theirs)
        report(f"unicdr {aggregator} loss (sum over domains)", ours_total, theirs_total)
        monkeypatch.setattr(m, "_shift", lambda b: 2)          # control: another critic shift differs
        other = m.domain_loss(k, users, pos - 1 + off[k], neg - 1 + off[k], c, cm,
                              torch.cat([x[0] for x in gs], 1), torch.cat([x[1] for x in gs], 1))
        assert abs(float(other) - float(theirs)) > 1e-5
        monkeypatch.undo()
        # evaluation: contexts of up to 50 items, own domain included in the shared context; some users
        # have an all-padded own context (the cold-user case)
        m.eval()
        tr.model.eval()
        tr.model.item_embedding_select()
        for k, n_it in enumerate((NS, NT)):
            users = torch.arange(U)
            items = torch.stack([torch.randperm(n_it)[:4] for _ in range(U)]) + 1
            ctx, g = _unicdr_contexts(rng, U, 6, (NS, NT), k, own_in_global=True)
            ctx[:2] = 0
            with torch.no_grad():
                theirs = tr.model.predict_dot(
                    tr.model.forward_user(k, users, ctx, torch.ones(ctx.shape), g, torch.ones(g.shape)),
                    tr.model.forward_item(k, items))
                c, cm = _to_gnnrec(ctx, off[k])
                gs = [_to_gnnrec(g[:, j], off[j]) for j in range(2)]
                m.cfg.zero_cold_specific = False               # official: the ID row stays in spec
                spec, share = m.user_parts(k, users, c, cm, torch.cat([x[0] for x in gs], 1),
                                           torch.cat([x[1] for x in gs], 1))
                ours = ((spec + share)[:, None, :] * m.item0[items - 1 + off[k]]).sum(-1)
                report(f"unicdr {aggregator} eval scores domain {k}", ours, theirs)
                if aggregator == "user_attention":             # control: the fixed softmax differs
                    for agg in m.aggs:
                        agg.official_softmax = False
                    spec2, share2 = m.user_parts(k, users, c, cm, torch.cat([x[0] for x in gs], 1),
                                                 torch.cat([x[1] for x in gs], 1))
                    assert float((spec2 + share2 - spec - share).abs().max()) > 1e-4
                    for agg in m.aggs:
                        agg.official_softmax = True


# ------------------------------------------------------------------------------------ PTUPCDR
def test_ptupcdr_matches_official(tmp_path):
    """Bridged scores of bridge users (the meta stage's predictions, ``train_meta``) and the exported
    scores of target-cold users (``test_meta``); gnnrec's meta loss is BPR, the official one MSE on
    ratings, so the loss is compared as the MSE of the same predictions."""
    U, NS, NT, d, md = 10, 8, 6, 4, 6
    rng = np.random.default_rng(9)
    cold_t = {6, 7}                       # source rows only
    only_s = U - 1                        # the only user with source item 0 (official padding id)
    src, tgt = [], []
    for u in range(U):
        pool = np.arange(NS) if u == only_s else np.arange(1, NS)
        src += [(u, int(i)) for i in rng.choice(pool, size=int(rng.integers(2, 5)), replace=False)]
        if u not in cold_t and u != only_s:
            tgt += [(u, int(i)) for i in rng.choice(NT, size=int(rng.integers(2, 4)), replace=False)]
    src.append((only_s, 0))
    held = [(u, int(rng.integers(0, NT))) for u in sorted(cold_t)]
    ds = two_domain_dataset(U, (NS, NT), [src, tgt], [[], held], cold=(set(), cold_t))
    with official("ptupcdr"):
        from models import MFBasedModel

        torch.manual_seed(4)
        off = MFBasedModel(U, NS + NT, 2, d, md)
        P = {k: v.detach().clone() for k, v in off.state_dict().items()}
    m = gnnrec_model(ds, "ptupcdr", dim=d, meta_dim=md)
    vals = {"user0": torch.cat([P["src_model.uid_embedding.weight"], P["tgt_model.uid_embedding.weight"]]),
            "item0": torch.cat([P["src_model.iid_embedding.weight"][:NS],
                                P["tgt_model.iid_embedding.weight"][NS:NS + NT]])}
    for pair in ("0>1", "1>0"):
        for k, v in P.items():
            if k.startswith("meta_net."):
                vals[f"metas.{pair}.{k[len('meta_net.'):]}"] = v
    copy_into(m, vals)
    m.eval()

    def x_rows(users, items):
        rows = []
        for u, i in zip(users, items):
            seq = [i_ for uu, i_ in src if uu == u][-20:]
            rows.append([u, NS + i] + seq + [0] * (20 - len(seq)))
        return torch.tensor(rows)

    bridge = [u for u in range(U) if u not in cold_t and u != only_s]
    users = [u for u in bridge for _ in range(NT)]
    items = [i for _ in bridge for i in range(NT)]
    X = x_rows(users, items)
    y = torch.tensor(rng.integers(1, 6, len(users)), dtype=torch.float32)
    with torch.no_grad():
        theirs = off(X, "train_meta")
        ours = (m.bridge(0, 1, torch.tensor(users)) * m.item0[NS + torch.tensor(items)]).sum(-1)
    report("ptupcdr bridged scores (train_meta)", ours, theirs)
    report("ptupcdr meta MSE", float(F.mse_loss(ours, y)), float(F.mse_loss(theirs, y)))
    u_emb, v_emb = m.embeddings()
    cold = sorted(cold_t)
    Xc = x_rows([u for u in cold for _ in range(NT)], [i for _ in cold for i in range(NT)])
    with torch.no_grad():
        theirs_c = off(Xc, "test_meta").view(len(cold), NT)
    report("ptupcdr exported scores of target-cold users (test_meta)", (u_emb @ v_emb.T)[cold][:, NS:], theirs_c)
    warm = torch.tensor(bridge)                  # warm users keep their own target factors
    tgt_u, tgt_i = P["tgt_model.uid_embedding.weight"], P["tgt_model.iid_embedding.weight"]
    torch.testing.assert_close((u_emb @ v_emb.T)[warm][:, NS:], tgt_u[warm] @ tgt_i[NS:NS + NT].T)
