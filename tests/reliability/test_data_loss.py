"""Class 1, data loss: no command destroys a user's files, whatever it is given."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.reliability.conftest import ROOT, gnnrec, snapshot, user_error


@pytest.mark.parametrize("bad, needle", [
    ("dataset=no-such-dataset", "no-such-dataset"),
    ("model.name=gcn9000", "gcn9000"),
    ("train.epoch=3", "train.epoch"),
])
def test_overwrite_that_fails_validation_keeps_the_finished_run(work, finished_run, bad, needle):
    before = snapshot(finished_run)
    proc = gnnrec("train", work / "quick.yaml", "name=done", f"runs_dir={work / 'runs'}", bad,
                  "--overwrite", "--quiet", cwd=work, subprocess_=bad.startswith("dataset"))
    user_error(proc, needle)
    assert snapshot(finished_run) == before


@pytest.mark.parametrize("name", [".", "..", "../escaped", "/tmp/gnnrec-abs-run", "a/b", ""])
def test_run_names_stay_inside_runs_dir(work, finished_run, name):
    runs = work / "runs"
    before = snapshot(runs)
    outside = {p.name for p in work.iterdir()}
    proc = gnnrec("train", work / "quick.yaml", f"name={name}", f"runs_dir={runs}", "--overwrite",
                  "--quiet", cwd=work)
    user_error(proc, "name=")
    assert snapshot(runs) == before and {p.name for p in work.iterdir()} == outside
    assert not Path("/tmp/gnnrec-abs-run").exists()


def _table_input(folder: Path) -> list[str]:
    """A small interactions table (two domains) for `gnnrec data prepare --format table`."""
    folder.mkdir(exist_ok=True)
    rows = ["uid\tiid\tcat\tts"]
    for u in range(30):
        for j in range(8):
            d = "x" if j < 4 else "y"
            rows.append(f"u{u}\t{d}{(u * 3 + j) % 12}\t{d}\t{u * 10 + j}")
    (folder / "log.tsv").write_text("\n".join(rows) + "\n")
    return ["--format", "table", "--interactions", str(folder / "log.tsv"),
            "--columns", "user=uid,item=iid,domain=cat,timestamp=ts", "--split", "loo"]


def _writers(work: Path) -> dict[str, list[str]]:
    """Commands that write a folder, each with OUT as a placeholder."""
    table = _table_input(work / "table-input")
    return {
        "baseline": ["baseline", "pop", "--dataset", str(work / "tiny"), "--out", "OUT"],
        "prepare": ["data", "prepare", "mine", *table, "--out", "OUT"],
        "write-tsv": ["data", "prepare", "mine", *table, "--write-tsv", "OUT"],   # --out: the cache
        "synth": ["synth", "--users", "60", "--items", "40", "--domains", "2", "--edges", "600",
                  "--out", "OUT"],
        "export": ["export", str(work / "runs" / "done"), "--out", "OUT"],
    }


@pytest.mark.parametrize("writer", ["baseline", "prepare", "write-tsv", "synth", "export"])
def test_every_output_folder_follows_one_rule(work, finished_run, writer, tmp_path):
    args = _writers(work)[writer]
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("not gnnrec's\n")
    cmd = [a if a != "OUT" else str(out) for a in args]
    user_error(gnnrec(*cmd, cwd=work), str(out), "--overwrite")            # not empty: refused
    user_error(gnnrec(*cmd, "--overwrite", cwd=work), "not written by gnnrec")   # not ours: refused
    assert (out / "precious.txt").read_text() == "not gnnrec's\n"
    fresh = tmp_path / "fresh"
    cmd = [a if a != "OUT" else str(fresh) for a in args]
    gnnrec(*cmd, cwd=work, check_rc=0)                                     # a new folder: written
    first = snapshot(fresh)
    assert first
    user_error(gnnrec(*cmd, cwd=work), "--overwrite")                       # ours, but no --overwrite
    assert snapshot(fresh) == first
    gnnrec(*cmd, "--overwrite", cwd=work, check_rc=0)                       # ours + --overwrite: replaced


def test_a_start_killed_before_its_first_checkpoint_leaves_nothing_in_the_way(work, tmp_path):
    gnnrec("synth", "--users", "4000", "--items", "2000", "--domains", "2", "--edges", "150000",
           "--out", tmp_path / "big", cwd=work, check_rc=0)
    runs = tmp_path / "runs"
    args = [str(work / "quick.yaml"), f"dataset={tmp_path / 'big'}", "name=kill", f"runs_dir={runs}",
            "train.batch_size=256", "train.epochs=50", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GNNREC_DATA_DIR": str(work / "data-dir"),
           "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "gnnrec.cli", "train", *args], cwd=work, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and not list(runs.glob(".kill.starting-*/log.jsonl")):
        time.sleep(0.05)
    assert list(runs.glob(".kill.starting-*")), "the run never started"
    assert not (runs / "kill").exists()                 # nothing at the final path before a checkpoint
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not (runs / "kill").exists()
    # --resume has nothing to resume and says so; the plain command is not blocked
    user_error(gnnrec("train", *args, "--resume", cwd=work), "without --resume")
    gnnrec("train", *args[:-1], "train.epochs=1", "train.batch_size=65536", "--quiet", cwd=work,
           check_rc=0)
    assert (runs / "kill" / "checkpoints" / "last.safetensors").is_file()
    assert not list(runs.glob(".kill.*"))               # the killed start's folder was cleaned up


def test_interrupt_after_a_checkpoint_says_how_to_resume(work, tmp_path):
    runs = tmp_path / "runs"
    args = [str(work / "quick.yaml"), "name=ctrlc", f"runs_dir={runs}", "train.epochs=100000",
            "train.patience=100000"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GNNREC_DATA_DIR": str(work / "data-dir"),
           "PYTHONPATH": str(ROOT)}
    # Ctrl-C in a terminal: SIGINT at its default, even when this test itself runs in a background job
    # (a shell starts those with SIGINT ignored, and Python then installs no KeyboardInterrupt handler)
    proc = subprocess.Popen([sys.executable, "-m", "gnnrec.cli", "train", *args, "--quiet"], cwd=work,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while time.time() < deadline and not (runs / "ctrlc" / "checkpoints" / "last.safetensors").is_file():
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err, err[-3000:]
    lines = [x for x in err.splitlines() if "interrupted" in x]
    assert len(lines) == 1 and "--resume" in lines[0], err[-3000:]
