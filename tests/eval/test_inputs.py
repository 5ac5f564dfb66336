"""Bad input: clear errors, or documented handling that is counted and reported."""

from __future__ import annotations

import numpy as np
import pytest

from gnnrec.eval import EvalError, evaluate, evaluate_export
from gnnrec.eval.baselines import random_export
from gnnrec.export.contract import Export, ExportError, load_export, write_export
from tests.conftest import make_tiny


@pytest.fixture
def emb():
    ds = make_tiny()
    rng = np.random.default_rng(0)
    return ds, rng.normal(size=(ds.n_users, 4)), rng.normal(size=(ds.n_items, 4))


@pytest.mark.parametrize("which,val", [("user", np.nan), ("item", np.inf), ("item", -np.inf)])
def test_non_finite_embeddings_are_rejected(emb, which, val):
    ds, u, v = emb
    (u if which == "user" else v)[3, 1] = val
    with pytest.raises(EvalError, match=rf"{which}_emb has NaN or infinite values in 1 of .*row 3"):
        evaluate(u, v, ds)


def test_dimension_and_row_mismatch(emb):
    ds, u, v = emb
    with pytest.raises(EvalError, match="disagree in dimension: 4 vs 3"):
        evaluate(u, v[:, :3], ds)
    with pytest.raises(EvalError, match=f"{ds.n_users - 1} user and {ds.n_items} item rows"):
        evaluate(u[1:], v, ds)
    with pytest.raises(EvalError, match="2-D"):
        evaluate(u[:, 0], v, ds)


@pytest.mark.parametrize("kw,msg", [({"ks": (0, 5)}, "positive"), ({"protocol": "x"}, "protocol"),
                                    ({"domains": ["zz"]}, "unknown domains"),
                                    ({"scenarios": ["hot"]}, "unknown scenarios"),
                                    ({"split": "train"}, "cannot evaluate split")])
def test_bad_arguments(emb, kw, msg):
    ds, u, v = emb
    with pytest.raises(Exception, match=msg):
        evaluate(u, v, ds, **kw)


def test_k_larger_than_catalogue_is_reported_and_lists_everything(emb):
    ds, u, v = emb
    r = evaluate(u, v, ds, ks=(5, 100), bootstrap=0)
    assert r.meta["k_exceeds_catalogue"] == {"a": 15, "b": 12}
    assert "K exceeds the catalogue" in r.format()
    assert r.value("recall", 100) == pytest.approx(1.0)       # every unmasked item is listed
    sizes = ds.test.groupby(["domain", "user"]).size().to_numpy()
    assert r.value("precision", 100) == pytest.approx(sizes.mean() / 100)   # still hits / K
    assert r.value("coverage", 100, "a", "warm") == pytest.approx(1.0)
    # an item nobody can be shown (absent from the vectors) is not covered, even at K > n_d
    present = np.ones(ds.n_items, bool)
    present[0] = False
    r2 = evaluate(u, v, ds, ks=(100,), bootstrap=0, present_items=present)
    assert r2.value("coverage", 100, "a", "warm") == pytest.approx(14 / 15)


def test_export_ids_not_matching_rows(tmp_path, tiny):
    exp = random_export(tiny)
    with pytest.raises(ExportError, match="row-aligned"):
        Export(exp.user_ids[:-1], exp.item_ids, exp.user_emb, exp.item_emb)
    write_export(exp, tmp_path / "e")
    ids = (tmp_path / "e" / "user_ids.txt")
    ids.write_text(ids.read_text() + "extra\n")
    with pytest.raises(ExportError, match="sha256|row-aligned"):
        load_export(tmp_path / "e")
    with pytest.raises(ExportError, match="row-aligned"):
        load_export(tmp_path / "e", verify=False)


def test_export_of_another_dataset_is_rejected(tiny):
    exp = random_export(tiny)
    other = Export([f"x{u}" for u in exp.user_ids], exp.item_ids, exp.user_emb, exp.item_emb)
    with pytest.raises(EvalError, match="none of the export's 40 user ids"):
        evaluate_export(other, tiny)


def test_export_item_domain_disagreement_is_rejected(tiny):
    exp = random_export(tiny)
    exp.items = exp.items.assign(domain=exp.items["domain"].map({"a": "b", "b": "a"}))
    with pytest.raises(EvalError, match="domain"):
        evaluate_export(exp, tiny)


def test_missing_users_are_counted_and_scored_as_misses(tiny):
    full = random_export(tiny, seed=1)
    keep = [i for i, u in enumerate(full.user_ids) if u not in ("u2", "u3", "u5")]
    part = Export([full.user_ids[i] for i in keep], full.item_ids, full.user_emb[keep],
                  full.item_emb, full.items)
    a = evaluate_export(full, tiny, ks=(10,), bootstrap=0)
    b = evaluate_export(part, tiny, ks=(10,), bootstrap=0)
    assert b.meta["missing_users"] == 3 and b.meta["missing_groups"] == 6
    assert b.meta["n_groups"] == a.meta["n_groups"] == len(b.groups)     # never dropped
    gone = b.groups["user"].isin(["u2", "u3", "u5"])
    for m in ("ndcg@10", "hr@10", "recall@10", "mrr"):
        assert (b.groups.loc[gone, m] == 0).all()
        np.testing.assert_allclose(b.groups.loc[~gone, m], a.groups.loc[~gone, m])
    assert b.groups.loc[gone, "pop_pct@10"].isna().all()
    assert "3 users (6 groups) have no vector" in b.format()


def test_missing_items_are_never_ranked(tiny):
    full = random_export(tiny, seed=1)
    drop = set(tiny.test["item"].iloc[:1])                   # a truth item disappears
    keep = [j for j in range(len(full.item_ids)) if j not in drop]
    part = Export(full.user_ids, [full.item_ids[j] for j in keep], full.user_emb,
                  full.item_emb[keep], full.items.iloc[keep].reset_index(drop=True))
    r = evaluate_export(part, tiny, ks=(20,), bootstrap=0)
    assert r.meta["missing_items"] == 1
    user = tiny.users["user_id"].iat[int(tiny.test["user"].iat[0])]
    g = r.groups[(r.groups["user"] == user)
                 & (r.groups["domain"] == tiny.domains[int(tiny.test["domain"].iat[0])])]
    assert g["recall@20"].iat[0] < 1.0            # K=20 lists all items, but not the dropped one
