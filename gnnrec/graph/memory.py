"""Training-memory estimator: full-graph or mini-batch, decided before anything is allocated.

Inputs are counts only (users, items, train edges, embedding ``dim``,
``layers``, ``batch_size``, negatives, text width), so the decision is taken
before the adjacency or the model exist. Byte counts (float32 = 4 B, int64 = 8 B;
``N = users + items`` nodes, ``E`` train edges, ``nnz = 2E`` adjacency entries)::

    adjacency (CSR)      nnz * (4 + 8) + (N + 1) * 8
    parameters           P = N * dim (+ text projections)  -> 4 P * 4 B
                         (weights, gradients, Adam's two moments)
    LightGCN activations full graph: (3L + 3) * N * dim * 4 B
                         (layer outputs kept for backward, the running sum, their
                          gradients, the layer-0 concat)
    HGT activations      full graph: L * (nnz * dim * 6 + N * dim * 8) * 4 B
                         (per-edge key/value/message/attention per layer, node
                          projections); the edge term dominates
    batch                B * (2 + negatives) * dim * 4 B * 4 (gathers + grads)
    text features        n_items * text_dim * 4 B (+ the users' mean text)

Mini-batch (LinkNeighborLoader, fan-outs f_1..f_L, ``seeds = B * (2 + negatives)``):
a batch samples at most ``S_E = seeds * (f_1 + f_1 f_2 + ...)`` edges (capped by
``nnz``) over at most ``S = min(N, seeds + S_E)`` nodes; its activations use
``S`` in place of ``N`` and ``S_E`` in place of ``nnz``, while parameters and
optimiser states stay full size (ID embeddings of every node).

The estimates are deliberately upper-ish (allocator slack ``1.25``); the
benchmark (``benchmarks/scale.py``) prints predicted next to measured peaks.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import asdict, dataclass
from typing import Iterator, Sequence

import torch

from gnnrec.errors import GnnrecError
from gnnrec.utils.config import ConfigError

log = logging.getLogger(__name__)

GiB = float(1 << 30)
SLACK = 1.25                  # allocator fragmentation, temporaries
BUDGET_SHARE = 0.8            # share of free device memory a run may plan to use


@dataclass(frozen=True)
class GraphSize:
    """What the estimate depends on (counts, not tensors)."""

    users: int
    items: int
    edges: int                # train interactions (one direction)
    dim: int = 64
    layers: int = 3
    batch_size: int = 16384
    negatives: int = 1
    text_dim: int = 0         # 0: no text features
    family: str = "lightgcn"  # the model's memory_family: lightgcn | hgt | mf
    fanouts: tuple[int, ...] = (10, 5, 5)
    full_batch: int = 0       # full-graph batch when it differs (gnnrec.train.steps.full_graph_schedule)

    @property
    def nodes(self) -> int:
        return self.users + self.items


@dataclass(frozen=True)
class Estimate:
    """Byte estimates of one training setup and the mode they imply."""

    full_bytes: int
    minibatch_bytes: int
    budget_bytes: int
    mode: str                 # "full" | "minibatch"
    reason: str
    advice: str
    parts: dict
    batch_size: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def _activations(family: str, nodes: int, nnz: int, dim: int, layers: int) -> int:
    if family == "hgt":
        return layers * (nnz * dim * 6 + nodes * dim * 8) * 4
    if family == "mf":
        return 0
    return (3 * layers + 3) * nodes * dim * 4


def sampled_size(seeds: int, fanouts: Sequence[int], nodes: int, nnz: int) -> tuple[int, int]:
    """Upper bounds (nodes, edges) of one sampled batch with ``seeds`` roots.

    Hop h draws ``f_h`` neighbours for each node of the previous frontier:
    ``edges = seeds * (f_1 + f_1 f_2 + ...)`` (capped by ``nnz``), nodes are the
    roots plus those draws (capped by the graph's node count).
    """
    edges, frontier = 0, seeds
    for f in fanouts:
        frontier = min(frontier * int(f), nnz)
        edges = min(edges + frontier, nnz)
    return min(seeds + edges, nodes), edges


def estimate_parts(g: GraphSize) -> tuple[dict[str, int], dict[str, int]]:
    """(full-graph parts, mini-batch parts) in bytes; see module docstring."""
    fam = g.family
    nnz = 2 * g.edges
    params = g.nodes * g.dim + (2 * g.text_dim * g.dim if g.text_dim else 0)
    common = {
        "parameters+adam": 4 * params * 4,
        "text": (g.items + g.users) * g.text_dim * 4,
        "batch": g.batch_size * (2 + g.negatives) * g.dim * 4 * 4,
        "train_index": g.edges * 8 * 3,                  # users/items/domains on device
    }
    adj = 0 if fam == "mf" else nnz * 12 + (g.nodes + 1) * 8
    full = {**common, "batch": (g.full_batch or g.batch_size) * (2 + g.negatives) * g.dim * 4 * 4,
            "adjacency": adj,
            "activations": _activations(fam, g.nodes, nnz, g.dim, g.layers)}
    seeds = g.batch_size * (2 + g.negatives)
    s_nodes, s_edges = sampled_size(seeds, g.fanouts[: g.layers], g.nodes, nnz)
    mini = {**common, "graph_index(CSC)": nnz * 8 + (g.nodes + 1) * 8 * 2,
            "subgraph": s_edges * 8 * 3 + s_nodes * 8,
            "activations": _activations(fam, s_nodes, s_edges, g.dim, g.layers)}
    return full, mini


def device_budget(device: torch.device | str) -> int:
    """Bytes a run may plan to use: ``BUDGET_SHARE`` x free memory of ``device``.

    CUDA: ``torch.cuda.mem_get_info``; CPU: ``MemAvailable`` of /proc/meminfo
    (falls back to total physical memory). ``GNNREC_MEMORY_BUDGET_GB`` overrides
    (used by tests and to leave room for other jobs).
    """
    env = os.environ.get("GNNREC_MEMORY_BUDGET_GB")
    if env:
        return int(float(env) * GiB)
    dev = torch.device(device)
    if dev.type == "cuda":
        free, _ = torch.cuda.mem_get_info(dev)
        return int(free * BUDGET_SHARE)
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in f}
        free = info.get("MemAvailable", info["MemTotal"])
    except (OSError, KeyError, ValueError):
        free = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return int(free * BUDGET_SHARE)


def _fits_batch(g: GraphSize, budget: int, full: bool) -> int | None:
    """Largest power-of-two batch size (<= g.batch_size) whose estimate fits, or None."""
    b = g.batch_size
    while b >= 256:
        f, m = estimate_parts(GraphSize(**{**asdict(g), "batch_size": b}))
        if int(sum((f if full else m).values()) * SLACK) <= budget:
            return b
        b //= 2
    return None


def estimate(g: GraphSize, budget: int, requested: str = "auto") -> Estimate:
    """Estimate memory and choose ``full`` or ``minibatch`` (``requested``: auto|full|minibatch)."""
    full_parts, mini_parts = estimate_parts(g)
    full_b = int(sum(full_parts.values()) * SLACK)
    mini_b = int(sum(mini_parts.values()) * SLACK)
    gib = lambda b: f"{b / GiB:.2f} GiB"  # noqa: E731
    if requested == "full" or (requested == "auto" and full_b <= budget):
        mode = "full"
        why = (f"full-graph training needs ~{gib(full_b)} (largest: "
               f"{max(full_parts, key=full_parts.get)}), budget {gib(budget)}")
        why += "" if full_b <= budget else " -- requested explicitly although it exceeds the budget"
    elif requested in ("auto", "minibatch"):
        mode = "minibatch"
        why = (f"mini-batch training needs ~{gib(mini_b)}; full-graph would need ~{gib(full_b)} "
               f"against a budget of {gib(budget)}" if requested == "auto" else
               f"mini-batch requested (~{gib(mini_b)}; full-graph ~{gib(full_b)}, budget {gib(budget)})")
    else:
        raise ConfigError(f"train.mode must be auto, full or minibatch, got {requested!r}")
    return Estimate(full_b, mini_b, budget, mode, why, advise(g, budget, full_b, mini_b),
                    {"full": full_parts, "minibatch": mini_parts}, g.batch_size)


def advise(g: GraphSize, budget: int, full_b: int, mini_b: int) -> str:
    """What to change when the setup does not fit (or hit out-of-memory)."""
    tips = []
    if full_b > budget:
        tips.append("use train.mode=minibatch (neighbour-sampled link batches)")
    fb = _fits_batch(g, budget, full=full_b <= budget)
    if fb is not None and fb < g.batch_size:
        tips.append(f"lower train.batch_size to {fb}")
    if mini_b > budget:
        tips.append(f"lower model.dim (now {g.dim}) or the fan-outs "
                    f"(train.fanouts, now {list(g.fanouts)}), or add devices "
                    f"(torchrun --nproc-per-node N)")
    return "; ".join(tips) if tips else "the estimate fits; if it still ran out, lower train.batch_size"


def log_decision(est: Estimate) -> None:
    log.info("memory: mode=%s -- %s", est.mode, est.reason)


class DeviceOOM(GnnrecError, RuntimeError):
    """Out of memory on the device, with the estimator's advice in the message."""


def is_oom(err: BaseException) -> bool:
    """True for CUDA OOM and for the CPU allocator's out-of-memory RuntimeError."""
    if isinstance(err, torch.OutOfMemoryError):
        return True
    msg = str(err)
    return isinstance(err, RuntimeError) and ("out of memory" in msg.lower()
                                              or "can't allocate memory" in msg)


@contextlib.contextmanager
def oom_guard(est: Estimate, device: torch.device | str) -> Iterator[None]:
    """Turn an out-of-memory error inside the block into :class:`DeviceOOM` with advice."""
    try:
        yield
    except (RuntimeError, torch.OutOfMemoryError) as e:
        if not is_oom(e):
            raise
        if torch.device(device).type == "cuda":
            torch.cuda.empty_cache()
        first = str(e).strip().splitlines()[0][:200]
        now = [f"lower train.batch_size to {max(est.batch_size // 2, 1)}"]
        if est.mode == "full":
            now.insert(0, "switch to train.mode=minibatch")
        raise DeviceOOM(
            f"out of memory on {device} in {est.mode} mode ({first}). The estimator predicted "
            f"~{est.full_bytes / GiB:.2f} GiB full-graph and ~{est.minibatch_bytes / GiB:.2f} GiB "
            f"mini-batch against a budget of {est.budget_bytes / GiB:.2f} GiB. Fix: "
            f"{' or '.join(now)} (estimator: {est.advice})"
        ) from None
