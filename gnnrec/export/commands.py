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
                   overwrite=args.overwrite, add_items=args.add_items)
    print(f"wrote {args.out}: {m['model']} on {m['dataset']['name']}, {m['n_users']} users x "
          f"{m['n_items']} items, dim {m['dim']}, {m['dtype']}"
          + (f", {m['added_items']} new item(s) from their text" if m.get("added_items") else ""))
    ex = m.get("explain") or {}
    print(f"explanations: {ex.get('method', 'projection')}"
          + (f" ({len(ex.get('terms', []))} history terms)" if ex.get("method") == "terms" else ""))
    fold = m["foldin"]
    ratio = (fold.get("ratios") or {}).get(fold["rule"], {}).get("all")
    print(f"fold-in rule: {fold['rule']}" + (f" (valid cold NDCG@20 ratio {ratio})" if ratio else ""))
    if "quantization" in m:
        q = m["quantization"]
        print(f"{q['dtype']}: valid NDCG@20 {q['float32']['all']:.6f} -> {q[q['dtype']]['all']:.6f} "
              f"(change {q['change']['all']:+.6f})")
    return 0


def _retriever(args: argparse.Namespace):
    """The export as served, with its live updates when it has a store (and not --no-live)."""
    from pathlib import Path

    from gnnrec.export.contract import as_cosine, load_export
    from gnnrec.export.live import STORE_FILE, UpdateStore
    from gnnrec.export.query import Retriever
    exp = load_export(args.export)
    if getattr(args, "score", "dot") == "cosine":
        exp = as_cosine(exp)
    store = None
    if not getattr(args, "no_live", False) and (Path(args.export) / STORE_FILE).is_file():
        store = UpdateStore(args.export, create=False)
    # the export's FAISS indexes hold the stored vectors: a cosine score ranks without them
    return Retriever(exp, backend=getattr(args, "backend", "auto"),
                     folder=args.export if getattr(args, "score", "dot") == "dot" else None, store=store)


def _history(items: str | None) -> list[str] | None:
    return [s.strip() for s in items.split(",") if s.strip()] if items else None


def cmd_recommend(args: argparse.Namespace) -> int:
    from gnnrec.errors import GnnrecError
    history = _history(args.items)
    if args.user is None and history is None and not args.popular:
        raise GnnrecError("give --user U, --items ID,ID,... (fold-in), or --popular")
    rec = _retriever(args)
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
        backend=args.backend, max_k=args.max_k, log_level=args.log_level, live=not args.no_live)
    return 0


def print_explanation(res: dict) -> None:
    """The human form of :func:`gnnrec.export.explain.explain_score`'s answer."""
    it = res["item"]
    who = f"user {res['user']!r}" if res.get("user") else "this history"
    if res.get("score") is None:
        print(f"{it['item_id']} ({it['title']}, {it['domain']}) for {who}: {res['note']}")
        return
    print(f"{it['item_id']} ({it['title']}) in {it['domain']} for {who}: score {res['score']:.6f}"
          f"  [{res['method']}{', exact' if res['exact'] else ', not an exact model decomposition'}]")
    print(f"  {res['because']}")
    if res.get("note"):
        print(f"  ({res['note']})")
    for c in res["contributions"]:
        parts = ", ".join(f"{k} {v:+.4f}" for k, v in c["parts"].items())
        print(f"  {c['contribution']:+10.5f}  {c['share']:>7.1%}  {c['item_id']:<12} {c['domain']:<10} "
              f"{c['title']}  ({parts})")
    rest = res.get("other_history") or {}
    if rest.get("items"):
        print(f"  {rest['contribution']:+10.5f}  {rest['contribution'] / res['score'] if res['score'] else 0:>7.1%}  "
              f"the other {rest['items']} history item(s)")
    for name, v in (res.get("parts") or {}).items():
        print(f"  {v:+10.5f}  {v / res['score'] if res['score'] else 0:>7.1%}  {name}")
    print(f"  {res['remainder']:+10.5f}  {res['remainder_share']:>7.1%}  remainder: {res['remainder_means']}")


def cmd_explain(args: argparse.Namespace) -> int:
    from gnnrec.errors import GnnrecError
    history = _history(args.items)
    if (args.user is None) == (history is None):
        raise GnnrecError("give --user U (a user of the export, or a live user) or --items ID,ID,... "
                          "(a fold-in history), not both")
    res = _retriever(args).explain(args.item, user=args.user, history=history, top=args.top)
    if args.json:
        import json
        print(json.dumps(res, indent=2, ensure_ascii=False))
    else:
        print_explanation(res)
    return 0


