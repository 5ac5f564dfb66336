"""File integrity, crash-safe writes and the one rule for output folders.

Output folders (``--out`` of every command that writes one): an existing
non-empty folder is refused unless ``--overwrite``, and even then only a folder
that gnnrec itself wrote is replaced (it carries a ``manifest.json`` whose
``format`` starts with ``gnnrec-``, or holds nothing but the writer's own
files); the parent must be writable. :func:`check_output_dir` applies the rule
before any work starts; :func:`atomic_dir` then writes the folder beside the
target and renames it into place.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Collection
from pathlib import Path
from typing import Any, Iterator

from gnnrec.errors import GnnrecError


class OutputError(GnnrecError, FileExistsError):
    """An output path that cannot be (over)written; the message names it and the fix."""


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, streamed in ``chunk``-byte blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; on success rename it to ``target``.

    A crash inside the block leaves ``target`` untouched (the temp folder, named
    ``.<name>.tmp-*``, is removed), so a half-written folder is never loaded.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and not overwrite:
        raise OutputError(f"{target} exists; pass overwrite=True (CLI: --overwrite) to replace it")
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        yield tmp
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def written_by_gnnrec(folder: str | os.PathLike, own_files: Collection[str] = ()) -> bool:
    """True when ``folder`` carries a gnnrec manifest (``manifest.json`` with a ``format`` starting
    ``gnnrec-``) or holds only the files in ``own_files`` (a writer without a manifest)."""
    folder = Path(folder)
    manifest = folder / "manifest.json"
    if manifest.is_file():
        try:
            fmt = json.loads(manifest.read_text(encoding="utf-8")).get("format")
        except (OSError, ValueError, AttributeError):
            return False
        return isinstance(fmt, str) and fmt.startswith("gnnrec-")
    names = {p.name for p in folder.iterdir()}
    return bool(own_files) and names <= set(own_files)


def writable_parent(path: str | os.PathLike) -> Path:
    """The nearest existing ancestor of ``path``; :class:`OutputError` unless it is a writable folder."""
    anc = Path(path).absolute().parent
    while not anc.exists():
        anc = anc.parent
    if not anc.is_dir():
        raise OutputError(f"{path}: {anc} is a file, not a folder; choose another path")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: cannot write in {anc} (read-only or no permission); choose a "
                          f"writable location")
    return anc


def check_output_dir(target: str | os.PathLike, overwrite: bool = False, option: str = "--out",
                     own_files: Collection[str] = ()) -> Path:
    """Apply the output-folder rule (module docstring) before any work; returns ``target``."""
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise OutputError(f"{option} {target} is a file, not a folder; choose a folder path")
    if target.is_dir() and any(target.iterdir()):
        if not overwrite:
            raise OutputError(f"{option} {target} exists and is not empty; pass --overwrite to "
                              f"replace it (gnnrec replaces only folders it wrote) or choose a new folder")
        if not written_by_gnnrec(target, own_files):
            raise OutputError(f"{option} {target} was not written by gnnrec (no gnnrec manifest); "
                              f"refusing to replace it even with --overwrite: choose an empty or new folder")
    if target.is_dir():
        if not os.access(target, os.W_OK | os.X_OK):
            raise OutputError(f"{option} {target}: the folder is read-only; choose a writable location")
    writable_parent(target)
    return target


def check_output_file(path: str | os.PathLike, option: str) -> Path:
    """An output file path: not a folder, in a writable folder (checked before any work)."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{option} {path} is a folder, not a file; give a file path")
    if path.exists() and not os.access(path, os.W_OK):
        raise OutputError(f"{option} {path} is read-only; choose a writable location")
    writable_parent(path)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` via a temp file and rename (never half-written)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_json_object(path: str | os.PathLike, error: type[GnnrecError] = GnnrecError,
                     fix: str = "") -> dict[str, Any]:
    """``path`` parsed as a JSON object, or ``error`` naming the file, what is wrong and ``fix``."""
    try:
        obj = read_json(path)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise error(f"{path}: not a readable JSON file ({type(e).__name__}: {e}); {fix}") from None
    if not isinstance(obj, dict):
        raise error(f"{path}: expected a JSON object, found a {type(obj).__name__}; {fix}")
    return obj
