"""Named datasets and where their files live.

``load_dataset(spec)`` is the one entry point later stages use. ``spec`` is

* a path to a prepared folder (has ``manifest.json``) -> loaded as is;
* a path to a CD folder (``items.tsv`` + ``train.tsv`` ...) -> read directly;
* a registered name (``ml1m-cd``, ``ml100k-cd``, ``ml1m-cd-raw``, ``amazon-ao``,
  ``amazon-disencdr-sport_cloth``, ...) -> the prepared copy under
  ``<data dir>/prepared/<name>``, prepared on first use from its source.

``ml100k-cd`` and ``ml1m-cd-raw`` are always prepared from raw MovieLens
(fetched on first use, see :mod:`gnnrec.data.fetch`) with the ML-CD protocol.
``ml1m-cd`` is the frozen benchmark split when ``../shared/data`` exists;
without it, it is prepared from raw with the same protocol (a seeded choice of
cold users, so the counts match the frozen split but the cold groups differ)
and the log says so.

The data dir is ``$GNNREC_DATA_DIR`` or the user cache dir
(``~/.cache/gnnrec``). Frozen benchmark splits are looked up in
``$GNNREC_SHARED_DATA`` or ``../shared/data`` relative to the working directory
or to the repository checkout.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from gnnrec.data.frozen import load_cd_folder, load_disencdr_pair
from gnnrec.data.paths import data_dir
from gnnrec.data.schema import DataError, Dataset
from gnnrec.data.store import is_prepared, load_prepared, save_prepared

log = logging.getLogger(__name__)

DISENCDR_SCENARIOS = ("sport_cloth", "cloth_sport", "phone_electronic", "electronic_phone")


def shared_data_dir() -> Path | None:
    """The frozen benchmark folder (``../shared/data``), or None when absent."""
    env = os.environ.get("GNNREC_SHARED_DATA")
    cands = [Path(env)] if env else []
    repo = Path(__file__).resolve().parents[2]
    cands += [Path.cwd() / ".." / "shared" / "data", repo / ".." / "shared" / "data"]
    for c in cands:
        if (c / "README.md").is_file() or (c / "ml1m-cd").is_dir():
            return c.resolve()
    return None


@dataclass(frozen=True)
class Recipe:
    """How to build a named dataset: ``build(**params) -> (Dataset, inputs sha256)``."""

    name: str
    description: str
    build: Callable[..., tuple[Dataset, dict[str, str]]]


def _need_shared(sub: str) -> Path:
    root = shared_data_dir()
    if root is None or not (root / sub).exists():
        raise DataError(f"frozen benchmark data {sub!r} not found: set GNNREC_SHARED_DATA to the "
                        f"folder holding it (normally ../shared/data)")
    return root / sub


def _frozen_cd(sub: str) -> Callable[..., tuple[Dataset, dict[str, str]]]:
    return lambda **_: load_cd_folder(_need_shared(sub), name=sub)


def _disencdr(scenario: str) -> Callable[..., tuple[Dataset, dict[str, str]]]:
    return lambda **_: load_disencdr_pair(_need_shared("amazon-disencdr"), scenario)


def _movielens_cd(source: str, name: str) -> Callable[..., tuple[Dataset, dict[str, str]]]:
    def build(**params):
        from gnnrec.data.fetch import fetch
        from gnnrec.data.prepare import prepare_movielens_cd
        return prepare_movielens_cd(fetch(source), name, **params)
    return build


def _ml1m_cd(**params) -> tuple[Dataset, dict[str, str]]:
    root = shared_data_dir()
    if root is not None and (root / "ml1m-cd").is_dir() and not params:
        return load_cd_folder(root / "ml1m-cd", name="ml1m-cd")
    log.warning("ml1m-cd: frozen split not found (../shared/data or $GNNREC_SHARED_DATA); "
                "preparing it from raw MovieLens-1M with the same protocol -- the counts match, "
                "the seeded cold-user groups differ from the frozen benchmark's")
    return _movielens_cd("ml-1m", "ml1m-cd")(**params)


RECIPES: dict[str, Recipe] = {
    "ml1m-cd": Recipe("ml1m-cd", "MovieLens-1M action/drama, the frozen split of ../shared/data "
                      "(prepared from raw with the same protocol when that is absent)", _ml1m_cd),
    "ml1m-cd-raw": Recipe("ml1m-cd-raw", "MovieLens-1M action/drama, ML-CD protocol prepared "
                          "from raw (fetched; seeded cold users)", _movielens_cd("ml-1m", "ml1m-cd-raw")),
    "ml100k-cd": Recipe("ml100k-cd", "MovieLens-100K action/drama, ML-CD protocol prepared from "
                        "raw (fetched; the small default)", _movielens_cd("ml-100k", "ml100k-cd")),
    "amazon-ao": Recipe("amazon-ao", "Amazon Art/Office with titles, frozen split",
                        _frozen_cd("amazon-ao")),
    **{f"amazon-disencdr-{s}": Recipe(f"amazon-disencdr-{s}",
                                      f"DisenCDR Amazon {s.replace('_', '/')} pair (ids only)",
                                      _disencdr(s))
       for s in DISENCDR_SCENARIOS},
}


def _shadows_frozen(name: str, ds: Dataset) -> bool:
    """A seeded raw ml1m-cd in the cache must not hide the frozen split benchmarks need."""
    root = shared_data_dir()
    return (name == "ml1m-cd" and root is not None and (root / "ml1m-cd").is_dir()
            and str(ds.protocol.get("cold_groups", "")).startswith("seeded"))


def register(recipe: Recipe) -> None:
    """Add or replace a named dataset recipe."""
    RECIPES[recipe.name] = recipe


def prepared_path(name: str) -> Path:
    return data_dir() / "prepared" / name


def load_dataset(spec: str | os.PathLike, rebuild: bool = False) -> Dataset:
    """Resolve ``spec`` (path or registered name) to a :class:`Dataset`; see module doc."""
    path = Path(spec)
    if path.exists():
        if is_prepared(path):
            return load_prepared(path)
        if (path / "train.tsv").is_file():
            return load_cd_folder(path)[0]
        raise DataError(f"{path} is neither a prepared dataset (manifest.json) nor a CD folder "
                        f"(items.tsv, users.tsv, train.tsv, valid.tsv, test.tsv); for raw data "
                        f"run e.g. `gnnrec data prepare ml1m-cd --raw {path}` or "
                        f"`gnnrec data prepare NAME --format amazon|table ...` first")
    name = str(spec)
    if name not in RECIPES and is_prepared(prepared_path(name)):
        return load_prepared(prepared_path(name))       # prepared with `gnnrec data prepare`
    if name not in RECIPES:
        raise DataError(f"unknown dataset {name!r}: not a folder and not one of "
                        f"{sorted(RECIPES)}")
    target = prepared_path(name)
    if is_prepared(target) and not rebuild:
        try:
            ds = load_prepared(target)
        except DataError as e:                  # gnnrec's own cache: rebuild what was damaged
            log.warning("%s: the cached copy is unusable (%s); preparing it again", name, e)
        else:
            if not _shadows_frozen(name, ds):
                return ds
            log.warning("%s: the cached copy in %s was prepared from raw with seeded cold users; "
                        "the frozen benchmark split is available, so it replaces the cache", name, target)
    ds, inputs = RECIPES[name].build()
    save_prepared(ds, target, inputs=inputs)
    return ds


def timed_load(spec: str | os.PathLike) -> tuple[Dataset, float]:
    """(dataset, seconds) -- used by benchmarks and `gnnrec data stats`."""
    t0 = time.perf_counter()
    ds = load_dataset(spec)
    return ds, time.perf_counter() - t0
