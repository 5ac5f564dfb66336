"""Memory estimator: mode choice with reasons, advice, and real out-of-memory answered with advice."""

from __future__ import annotations

import pytest
import torch

from gnnrec.graph.memory import (DeviceOOM, GiB, GraphSize, device_budget, estimate,
                                 estimate_parts, oom_guard)

ML1M = GraphSize(users=6040, items=3883, edges=500_925)
BIG = GraphSize(users=50_000_000, items=5_000_000, edges=1_000_000_000)


def test_small_graph_is_full_and_big_graph_is_minibatch():
    small = estimate(ML1M, budget=int(8 * GiB))
    assert small.mode == "full" and "full-graph training needs" in small.reason
    big = estimate(BIG, budget=int(8 * GiB))
    assert big.mode == "minibatch"
    assert "full-graph would need" in big.reason and "budget of 8.00 GiB" in big.reason
    assert "train.mode=minibatch" in big.advice
    assert big.minibatch_bytes < big.full_bytes


def test_estimates_grow_with_size_and_hgt_costs_more_than_lightgcn():
    f1, _ = estimate_parts(ML1M)
    f2, _ = estimate_parts(GraphSize(users=60_400, items=38_830, edges=5_009_250))
    size = lambda parts: sum(v for k, v in parts.items() if k != "batch")  # noqa: E731
    assert 8 < size(f2) / size(f1) < 12                          # ~linear in graph size
    hgt, _ = estimate_parts(GraphSize(**{**ML1M.__dict__, "family": "hgt"}))
    assert sum(hgt.values()) > 2 * sum(f1.values())


def test_requested_modes_and_bad_mode():
    assert estimate(BIG, budget=int(8 * GiB), requested="full").mode == "full"
    assert estimate(ML1M, budget=int(8 * GiB), requested="minibatch").mode == "minibatch"
    with pytest.raises(ValueError, match="auto, full or minibatch"):
        estimate(ML1M, budget=1, requested="fast")


def test_batch_advice_when_batch_is_what_does_not_fit():
    g = GraphSize(users=1000, items=1000, edges=10_000, batch_size=1 << 20)
    est = estimate(g, budget=int(0.25 * GiB))
    assert "lower train.batch_size to" in est.advice


def test_budget_override(monkeypatch):
    monkeypatch.setenv("GNNREC_MEMORY_BUDGET_GB", "1.5")
    assert device_budget("cpu") == int(1.5 * GiB)
    monkeypatch.delenv("GNNREC_MEMORY_BUDGET_GB")
    assert device_budget("cpu") > 0


def test_real_out_of_memory_is_answered_with_advice():
    est = estimate(BIG, budget=int(8 * GiB), requested="full")
    with pytest.raises(DeviceOOM) as info:
        with oom_guard(est, "cpu"):
            torch.empty(1 << 62, dtype=torch.uint8)                  # the CPU allocator refuses
    msg = str(info.value)
    assert "out of memory on cpu in full mode" in msg
    assert "switch to train.mode=minibatch" in msg and "GiB" in msg


def test_other_errors_pass_through():
    est = estimate(ML1M, budget=int(8 * GiB))
    with pytest.raises(RuntimeError, match="shape"):
        with oom_guard(est, "cpu"):
            torch.zeros(2, 3) @ torch.zeros(2, 3)
