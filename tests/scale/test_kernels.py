"""The tuned CPU sparse product: exact against dense, bit-identical across thread counts."""

from __future__ import annotations

import torch

from gnnrec.graph import kernels
from gnnrec.graph.kernels import _cpu_product, _threads, pick_threads, spmm


def _random_csr(n: int = 500, density: float = 0.02, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    dense = (torch.rand(n, n, generator=g) < density).float() * torch.rand(n, n, generator=g)
    return dense, dense.to_sparse_csr()


def test_spmm_matches_dense_and_retunes():
    dense, csr = _random_csr()
    x = torch.randn(500, 16)
    kernels._state["calls"] = 0
    for _ in range(3):
        assert torch.allclose(spmm(csr, x), dense @ x, atol=1e-5)
    assert kernels._state["threads"] in (1, torch.get_num_threads())
    coo = dense.to_sparse_coo()                   # other layouts fall back to torch.sparse.mm
    assert torch.allclose(spmm(coo, x), dense @ x, atol=1e-5)


def test_thread_count_does_not_change_results():
    _, csr = _random_csr(seed=1)
    x = torch.randn(500, 64)
    with _threads(1):
        one = _cpu_product(csr, x)
    with _threads(max(2, torch.get_num_threads())):
        many = _cpu_product(csr, x)
    assert torch.equal(one, many)


def test_pick_threads_sets_a_valid_count():
    before = torch.get_num_threads()
    dense, csr = _random_csr(n=300)
    x = torch.randn(300, 8, requires_grad=True)
    try:
        n = pick_threads(lambda: spmm(csr, x).sum(), repeats=1)
        assert n in (1, before) and torch.get_num_threads() == n
    finally:
        torch.set_num_threads(before)
