"""Class 3, export integrity: every file an export uses is inside it and checksummed; the manifest
agrees with the arrays; an empty export is refused before serving; a client that hangs up is a
client abort, not a server error."""

from __future__ import annotations

import json
import shutil
import socket
import time
from pathlib import Path

import numpy as np
import pytest

from gnnrec.export.contract import ExportError, load_export, write_export
from tests.export.helpers import random_export
from tests.reliability.conftest import gnnrec, user_error


@pytest.fixture
def faiss_export(tmp_path, tiny) -> Path:
    pytest.importorskip("faiss")
    out = tmp_path / "e"
    write_export(random_export(tiny), out, faiss="exact")
    return out


def _edit(folder: Path, fn) -> None:
    m = json.loads((folder / "manifest.json").read_text())
    fn(m)
    (folder / "manifest.json").write_text(json.dumps(m))


def test_an_index_outside_the_export_is_refused(faiss_export, tmp_path):
    outside = tmp_path / "elsewhere.faiss"
    shutil.copy(faiss_export / "index" / "a.faiss", outside)
    for target in ("../elsewhere.faiss", str(outside), "/etc/passwd", "index/../../elsewhere.faiss"):
        _edit(faiss_export, lambda m, t=target: m["extras"]["faiss"]["domains"]["a"].update(file=t))
        with pytest.raises(ExportError, match="index"):
            load_export(faiss_export)


def test_files_must_be_listed_and_names_must_stay_inside(faiss_export):
    (faiss_export / "extra.bin").write_bytes(b"x")
    with pytest.raises(ExportError, match="extra.bin"):
        load_export(faiss_export)
    (faiss_export / "extra.bin").unlink()
    load_export(faiss_export)
    _edit(faiss_export, lambda m: m["files"].update({"../x": m["files"]["items.tsv"]}))
    with pytest.raises(ExportError, match=r"\.\."):
        load_export(faiss_export)


@pytest.mark.parametrize("key, value", [("dim", 99), ("n_users", 3), ("n_items", 1)])
def test_the_manifest_must_agree_with_the_arrays(tmp_path, tiny, key, value):
    write_export(random_export(tiny), tmp_path / "e")
    _edit(tmp_path / "e", lambda m: m.update({key: value}))
    with pytest.raises(ExportError, match=key):
        load_export(tmp_path / "e")


def test_an_export_without_items_or_users_is_refused_before_serving(tmp_path, tiny, work):
    exp = random_export(tiny)
    exp.item_ids, exp.item_emb, exp.items, exp.seen = [], exp.item_emb[:0], exp.items.iloc[:0], None
    with pytest.raises(ExportError, match="items"):
        write_export(exp, tmp_path / "e")
    folder = tmp_path / "e2"
    write_export(random_export(tiny), folder)
    np.save(folder / "item_embeddings.npy", np.zeros((0, 8), np.float32))
    (folder / "item_ids.txt").write_text("")
    (folder / "items.tsv").write_text("item_id\tdomain\ttitle\n")
    (folder / "seen.npz").unlink()
    from gnnrec.utils.files import sha256_file

    def fix(m):
        m["n_items"] = 0
        m["files"].pop("seen.npz")
        for f in ("item_embeddings.npy", "item_ids.txt", "items.tsv"):
            m["files"][f] = sha256_file(folder / f)
    _edit(folder, fix)
    user_error(gnnrec("serve", folder, "--port", "0", cwd=work, timeout=60), "no items")


def test_a_client_that_disconnects_mid_body_is_a_client_abort(tmp_path, tiny):
    """Loopback: one aborted upload is counted as such and logged in one line, never as a 500."""
    from gnnrec.export.launch import start_server, stop_server

    write_export(random_export(tiny), tmp_path / "e")
    proc, url = start_server(tmp_path / "e", "--workers", "1")
    try:
        host, port = url.split("//")[1].split(":")
        for _ in range(3):                                   # bounded: three aborted uploads
            s = socket.create_connection((host, int(port)), timeout=5)
            s.sendall(b"POST /recommend HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
                      b"content-length: 5000\r\n\r\n{\"domain\": \"a\", ")
            time.sleep(0.2)
            s.close()
        time.sleep(1.0)
        import urllib.request
        metrics = json.loads(urllib.request.urlopen(f"{url}/metrics", timeout=10).read())
    finally:
        log = stop_server(proc)
    statuses = json.dumps(metrics)
    assert '"500"' not in statuses and "client_abort" in statuses, statuses
    assert "Traceback" not in log, log[-3000:]
    assert log.count("client disconnected") == 3, log[-3000:]
