"""Class 2, silent wrong results: out-of-range settings, damaged checkpoints, bad input values."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.conftest import gnnrec, user_error


@pytest.mark.parametrize("override, key", [
    ("train.patience=0", "train.patience"), ("train.patience=-3", "train.patience"),
    ("train.lr=0", "train.lr"), ("train.lr=-0.01", "train.lr"),
    ("train.eval_every=0", "train.eval_every"), ("model.layers=-1", "model.layers"),
    ("model.dim=0", "model.dim"), ("train.batch_size=-5", "train.batch_size"),
    ("train.negatives=0", "train.negatives"), ("train.epochs=0", "train.epochs"),
    ("train.temperature=0", "train.temperature"), ("train.reg=-1", "train.reg"),
    ("train.fanouts=[10,0]", "train.fanouts"), ("seed=-1", "seed"), ("train.lr=nan", "train.lr"),
    ("eval.ks=[0]", "eval.ks"), ("device=tpu", "device"),
])
def test_out_of_range_settings_are_config_errors(work, override, key, tmp_path):
    proc = gnnrec("train", work / "quick.yaml", f"runs_dir={tmp_path}", override, "--quiet", cwd=work)
    user_error(proc, key)
    assert not any(tmp_path.iterdir())


def test_a_flipped_bit_in_a_checkpoint_is_refused(work, tmp_path):
    runs = tmp_path / "runs"
    gnnrec("train", work / "quick.yaml", "name=done", f"runs_dir={runs}", "--quiet", cwd=work, check_rc=0)
    last = runs / "done" / "checkpoints" / "last.safetensors"
    data = bytearray(last.read_bytes())
    data[len(data) // 2] ^= 0x10                       # one bit, inside a tensor
    last.write_bytes(bytes(data))
    proc = gnnrec("train", work / "quick.yaml", "name=done", f"runs_dir={runs}", "--resume", "--quiet",
                  cwd=work)
    user_error(proc, "last.safetensors", "sha256")
    best = runs / "done" / "checkpoints" / "best.safetensors"
    best.write_bytes(best.read_bytes()[:-10])           # truncated
    proc = gnnrec("export", runs / "done", "--out", tmp_path / "e", cwd=work)
    user_error(proc, "best.safetensors")


def _table(folder: Path, rows: list[str], header: str = "uid\titem\tcat\tts\tstars") -> Path:
    folder.mkdir(exist_ok=True)
    body = [header]
    for u in range(30):
        for j in range(8):
            d = "x" if j < 4 else "y"
            body.append(f"u{u}\t{d}{(u * 3 + j) % 12}\t{d}\t{u * 10 + j}\t5")
    path = folder / "log.tsv"
    path.write_text("\n".join(body[:5] + rows + body[5:]) + "\n")
    return path


COLUMNS = ["--columns", "user=uid,item=item,domain=cat,timestamp=ts,rating=stars"]


@pytest.mark.parametrize("row, needle", [
    ("u1\tx1\tx\t99999999999999999999\t5", "ts '99999999999999999999' is out of the 64-bit"),
    ("u1\tx1\tx\t10\tinf", "stars 'inf' is not a finite number"),
    ("u1\tx1\tx\t10\tnan", "stars 'nan' is not a finite number"),
])
def test_bad_values_in_a_table_name_the_file_and_line(work, tmp_path, row, needle):
    path = _table(tmp_path, [row])
    proc = gnnrec("data", "prepare", "mine", "--format", "table", "--interactions", path, *COLUMNS,
                  "--split", "loo", "--out", tmp_path / "out", cwd=work)
    user_error(proc, str(path), "line 6", needle)


@pytest.mark.parametrize("fraction", ["0", "1", "1.5", "-0.2"])
def test_cold_fraction_outside_zero_one_is_refused(work, tmp_path, fraction):
    path = _table(tmp_path, [])
    proc = gnnrec("data", "prepare", "mine", "--format", "table", "--interactions", path, *COLUMNS,
                  "--split", "cold", "--cold-fraction", fraction, "--out", tmp_path / "out", cwd=work)
    user_error(proc, "--cold-fraction")


def test_a_cold_split_needs_two_domains(work, tmp_path):
    path = tmp_path / "one.tsv"
    path.write_text("uid\titem\tcat\tts\tstars\n" + "".join(
        f"u{u}\tx{(u + j) % 9}\tx\t{j}\t5\n" for u in range(40) for j in range(6)))
    proc = gnnrec("data", "prepare", "mine", "--format", "table", "--interactions", path, *COLUMNS,
                  "--split", "cold", "--out", tmp_path / "out", cwd=work)
    user_error(proc, "--split cold", "domain")
