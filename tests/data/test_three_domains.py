"""Three or more domains: the ML-1M-3D genre rule, its recipe and suite, and the cold-start
protocol per domain (every cold user of a domain keeps train rows in each other domain)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gnnrec.bench.suites import get_suite
from gnnrec.data.clean import clean
from gnnrec.data.movielens import THREE_DOMAINS, action_thriller_drama
from gnnrec.data.registry import RECIPES
from gnnrec.data.split import CDProtocol, check_split, cold_start_split
from tests.data.test_split import make_raw

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("genres,domain", [
    (["Action", "Thriller"], "action"), (["Crime", "Drama"], "thriller"), (["Film-Noir"], "thriller"),
    (["Comedy", "Romance"], "drama"), (["Sci-Fi"], "action"), ([], "drama"), (["Documentary"], "drama")])
def test_genre_rule_of_three_domains(genres, domain):
    assert action_thriller_drama(genres) == domain


@pytest.mark.parametrize("n_domains", [3, 4])
def test_cold_users_of_a_domain_keep_every_other_domain(n_domains):
    raw, _ = clean(make_raw(7, n_users=120, n_domains=n_domains, rows_per_user=40))
    ds = cold_start_split(raw, CDProtocol(threshold=1.0, bridge_min=2, cold_fraction=0.1, seed=1))
    check_split(ds)
    groups = {d: 0 for d in range(n_domains)}
    for s in ("valid", "test"):
        t = ds.split(s)
        for u, d in set(zip(t[t.scenario == "cold"].user, t[t.scenario == "cold"].domain)):
            have = set(ds.train[ds.train.user == u].domain)
            assert d not in have and have == set(range(n_domains)) - {d}
            groups[d] += 1
    assert all(n > 0 for n in groups.values()), groups


def test_ml1m_3d_is_a_recipe_and_a_suite_with_configs():
    assert "ml1m-3d" in RECIPES and THREE_DOMAINS == ["action", "thriller", "drama"]
    s = get_suite("ml1m-3d")
    assert {h.domain for _, h in s.headline} == set(THREE_DOMAINS)
    for m in s.default_models:
        assert (ROOT / "configs" / "ml1m_3d" / f"{m.replace('-', '_')}.yaml").is_file(), m
    assert (ROOT / "configs" / "text" / "ml1m-3d.yaml").is_file()
    from gnnrec.train import load_config
    for m in s.default_models:
        assert load_config(ROOT / "configs" / "ml1m_3d" / f"{m.replace('-', '_')}.yaml").dataset == "ml1m-3d"
