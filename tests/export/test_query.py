"""Top-K queries: exact ranking, seen exclusion, fold-in, popularity, FAISS parity."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from gnnrec.export.contract import write_export
from gnnrec.export.foldin import foldin_matrix, foldin_vector, item_degrees
from gnnrec.export.query import QueryError, Retriever
from tests.export.helpers import random_export


def _brute(exp, vec, domain, exclude):
    dom = exp.item_domains()
    rows = [i for i in np.flatnonzero(dom == domain) if i not in set(exclude)]
    scores = exp.item_emb[rows] @ vec
    order = np.argsort(-scores, kind="stable")
    return [exp.item_ids[rows[j]] for j in order]


def test_known_user_ranking_excludes_train_positives(tiny):
    exp = random_export(tiny)
    rec = Retriever(exp)
    for user in ("u3", "u17"):
        u = exp.user_ids.index(user)
        seen = set(exp.seen[u].indices)
        for domain in ("a", "b"):
            res = rec.recommend(domain, k=5, user=user)
            assert res.mode == "user"
            got = [it["item_id"] for it in res.items]
            assert got == _brute(exp, exp.user_emb[u], domain, seen)[:5]
            assert not {exp.item_ids.index(i) for i in got} & seen
            scores = [it["score"] for it in res.items]
            assert scores == sorted(scores, reverse=True)


def test_k_larger_than_unseen_catalogue_returns_all_unseen(tiny):
    rec = Retriever(random_export(tiny))
    res = rec.recommend("b", k=1000, user="u3")
    n_b, seen_b = 12, 4
    assert len(res.items) == n_b - seen_b


def test_foldin_uses_history_any_domain_and_reports_unknown(tiny):
    exp = random_export(tiny)
    rec = Retriever(exp)
    res = rec.recommend("b", k=4, history=["a1", "a5", "nope", "b2"])
    assert res.mode == "foldin" and res.ignored_items == ["nope"] and res.used_items == 3
    rows = [exp.item_ids.index(i) for i in ("a1", "a5", "b2")]
    vec = exp.item_emb[rows].mean(axis=0)
    assert [it["item_id"] for it in res.items] == _brute(exp, vec, "b", rows)[:4]


def test_foldin_rules_match_their_formulas(tiny):
    exp = random_export(tiny)
    deg = item_degrees(exp.seen, len(exp.item_ids))
    rows = np.array([0, 3, 20])
    v = exp.item_emb
    np.testing.assert_allclose(foldin_vector(rows, v, "mean"), v[rows].mean(0), rtol=1e-5)
    np.testing.assert_allclose(foldin_vector(rows, v, "lightgcn", deg),
                               (v[rows] / np.sqrt(3 * deg[rows])[:, None]).sum(0), rtol=1e-5)
    unit = v[rows] / np.linalg.norm(v[rows], axis=1, keepdims=True)
    np.testing.assert_allclose(foldin_vector(rows, v, "unit_mean"), unit.mean(0), rtol=1e-5)
    hist = sp.csr_matrix(([1, 1, 1, 1], ([0, 0, 1, 1], [0, 3, 3, 20])), shape=(3, len(v)))
    mat = foldin_matrix(hist, v, "mean")
    np.testing.assert_allclose(mat[1], v[[3, 20]].mean(0), rtol=1e-5)
    assert not mat[2].any()
    with pytest.raises(ValueError, match="unknown fold-in rule"):
        foldin_vector(rows, v, "median")


def test_unknown_user_gets_flagged_popularity(tiny):
    exp = random_export(tiny)
    rec = Retriever(exp)
    res = rec.recommend("a", k=3, user="stranger")
    assert res.mode == "popularity" and "unknown user" in res.note
    counts = np.asarray(exp.seen.sum(axis=0)).ravel()[:15]
    assert [it["score"] for it in res.items] == sorted(counts, reverse=True)[:3]
    only_unknown = rec.recommend("a", k=3, history=["zz"])
    assert only_unknown.mode == "popularity" and only_unknown.ignored_items == ["zz"]


def test_bad_queries_raise_query_errors(tiny):
    rec = Retriever(random_export(tiny))
    with pytest.raises(QueryError, match="unknown domain 'c'"):
        rec.recommend("c", k=3, user="u3")
    for k in (0, -1, 1001):
        with pytest.raises(QueryError, match="k must be"):
            rec.recommend("a", k=k, user="u3")
    with pytest.raises(QueryError, match="unknown item") as e:
        rec.item("nope")
    assert e.value.status == 404
    assert rec.item("b3") == {"item_id": "b3", "domain": "b", "title": "title b 3",
                              "popularity": int(np.asarray(rec.exp.seen.sum(0)).ravel()[18])}


@pytest.mark.parametrize("kind", ["exact", "hnsw", "ivf"])
def test_faiss_backend_matches_matrix_product(tiny, tmp_path, kind):
    pytest.importorskip("faiss")
    write_export(random_export(tiny), tmp_path / "e", faiss=kind)
    exact = Retriever.load(tmp_path / "e", backend="numpy")
    ann = Retriever.load(tmp_path / "e", backend="faiss")
    for user in ("u2", "u9", "u31"):
        a = exact.recommend("a", k=5, user=user).items
        b = ann.recommend("a", k=5, user=user).items
        assert [x["item_id"] for x in a] == [x["item_id"] for x in b]
        np.testing.assert_allclose([x["score"] for x in a], [x["score"] for x in b], rtol=1e-5)


def test_recommend_cli_prints_titles_and_fails_cleanly(tiny, tmp_path, capsys):
    from gnnrec.cli import main
    write_export(random_export(tiny), tmp_path / "e")
    assert main(["recommend", str(tmp_path / "e"), "--user", "u3", "--domain", "a", "--k", "2"]) == 0
    out = capsys.readouterr().out
    assert "user recommendations in 'a'" in out and "title a 14" in out
    assert main(["recommend", str(tmp_path / "e"), "--items", "a1,zz", "--domain", "b"]) == 0
    assert "ignored unknown ids: ['zz']" in capsys.readouterr().out
    assert main(["recommend", str(tmp_path / "e"), "--user", "u3", "--domain", "nope"]) == 2
    assert "unknown domain 'nope'" in capsys.readouterr().err
    with open(tmp_path / "e" / "item_embeddings.npy", "ab") as f:
        f.write(b"\0")
    assert main(["recommend", str(tmp_path / "e"), "--user", "u3", "--domain", "a"]) == 2
    assert "sha256" in capsys.readouterr().err


@pytest.mark.parametrize("rule", ["mean", "lightgcn", "unit_mean"])
def test_single_history_foldin_equals_batch_foldin(tiny, rule):
    exp = random_export(tiny)
    deg = item_degrees(exp.seen, len(exp.item_ids))
    hist = exp.seen[:6].tocsr()
    batch = foldin_matrix(hist, exp.item_emb, rule, deg)
    for u in range(6):
        one = foldin_vector(hist[u].indices, exp.item_emb, rule, deg)
        np.testing.assert_allclose(one, batch[u], rtol=1e-5, atol=1e-7)
