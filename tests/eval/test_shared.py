"""The evaluator on the frozen benchmarks: counts, baselines ordering, plan caching."""

from __future__ import annotations

from gnnrec.data.registry import load_dataset
from gnnrec.eval import evaluate_export
from gnnrec.eval.baselines import popularity_export, random_export
from tests.conftest import needs_shared


@needs_shared("ml1m-cd")
def test_ml1m_popularity_beats_random_and_counts_every_group():
    ds = load_dataset("ml1m-cd")
    pop = evaluate_export(popularity_export(ds), ds, split="valid", ks=(20,), bootstrap=100,
                          threads=1)
    rnd = evaluate_export(random_export(ds), ds, split="valid", ks=(20,), bootstrap=100,
                          threads=1)
    n_groups = ds.valid.groupby(["user", "domain"]).ngroups
    assert pop.meta["n_groups"] == len(pop.groups) == n_groups
    for dom in ds.domains:
        for scen in ("warm", "cold"):
            expect = ds.valid[(ds.valid["domain"] == ds.domain_index(dom))
                              & (ds.valid["scenario"] == scen)]["user"].nunique()
            n = pop.table.query("domain == @dom and scenario == @scen and metric == 'ndcg'")
            assert int(n["n_groups"].iat[0]) == expect
            assert pop.value("ndcg", 20, dom, scen) > 2 * rnd.value("ndcg", 20, dom, scen)
    # popularity bias: pop lists sit at the top popularity percentiles, random ones mid-way
    assert pop.value("pop_pct", 20) > 95 and 40 < rnd.value("pop_pct", 20) < 60
    assert pop.value("coverage", 20) < rnd.value("coverage", 20)


@needs_shared("amazon-disencdr")
def test_disencdr_sampled_and_full_popularity():
    ds = load_dataset("amazon-disencdr-sport_cloth")
    exp = popularity_export(ds)
    kw = dict(domains=["sport"], bootstrap=0, threads=1)
    s = evaluate_export(exp, ds, protocol="sampled", **kw)
    f = evaluate_export(exp, ds, protocol="full", ks=(20,), **kw)
    n_sport = int((ds.test["domain"] == ds.domain_index("sport")).sum())
    assert s.meta["n_groups"] == f.meta["n_groups"] == n_sport          # one positive per user
    for dom in ("sport",):
        # popularity is far above chance (HR@10 = 10/1000 for a random ranking)
        assert s.value("hr", 10, dom) > 0.05
        assert 0 < f.value("hr", 20, dom) < s.value("hr", 10, dom)
