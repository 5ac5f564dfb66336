"""Write the tiny synthetic fixture files under datasets/*/fixture* (run from the repo root).

The ratings are random (seeded), not real MovieLens or Amazon data; only the
file layouts are exact copies of the public releases, so the loaders are
tested on the real formats without redistributing the data. Re-running this
script rewrites the same bytes.

    .venv/bin/python datasets/make_fixtures.py
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
GENRES = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
          "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
          "Romance", "Sci-Fi", "Thriller", "War", "Western")
# (title with year, genres); index + 1 is the GroupLens movie id
MOVIES = [
    ("Toy Story (1995)", ["Animation", "Children's", "Comedy"]),
    ("GoldenEye (1995)", ["Action", "Adventure", "Thriller"]),
    ("Cité des enfants perdus, La (1995)", ["Adventure", "Sci-Fi"]),
    ("Heat (1995)", ["Action", "Crime", "Thriller"]),
    ("Sense and Sensibility (1995)", ["Drama", "Romance"]),
    ("Braveheart (1995)", ["Action", "Drama", "War"]),
    ("Babe (1995)", ["Children's", "Comedy", "Drama"]),
    ("Alien (1979)", ["Action", "Horror", "Sci-Fi", "Thriller"]),
    ("Casablanca (1942)", ["Drama", "Romance", "War"]),
    ("Fargo (1996)", ["Crime", "Drama", "Thriller"]),
    ("Amadeus (1984)", ["Drama"]),
    ("Groundhog Day (1993)", ["Comedy", "Romance"]),
    ("Big Night (1996)", ["Drama"]),
    ("'Night Mother (1986)", ["Drama"]),
]
USERS = [(1, 24, "M", 20, "85711"), (2, 53, "F", 14, "94043"), (3, 23, "M", 21, "32067"),
         (4, 24, "M", 7, "43537"), (5, 33, "F", 14, "15213"), (6, 42, "M", 4, "98101"),
         (7, 57, "M", 1, "91344"), (8, 36, "M", 0, "05201"), (9, 29, "F", 12, "01002"),
         (10, 53, "M", 17, "90703")]
OCC_100K = ["other", "academic/educator", "artist", "clerical/admin", "college/grad student",
            "customer service", "doctor/health care", "executive/managerial", "farmer",
            "homemaker", "K-12 student", "lawyer", "programmer", "retired", "sales/marketing",
            "scientist", "self-employed", "technician/engineer", "tradesman/craftsman",
            "unemployed", "writer", "none"]


def _ratings(seed: int = 7) -> list[tuple[int, int, int, int]]:
    """(user, movie id, rating, timestamp): every user rates 11 of the 14 movies."""
    rng = np.random.default_rng(seed)
    out = []
    for u, *_ in USERS:
        picks = rng.choice(len(MOVIES), size=11, replace=False)
        t0 = 978300000 + 1000 * u
        for k, m in enumerate(picks):
            r = int(rng.integers(2, 6))
            ts = t0 + 10 * (k // 2)          # pairs of equal timestamps test tie-breaking
            out.append((u, int(m) + 1, r, ts))
    return out


def write_movielens() -> None:
    ratings = _ratings()
    d1 = ROOT / "ml-1m" / "fixture"
    d1.mkdir(parents=True, exist_ok=True)
    with open(d1 / "ratings.dat", "w", encoding="latin-1", newline="\n") as f:
        f.writelines(f"{u}::{m}::{r}::{t}\n" for u, m, r, t in ratings)
    with open(d1 / "movies.dat", "w", encoding="latin-1", newline="\n") as f:
        f.writelines(f"{i + 1}::{t}::{'|'.join(g)}\n" for i, (t, g) in enumerate(MOVIES))
    with open(d1 / "users.dat", "w", encoding="latin-1", newline="\n") as f:
        f.writelines(f"{u}::{g}::{a}::{o}::{z}\n" for u, a, g, o, z in USERS)
    # the same data in RecBole atomic layout (UTF-8, CRLF like the wheel's ml-1m files)
    rb = ROOT / "ml-1m" / "fixture-recbole"
    rb.mkdir(parents=True, exist_ok=True)
    with open(rb / "ml-1m.inter", "w", encoding="utf-8", newline="\r\n") as f:
        f.write("user_id:token\titem_id:token\trating:float\ttimestamp:float\n")
        f.writelines(f"1m_{u}\t{MOVIES[m - 1][0]}\t{r}\t{t}\n" for u, m, r, t in ratings)
    with open(rb / "ml-1m.item", "w", encoding="utf-8", newline="\r\n") as f:
        f.write("item_id:token\tmovie_title:token\trelease_year:float\tgenre:token\n")
        for t, g in MOVIES:
            f.write(f"{t}\t{t[:-7]}\t{t[-5:-1]}\t{' '.join(g)}\n")
    with open(rb / "ml-1m.user", "w", encoding="utf-8", newline="\r\n") as f:
        f.write("user_id:token\tage:float\tgender:token\toccupation:float\tzip_code:token\n")
        f.writelines(f"1m_{u}\t{a}\t{g}\t{o}\t{z}\n" for u, a, g, o, z in USERS)
    # GroupLens 100K layout; movie 15 repeats movie 5's title (as ML-100K does 18 times)
    d0 = ROOT / "ml-100k" / "fixture"
    d0.mkdir(parents=True, exist_ok=True)
    movies = MOVIES + [MOVIES[4]]
    extra = [(u, 15, r, t + 5) for u, m, r, t in ratings if m == 5 and u % 2 == 0]
    with open(d0 / "u.data", "w", encoding="latin-1", newline="\n") as f:
        f.writelines(f"{u}\t{m}\t{r}\t{t}\n" for u, m, r, t in ratings + extra)
    with open(d0 / "u.item", "w", encoding="latin-1", newline="\n") as f:
        for i, (t, g) in enumerate(movies):
            flags = "|".join("1" if x in g else "0" for x in GENRES)
            f.write(f"{i + 1}|{t}|01-Jan-{t[-5:-1]}||http://us.imdb.com/M/title-exact?x|{flags}\n")
    with open(d0 / "u.user", "w", encoding="latin-1", newline="\n") as f:
        f.writelines(f"{u}|{a}|{g}|{OCC_100K[o]}|{z}\n" for u, a, g, o, z in USERS)


AMAZON_USERS = [f"A{k:02d}XYZ" for k in range(1, 9)]


def _amazon_reviews(seed: int, n_items: int, prefix: str) -> list[tuple[str, str, float, int]]:
    rng = np.random.default_rng(seed)
    out = []
    for k, u in enumerate(AMAZON_USERS):
        for j in rng.choice(n_items, size=5, replace=False):
            out.append((u, f"{prefix}{int(j):07d}", float(rng.integers(1, 6)),
                        1500000000 + 86400 * (10 * k + len(out) % 7)))
    return out


def write_amazon() -> None:
    d = ROOT / "amazon-2018" / "fixture"
    d.mkdir(parents=True, exist_ok=True)
    arts = _amazon_reviews(1, 9, "B00A")
    with open(d / "Arts_Crafts_and_Sewing.csv", "w", encoding="utf-8", newline="\n") as f:
        f.writelines(f"{i},{u},{r},{t}\n" for u, i, r, t in arts)
    office = _amazon_reviews(2, 8, "B00O")
    with open(d / "Office_Products_5.json", "w", encoding="utf-8", newline="\n") as f:
        for u, i, r, t in office:
            f.write(json.dumps({"overall": r, "verified": True, "reviewTime": "01 1, 2018",
                                "reviewerID": u, "asin": i, "reviewerName": "x",
                                "reviewText": "Works as described.", "summary": "Fine",
                                "unixReviewTime": t}) + "\n")
    for name, reviews, cat in (("Arts_Crafts_and_Sewing", arts, "Arts, Crafts & Sewing"),
                               ("Office_Products", office, "Office Products")):
        asins = sorted({i for _, i, _, _ in reviews})
        lines = [json.dumps({"category": [cat, f"Sub {k % 3}"], "tech1": "",
                             "description": [f"<b>Item</b> {a} for {cat.lower()}.", "Durable."],
                             "title": f"{cat} thing {k}", "brand": "Acme", "asin": a})
                 for k, a in enumerate(asins[:-1])]          # the last item has no metadata
        lines.insert(1, "{'asin': 'B00BROKEN', 'title': 'python repr, not JSON'}")
        with gzip.GzipFile(d / f"meta_{name}.json.gz", "wb", mtime=0) as gz:
            gz.write(("\n".join(lines) + "\n").encode())
    d = ROOT / "amazon-2023" / "fixture"
    d.mkdir(parents=True, exist_ok=True)
    for seed, name, prefix in ((3, "All_Beauty", "B0B"), (4, "Gift_Cards", "B0G")):
        rev = _amazon_reviews(seed, 7, prefix)
        with open(d / f"{name}.jsonl", "w", encoding="utf-8", newline="\n") as f:
            for u, i, r, t in rev:
                f.write(json.dumps({"rating": r, "title": "Nice", "text": "Good value.",
                                    "images": [], "asin": i + "X", "parent_asin": i,
                                    "user_id": u, "timestamp": t * 1000, "helpful_vote": 0,
                                    "verified_purchase": True}) + "\n")
        with open(d / f"meta_{name}.jsonl", "w", encoding="utf-8", newline="\n") as f:
            for k, a in enumerate(sorted({i for _, i, _, _ in rev})):
                f.write(json.dumps({"main_category": name.replace("_", " "),
                                    "title": f"{name} product {k}", "average_rating": 4.1,
                                    "rating_number": 12, "features": ["Gentle"],
                                    "description": [f"A {name.lower()} item."], "price": None,
                                    "images": [], "videos": [], "store": "Acme",
                                    "categories": [], "details": {}, "parent_asin": a,
                                    "bought_together": None}) + "\n")


if __name__ == "__main__":
    write_movielens()
    write_amazon()
