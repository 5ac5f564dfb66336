"""MovieLens readers (GroupLens 100K / 1M, RecBole) and the ML-CD preparation."""

from __future__ import annotations

import pandas as pd

from gnnrec.data.movielens import CD_DOMAINS, detect, read_movielens, split_title
from gnnrec.data.prepare import prepare_movielens_cd
from gnnrec.data.registry import load_dataset, prepared_path
from gnnrec.data.split import CDProtocol
from tests.data.conftest import DATASETS


def test_grouplens_1m_and_recbole_layouts_give_the_same_data():
    a, _ = read_movielens(DATASETS / "ml-1m" / "fixture", domains=CD_DOMAINS)
    b, _ = read_movielens(DATASETS / "ml-1m" / "fixture-recbole", domains=CD_DOMAINS)
    assert detect(DATASETS / "ml-1m" / "fixture").layout == "grouplens-1m"
    assert detect(DATASETS / "ml-1m" / "fixture-recbole").layout == "recbole"
    for t in ("users", "items", "interactions"):
        pd.testing.assert_frame_equal(getattr(a, t), getattr(b, t))
    items = a.items.set_index("item_id")
    # ids by sorted raw title: "'Night Mother (1986)" sorts first, latin-1 decoded
    assert items.loc["m1", "title"] == "'Night Mother" and items.loc["m1", "year"] == "1986"
    assert "Cité des enfants perdus, La" in set(items["title"])
    assert items.loc[items["title"] == "Casablanca", "domain"].item() == "action"   # War
    assert items.loc[items["title"] == "Amadeus", "domain"].item() == "drama"
    assert a.users.columns.tolist() == ["user_id", "age", "gender", "occupation"]
    assert a.users["user_id"].tolist()[:2] == ["u1", "u2"]


def test_grouplens_100k_merges_duplicate_titles():
    raw, inputs = read_movielens(DATASETS / "ml-100k" / "fixture", domains=CD_DOMAINS)
    assert raw.n_items == 14                    # 15 movie ids, one title listed twice
    assert set(inputs) == {"fixture/u.data", "fixture/u.item", "fixture/u.user"}
    dup = raw.interactions.duplicated(["user", "item"]).sum()
    assert dup > 0                              # both copies rated -> cleaning dedupes them
    assert raw.users["occupation"].iat[0] == "writer"


def test_split_title():
    assert split_title("City of Lost Children, The (1995)") == ("City of Lost Children, The", "1995")
    assert split_title("unknown") == ("unknown", "")


def test_ml100k_cd_from_the_real_wheel(ml100k_raw):
    ds, _ = prepare_movielens_cd(ml100k_raw, "ml100k-cd")
    p = ds.protocol
    assert ds.domains == ["action", "drama"] and ds.n_users == 943 and ds.n_items == 1664
    assert p["positives"] == 55203 and p["bridge_users"] == 790
    assert p["cold_users"] == {"action": 79, "drama": 79}
    assert len(ds.train) + len(ds.valid) + len(ds.test) == p["positives"]
    assert (ds.train["rating"] >= 4).all()


def test_load_dataset_ml100k_cd_prepares_on_first_use(ml100k_raw):
    ds = load_dataset("ml100k-cd")
    assert prepared_path("ml100k-cd").joinpath("manifest.json").is_file()
    again = load_dataset("ml100k-cd")
    assert again.fingerprint() == ds.fingerprint()
    other_seed, _ = prepare_movielens_cd(ml100k_raw, "ml100k-cd", CDProtocol(seed=1))
    assert other_seed.fingerprint() != ds.fingerprint()
