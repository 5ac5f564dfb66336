"""experiments/config_selection.py: every study's candidates are valid configs, and a run name
shared by two studies (a reused run) means one and the same configuration."""

from __future__ import annotations

from tests.experiments.helpers import ROOT, load_experiment


def test_every_candidate_resolves_and_reused_names_agree() -> None:
    from gnnrec.train import load_config

    seen: dict[str, dict] = {}
    for study, (base, start, _label, cands) in load_experiment("config_selection").STUDIES.items():
        names = [name for name, _ in cands]
        assert len(names) == len(set(names)), f"{study}: duplicate candidate names"
        for name, overrides in cands:
            cfg = load_config(ROOT / base, start + overrides + [f"name={name}"])
            if name in seen:
                assert cfg == seen[name], f"{study}: run {name} reused with another configuration"
            seen[name] = cfg


def test_valid_split_averages_cold_and_warm_groups() -> None:
    split = load_experiment("config_selection")._valid_split(
        {"art/cold": 0.04, "office/cold": 0.08, "art/warm": 0.02, "office/warm": 0.03})
    assert abs(split["valid_cold"] - 0.06) < 1e-12
    assert abs(split["valid_warm"] - 0.025) < 1e-12


def test_valid_split_of_a_run_validated_on_cold_groups_only_has_no_warm_mean() -> None:
    import math

    split = load_experiment("config_selection")._valid_split({"art/cold": 0.04, "office/cold": 0.08})
    assert abs(split["valid_cold"] - 0.06) < 1e-12 and math.isnan(split["valid_warm"])
