"""``gnnrec embed``: fill the text-embedding cache of a dataset ahead of training."""

from __future__ import annotations

import argparse
import time

from gnnrec.text.encoder import POOLINGS, PRECISIONS, TextEncoder

EPILOG = """examples:
  gnnrec embed ml1m-cd                       # bundled all-MiniLM-L6-v2, offline
  gnnrec embed amazon-ao --device auto --batch-size 512
  gnnrec embed ml1m-cd --users               # also the user profile texts
  gnnrec embed ml1m-cd --model /models/bge-small-en-v1.5 --template "{title}"
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "embed", help="compute and cache the text embeddings of a dataset's items",
        description="Render one text per item from the dataset's template "
                    "(configs/text/<dataset>.yaml), encode it with a local transformers model "
                    "(default: the bundled all-MiniLM-L6-v2) and store the vectors in the "
                    "cache (<data dir>/embeddings) that training reads. Prints dim, count, "
                    "seconds and items/s. A second run loads from the cache.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", help="registered dataset name (ml1m-cd, amazon-ao, ...) or folder")
    p.add_argument("--model", default=None,
                   help="model folder or Hugging Face name already in the local HF cache "
                        "(default: bundled all-MiniLM-L6-v2)")
    p.add_argument("--template", default=None,
                   help='item text template over item columns, e.g. "{title} ({year})" '
                        "(default: configs/text/<dataset>.yaml, else {title})")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--precision", default="auto", choices=PRECISIONS,
                   help="auto = fp16 autocast on CUDA, fp32 on CPU")
    p.add_argument("--pooling", default=None, choices=POOLINGS,
                   help="override the model folder's pooling")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--max-length", type=int, default=64, help="tokens; longer texts truncated")
    p.add_argument("--users", action="store_true", help="also embed user profile texts")
    p.add_argument("--allow-download", action="store_true",
                   help="let a hub model name download (needs internet)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gnnrec.data.registry import load_dataset
    from gnnrec.text.features import item_text_features, user_text_features

    ds = load_dataset(args.dataset)
    enc = TextEncoder(args.model, device=args.device, pooling=args.pooling,
                      max_length=args.max_length, precision=args.precision,
                      allow_download=args.allow_download)
    print(f"{ds.name}: model {enc.model_id} ({enc.pooling} pooling, max_length "
          f"{enc.max_length}, {enc.device}, {enc.precision})")
    fns = [("item", item_text_features)] + ([("user", user_text_features)] if args.users else [])
    for entity, fn in fns:
        t0 = time.perf_counter()
        feats = fn(ds, template=args.template if entity == "item" else None,
                   batch_size=args.batch_size, progress=not args.no_progress, encoder=enc)
        secs = time.perf_counter() - t0
        if feats is None:
            print(f"{entity}: no text in {ds.name}; text features unavailable, models fall "
                  f"back to ID embeddings")
            continue
        n = feats.vectors.shape[0]
        s = feats.stats
        how = (f"loaded from cache in {secs:.2f} s" if s.get("from_cache") else
               f"computed in {secs:.2f} s ({n / max(secs, 1e-9):,.1f} {entity}s/s on "
               f"{s.get('device')}, {s.get('precision')})")
        print(f"{entity}: dim {feats.dim}, count {n}, {how}; empty {s.get('empty', 0)}, "
              f"truncated {s.get('truncated', 0)}; key {feats.key[:16]}")
        print(f"  template: {feats.template}")
        print(f"  cache:    {s['cache_file']}")
    return 0
