"""The real CLI on tiny generated data: what a hostile new user would type.

Every probe asserts the exit code, that the message names the file or option,
that stderr holds no traceback, and -- for the data-loss class -- that every
file that existed before is byte-identical afterwards. Probes run
``gnnrec.cli.main`` in this process (an exception escaping it becomes exit 1
with its traceback on "stderr", so the assertions catch it exactly as in a
subprocess) unless they need a process of their own (``subprocess=True``:
kills, Ctrl-C, the HTTP service, and a few end-to-end checks of the interpreter).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gnnrec.data.store import save_prepared
from tests.conftest import make_tiny

ROOT = Path(__file__).resolve().parents[2]


def gnnrec(*args: str, cwd: Path, env: dict | None = None, timeout: float = 300,
           check_rc: int | None = None, subprocess_: bool = False) -> subprocess.CompletedProcess:
    """``gnnrec ARGS`` with ``cwd`` as working folder and ``cwd/data-dir`` as data dir."""
    e = {"OMP_NUM_THREADS": "1", "GNNREC_DATA_DIR": str(cwd / "data-dir"), **(env or {})}
    if subprocess_:
        proc = subprocess.run([sys.executable, "-m", "gnnrec.cli", *map(str, args)], cwd=cwd,
                              env={**os.environ, "PYTHONPATH": str(ROOT), **e}, capture_output=True,
                              text=True, timeout=timeout)
    else:
        proc = _in_process([str(a) for a in args], cwd, e)
    if check_rc is not None:
        assert proc.returncode == check_rc, (proc.returncode, proc.stdout[-2000:], proc.stderr[-3000:])
    return proc


def _in_process(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    import contextlib
    import io
    import traceback

    from gnnrec.cli import main

    out, err = io.StringIO(), io.StringIO()
    old_cwd, old_env = os.getcwd(), {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main(argv)
            except SystemExit as x:                    # argparse errors, --help
                rc = x.code if isinstance(x.code, int) else 2
            except BaseException:                      # what a user would see as a traceback
                traceback.print_exc()
                rc = 1
    finally:
        os.chdir(old_cwd)
        for k, v in old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return subprocess.CompletedProcess(argv, rc, out.getvalue(), err.getvalue())


def user_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """Assert a one-line user error (exit 2, no traceback) mentioning every needle; returns it."""
    err = proc.stderr
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-1500:], err[-3000:])
    assert "Traceback" not in err, err[-3000:]
    lines = [x for x in err.splitlines() if "error:" in x]
    assert len(lines) == 1, err[-3000:]
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def snapshot(folder: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``folder``."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def work(tmp_path_factory) -> Path:
    """A folder with a prepared tiny dataset (``tiny/``) and a quick config (``quick.yaml``)."""
    root = tmp_path_factory.mktemp("rel")
    save_prepared(make_tiny(), root / "tiny", inputs={})
    cfg = {"dataset": str(root / "tiny"), "device": "cpu", "model": {"name": "cd-lightgcn", "dim": 8,
                                                                      "layers": 2},
           "train": {"epochs": 2, "batch_size": 64, "threads": 1}, "eval": {"ks": [5, 10], "k": 10}}
    (root / "quick.yaml").write_text(yaml.safe_dump(cfg))
    return root


@pytest.fixture(scope="session")
def finished_run(work) -> Path:
    """A finished run folder ``runs/done`` (checkpoints, metrics, export)."""
    gnnrec("train", work / "quick.yaml", "name=done", f"runs_dir={work / 'runs'}", "--quiet",
           cwd=work, check_rc=0)
    return work / "runs" / "done"
