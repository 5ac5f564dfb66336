"""gnnrec.bench: planning, caching/resume, tables, significance, README block, smoke suite."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gnnrec.bench import BenchError, run_suite
from gnnrec.bench.readme import END, START, update_readme
from gnnrec.bench.runner import plan
from gnnrec.bench.significance import compare, fmt_relative, paired_tests, relative_ci
from gnnrec.bench.suites import Headline, Suite
from gnnrec.bench.tables import pivot_md, summarize
from gnnrec.errors import GnnrecError
from tests.conftest import make_tiny

ROOT = Path(__file__).resolve().parents[2]
TINY_OV = ["eval.ks=[5,10]", "eval.k=10", "train.batch_size=64", "model.dim=8", "train.threads=1",
           "device=cpu"]


def tiny_suite() -> Suite:
    return Suite("tiny", "tiny two-domain data", ("tiny",), ("tiny_none",),
                 tuple(("tiny", Headline("ndcg", 10, d, "cold")) for d in ("a", "b")),
                 smoke_overrides=("train.epochs=2", "train.patience=2"), reference="mf")


def _run(tmp: Path, models: list[str], seeds: int = 2, **kw):
    return run_suite(tiny_suite(), models, seeds, "smoke", tmp / "runs", tmp / "results",
                     tmp / "configs", TINY_OV, datasets={"tiny": make_tiny()}, progress=False, **kw)


def test_suite_writes_results_and_resumes(tmp_path):
    out = _run(tmp_path, ["pop", "mf", "cd-lightgcn"])
    assert [r.status for r in out.records] == ["done"] * 6 and not any(r.cached for r in out.records)
    res = tmp_path / "results" / "tiny"
    for f in ("table.md", "headline.md", "metrics.csv", "metrics.json", "summary.csv", "runs.json",
              "curves.csv", "significance.json", "projection.csv", "plots/groups_tiny.png",
              "plots/groups_tiny.svg", "plots/cold_vs_warm_tiny.png", "plots/curves_tiny.png",
              "plots/items_pca.png"):
        assert (res / f).is_file(), f
    m = pd.read_csv(res / "metrics.csv")
    assert set(m["model"]) == {"pop", "mf", "cd-lightgcn"} and set(m["seed"]) == {0, 1}
    assert m["value"].dropna().between(0, 100).all()
    # the table's figure is the mean over seeds of the runs' own test results
    mf = [r for r in out.records if r.spec.model == "mf"]
    own = [pd.read_csv(r.spec.run_dir / "test" / "metrics.csv").query(
        "metric == 'ndcg' and k == 10 and domain == 'a' and scenario == 'cold'")["value"].iat[0]
        for r in mf]
    s = pd.read_csv(res / "summary.csv").query(
        "model == 'mf' and metric == 'ndcg' and k == 10 and domain == 'a' and scenario == 'cold'")
    assert s["mean"].iat[0] == pytest.approx(np.mean(own), abs=1e-6)
    assert s["std"].iat[0] == pytest.approx(np.std(own, ddof=1), abs=1e-6)
    runs = json.loads((res / "runs.json").read_text())
    assert runs["versions"]["torch"] and all(r["config"]["model"]["name"] == r["model"]
                                             for r in runs["runs"])
    assert "**" in (res / "table.md").read_text()
    # every headline cell: best of ours (cd-lightgcn) vs the strongest baseline and vs the reference
    sig = json.loads((res / "significance.json").read_text())
    assert sorted(c["kind"] for c in sig) == ["baseline", "baseline", "reference", "reference"]
    for cell in sig:
        assert cell["ours"] == "cd-lightgcn" and (cell["kind"] == "baseline" or cell["other"] == "mf")
        rel = cell["relative"]
        if cell["other_mean"] > 0:            # ratio of the seed-averaged means, CI around it
            assert rel["value"] == pytest.approx(cell["ours_mean"] / cell["other_mean"] - 1, abs=1e-6)
            assert rel["ci_low"] <= rel["value"] <= rel["ci_high"]
    assert "the suite's reference mf" in (res / "table.md").read_text()

    # an interrupted suite: one run lost its completion marker -> only that run trains again
    victim = mf[1].spec.run_dir
    (victim / "bench.json").unlink()
    stamps = {r.spec.run_dir: (r.spec.run_dir / "bench.json").stat().st_mtime_ns
              for r in out.records if r.spec.run_dir != victim}
    again = _run(tmp_path, ["pop", "mf", "cd-lightgcn"])
    assert [r.cached for r in again.records] == [r.spec.run_dir != victim for r in again.records]
    for d, t in stamps.items():
        assert (d / "bench.json").stat().st_mtime_ns == t
    s2 = pd.read_csv(res / "summary.csv").query(
        "model == 'mf' and metric == 'ndcg' and k == 10 and domain == 'a' and scenario == 'cold'")
    assert s2["mean"].iat[0] == pytest.approx(s["mean"].iat[0], abs=1e-6)

    # --report-only rebuilds from finished runs; once mf's config changed, no finished run
    # matches it and the rebuild would blank mf's figures: refused unless replace_results
    assert _run(tmp_path, ["pop", "mf", "cd-lightgcn"], report_only=True).metrics.equals(again.metrics)
    (tmp_path / "configs" / "tiny_none").mkdir(parents=True)
    (tmp_path / "configs" / "tiny_none" / "mf.yaml").write_text("model:\n  name: mf\ntrain:\n  lr: 0.02\n")
    with pytest.raises(BenchError, match="report-only: .* holds figures of mf, .*2 pending"):
        _run(tmp_path, ["pop", "mf", "cd-lightgcn"], report_only=True)
    blank = _run(tmp_path, ["pop", "mf", "cd-lightgcn"], report_only=True, replace_results=True)
    assert [r.status for r in blank.records if r.spec.model == "mf"] == ["pending", "pending"]


def test_plan_keys_configs_and_text_check(tmp_path):
    cfgs = tmp_path / "configs" / "tiny_none"
    cfgs.mkdir(parents=True)
    (cfgs / "mf.yaml").write_text("model:\n  name: mf\n  dim: 4\ntrain:\n  lr: 0.01\n")
    ds = {"tiny": make_tiny()}
    ids = make_tiny()
    ids.items = ids.items.drop(columns=["title"])
    a = plan(tiny_suite(), ["mf", "cd-lightgcn-text"], [0, 1], "full", tmp_path, tmp_path / "configs",
             ds)
    b = plan(tiny_suite(), ["mf"], [0], "full", tmp_path, tmp_path / "configs", ds,
             overrides=["train.lr=0.02"])
    c = plan(tiny_suite(), ["cd-lightgcn-text"], [0], "full", tmp_path, tmp_path / "configs",
             {"tiny": ids})
    # seed-major order: every model's first seed comes before any second seed
    assert [(r.model, r.seed) for r in a] == [("mf", 0), ("cd-lightgcn-text", 0),
                                              ("mf", 1), ("cd-lightgcn-text", 1)]
    a = sorted(a, key=lambda r: (r.model != "mf", r.seed))     # mf s0, mf s1, text s0, text s1
    assert a[0].config_source.endswith("mf.yaml") and a[0].config.model.dim == 4
    assert a[2].config_source == "defaults"
    assert a[0].key != a[1].key                       # seeds differ
    assert a[0].key != b[0].key                       # an override changes the cache key
    assert a[0].key == plan(tiny_suite(), ["mf"], [0], "full", tmp_path / "elsewhere",
                            tmp_path / "configs", ds)[0].key   # folders do not
    # the key hashes only non-default values: a key spelled out at its default (or a key added
    # later with a default) never re-keys a cached run; threads and the device never do
    same = plan(tiny_suite(), ["mf"], [0], "full", tmp_path, tmp_path / "configs", ds,
                overrides=["train.min_epochs=0", "train.cold_sim=0", "train.threads=2", "device=cpu"])
    assert same[0].key == a[0].key
    assert a[2].skip_reason is None and "needs item text" in c[0].skip_reason
    with pytest.raises(BenchError, match="unknown model"):
        plan(tiny_suite(), ["nope"], [0], "full", tmp_path, tmp_path / "configs", ds)
    (cfgs / "pop.yaml").write_text("model:\n  name: mf\n")
    with pytest.raises(BenchError, match="model.name is 'mf'"):
        plan(tiny_suite(), ["pop"], [0], "full", tmp_path, tmp_path / "configs", ds)
    with pytest.raises(BenchError, match="budget"):
        plan(tiny_suite(), ["pop"], [0], "huge", tmp_path, tmp_path / "configs", ds)


def test_significance_pairs_users_and_seeds():
    rng = np.random.default_rng(0)
    users = [f"u{i}" for i in range(200)]
    base = rng.random(200)
    mk = lambda v: pd.DataFrame({"user": users, "domain": "a", "value": v})  # noqa: E731
    better = [mk(base + 0.05 + 0.01 * rng.standard_normal(200)) for _ in range(3)]
    same = [mk(base) for _ in range(3)]
    r = compare(better, same)
    assert r["users"]["n"] == 200 and r["users"]["wilcoxon_p"] < 1e-10 and r["users"]["ttest_p"] < 1e-10
    assert r["seeds"]["n"] == 3 and r["seeds"]["wilcoxon_p"] == pytest.approx(0.25)
    noise = [mk(base + 0.01 * rng.standard_normal(200)) for _ in range(3)]
    assert compare(noise, same)["users"]["wilcoxon_p"] > 0.01
    assert paired_tests(base, base)["wilcoxon_p"] is None          # identical: no test
    with pytest.raises(ValueError, match="equal shapes"):
        paired_tests(base, base[:5])


def test_relative_ci_is_paired_and_seeded():
    rng = np.random.default_rng(1)
    b = rng.exponential(0.1, 500)
    exact = relative_ci(1.2 * b, b)
    assert exact["value"] == pytest.approx(0.2) and exact["ci_low"] == pytest.approx(0.2)
    assert exact["ci_high"] == pytest.approx(0.2)
    a = 1.2 * b + 0.01 * rng.standard_normal(500)
    paired = relative_ci(a, b, seed=3)
    assert paired == relative_ci(a, b, seed=3)                         # seeded
    assert paired["ci_low"] < paired["value"] < paired["ci_high"]
    assert paired["ci_low"] < 0.2 < paired["ci_high"]
    # the same values with the pairing broken: the CI of the same ratio is much wider
    unpaired = relative_ci(a, rng.permutation(b), seed=3)
    assert unpaired["value"] == pytest.approx(paired["value"])
    assert (unpaired["ci_high"] - unpaired["ci_low"]) > 5 * (paired["ci_high"] - paired["ci_low"])
    assert fmt_relative(exact) == "+20.0% [95% CI +20.0%, +20.0%]"
    assert relative_ci(b, 0 * b)["value"] is None and fmt_relative(relative_ci(b, 0 * b)) == "n/a"
    with pytest.raises(ValueError, match="equal shapes"):
        relative_ci(b, b[:3])


def test_tables_bold_the_best_mean():
    m = pd.DataFrame({"dataset": "d", "model": ["x", "x", "y", "y"], "seed": [0, 1, 0, 1],
                      "protocol": "full", "domain": "a", "scenario": "cold", "metric": "ndcg",
                      "k": 20, "value": [0.1, 0.3, 0.25, 0.25], "n_groups": 5})
    s = summarize(m)
    assert s.set_index("model").loc["x", "std"] == pytest.approx(np.std([0.1, 0.3], ddof=1))
    md = pivot_md(s, [("c", {"dataset": "d", "metric": "ndcg", "k": 20, "domain": "a",
                             "scenario": "cold", "protocol": "full"})], ["x", "y"])
    rows = md.splitlines()
    assert "**0.2500 ± 0.0000**" in rows[3] and "**" not in rows[2]


def test_readme_block_only_between_markers(tmp_path):
    res = tmp_path / "results" / "ml100k-cd"                     # a suite: its table goes in
    res.mkdir(parents=True)
    (res / "headline.md").write_text("### `ml100k-cd`\n\n| model | x |\n|---|---|\n| a | 1 |\n\n"
                                     "Significance: long footnotes\n\nReproduce: `gnnrec ...`\n")
    study = tmp_path / "results" / "ablations-x"                  # a study: one link
    study.mkdir()
    (study / "headline.md").write_text("### Ablations on x\n\n| long | table |\n")
    (study / "table.md").write_text("...")
    readme = tmp_path / "README.md"
    readme.write_text("# proj\n\nintro\n\n## Other\n\nkeep me\n")
    assert update_readme(readme, tmp_path / "results")
    text = readme.read_text()
    assert text.startswith("# proj\n\nintro\n\n## Other\n\nkeep me\n") and "## Results" in text
    assert "| a | 1 |" in text and text.index(START) < text.index("| a | 1 |") < text.index(END)
    assert "Reproduce: `gnnrec ...`" in text and "long footnotes" not in text      # compact
    assert "[results/ml100k-cd/table.md](results/ml100k-cd/table.md)" in text
    assert "- Ablations on x: [results/ablations-x/table.md]" in text and "| long |" not in text
    readme.write_text(text.replace("keep me", "still here") + "\n## After\n\ntail\n")
    (res / "headline.md").write_text("### `ml100k-cd`\n\n| model | x |\n|---|---|\n| b | 2 |\n")
    assert update_readme(readme, tmp_path / "results")
    text = readme.read_text()
    assert "still here" in text and "| b | 2 |" in text and "| a | 1 |" not in text
    assert text.rstrip().endswith("tail") and text.count(START) == 1
    assert not update_readme(readme, tmp_path / "results")
    readme.write_text(f"# x\n{START}\n")
    with pytest.raises(GnnrecError, match="only one of"):
        update_readme(readme, tmp_path / "results")


def test_cli_smoke_suite_ml100k(tmp_path, capsys):
    """The CI smoke run: real ML-100K (fetched), real training, 1 seed, smoke budget."""
    from gnnrec.cli import main

    rc = main(["benchmark", "--suite", "ml100k-cd", "--budget", "smoke", "--seeds", "1",
               "--models", "pop,mf,cd-lightgcn", "--runs-dir", str(tmp_path / "runs"),
               "--results-dir", str(tmp_path / "results"), "--configs", str(ROOT / "configs"),
               "--quiet"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "action/cold NDCG@20" in out and "cd-lightgcn" in out
    s = pd.read_csv(tmp_path / "results" / "ml100k-cd" / "summary.csv").query(
        "protocol == 'full' and metric == 'ndcg' and k == 20 and scenario == 'cold' "
        "and domain != 'all'")
    # even two epochs of a cross-domain model must rank cold users' items far above chance
    # (a random ranking of ~700-1000 items gives NDCG@20 around 0.02-0.04 here)
    assert (s[s["model"] == "cd-lightgcn"]["mean"] > 0.15).all(), s
    assert (s[s["model"] == "pop"]["mean"] > 0.15).all(), s
    # a later run with fewer models would drop mf and cd-lightgcn from the tables: refused
    # before anything trains, naming the models and the fixes
    rc = main(["benchmark", "--suite", "ml100k-cd", "--budget", "smoke", "--seeds", "1",
               "--models", "pop", "--runs-dir", str(tmp_path / "runs"),
               "--results-dir", str(tmp_path / "results"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "holds results of cd-lightgcn, mf" in err, err
    assert "--models pop,cd-lightgcn,mf" in err and "--replace-results" in err


def test_sampled_protocol_suite(tmp_path):
    """A DisenCDR-style suite: sampled metrics (1 positive vs n negatives) beside full ranking."""
    suite = Suite("tinys", "tiny, sampled", ("tiny",), ("tiny_none",),
                  (("tiny", Headline("mrr", 0, "a", "all", "sampled")),
                   ("tiny", Headline("ndcg", 10, "a", "all", "full"))),
                  protocols=("full", "sampled"))
    out = run_suite(suite, ["pop", "mf"], 1, "smoke", tmp_path / "runs", tmp_path / "results",
                    tmp_path / "configs", TINY_OV, datasets={"tiny": make_tiny()}, progress=False,
                    projection=False)
    m = pd.read_csv(out.out_dir / "metrics.csv")
    samp = m[m["protocol"] == "sampled"]
    assert {"mrr", "ndcg", "hr"} <= set(samp["metric"]) and set(samp["model"]) == {"pop", "mf"}
    assert samp["value"].between(0, 1).all()
    table = (out.out_dir / "table.md").read_text()
    assert "a/all MRR (sampled)" in table and "sampled protocol" in table
