"""Run `gnnrec serve` as a child process on a free loopback port (tests, benchmarks)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(export: str | Path, *extra: str, timeout: float = 60.0,
                 cwd: str | Path | None = None) -> tuple[subprocess.Popen, str]:
    """Launch `gnnrec serve EXPORT` on a free loopback port; (process, base url) once healthy.

    Raises RuntimeError (with the server's output) when it exits early or does
    not answer ``/healthz`` within ``timeout`` seconds (the child is then killed).
    """
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "gnnrec.cli", "serve", str(export),
                             "--host", "127.0.0.1", "--port", str(port), *extra],
                            cwd=cwd, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early (code {proc.returncode}):\n{proc.stdout.read()}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1.0) as r:
                if r.status == 200:
                    return proc, url
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    stop_server(proc)
    raise RuntimeError(f"server did not answer /healthz within {timeout} s")


def stop_server(proc: subprocess.Popen, timeout: float = 10.0) -> str:
    """Terminate (then kill) the child started by :func:`start_server`; returns its output."""
    proc.terminate()
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate(timeout=timeout)
    return out or ""
