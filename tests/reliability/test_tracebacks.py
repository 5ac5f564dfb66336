"""Class 4, no traceback for a user error: every bad input below ends in one `error:` line, exit 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from gnnrec.export.contract import write_export
from tests.export.helpers import random_export
from tests.reliability.conftest import gnnrec, user_error


@pytest.fixture
def export(tmp_path, tiny) -> Path:
    write_export(random_export(tiny), tmp_path / "e")
    return tmp_path / "e"


def test_manifest_of_the_wrong_shape(work, export, tmp_path):
    (export / "manifest.json").write_text("[1, 2, 3]")
    user_error(gnnrec("evaluate", export, "--dataset", work / "tiny", cwd=work, subprocess_=True),
               "manifest.json")
    user_error(gnnrec("recommend", export, "--user", "u1", "--domain", "a", cwd=work), "manifest.json")
    ds = tmp_path / "ds"
    shutil.copytree(work / "tiny", ds)
    (ds / "manifest.json").write_text('"just a string"')
    user_error(gnnrec("train", work / "quick.yaml", f"dataset={ds}", f"runs_dir={tmp_path / 'r'}",
                      cwd=work), "manifest.json")


def test_a_corrupt_text_cache_entry_is_rebuilt_or_reported(work, tmp_path):
    from gnnrec.text.cache import EmbeddingCache

    cache = EmbeddingCache(tmp_path / "cache")
    cache.save("k", np.ones((3, 4), np.float32), {"kind": "test"})
    (tmp_path / "cache" / "k.json").write_text("[]")
    assert cache.load("k", 3) is None                   # unusable entry: a miss, recomputed


def test_a_corrupt_seen_matrix(work, export):
    from gnnrec.utils.files import sha256_file

    (export / "seen.npz").write_bytes(b"PK\x03\x04 not a zip")
    m = json.loads((export / "manifest.json").read_text())
    m["files"]["seen.npz"] = sha256_file(export / "seen.npz")   # checksummed corrupt file
    (export / "manifest.json").write_text(json.dumps(m))
    user_error(gnnrec("recommend", export, "--user", "u1", "--domain", "a", cwd=work), "seen.npz")


def test_files_and_folders_swapped(work, export, tmp_path, finished_run):
    user_error(gnnrec("train", tmp_path, cwd=work), str(tmp_path))                  # a folder as config
    f = tmp_path / "afile"
    f.write_text("x")
    user_error(gnnrec("baseline", "pop", "--dataset", work / "tiny", "--out", f, cwd=work), str(f))
    user_error(gnnrec("evaluate", f, "--dataset", work / "tiny", cwd=work), str(f))
    user_error(gnnrec("evaluate", export, "--dataset", f, cwd=work), str(f))
    user_error(gnnrec("data", "stats", work / "tiny", "--json", tmp_path, cwd=work), "--json")
    user_error(gnnrec("export", finished_run, "--out", f, cwd=work), str(f))


def test_bad_config_files(work, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"model:\n  name: \xff\xfe cd\n")
    user_error(gnnrec("train", bad, cwd=work, subprocess_=True), "bad.yaml", "UTF-8")
    bad.write_text("model: [unclosed\n")
    user_error(gnnrec("train", bad, cwd=work), "bad.yaml", "YAML")
    bad.write_text("- a list\n- not sections\n")
    user_error(gnnrec("train", bad, cwd=work), "bad.yaml")


def test_a_damaged_run_config_on_resume_and_export(work, finished_run, tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(finished_run, runs / "done")
    (runs / "done" / "config.yaml").write_bytes(b"\xff\xfe: [")
    user_error(gnnrec("train", work / "quick.yaml", "name=done", f"runs_dir={runs}", "--resume",
                      cwd=work), "config.yaml")
    user_error(gnnrec("export", runs / "done", "--out", tmp_path / "e", cwd=work), "config.yaml")


def test_devices_that_do_not_exist(work, export, tmp_path):
    user_error(gnnrec("train", work / "quick.yaml", "device=tpu", f"runs_dir={tmp_path}", cwd=work),
               "device")
    import torch
    if not torch.cuda.is_available():
        user_error(gnnrec("evaluate", export, "--dataset", work / "tiny", "--device", "cuda", cwd=work),
                   "--device", "cuda")
        user_error(gnnrec("train", work / "quick.yaml", "device=cuda", f"runs_dir={tmp_path}",
                          cwd=work), "cuda")


def test_read_only_outputs_are_found_before_the_work(monkeypatch, tmp_path):
    """Write permission is checked up front (a unit probe: the test user may be root)."""
    import os

    from gnnrec.utils.files import OutputError, check_output_dir, check_output_file

    real = os.access
    ro = tmp_path / "ro"
    ro.mkdir()
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == ro else real(p, mode))
    with pytest.raises(OutputError, match="read-only"):
        check_output_dir(ro / "out", option="--out")
    with pytest.raises(OutputError, match="read-only"):
        check_output_file(ro / "x.json", option="--json")
