"""Shared fixtures: a tiny generated two-domain dataset and the frozen-data location."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
import torch

from gnnrec.data.registry import shared_data_dir
from gnnrec.data.schema import Dataset

SHARED = shared_data_dir()


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path_factory, monkeypatch):
    """Every test gets its own gnnrec data cache (never the user's)."""
    monkeypatch.setenv("GNNREC_DATA_DIR", str(tmp_path_factory.getbasetemp() / "gnnrec-data"))


def needs_shared(sub: str = ""):
    """Skip marker for tests that read ../shared/data."""
    ok = SHARED is not None and (SHARED / sub).exists()
    return pytest.mark.skipif(not ok, reason=f"frozen benchmark data ../shared/data/{sub} is absent")


def make_tiny(seed: int = 0, n_users: int = 40, n_items: tuple[int, int] = (15, 12)) -> Dataset:
    """A small random two-domain dataset with warm and cold valid/test rows."""
    rng = np.random.default_rng(seed)
    domains = ["a", "b"]
    items = pd.DataFrame({
        "item_id": [f"{d}{j}" for d, n in zip(domains, n_items) for j in range(n)],
        "domain": [d for d, n in zip(domains, n_items) for _ in range(n)],
        "title": [f"title {d} {j}" for d, n in zip(domains, n_items) for j in range(n)]})
    users = pd.DataFrame({"user_id": [f"u{i}" for i in range(n_users)]})
    offs = np.concatenate([[0], np.cumsum(n_items)])
    rows = {"train": [], "valid": [], "test": []}
    for u in range(n_users):
        for d in range(2):
            picks = rng.choice(np.arange(offs[d], offs[d + 1]), size=6, replace=False)
            cold = (u % 10 == d)           # users 0 and 1 are cold in domain a / b
            if cold:
                split = "valid" if u % 20 < 10 else "test"
                rows[split] += [(u, i, d, 1.0, t, "cold") for t, i in enumerate(picks)]
                continue
            rows["train"] += [(u, i, d, 1.0, t) for t, i in enumerate(picks[:4])]
            rows["valid"].append((u, picks[4], d, 1.0, 4, "warm"))
            rows["test"].append((u, picks[5], d, 1.0, 5, "warm"))
    cols = ["user", "item", "domain", "rating", "timestamp"]
    return Dataset(name="tiny", users=users, items=items, domains=domains,
                   train=pd.DataFrame(rows["train"], columns=cols),
                   valid=pd.DataFrame(rows["valid"], columns=cols + ["scenario"]),
                   test=pd.DataFrame(rows["test"], columns=cols + ["scenario"]))


@pytest.fixture
def tiny() -> Dataset:
    return make_tiny()


@pytest.fixture
def one_thread():
    """torch on one intra-op thread for the test (tiny tensors: on a busy 2-core box thread
    spinning makes ops ~50x slower; single-thread float sums are also bit-stable), restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
