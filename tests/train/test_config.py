"""Config resolution and CLI errors: unknown keys, wrong types, unknown models, run-dir rules."""

from __future__ import annotations

import pytest
import yaml

from gnnrec.cli import main
from gnnrec.train import ConfigError, load_config, resolve


def test_defaults_overrides_and_model_keys(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("dataset: ml1m-cd\nmodel: {name: cd-lightgcn-text, layers: 3}\ntrain: {epochs: 5}\n")
    cfg = load_config(f, ["train.epochs=30", "model.layers=2", "train.lr=1e-3"])
    assert cfg.name == "c"                          # file stem
    assert cfg.train.epochs == 30 and cfg.model.layers == 2
    assert cfg.train.lr == 1e-3 and cfg.model.item_id is True
    assert cfg.train.batch_size == 16384            # default kept


@pytest.mark.parametrize("override, needle", [
    ("train.epoch=3", "valid keys: train.amp"),
    ("model.heads=4", "model.dim"),
    ("bogus=1", "train.*"),
    ("train.lr=fast", "train.lr must be int or float"),
    ("train.epochs=2.5", "train.epochs must be int"),
    ("train.loss=hinge", "must be one of ['bpr', 'softmax']"),
    ("model.name=gcn9000", "unknown model 'gcn9000'; available:"),
    ("train.epochs", "key=value"),
    ("train.min_epochs=-1", "train.min_epochs must be >= 0"),
    ("train.lr=0", "train.lr must be > 0"),
    ("train.patience=0", "train.patience must be >= 1"),
    ("train.eval_every=0", "train.eval_every must be >= 1"),
    ("model.layers=-1", "model.layers must be >= 0"),
    ("model.dim=0", "model.dim must be >= 1"),
    ("train.batch_size=-5", "train.batch_size must be >= 1"),
    ("eval.select_scenarios=[hot]", "warm / cold"),
    ("train.pop_bias=true", "unknown key 'train.pop_bias'"),
])
def test_bad_overrides(override, needle):
    with pytest.raises(ConfigError) as e:
        resolve({}, [override])
    assert needle in str(e.value)


def test_wrong_type_in_file_names_file(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("train:\n  batch_size: big\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: train.batch_size must be int"):
        load_config(f)


def test_cli_reports_config_errors(tmp_path, capsys):
    assert main(["train", "-", "train.epoch=3", f"runs_dir={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'train.epoch'" in err and "train.epochs" in err


def test_every_shipped_config_resolves():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "configs"
    files = [f for f in root.glob("*/*.yaml") if f.parent.name != "text"]
    assert len(files) >= 20
    for f in files:
        cfg = load_config(f)
        assert cfg.name == f"{f.parent.name}_{f.stem}"


def test_cli_refuses_existing_run_dir_and_missing_resume(tmp_path, capsys):
    run = tmp_path / "runs" / "x"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("name: x\n")
    assert main(["train", "-", "name=x", f"runs_dir={tmp_path / 'runs'}"]) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert main(["train", "-", "name=x", f"runs_dir={tmp_path / 'runs'}", "--resume"]) == 2
    assert "no checkpoints/last.safetensors" in capsys.readouterr().err


def test_cli_lists_a_models_keys_as_a_config_section(capsys):
    """``gnnrec train --model-keys NAME`` prints NAME's defaults as YAML that resolves as-is."""
    with pytest.raises(SystemExit) as e:
        main(["train", "--model-keys", "cd-lightgcn-text"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    section = yaml.safe_load(out)["model"]
    assert section["name"] == "cd-lightgcn-text" and section["cross_map_lambda_warm"] is None
    assert "# ridge lambda of the map" in out                        # each key with its comment
    assert resolve({"dataset": "tiny", "model": section}).to_dict()["model"] == section
    with pytest.raises(SystemExit) as e:
        main(["train", "--model-keys", "no-such-model"])
    assert e.value.code == 2 and "available: bitgcf" in capsys.readouterr().err
