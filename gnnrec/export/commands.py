"""CLI: ``gnnrec export``, ``gnnrec recommend``, ``gnnrec serve``."""

from __future__ import annotations

import argparse

from gnnrec.export.constants import BACKENDS, MAX_K


def _print_recommendation(res: dict) -> None:
    head = f"{res['mode']} recommendations in {res['domain']!r}"
    if res.get("user"):
        head += f" for user {res['user']!r}"
    print(head)
    if res.get("note"):
        print(f"  ({res['note']})")
    hist = res.get("history")
    if hist:
        print(f"  history: {hist['used']} items used, ignored unknown ids: "
              f"{hist['ignored'] or 'none'}")
    for rank, it in enumerate(res["items"], 1):
        print(f"{rank:>4}  {it['score']:>9.4f}  {it['item_id']:<14} {it['title']}")


def cmd_export(args: argparse.Namespace) -> int:
    from gnnrec.export.pipeline import export_run
    m = export_run(args.run_dir, args.out, dtype=args.dtype, faiss=args.faiss,
                   parquet=args.parquet, foldin_rule=args.foldin_rule, device=args.device,
                   overwrite=args.overwrite)
    print(f"wrote {args.out}: {m['model']} on {m['dataset']['name']}, {m['n_users']} users x "
          f"{m['n_items']} items, dim {m['dim']}, {m['dtype']}")
    fold = m["foldin"]
    ratio = (fold.get("ratios") or {}).get(fold["rule"], {}).get("all")
    print(f"fold-in rule: {fold['rule']}" + (f" (valid cold NDCG@20 ratio {ratio})" if ratio else ""))
    if "quantization" in m:
        q = m["quantization"]
        print(f"{q['dtype']}: valid NDCG@20 {q['float32']['all']:.6f} -> {q[q['dtype']]['all']:.6f} "
              f"(change {q['change']['all']:+.6f})")
    return 0


def cmd_recommend(args: argparse.Namespace) -> int:
    from gnnrec.errors import GnnrecError
    from gnnrec.export.contract import as_cosine, load_export
    from gnnrec.export.query import Retriever
    history = [s.strip() for s in args.items.split(",") if s.strip()] if args.items else None
    if args.user is None and history is None and not args.popular:
        raise GnnrecError("give --user U, --items ID,ID,... (fold-in), or --popular")
    exp = load_export(args.export)
    if args.score == "cosine":
        exp = as_cosine(exp)
    # the export's FAISS indexes hold the stored vectors: a cosine score ranks without them
    rec = Retriever(exp, backend=args.backend, folder=args.export if args.score == "dot" else None)
    res = rec.recommend(args.domain, args.k, user=args.user, history=history).to_dict()
    if args.json:
        import json
        print(json.dumps(res, indent=2, ensure_ascii=False))
    else:
        _print_recommendation(res)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from gnnrec.export.serve import run
    run(args.export, host=args.host, port=args.port, workers=args.workers,
        backend=args.backend, max_k=args.max_k, log_level=args.log_level)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    e = sub.add_parser(
        "export", help="write a trained run's embeddings in the export contract",
        formatter_class=fmt,
        description="Export a run folder (runs/<name>, from `gnnrec train`) for serving:\n\n"
                    "  gnnrec export runs/NAME --out exports/NAME [--dtype int8] [--faiss exact]\n\n"
                    "Writes user/item embeddings, ids, items.tsv, seen.npz (train positives) and\n"
                    "manifest.json (model, config, dataset fingerprint, test metrics, fold-in rule\n"
                    "chosen on validation cold-start users, sha256 of every file). float16/int8\n"
                    "exports record their validation NDCG@20 change in the manifest.")
    e.add_argument("run_dir", help="run folder with config.yaml and checkpoints/")
    e.add_argument("--out", required=True, help="export folder to write (atomically)")
    e.add_argument("--dtype", choices=("float32", "float16", "int8"), default="float32",
                   help="storage type (int8: per-row scales)")
    e.add_argument("--faiss", choices=("exact", "ivf", "hnsw"),
                   help="also write per-domain FAISS inner-product indexes (needs faiss-cpu)")
    e.add_argument("--parquet", action="store_true", help="also write (id, vector) Parquet tables")
    e.add_argument("--foldin-rule", default="auto", choices=("auto", "mean", "lightgcn", "unit_mean"),
                   help="user fold-in rule (auto: best on validation cold-start users)")
    e.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    e.add_argument("--overwrite", action="store_true",
                   help="replace an existing --out folder that gnnrec wrote")
    e.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "recommend", help="top-K items of a domain for a user, an item history or nobody",
        formatter_class=fmt,
        description="Top-K recommendations from an export folder, excluding items the user has "
                    "already seen.\n\n"
                    "  known user:    gnnrec recommend EXPORT --user u1 --domain drama --k 10\n"
                    "  fold-in:       gnnrec recommend EXPORT --items m12,m55 --domain drama\n"
                    "                 (history in any domain; the user vector is built from the\n"
                    "                 exported item vectors by the manifest's fold-in rule)\n"
                    "  popularity:    an unknown user without --items gets the domain's most\n"
                    "                 popular items, flagged as such (or pass --popular)")
    p.add_argument("export", help="export folder (written by `gnnrec export`), or a plain embedding "
                                  "folder with items.tsv (see `gnnrec evaluate --help`)")
    p.add_argument("--score", choices=("dot", "cosine"), default="dot",
                   help="dot (default) or cosine: rows L2-normalised first")
    p.add_argument("--domain", required=True, help="domain to recommend from, e.g. drama")
    p.add_argument("--user", help="user id as in the dataset (e.g. u1)")
    p.add_argument("--items", help="comma-separated item ids of a history for fold-in")
    p.add_argument("--popular", action="store_true", help="popularity ranking (no user)")
    p.add_argument("--k", type=int, default=10, help=f"number of items, 1..{MAX_K} (default 10)")
    p.add_argument("--backend", choices=BACKENDS, default="auto",
                   help="numpy matrix product or the export's FAISS index (auto: FAISS only "
                        "for large domains when the export has an index)")
    p.add_argument("--json", action="store_true", help="print the JSON the HTTP API returns")
    p.set_defaults(func=cmd_recommend)

    s = sub.add_parser(
        "serve", help="JSON HTTP API over an export (FastAPI + uvicorn)", formatter_class=fmt,
        description="Serve an export over HTTP:\n\n"
                    "  GET  /recommend?user=u1&domain=drama&k=10\n"
                    "  POST /recommend  {\"domain\": \"drama\", \"k\": 10, \"items\": [\"m12\"]}\n"
                    "  GET  /items/{id}   GET /healthz   GET /metrics\n\n"
                    "Errors are 4xx JSON objects {\"error\": message}.")
    s.add_argument("export", help="export folder")
    s.add_argument("--host", default="127.0.0.1", help="bind address (default loopback only)")
    s.add_argument("--port", type=int, default=8080)
    s.add_argument("--workers", type=int, default=1,
                   help="uvicorn worker processes (about one per free CPU core)")
    s.add_argument("--backend", choices=BACKENDS, default="auto", help="as for recommend")
    s.add_argument("--max-k", type=int, default=MAX_K, help="largest k accepted")
    s.add_argument("--log-level", default="warning", help="uvicorn log level")
    s.set_defaults(func=cmd_serve)
