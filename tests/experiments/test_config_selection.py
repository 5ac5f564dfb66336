"""experiments/config_selection.py: every study's candidates are valid configs, and a run name
shared by two studies (a reused run) means one and the same configuration."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[2]


def _studies() -> dict:
    spec = importlib.util.spec_from_file_location("config_selection", _ROOT / "experiments" / "config_selection.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.STUDIES


def test_every_candidate_resolves_and_reused_names_agree() -> None:
    from gnnrec.train import load_config

    seen: dict[str, dict] = {}
    for study, (base, start, _label, cands) in _studies().items():
        names = [name for name, _ in cands]
        assert len(names) == len(set(names)), f"{study}: duplicate candidate names"
        for name, overrides in cands:
            cfg = load_config(_ROOT / base, start + overrides + [f"name={name}"])
            if name in seen:
                assert cfg == seen[name], f"{study}: run {name} reused with another configuration"
            seen[name] = cfg
