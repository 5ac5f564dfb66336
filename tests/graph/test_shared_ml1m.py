"""Smoke test on the frozen ML-1M-CD split: graph sizes and facts match the benchmark README."""

from __future__ import annotations

import torch

from gnnrec.graph import Graph, propagate
from tests.conftest import needs_shared


@needs_shared("ml1m-cd")
def test_ml1m_graph_facts_and_one_propagation():
    from gnnrec.data import load_dataset

    ds = load_dataset("ml1m-cd")
    g = Graph(ds)
    f = g.facts
    assert sum(f["edges"].values()) == 500_925                 # train rows (all distinct pairs)
    assert g.joint_adj._nnz() == 2 * 500_925
    assert f["cold"]["action"]["users"] == 513 and f["cold"]["drama"]["users"] == 513
    assert f["cold"]["action"]["with_other_domain"] == 1.0      # every cold user is a bridge
    x = torch.randn(g.joint_adj.shape[0], 8)
    y = 2 * propagate(g.joint_adj, x, 1) - x                  # (x + A x) / 2 -> A x
    row = 0
    a = g.joint_adj
    s, e = a.crow_indices()[row], a.crow_indices()[row + 1]
    ref = (a.values()[s:e, None] * x[a.col_indices()[s:e]]).sum(0)
    assert torch.allclose(y[row], ref, atol=1e-5)
