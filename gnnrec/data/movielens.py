"""Raw MovieLens 100K / 1M in GroupLens or RecBole layout -> :class:`RawData`.

Layouts (detected from the files in the folder):

* GroupLens 100K: ``u.data`` (user, item, rating, timestamp; tab), ``u.item``
  (``|``: id, title, release date, video date, IMDb URL, 19 genre flags),
  ``u.user`` (``|``: id, age, gender, occupation, zip); latin-1.
* GroupLens 1M: ``ratings.dat`` (UserID::MovieID::Rating::Timestamp),
  ``movies.dat`` (MovieID::Title::Genres, ``|`` separated), ``users.dat``
  (UserID::Gender::Age::Occupation::Zip); latin-1.
* RecBole atomic: ``<name>.inter`` / ``.item`` / ``.user``, tab separated with
  ``field:type`` headers, UTF-8; item ids are the titles with year, genres are
  space separated, user ids may carry a ``100k_`` / ``1m_`` prefix (dropped).

Movies are keyed by their title with year ("Toy Story (1995)"), which is
what both layouts share: movies listed twice under one title (ML-100K has 18)
become one item. Items get ids ``m1..mN`` in sorted order of that raw title
(Python string order), users ``u<MovieLens id>``. Each movie's domain comes
from ``domain_of(genres)``; the default is the ML-CD rule (``action`` when a
genre is in :data:`ACTION_GENRES`, else ``drama``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from gnnrec.data.clean import assemble
from gnnrec.data.readers import read_table
from gnnrec.data.schema import DataError, RawData
from gnnrec.utils.files import sha256_file

GENRES_100K = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
               "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
               "Romance", "Sci-Fi", "Thriller", "War", "Western")
ACTION_GENRES = frozenset({"Action", "Adventure", "Sci-Fi", "Thriller", "War", "Western",
                           "Crime", "Horror"})
CD_DOMAINS = ["action", "drama"]
_TITLE_YEAR = re.compile(r"^(.*) \((\d{4})\)$")
_USER_PREFIX = re.compile(r"^\d+[km]_")


def action_drama(genres: list[str]) -> str:
    """The ML-CD domain rule: ``action`` if any genre is in ACTION_GENRES, else ``drama``."""
    return "action" if ACTION_GENRES.intersection(genres) else "drama"


# three domains (ML-1M-3D): the first group a movie's genres meet, in this order
THREE_DOMAIN_GENRES = (("action", frozenset({"Action", "Adventure", "Sci-Fi", "Fantasy", "War", "Western"})),
                       ("thriller", frozenset({"Thriller", "Crime", "Horror", "Mystery", "Film-Noir"})))
THREE_DOMAINS = ["action", "thriller", "drama"]


def action_thriller_drama(genres: list[str]) -> str:
    """The ML-1M-3D rule: ``action`` if a genre is in the action group, else ``thriller`` if one is
    in the thriller group, else ``drama`` (comedy, drama, romance, children's, ...)."""
    for name, group in THREE_DOMAIN_GENRES:
        if group.intersection(genres):
            return name
    return "drama"


@dataclass(frozen=True)
class MovieLensFiles:
    layout: str          # grouplens-100k | grouplens-1m | recbole
    ratings: Path
    movies: Path
    users: Path

    def paths(self) -> list[Path]:
        return [self.ratings, self.movies, self.users]


def detect(folder: str | os.PathLike) -> MovieLensFiles:
    """Find the MovieLens files in ``folder`` (see module doc for the layouts)."""
    f = Path(folder)
    if not f.is_dir():
        raise DataError(f"{f}: no such folder; pass the folder holding u.data (ML-100K), "
                        f"ratings.dat (ML-1M) or *.inter (RecBole), or run `gnnrec data fetch`")
    if (f / "u.data").is_file():
        return MovieLensFiles("grouplens-100k", f / "u.data", f / "u.item", f / "u.user")
    if (f / "ratings.dat").is_file():
        return MovieLensFiles("grouplens-1m", f / "ratings.dat", f / "movies.dat", f / "users.dat")
    inter = sorted(f.glob("*.inter"))
    if len(inter) == 1:
        stem = inter[0].with_suffix("")
        return MovieLensFiles("recbole", inter[0], stem.with_suffix(".item"),
                              stem.with_suffix(".user"))
    raise DataError(f"{f}: no MovieLens files found (expected u.data, ratings.dat or exactly one "
                    f"*.inter, found {[p.name for p in f.iterdir()][:10]}); "
                    f"run `gnnrec data fetch ml-1m` or point --raw at the unzipped folder")


def split_title(raw_title: str) -> tuple[str, str]:
    """``"Toy Story (1995)" -> ("Toy Story", "1995")``; no trailing year -> (title, "")."""
    m = _TITLE_YEAR.match(raw_title)
    return (m.group(1), m.group(2)) if m else (raw_title, "")


def _read_movies(files: MovieLensFiles) -> pd.DataFrame:
    """Columns raw_title, genres (list of str); one row per movie id, file order."""
    if files.layout == "grouplens-100k":
        t = read_table(files.movies, ["movie_id", "title", "date", "video", "url", *GENRES_100K],
                       sep="|", header=False, encoding="latin-1", required=["movie_id", "title"],
                       integer=list(GENRES_100K))
        flags = t[list(GENRES_100K)].to_numpy()
        genres = [[g for g, on in zip(GENRES_100K, row) if on] for row in flags]
    elif files.layout == "grouplens-1m":
        t = read_table(files.movies, ["movie_id", "title", "genres"], sep="::", header=False,
                       encoding="latin-1")
        genres = [g.split("|") for g in t["genres"]]
    else:
        t = read_table(files.movies, required=["item_id"])
        gcol = [c for c in t.columns if c in ("genre", "class", "genres")]
        if not gcol:
            raise DataError(f"{files.movies}: no genre column (expected 'genre' or 'class' in "
                            f"the header {list(t.columns)})")
        t = t.rename(columns={"item_id": "title"})
        t["movie_id"] = t["title"]
        genres = [g.split() for g in t[gcol[0]]]
    return pd.DataFrame({"movie_id": t["movie_id"].str.strip(),
                         "raw_title": t["title"].str.strip(), "genres": genres})


def _user_id(raw: str) -> str:
    """``"1m_42"`` / ``"42"`` -> ``"u42"``."""
    return "u" + _USER_PREFIX.sub("", raw.strip())


def _per_unique(col: pd.Series, fn: Callable[[str], str]) -> pd.Series:
    """Apply ``fn`` once per distinct value (ratings repeat ids a million times)."""
    codes, uniq = pd.factorize(col)
    mapped = np.asarray([fn(str(u)) for u in uniq], dtype=object)
    return pd.Series(mapped[codes], index=col.index, dtype=object)


def _read_ratings(files: MovieLensFiles) -> pd.DataFrame:
    """Columns user_id (``u<id>``), movie_id, rating, timestamp; attrs name the lines."""
    num = dict(numeric=["rating"], integer=["timestamp"])
    if files.layout == "grouplens-100k":
        t = read_table(files.ratings, ["user_id", "movie_id", "rating", "timestamp"], header=False,
                       **num)
    elif files.layout == "grouplens-1m":
        t = read_table(files.ratings, ["user_id", "movie_id", "rating", "timestamp"], sep="::",
                       header=False, **num)
    else:
        t = read_table(files.ratings, ["user_id", "item_id", "rating", "timestamp"], **num)
        t = t.rename(columns={"item_id": "movie_id"})
    t["user_id"] = _per_unique(t["user_id"], _user_id)
    t["movie_id"] = _per_unique(t["movie_id"], str.strip)
    return t


def _read_users(files: MovieLensFiles) -> pd.DataFrame:
    """Columns user_id, age, gender, occupation (MovieLens codes / names)."""
    if files.layout == "grouplens-100k":
        t = read_table(files.users, ["user_id", "age", "gender", "occupation", "zip"], sep="|",
                       header=False, encoding="latin-1", required=["user_id"])
    elif files.layout == "grouplens-1m":
        t = read_table(files.users, ["user_id", "gender", "age", "occupation", "zip"], sep="::",
                       header=False, encoding="latin-1", required=["user_id"])
    else:
        t = read_table(files.users, required=["user_id"])
    t["user_id"] = _per_unique(t["user_id"], _user_id)
    cols = [c for c in ("user_id", "age", "gender", "occupation") if c in t.columns]
    return t.loc[:, cols].reset_index(drop=True)


def read_movielens(folder: str | os.PathLike, name: str = "movielens",
                   domain_of: Callable[[list[str]], str] = action_drama,
                   domains: list[str] | None = None) -> tuple[RawData, dict[str, str]]:
    """Read a raw MovieLens folder; returns (RawData with all ratings, {file: sha256}).

    Items: ``item_id`` (``m<k>``), ``domain``, ``title``, ``year``, ``genres``
    (``|`` joined); users: ``user_id`` (``u<id>``), ``age``, ``gender``,
    ``occupation``. Interactions keep every rating, in file order.
    """
    files = detect(folder)
    missing = [p for p in files.paths() if not p.is_file()]
    if missing:
        raise DataError(f"{missing[0]}: file not found; a {files.layout} folder needs "
                        f"{[p.name for p in files.paths()]} -- re-extract the archive or run "
                        f"`gnnrec data fetch`")
    movies = _read_movies(files)
    ratings = _read_ratings(files)
    users = _read_users(files)
    # one item per raw title (ML-100K lists some movies twice under two ids)
    titles = sorted(movies["raw_title"].unique())
    mid = {t: f"m{k + 1}" for k, t in enumerate(titles)}
    first = movies.drop_duplicates("raw_title").set_index("raw_title").loc[titles]
    genres = first["genres"].tolist()
    split = [split_title(t) for t in titles]
    items = pd.DataFrame({
        "item_id": [mid[t] for t in titles],
        "domain": [domain_of(g) for g in genres],
        "title": [s[0] for s in split], "year": [s[1] for s in split],
        "genres": ["|".join(g) for g in genres]})
    doms = domains or sorted(items["domain"].unique())
    movie_to_item = pd.Series(movies["raw_title"].map(mid).to_numpy(), index=movies["movie_id"])
    movie_to_item = movie_to_item[~movie_to_item.index.duplicated()]
    item_ids = ratings["movie_id"].map(movie_to_item)
    unknown = item_ids.isna().to_numpy()
    if unknown.any():
        i = int(np.flatnonzero(unknown)[0])
        raise DataError(f"{files.ratings}, line {ratings.attrs['line_of'][i]}: movie "
                        f"{ratings['movie_id'].iat[i]!r} is not in {files.movies.name} "
                        f"({int(unknown.sum())} such ratings); the files do not belong together")
    inter = pd.DataFrame({"user_id": ratings["user_id"], "item_id": item_ids,
                          "rating": ratings["rating"], "timestamp": ratings["timestamp"]})
    inter.attrs = dict(ratings.attrs)
    source = {"format": f"movielens/{files.layout}", "folder": str(Path(folder))}
    raw = assemble(name, users, items, doms, inter, source=source, add_missing_users=False)
    inputs = {f"{Path(folder).name}/{p.name}": sha256_file(p) for p in files.paths()}
    return raw, inputs
