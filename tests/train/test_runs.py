"""End-to-end runs on tiny data: determinism, resume after a mid-epoch kill, run-dir rules,
checkpoint checks, load_run/export round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gnnrec.export.contract import load_export
from gnnrec.train import CheckpointError, RunError, load_run, train_run
from gnnrec.train.checkpoint import load_checkpoint
from gnnrec.train.sampling import NegativeSampler
from tests.train.helpers import quick_cfg, tiny_folder


def _test_table(res) -> np.ndarray:
    t = res.test.table
    return t.select_dtypes("number").to_numpy()


def test_two_cpu_runs_with_one_seed_are_identical(tmp_path):
    a = train_run(quick_cfg(tmp_path, "a", epochs=3), progress=False, export=False)
    b = train_run(quick_cfg(tmp_path, "b", epochs=3), progress=False, export=False)
    ua, va = a.model.embeddings()
    ub, vb = b.model.embeddings()
    assert torch.equal(ua, ub) and torch.equal(va, vb)
    assert np.array_equal(_test_table(a), _test_table(b), equal_nan=True)
    c = train_run(quick_cfg(tmp_path, "c", epochs=3).replace(seed=1), progress=False, export=False)
    assert not torch.equal(c.model.embeddings()[0], ua)


def _epochs_trained(run_dir) -> int:
    log = (run_dir / "log.jsonl").read_text().splitlines()
    return sum(json.loads(line)["event"] == "epoch" for line in log)


def test_min_epochs_holds_off_early_stopping(tmp_path):
    # lr 1e-12: no float32 weight moves, the validation score never improves after epoch 1, so
    # patience 1 stops at epoch 2
    stop = train_run(quick_cfg(tmp_path, "stop", epochs=6, lr=1e-12, patience=1), progress=False,
                     export=False)
    assert _epochs_trained(stop.run_dir) == 2
    hold = train_run(quick_cfg(tmp_path, "hold", epochs=6, lr=1e-12, patience=1, min_epochs=4),
                     progress=False, export=False)
    assert _epochs_trained(hold.run_dir) == 4


def test_resume_after_kill_mid_epoch_matches_uninterrupted(tmp_path, monkeypatch):
    full = train_run(quick_cfg(tmp_path, "full", loss="softmax", negatives=2), progress=False,
                     export=False)
    cfg = quick_cfg(tmp_path, "killed", loss="softmax", negatives=2)
    real = NegativeSampler.sample
    calls = {"n": 0}
    steps = -(-len(full.ds.train) // 64)              # batches per epoch

    def dying(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 2 * steps + 2:               # second batch of epoch 3 of 4
            raise KeyboardInterrupt("killed")
        return real(self, *a, **k)

    monkeypatch.setattr(NegativeSampler, "sample", dying)
    with pytest.raises(KeyboardInterrupt):
        train_run(cfg, progress=False, export=False)
    monkeypatch.setattr(NegativeSampler, "sample", real)
    run_dir = tmp_path / "runs" / "killed"
    epochs = [json.loads(x)["epoch"] for x in (run_dir / "log.jsonl").read_text().splitlines()
              if '"epoch"' in x and '"event": "epoch"' in x]
    assert epochs == [1, 2]
    with pytest.raises(RunError, match="already exists"):
        train_run(cfg, progress=False, export=False)
    resumed = train_run(cfg, resume=True, progress=False, export=False)
    assert np.array_equal(_test_table(full), _test_table(resumed), equal_nan=True)
    assert torch.equal(full.model.embeddings()[1], resumed.model.embeddings()[1])
    with pytest.raises(RunError, match="differs"):
        train_run(cfg.replace(seed=5), resume=True, progress=False, export=False)


def test_text_model_on_ids_only_dataset_is_refused(tmp_path):
    from gnnrec.data.store import save_prepared
    from tests.conftest import make_tiny

    ds = make_tiny()
    ds.items = ds.items.drop(columns=["title"])
    folder = tmp_path / "ids"
    save_prepared(ds, folder, inputs={})
    cfg = quick_cfg(tmp_path, "t", model="cd-lightgcn-text").replace(dataset=str(folder))
    with pytest.raises(RunError, match="needs item text"):
        train_run(cfg, progress=False)


def test_load_run_export_and_checkpoint_checks(tmp_path):
    res = train_run(quick_cfg(tmp_path, "lr", model="lightgcn", epochs=2), progress=False)
    run = load_run(res.run_dir, device="cpu")
    u, v = run.model.embeddings()
    exp = load_export(res.run_dir / "export")
    assert np.allclose(exp.user_emb, u.numpy()) and np.allclose(exp.item_emb, v.numpy())
    assert exp.manifest["model"] == "lightgcn" and exp.seen.nnz == len(run.ds.train.drop_duplicates(
        ["user", "item"]))
    summary = json.loads((res.run_dir / "summary.json").read_text())
    assert set(summary["test"]) == {"a/warm", "a/cold", "b/warm", "b/cold"}
    # another dataset: refused by fingerprint
    other = tiny_folder(tmp_path, seed=1)
    from gnnrec.data import load_dataset
    with pytest.raises(CheckpointError, match="different split"):
        load_run(res.run_dir, device="cpu", ds=load_dataset(other))
    # another shape: refused with the mismatching tensors named
    (res.run_dir / "config.yaml").write_text(
        (res.run_dir / "config.yaml").read_text().replace("dim: 8", "dim: 16"))
    with pytest.raises(CheckpointError, match="shape mismatch"):
        load_run(res.run_dir, device="cpu")
    # another model
    with pytest.raises(CheckpointError, match="holds a 'lightgcn' model"):
        load_checkpoint(res.run_dir / "checkpoints" / "best.safetensors", run.model, "mf", run.ds)


def test_quiet_training_prints_no_progress_bar(tmp_path, capfd):
    from gnnrec.cli import main

    cfg = quick_cfg(tmp_path, "q", model="cd-lightgcn-text", epochs=1)
    folder = cfg.dataset
    assert main(["train", "-", f"dataset={folder}", "model.name=cd-lightgcn-text", "model.dim=8",
                 "train.epochs=1", "train.batch_size=64", f"runs_dir={tmp_path / 'r'}", "name=q",
                 "eval.ks=[5,10]", "eval.k=10", "device=cpu", "--quiet", "--no-export"]) == 0
    err = capfd.readouterr().err
    assert "item texts" not in err and "it/s" not in err and "text/s" not in err, err[-2000:]


def test_help_imports_no_torch():
    """`gnnrec --help` and every subcommand's help build without importing torch or pandas."""
    import subprocess
    import sys

    code = ("import sys; from gnnrec.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('torch', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out
