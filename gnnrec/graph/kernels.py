"""The sparse x dense product behind :func:`gnnrec.graph.propagate`, tuned per machine.

``spmm(adj, x)`` computes ``adj @ x`` for a (N, N) sparse CSR ``adj`` and a
dense (N, d) ``x``:

* CPU: ``torch.sparse.mm(adj, x, reduce="sum")`` -- ATen's native CSR
  reduction kernel (vectorised rows, ``at::parallel_for`` over row blocks),
  which measured as fast as MKL's ``addmm`` on one thread and scales far better
  with threads on a busy machine (benchmarks/propagation_kernels.py). The
  number of threads used for the product is tuned: every ``RETUNE`` calls the
  product is timed with 1 and with ``torch.get_num_threads()`` threads and the
  faster count is kept (on a shared 2-core box one thread is often 2-3x faster
  than two, because OpenMP barriers spin while other jobs hold the cores).
* CUDA (and any other layout/device): plain ``torch.sparse.mm`` (cuSPARSE).

Results are bit-identical for every thread count (each output row is reduced
sequentially by one thread), so tuning never changes a run's numbers.

:func:`pick_threads` applies the same measurement to a whole training step:
on a busy machine every dense op (gathers, Adam, the loss) suffers from
spinning OpenMP barriers too, and one thread for the whole step measured
4-5x faster than two on this project's shared 2-core CPU (ML-1M-CD
cd-lightgcn epoch: ~4 s CPU with 1 thread vs ~20 s with 2 at load ~9).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from typing import Callable, Iterator

import torch

log = logging.getLogger(__name__)

RETUNE = 256                    # products between two thread-count measurements
_state: dict[str, int] = {"calls": 0, "threads": 0}


@contextlib.contextmanager
def _threads(n: int) -> Iterator[None]:
    old = torch.get_num_threads()
    if n != old:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if n != old:
            torch.set_num_threads(old)


def _cpu_product(adj: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return torch.sparse.mm(adj, x, reduce="sum")


def _tune(adj: torch.Tensor, x: torch.Tensor) -> int:
    """Thread count (1 or all) with the lower median time of three products."""
    most = torch.get_num_threads()
    if most <= 1 or os.environ.get("GNNREC_SPMM_THREADS"):
        return int(os.environ.get("GNNREC_SPMM_THREADS", most))
    best, best_t = most, float("inf")
    for n in (1, most):
        with _threads(n):
            ts = []
            for _ in range(3):
                t0 = time.perf_counter()
                _cpu_product(adj, x)
                ts.append(time.perf_counter() - t0)
        t = sorted(ts)[1]
        if t < best_t:
            best, best_t = n, t
    if best != _state["threads"]:
        log.debug("spmm: %d thread(s) is fastest now (%.1f ms per product)", best, best_t * 1e3)
    return best


def spmm(adj: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(N, M) sparse ``adj`` @ dense (M, d) ``x`` -> (N, d); see module docstring."""
    if adj.device.type != "cpu" or adj.layout != torch.sparse_csr or x.dtype != adj.dtype:
        return torch.sparse.mm(adj, x)
    x = x.contiguous()
    if _state["calls"] % RETUNE == 0:
        _state["threads"] = _tune(adj, x)
    _state["calls"] += 1
    with _threads(_state["threads"]):
        return _cpu_product(adj, x)


def pick_threads(step: Callable[[], object], repeats: int = 2) -> int:
    """Time ``step`` with 1 and with all threads, keep the faster count (returned).

    ``step`` must be side-effect free apart from gradients (e.g. a forward +
    backward of the model on a fixed batch); the caller clears gradients.
    """
    most = torch.get_num_threads()
    if most <= 1:
        return most
    timings = {}
    for n in (1, most):
        with _threads(n):
            step()                                     # warm-up
            t0 = time.perf_counter()
            for _ in range(repeats):
                step()
            timings[n] = (time.perf_counter() - t0) / repeats
    best = min(timings, key=timings.get)
    torch.set_num_threads(best)
    log.info("threads: %s s/step -> using %d thread(s) (set train.threads to fix it)",
             {k: round(v, 3) for k, v in timings.items()}, best)
    return best
