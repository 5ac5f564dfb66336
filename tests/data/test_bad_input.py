"""Bad input gives a DataError naming the file, the line and the fix -- never a pandas traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gnnrec.cli import main
from gnnrec.data.amazon import Category, read_amazon
from gnnrec.data.frozen import load_cd_folder
from gnnrec.data.generic import parse_mapping, read_generic
from gnnrec.data.movielens import read_movielens
from gnnrec.data.schema import DataError
from tests.data.conftest import DATASETS

ML1M = DATASETS / "ml-1m" / "fixture"
RB = DATASETS / "ml-1m" / "fixture-recbole"
AZ18 = DATASETS / "amazon-2018" / "fixture"


def _copy(src: Path, tmp: Path) -> Path:
    dst = tmp / src.name
    shutil.copytree(src, dst)
    return dst


def _edit_line(path: Path, lineno: int, text: str, encoding: str = "latin-1") -> None:
    lines = path.read_text(encoding=encoding).splitlines(keepends=True)
    lines[lineno - 1] = text
    path.write_text("".join(lines), encoding=encoding)


@pytest.mark.parametrize("line, pattern", [
    ("1::2::5\n", r"ratings.dat, line 7: expected 4 fields .* found 3"),
    ("1::2::5::978300000::x\n", r"ratings.dat, line 7: expected 4 fields .* found 5"),
    ("1::2::five::978300000\n", r"ratings.dat, line 7: rating 'five' is not a number"),
    ("1::2::5::yesterday\n", r"ratings.dat, line 7: timestamp 'yesterday' is not a number"),
    ("1::2::5::97830.5\n", r"ratings.dat, line 7: timestamp '97830.5' is not an integer"),
    ("::2::5::978300000\n", r"ratings.dat, line 7: column 'user_id' is empty"),
    ("1::999::5::978300000\n", r"ratings.dat, line 7: movie '999' is not in movies.dat"),
])
def test_malformed_ratings_line(tmp_path, line, pattern):
    folder = _copy(ML1M, tmp_path)
    _edit_line(folder / "ratings.dat", 7, line)
    with pytest.raises(DataError, match=pattern):
        read_movielens(folder)


def test_wrong_encoding_names_the_line(tmp_path):
    folder = _copy(RB, tmp_path)
    p = folder / "ml-1m.inter"
    data = p.read_bytes().split(b"\n")
    data[4] = data[4].replace(b"1m_", b"1m\xe9_")      # a latin-1 byte in a UTF-8 file
    p.write_bytes(b"\n".join(data))
    with pytest.raises(DataError, match=r"ml-1m.inter, line 5: bytes are not valid utf-8.*re-save"):
        read_movielens(folder)


def test_empty_and_header_only_files(tmp_path):
    folder = _copy(RB, tmp_path)
    (folder / "ml-1m.user").write_text("user_id:token\tage:float\n")
    with pytest.raises(DataError, match=r"ml-1m.user: file is empty \(header only\)"):
        read_movielens(folder)
    (folder / "ml-1m.user").write_text("")
    with pytest.raises(DataError, match=r"ml-1m.user: file is empty"):
        read_movielens(folder)


def test_missing_file_and_unknown_folder(tmp_path):
    folder = _copy(ML1M, tmp_path)
    (folder / "users.dat").unlink()
    with pytest.raises(DataError, match=r"users.dat: file not found.*re-extract"):
        read_movielens(folder)
    with pytest.raises(DataError, match="no MovieLens files found"):
        read_movielens(tmp_path)


def _cd_folder(tmp: Path, test_rows: str) -> Path:
    f = tmp / "cd"
    f.mkdir()
    (f / "items.tsv").write_text("item_id\tdomain\ttitle\ni1\ta\tx\ni2\ta\ty\nj1\tb\tz\n")
    (f / "users.tsv").write_text("user_id\nu1\nu2\n")
    (f / "train.tsv").write_text("user_id\titem_id\tdomain\trating\ttimestamp\n"
                                 "u1\ti1\ta\t1\t1\nu1\tj1\tb\t1\t2\nu2\ti1\ta\t1\t3\n")
    (f / "valid.tsv").write_text("user_id\titem_id\tdomain\trating\ttimestamp\tscenario\n"
                                 "u1\ti2\ta\t1\t4\twarm\n")
    (f / "test.tsv").write_text("user_id\titem_id\tdomain\trating\ttimestamp\tscenario\n"
                                + test_rows)
    return f


def test_test_ids_never_in_train(tmp_path):
    # u2 has no train row in domain b, yet its test row there is called warm
    with pytest.raises(DataError, match=r"warm rows whose user has no train rows.*u2 in domain b"):
        load_cd_folder(_cd_folder(tmp_path, "u2\tj1\tb\t1\t5\twarm\n"))


def test_test_item_unknown(tmp_path):
    with pytest.raises(DataError, match=r"test.tsv, line 2: item 'zz' is not listed in items.tsv"):
        load_cd_folder(_cd_folder(tmp_path, "u2\tzz\tb\t1\t5\tcold\n"))


def test_leak_between_train_and_test(tmp_path):
    with pytest.raises(DataError, match="also in test; the split leaks"):
        load_cd_folder(_cd_folder(tmp_path, "u1\ti1\ta\t1\t5\twarm\n"))


def test_missing_metadata_file():
    with pytest.raises(DataError, match=r"meta_Nope.json: metadata file not found .*'arts'"):
        read_amazon([Category("arts", AZ18 / "Arts_Crafts_and_Sewing.csv", AZ18 / "meta_Nope.json")])


def test_malformed_review_json(tmp_path):
    p = tmp_path / "Office_Products_5.json"
    lines = (AZ18 / "Office_Products_5.json").read_text().splitlines(keepends=True)
    lines[2] = '{"reviewerID": "A1", "asin": \n'
    p.write_text("".join(lines))
    with pytest.raises(DataError, match=r"Office_Products_5.json, line 3: not valid JSON"):
        read_amazon([Category("office", p)])
    lines[2] = '{"reviewerID": "A1", "asin": "B1", "overall": "great", "unixReviewTime": 5}\n'
    p.write_text("".join(lines))
    with pytest.raises(DataError, match=r"line 3: rating 'great' is not a number"):
        read_amazon([Category("office", p)])
    lines[2] = '{"reviewerID": "A1", "overall": 4, "unixReviewTime": 5}\n'
    p.write_text("".join(lines))
    with pytest.raises(DataError, match=r"line 3: missing \['asin'\]"):
        read_amazon([Category("office", p)])


def test_malformed_metadata_lines_are_counted_skips():
    raw, _ = read_amazon([Category("arts", AZ18 / "Arts_Crafts_and_Sewing.csv",
                                   AZ18 / "meta_Arts_Crafts_and_Sewing.json.gz")])
    assert raw.source["meta_skipped"] == {"arts": 1}           # the python-repr line
    assert raw.source["items_without_meta"] == {"arts": 1}


def test_generic_mapping_errors(tmp_path):
    p = tmp_path / "log.csv"
    p.write_text("uid,iid,cat\nu1,i1,a\nu1,i1,b\n")
    with pytest.raises(DataError, match="must look like user=COLUMN"):
        parse_mapping("user")
    with pytest.raises(DataError, match=r"unknown mapping keys \['usr'\]"):
        parse_mapping("usr=uid")
    with pytest.raises(DataError, match=r"lacks columns \[.stars.\]"):
        read_generic(p, {"user": "uid", "item": "iid", "rating": "stars"})
    with pytest.raises(DataError, match="appears in domains .*--namespace-items"):
        read_generic(p, {"user": "uid", "item": "iid", "domain": "cat"})


def test_cli_reports_without_traceback(capsys, tmp_path):
    code = main(["data", "prepare", "ml100k-cd", "--raw", str(tmp_path / "nowhere")])
    err = capsys.readouterr().err
    assert code == 2 and "nowhere: no such folder" in err and "Traceback" not in err


def test_fast_and_strict_reader_paths_agree(tmp_path, monkeypatch):
    """The pandas fast path and the line-by-line loop give the same table."""
    import numpy as np

    import gnnrec.data.readers as R
    from gnnrec.data.readers import read_table
    kw = dict(sep="::", header=False, numeric=["r"], integer=["t"])
    cols = ["u", "m", "r", "t"]
    fast = read_table(ML1M / "ratings.dat", cols, **kw)
    monkeypatch.setattr(R, "_fast_parse", lambda *a: None)
    slow = read_table(ML1M / "ratings.dat", cols, **kw)
    assert (fast.astype(object).to_numpy() == slow.astype(object).to_numpy()).all()
    assert np.array_equal(fast.attrs["line_of"], slow.attrs["line_of"])
    monkeypatch.undo()
    p = tmp_path / "blank.tsv"
    p.write_text("a\tb\n1\t2\n\n3\t4\n")                 # a blank line: strict path, right lines
    t = read_table(p, numeric=["a"])
    assert t.attrs["line_of"].tolist() == [2, 4] and t["a"].tolist() == [1.0, 3.0]


def test_unknown_encoding_name():
    from gnnrec.data.readers import read_table
    with pytest.raises(DataError, match=r"ratings.dat: unknown encoding 'klingon'"):
        read_table(ML1M / "ratings.dat", ["u", "m", "r", "t"], sep="::", header=False,
                   encoding="klingon")
