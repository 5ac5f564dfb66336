"""``gnnrec evaluate`` and ``gnnrec baseline``: evaluate any export folder, write the baselines."""

from __future__ import annotations

import argparse
from pathlib import Path



def _ks(text: str) -> tuple[int, ...]:
    try:
        ks = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--ks wants comma-separated integers, got {text!r}") from None
    if not ks or min(ks) < 1:
        raise argparse.ArgumentTypeError(f"--ks wants positive integers, got {text!r}")
    return ks


def _names(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def _device(name: str):
    from gnnrec.train.context import pick_device

    return pick_device(name, option="--device")


def _evaluate(args: argparse.Namespace) -> int:
    from gnnrec.data.registry import load_dataset
    from gnnrec.eval import evaluate_export_many
    from gnnrec.export.contract import as_cosine, load_export
    from gnnrec.utils.files import check_output_dir

    if args.out:
        check_output_dir(args.out, args.overwrite, own_files=("full", "sampled"))
    device = _device(args.device)
    export = load_export(args.export)
    if args.score == "cosine":
        export = as_cosine(export)
    ds = load_dataset(args.dataset)
    common = dict(split=args.split, seed=args.seed, batch_size=args.batch_size,
                  device=device, domains=args.domains, scenarios=args.scenarios,
                  progress=not args.quiet, bootstrap=args.bootstrap, threads=args.threads)
    protocols = ["full"] + (["sampled"] if args.protocol in ("sampled", "both") else [])
    results = evaluate_export_many(export, ds, protocols=protocols, ks=args.ks,
                                   n_negatives=args.negatives, **common)
    for proto, res in results.items():
        print(res.format())
        print()
        if args.out:
            folder = res.save(Path(args.out) / proto)
            print(f"wrote {folder / 'metrics.json'} and {folder / 'metrics.csv'}\n")
    return 0


def _baseline(args: argparse.Namespace) -> int:
    from gnnrec.data.registry import load_dataset
    from gnnrec.eval.baselines import baseline_export
    from gnnrec.export.contract import write_export
    from gnnrec.utils.files import check_output_dir

    check_output_dir(args.out, args.overwrite)
    ds = load_dataset(args.dataset)
    folder = write_export(baseline_export(args.kind, ds, seed=args.seed), args.out, overwrite=True)
    print(f"wrote {args.kind} baseline export of {ds.name} to {folder}; evaluate it with\n"
          f"  gnnrec evaluate {folder} --dataset {args.dataset}")
    return 0


# what `gnnrec evaluate --help` says a folder must hold (gnnrec.export.contract.PLAIN_HELP, without
# importing numpy/pandas at startup)
PLAIN_HELP = ("user_embeddings.npy and item_embeddings.npy (rows x dim .npy arrays) and user_ids.txt / "
              "item_ids.txt (one id per line, row-aligned; the dataset's ids, per-domain item ids as "
              "domain:id); optional items.tsv (item_id, domain[, title]) and seen.npz. A folder without "
              "a gnnrec manifest is read with a warning that nothing is verified.")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` and ``baseline`` subcommands."""
    p = sub.add_parser(
        "evaluate", help="evaluate an export folder on a dataset split",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Rank each (user, domain) group of the split against every item of its\n"
                    "domain (train positives, and valid positives when scoring test, are masked);\n"
                    "report Recall/NDCG/HR/Precision/MAP@K, MRR, coverage and popularity bias per\n"
                    "domain x scenario with bootstrap 95% CIs. --protocol sampled|both adds the\n"
                    "DisenCDR/CDRIB/UniCDR protocol (each positive vs N sampled negatives) in the\n"
                    "same pass; full-ranking tables are always printed beside it because sampled\n"
                    "metrics can rank models differently.",
        epilog="examples:\n"
               "  gnnrec baseline pop --dataset ml1m-cd --out runs/pop-ml1m\n"
               "  gnnrec evaluate runs/pop-ml1m --dataset ml1m-cd --out runs/pop-ml1m/eval\n"
               "  gnnrec evaluate EXPORT --dataset amazon-disencdr-sport_cloth --protocol both")
    p.add_argument("export", help="a gnnrec export folder (verified), or any embedding folder: "
                                  + PLAIN_HELP)
    p.add_argument("--score", choices=("dot", "cosine"), default="dot",
                   help="dot: the inner product (default); cosine: rows L2-normalised first "
                        "(for embeddings trained with a cosine score)")
    p.add_argument("--dataset", required=True, help="registered dataset name or dataset folder")
    p.add_argument("--split", default="test", choices=("valid", "test"))
    p.add_argument("--ks", type=_ks, default=(10, 20, 50), help="cut-offs, e.g. 10,20,50")
    p.add_argument("--protocol", default="full", choices=("full", "sampled", "both"),
                   help="full ranking (default); sampled/both run both protocols")
    p.add_argument("--negatives", type=int, default=999, help="sampled negatives per positive")
    p.add_argument("--seed", type=int, default=0, help="seeds negative sampling and bootstrap")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap replicates (0: no CI)")
    p.add_argument("--batch-size", type=int, default=2048, help="groups per score block")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda:0 ...")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads while scoring (default: torch's setting; 1 is often "
                        "faster on a busy shared CPU)")
    p.add_argument("--domains", type=_names, default=None, help="comma-separated domain subset")
    p.add_argument("--scenarios", type=_names, default=None, help="warm, cold or warm,cold")
    p.add_argument("--out", help="write OUT/<protocol>/metrics.json, metrics.csv, per_group.parquet")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing --out folder that gnnrec wrote")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_evaluate)

    b = sub.add_parser("baseline", help="write a popularity or random baseline export",
                       description="Write a no-training baseline as an export folder: 'pop' "
                                   "(the registered pop model) scores items by their train "
                                   "degree (1-dim vectors), 'random' uses seeded random vectors.")
    b.add_argument("kind", choices=("pop", "random"))
    b.add_argument("--dataset", required=True, help="registered dataset name or dataset folder")
    b.add_argument("--out", required=True, help="export folder to write (a new or empty folder)")
    b.add_argument("--overwrite", action="store_true",
                   help="replace an existing --out folder that gnnrec wrote")
    b.add_argument("--seed", type=int, default=0, help="seed of the random vectors")
    b.set_defaults(func=_baseline)
