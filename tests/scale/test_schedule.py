"""The full-graph schedule of train.mode=auto (gnnrec.train.steps.full_graph_schedule): at most
FULL_STEPS propagations per epoch, the learning rate by the square-root rule, and the configured
batch kept under train.mode=full or when it is within the cap."""

from __future__ import annotations

import math

import pytest

from gnnrec.graph.memory import GraphSize, estimate_parts
from gnnrec.train.config import resolve
from gnnrec.train.steps import FULL_STEPS, LR_SCALE_MAX, full_graph_schedule


def _cfg(**train):
    return resolve({"train": train})


def test_auto_caps_the_steps_per_epoch_and_rescales_the_learning_rate():
    rows = 20_000_000
    s = full_graph_schedule(_cfg(batch_size=16384, lr=0.005), rows)
    assert s.batch == math.ceil(rows / FULL_STEPS) and math.ceil(rows / s.batch) == FULL_STEPS
    assert s.batch / 16384 > LR_SCALE_MAX and s.lr == pytest.approx(0.005 * LR_SCALE_MAX)   # capped
    assert "linear rule" in s.note and "train.mode=full" in s.note
    rows = 4 * 16384 * FULL_STEPS                                   # 4x the batch: lr x 4
    s = full_graph_schedule(_cfg(batch_size=16384, lr=0.005), rows)
    assert s.batch == 4 * 16384 and s.lr == pytest.approx(0.02)


@pytest.mark.parametrize("rows", [1, 16384 * FULL_STEPS])
def test_a_batch_within_the_cap_is_kept(rows):
    s = full_graph_schedule(_cfg(batch_size=16384, lr=0.005), rows)
    assert (s.batch, s.lr, s.note) == (16384, 0.005, "")


def test_mode_full_keeps_the_configured_batch():
    s = full_graph_schedule(_cfg(batch_size=4096, lr=0.01, mode="full"), 20_000_000)
    assert (s.batch, s.lr) == (4096, 0.01)


def test_the_full_graph_estimate_counts_the_grown_batch():
    small = GraphSize(users=10**6, items=10**5, edges=2 * 10**7, batch_size=16384)
    grown = GraphSize(**{**small.__dict__, "full_batch": 625_000})
    assert estimate_parts(grown)[0]["batch"] == estimate_parts(small)[0]["batch"] * 625_000 // 16384
    assert estimate_parts(grown)[1] == estimate_parts(small)[1]          # mini-batch unchanged
