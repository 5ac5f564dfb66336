"""The ``gnnrec`` command line.

Each stage owns its subcommands in a ``commands`` module exposing
``register(subparsers)``; this file only collects them. A subcommand's parser
sets ``func`` (called with the parsed namespace, returning an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Sequence

from gnnrec import __version__
from gnnrec.errors import GnnrecError

# Modules providing ``register(subparsers)``, in --help order.
COMMAND_MODULES = [
    "gnnrec.data.commands",
    "gnnrec.data.synth_commands",
    "gnnrec.text.commands",
    "gnnrec.train.commands",
    "gnnrec.eval.commands",
    "gnnrec.export.commands",
    "gnnrec.demo",
    "gnnrec.bench.commands",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gnnrec",
        description="Graph-neural-network cross-domain recommendation: prepare multi-domain "
                    "datasets, embed item texts, train LightGCN/HGT-style models, evaluate "
                    "warm and cold-start users, export embeddings for serving.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run `gnnrec COMMAND --help` for the options of one command.")
    parser.add_argument("--version", action="version", version=f"gnnrec {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    try:
        return int(args.func(args) or 0)
    except (GnnrecError, FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError,
            PermissionError) as e:
        if args.verbose:
            raise
        print(f"gnnrec {args.command}: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        hint = getattr(args, "on_interrupt", None)
        print(f"gnnrec {args.command}: interrupted" + (f"; {hint()}" if hint else ""), file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
