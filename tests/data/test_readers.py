"""Amazon 2018 / 2023 and generic-table readers on fixtures in the exact raw layouts."""

from __future__ import annotations

import pandas as pd
import pytest

from gnnrec.data.amazon import Category, read_amazon
from gnnrec.data.generic import read_generic
from gnnrec.data.prepare import split_raw
from gnnrec.data.schema import DataError
from gnnrec.data.split import CDProtocol
from tests.data.conftest import DATASETS

AZ18 = DATASETS / "amazon-2018" / "fixture"
AZ23 = DATASETS / "amazon-2023" / "fixture"


def test_amazon_2018_ratings_csv_and_5core_json_with_metadata():
    raw, inputs = read_amazon([
        Category("arts", AZ18 / "Arts_Crafts_and_Sewing.csv", AZ18 / "meta_Arts_Crafts_and_Sewing.json.gz"),
        Category("office", AZ18 / "Office_Products_5.json", AZ18 / "meta_Office_Products.json.gz")])
    assert raw.domains == ["arts", "office"] and len(inputs) == 4
    assert raw.source["releases"] == {"arts": "2018-csv", "office": "2018"}
    assert raw.n_users == 8 and len(raw.interactions) == 80
    assert raw.items["item_id"].str.match(r"^(arts|office):B00").all()
    it = raw.items.set_index("item_id")
    row = it.loc["arts:B00A0000000"]
    assert row["title"] == "Arts, Crafts & Sewing thing 0"
    assert row["categories"] == "Arts, Crafts & Sewing > Sub 0"
    assert row["description"] == "Item B00A0000000 for arts, crafts & sewing. Durable."   # no HTML
    both = raw.interactions.groupby("user")["domain"].nunique()
    assert (both == 2).all()                                   # users shared across categories
    ds = split_raw(raw, "cold", protocol=CDProtocol(threshold=3, bridge_min=2, cold_fraction=0.2))
    assert ds.has_text and set(ds.valid.scenario) | set(ds.test.scenario) <= {"warm", "cold"}


def test_amazon_2023_jsonl():
    raw, _ = read_amazon([Category("beauty", AZ23 / "All_Beauty.jsonl", AZ23 / "meta_All_Beauty.jsonl"),
                          Category("gift", AZ23 / "Gift_Cards.jsonl", AZ23 / "meta_Gift_Cards.jsonl")])
    assert raw.source["releases"] == {"beauty": "2023", "gift": "2023"}
    assert raw.interactions["timestamp"].between(1_500_000_000, 1_600_000_000).all()   # ms -> s
    assert raw.items["item_id"].iat[0].startswith("beauty:B0B")          # parent_asin, not asin
    assert (raw.items["title"].str.len() > 0).all()
    assert set(raw.items["categories"]) == {"All Beauty", "Gift Cards"}  # main_category fallback
    ds = split_raw(raw, "loo")
    assert len(ds.test) == len(ds.valid) > 0


def _log(tmp_path):
    log = pd.DataFrame({"uid": ["a", "a", "a", "b", "b", "b", "a", "b"],
                        "iid": ["1", "2", "3", "1", "2", "3", "1", "1"],
                        "cat": ["x", "x", "x", "x", "x", "x", "y", "y"],
                        "stars": [5, 4, 3, 5, 2, 4, 5, 1], "ts": [1, 2, 3, 4, 5, 6, 7, 8]})
    log.to_csv(tmp_path / "log.csv", index=False)
    log.to_parquet(tmp_path / "log.parquet", index=False)
    (tmp_path / "text.tsv").write_text("item_id\ttitle\n1\tfirst\n2\tsecond\n")
    return tmp_path


def test_generic_csv_and_parquet_with_item_text(tmp_path):
    d = _log(tmp_path)
    cols = {"user": "uid", "item": "iid", "domain": "cat", "rating": "stars", "timestamp": "ts"}
    a, _ = read_generic(d / "log.csv", cols, item_text=d / "text.tsv", namespace=True)
    b, _ = read_generic(d / "log.parquet", cols, item_text=d / "text.tsv", namespace=True)
    for t in ("users", "items", "interactions"):
        pd.testing.assert_frame_equal(getattr(a, t), getattr(b, t))
    assert a.domains == ["x", "y"]
    it = a.items.set_index("item_id")
    assert it.loc["x:1", "title"] == "first" and it.loc["y:1", "title"] == "first"
    assert it.loc["x:3", "title"] == ""
    assert a.interactions["rating"].tolist()[:3] == [5.0, 4.0, 3.0]


def test_generic_defaults_rating_and_time(tmp_path):
    d = _log(tmp_path)
    raw, _ = read_generic(d / "log.csv", {"user": "uid", "item": "iid"}, domain_value="all")
    assert raw.domains == ["all"] and (raw.interactions["rating"] == 1).all()
    assert raw.interactions["timestamp"].tolist() == list(range(8))
    with pytest.raises(DataError, match="summing to 1"):
        split_raw(raw, "random", ratios=(0.5, 0.6, 0.1))


def test_any_number_of_categories_share_users():
    raw, _ = read_amazon([
        Category("arts", AZ18 / "Arts_Crafts_and_Sewing.csv"),
        Category("office", AZ18 / "Office_Products_5.json"),
        Category("beauty", AZ23 / "All_Beauty.jsonl"),
        Category("gift", AZ23 / "Gift_Cards.jsonl")])
    assert raw.domains == ["arts", "office", "beauty", "gift"] and raw.n_users == 8
    assert (raw.interactions.groupby("user")["domain"].nunique() == 4).all()
    ds = split_raw(raw, "cold", protocol=CDProtocol(threshold=1, bridge_min=2, bridge_domains=3,
                                                    cold_fraction=0.125))
    assert ds.protocol["cold_users"] == {"arts": 1, "office": 1, "beauty": 1, "gift": 1}