def cmd_add_items(args: argparse.Namespace) -> int:
    from gnnrec.export.cold_items import read_new_items, text_item_vectors
    from gnnrec.export.contract import load_export
    from gnnrec.export.live import UpdateStore
    from gnnrec.export.query import Retriever
    exp = load_export(args.export)
    new = text_item_vectors(exp, read_new_items(args.items))
    rec = Retriever(exp, store=UpdateStore(args.export))
    rec.add_items(new)
    print(f"added {len(new)} item(s) to the live catalogue of {args.export} (updates/; every server of "
          f"this export picks them up): " + ", ".join(f"{i} ({d})" for i, d, _, _ in new[:5])
          + (" ..." if len(new) > 5 else ""))
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
    e.add_argument("--add-items", metavar="TSV",
                   help="also export new items known only by their text (columns item_id, domain, "
                        "title, ...): vectors from the model's text path (text models only)")
    e.set_defaults(func=cmd_export)

    x = sub.add_parser(
        "explain", help="why an item scores what it does for a user: history items' contributions",
        formatter_class=fmt,
        description="Split a served score over the user's history:\n\n"
                    "  gnnrec explain EXPORT --user u1 --item m3306\n"
                    "  gnnrec explain EXPORT --items m12,m55 --item m3306     (a fold-in history)\n\n"
                    "Shows the top contributing history items (title, domain, share of the score),\n"
                    "named parts (the user's own ID embedding) and the remainder the history does not\n"
                    "explain; contributions + parts + remainder = the score /recommend reports.\n"
                    "LightGCN-family and text-only exports decompose exactly (history terms);\n"
                    "other models show their history's fold-in and say so; popularity is not\n"
                    "decomposable.")
    x.add_argument("export", help="export folder")
    x.add_argument("--item", required=True, help="the item whose score is explained")
    x.add_argument("--user", help="a user of the export (or a live user)")
    x.add_argument("--items", help="comma-separated item ids of a fold-in history")
    x.add_argument("--top", type=int, default=5, help="history items listed (default 5)")
    x.add_argument("--no-live", action="store_true", help="ignore the export's live updates")
    x.add_argument("--json", action="store_true", help="print the JSON GET /explain returns")
    x.set_defaults(func=cmd_explain)

    a = sub.add_parser(
        "add-items", help="add new items known by their text to a served export (live)",
        formatter_class=fmt,
        description="Give new items vectors from the model's text path and append them to the\n"
                    "export's live-update store (updates/), where running servers pick them up:\n\n"
                    "  gnnrec add-items EXPORT new_items.tsv\n\n"
                    "The TSV has a header with item_id, domain and the template's columns (title,\n"
                    "year, genres, ...). Text models only (see `gnnrec export --add-items`).")
    a.add_argument("export", help="export folder (writable)")
    a.add_argument("items", help="TSV of new items")
    a.set_defaults(func=cmd_add_items)

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
    p.add_argument("--no-live", action="store_true", help="ignore the export's live updates")
    p.set_defaults(func=cmd_recommend)

    s = sub.add_parser(
        "serve", help="JSON HTTP API over an export (FastAPI + uvicorn)", formatter_class=fmt,
        description="Serve an export over HTTP:\n\n"
                    "  GET  /recommend?user=u1&domain=drama&k=10\n"
                    "  POST /recommend  {\"domain\": \"drama\", \"k\": 10, \"items\": [\"m12\"]}\n"
                    "  GET  /explain?user=u1&item=m12&top=5\n"
                    "  POST /interactions  {\"user\": \"u1\", \"item\": \"m12\"}   (live fold-in update)\n"
                    "  GET  /items/{id}   GET /healthz   GET /metrics\n\n"
                    "Live updates go to the export's updates/ store (SQLite, WAL): every worker\n"
                    "applies them, a restart replays them. Errors are 4xx JSON objects {\"error\": message}.")
    s.add_argument("export", help="export folder")
    s.add_argument("--host", default="127.0.0.1", help="bind address (default loopback only)")
    s.add_argument("--port", type=int, default=8080)
    s.add_argument("--workers", type=int, default=1,
                   help="uvicorn worker processes (about one per free CPU core)")
    s.add_argument("--backend", choices=BACKENDS, default="auto", help="as for recommend")
    s.add_argument("--max-k", type=int, default=MAX_K, help="largest k accepted")
    s.add_argument("--log-level", default="warning", help="uvicorn log level")
    s.add_argument("--no-live", action="store_true",
                   help="no live updates (POST /interactions answers 409); default: on when the "
                        "export folder is writable")
    s.set_defaults(func=cmd_serve)
