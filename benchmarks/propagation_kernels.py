"""Measure sparse-propagation kernels on a real adjacency (default: ML-1M-CD's joint graph).

One "step" is what a LightGCN training step costs in propagation: ``layers``
sparse products forward and ``layers`` backward (A_hat is symmetric, so the
backward is the same product). Kernels compared, each on the same (N, N)
symmetric-normalised adjacency and (N, dim) embeddings:

* torch.sparse.mm with CSR, COO, and CSR at 1 vs all threads;
* torch_geometric.utils.spmm (PyG's dispatcher; torch.sparse underneath here);
* scipy CSR @ dense (single-threaded reference);
* CSR in bfloat16 (values and embeddings);
* the bipartite split: A_hat X = [R X_items ; R^T X_users] with R and R^T as
  two CSR blocks of half the rows each (same nnz, better row locality);
* the full ``gnnrec.graph.propagate`` forward+backward.

Usage: ``python benchmarks/propagation_kernels.py [--dataset ml1m-cd] [--dim 64]
[--layers 3] [--repeat 5]``. Timings on a shared 2-core CPU are noisy: the
script reports the median of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import numpy as np
import torch

from gnnrec.data import load_dataset
from gnnrec.graph.adjacency import joint_adjacency, propagate, to_torch_csr


def _median_time(fn: Callable[[], object], repeat: int) -> float:
    fn()                                                  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="ml1m-cd")
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    ds = load_dataset(args.dataset)
    tr = ds.train
    a = joint_adjacency(tr["user"].to_numpy(), tr["item"].to_numpy(), ds.n_users, ds.n_items)
    n, L, d = a.shape[0], args.layers, args.dim
    print(f"{ds.name}: N={n} nnz={a.nnz} dim={d} layers={L} threads={torch.get_num_threads()}")
    torch.manual_seed(0)
    x = torch.randn(n, d)
    csr = to_torch_csr(a)
    coo = csr.to_sparse_coo().coalesce()
    nu = ds.n_users
    r = to_torch_csr(a[:nu, nu:].tocsr())
    rt = to_torch_csr(a[nu:, :nu].tocsr())
    xs = x.numpy()
    csr_bf = torch.sparse_csr_tensor(csr.crow_indices(), csr.col_indices(),
                                     csr.values().to(torch.bfloat16), size=csr.shape)
    x_bf = x.to(torch.bfloat16)

    def loop(mm: Callable[[object], object], x0: object) -> Callable[[], None]:
        def run() -> None:
            y = x0
            for _ in range(2 * L):                        # forward + backward products
                y = mm(y)
        return run

    def bipartite(y: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.sparse.mm(r, y[nu:]), torch.sparse.mm(rt, y[:nu])])

    import torch_geometric.utils as pyg_utils

    kernels: dict[str, Callable[[], None]] = {
        "torch.sparse.mm CSR fp32": loop(lambda y: torch.sparse.mm(csr, y), x),
        "torch.sparse.mm COO fp32": loop(lambda y: torch.sparse.mm(coo, y), x),
        "torch_geometric spmm (CSR)": loop(lambda y: pyg_utils.spmm(csr, y, reduce="sum"), x),
        "scipy CSR @ dense": loop(lambda y: a @ y, xs),
        "torch.sparse.mm CSR bf16": loop(lambda y: torch.sparse.mm(csr_bf, y), x_bf),
        "bipartite R / R^T CSR fp32": loop(bipartite, x),
    }
    results = {}
    for name, fn in kernels.items():
        try:
            results[name] = _median_time(fn, args.repeat)
        except (RuntimeError, NotImplementedError) as e:
            print(f"  {name:32s} unsupported: {str(e).splitlines()[0][:80]}")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    results["torch.sparse.mm CSR fp32, 1 thread"] = _median_time(kernels["torch.sparse.mm CSR fp32"],
                                                                 args.repeat)
    torch.set_num_threads(threads)
    emb = torch.nn.Parameter(x.clone())

    def prop_step() -> None:
        out = propagate(csr, emb, L)
        out.square().sum().backward()
    results["gnnrec propagate fwd+bwd"] = _median_time(prop_step, args.repeat)
    base = results["torch.sparse.mm CSR fp32"]
    print(f"{'kernel':40s} {'s/step':>8s} {'vs CSR':>7s}")
    for name, t in results.items():
        print(f"{name:40s} {t:8.4f} {base / t:6.2f}x")
    err = (torch.sparse.mm(csr_bf, x_bf).float() - torch.sparse.mm(csr, x)).abs().max().item()
    print(f"bf16 max abs error of one product: {err:.2e}; scipy agrees: "
          f"{np.allclose(a @ xs, torch.sparse.mm(csr, x).numpy(), atol=1e-5)}")


if __name__ == "__main__":
    main()
