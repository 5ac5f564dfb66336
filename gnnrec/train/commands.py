"""``gnnrec train``: train, evaluate and export one model from a YAML config."""

from __future__ import annotations

import argparse

from gnnrec.models.registry import MODELS
from gnnrec.train.config import SCHEMA


def _section_keys(section: str) -> str:
    """``"train"`` -> "epochs (30), batch_size (16384), ..." from the config schema."""
    return ", ".join(f"{k.split('.', 1)[1]} ({SCHEMA[k][0]})" for k in SCHEMA if k.startswith(section + "."))


class _ModelKeys(argparse.Action):
    """``--model-keys NAME``: print NAME's ``model.*`` keys with their defaults, then exit."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        from gnnrec.models.registry import UnknownModelError, model_class

        try:
            cls = model_class(values)
        except UnknownModelError as e:
            parser.error(str(e))
        import yaml

        print(f"# model.* keys of {values} with their defaults (a config's model: section)")
        print(yaml.safe_dump({"model": {"name": values, **cls.defaults}}, sort_keys=False,
                             default_flow_style=False), end="")
        parser.exit()


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train a model from a YAML config (runs/<name>/: log, checkpoints, metrics, export)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train one model on one dataset, select the best epoch on the validation split, "
                    "evaluate it on test and export its embeddings.\n\n"
                    "Writes runs/<name>/: config.yaml (resolved), log.jsonl, checkpoints/"
                    "{best,last}.safetensors,\nvalid/ and test/ (gnnrec.eval results), summary.json, "
                    "export/ (export contract).",
        epilog="examples:\n"
               "  gnnrec train configs/ml1m_cd/cd_lightgcn_text.yaml\n"
               "  gnnrec train configs/ml1m_cd/cd_lightgcn_text.yaml train.epochs=30 model.layers=2\n"
               "  gnnrec train configs/ml1m_cd/cd_lightgcn.yaml --resume     # continue a killed run\n"
               "  gnnrec train - dataset=ml1m-cd model.name=mf name=my_mf     # no file: defaults\n\n"
               f"models: {', '.join(sorted(MODELS))}\n"
               "keys: name, dataset, seed, device, runs_dir, text.*, model.* (per model: "
               "--model-keys NAME), train.*, eval.*, export.*\n"
               "(an unknown key is an error that lists the valid ones)\n\n"
               f"train.* keys (default): {_section_keys('train')}\n"
               "  cold_sim: share of bridge users whose one domain is hidden from the graph each "
               "epoch (simulated cross-domain cold start; cd-lightgcn*)\n"
               f"eval.* keys (default): {_section_keys('eval')}")
    p.add_argument("config", help="YAML config file, or '-' for the built-in defaults")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                   help="dotted overrides, e.g. train.epochs=30 model.layers=2 seed=1")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    g.add_argument("--resume", action="store_true",
                   help="continue the run from checkpoints/last.safetensors (same config)")
    p.add_argument("--no-export", action="store_true", help="skip writing runs/<name>/export")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--model-keys", metavar="NAME", action=_ModelKeys,
                   help="print the model.* keys of model NAME with their defaults and exit")
    p.set_defaults(func=_train)


def _train(args: argparse.Namespace) -> int:
    from gnnrec.cli import UserError
    from gnnrec.train import CheckpointError, ConfigError, RunError, load_config, train_run

    try:
        cfg = load_config(None if args.config == "-" else args.config, args.overrides)
        res = train_run(cfg, overwrite=args.overwrite, resume=args.resume,
                        progress=not args.quiet, export=not args.no_export)
    except (ConfigError, RunError, CheckpointError) as e:
        raise UserError(str(e)) from None
    print(f"run folder: {res.run_dir}")
    print(f"best valid {cfg['eval']['metric']}@{cfg['eval']['k']}: {res.best_score:.4f}")
    print(res.test.format() if hasattr(res.test, "format") else res.test)
    return 0
