"""The fold-in map (gnnrec.export.foldin.FoldinMap): a model whose user vectors carry an exact
linear function of the history (the cross-domain map) exports that function, and folding in a
train user's own history reproduces the map part of their trained vector exactly."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from gnnrec.export.contract import load_export
from gnnrec.export.foldin import FoldinMap, foldin_matrix, foldin_vector, item_degrees
from gnnrec.train import train_run
from tests.train.helpers import quick_cfg


def test_a_train_history_folds_in_to_the_trained_map_part(tmp_path):
    cfg = quick_cfg(tmp_path, "fm", model_kw={"dim": 8, "layers": 2, "cross_map": 0.3,
                                              "cross_map_rank": 3}, epochs=2)
    res = train_run(cfg, progress=False)
    exp = load_export(res.run_dir / "export")
    fmap = exp.foldin_map
    assert fmap is not None and fmap.k_model == 8 and fmap.matrix.shape == (len(exp.item_ids), 6)
    assert set(fmap.scales) == {"mean", "lightgcn", "unit_mean"} and all(s > 0 for s in fmap.scales.values())
    r = res.ds.train_matrix()
    domains = exp.item_domains()
    deg = item_degrees(exp.seen, len(exp.item_ids))
    folded = foldin_matrix(r, exp.item_emb, "lightgcn", deg, fmap, domains)
    has = np.asarray(r.sum(axis=1)).ravel() > 0
    assert np.allclose(folded[has, 8:], exp.user_emb[has, 8:], atol=1e-5)
    # a user's graph part is folded in on the trained scale (the median ratio is one)
    ratio = np.linalg.norm(exp.user_emb[has, :8], axis=1) / np.linalg.norm(folded[has, :8], axis=1)
    assert abs(np.median(ratio) - 1.0) < 1e-3
    # the serving path (one history) agrees with the matrix path
    u = int(np.flatnonzero(has)[0])
    one = foldin_vector(r[u].indices, exp.item_emb, "lightgcn", deg, fmap, domains)
    assert np.allclose(one, folded[u], atol=1e-6)


def test_cold_and_warm_blocks_take_their_weights():
    """A block whose domain the history never touches takes the cold weight, else the warm one."""
    matrix = np.arange(12, dtype=np.float32).reshape(4, 3)          # 4 items, one 3-wide block
    fmap = FoldinMap(matrix=matrix, k_model=0, blocks=[
        {"start": 0, "width": 3, "domain": "b", "cold_weight": 2.0, "warm_weight": 0.5}])
    items = np.array(["a", "a", "b", "b"])
    hist = sp.csr_matrix(np.array([[1, 1, 0, 0], [1, 0, 1, 0]], dtype=np.float32))
    out = fmap.user_part(hist, items)
    assert np.allclose(out[0], 2.0 * (matrix[0] + matrix[1]))         # cold in b
    assert np.allclose(out[1], 0.5 * (matrix[0] + matrix[2]))         # warm in b
