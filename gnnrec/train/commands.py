"""``gnnrec train``: train, evaluate and export one model from a YAML config."""

from __future__ import annotations

import argparse

from gnnrec.models.registry import MODELS
from gnnrec.train.config import EvalConfig, TrainConfig
from gnnrec.utils.config import comments, defaults_of


def _section_keys(cls: type) -> str:
    """One line per key of a config section: ``  key (default): comment``."""
    notes = comments(cls)
    return "\n".join(f"  {k} ({v}): {notes.get(k, '')}" for k, v in defaults_of(cls).items())


def model_keys_yaml(name: str) -> str:
    """The ``model:`` section of model ``name`` with every key at its default and its comment."""
    import yaml

    from gnnrec.models.registry import model_class

    cls = model_class(name)
    notes = comments(cls.Config)
    lines = ["model:", f"  name: {name}"]
    for k, v in defaults_of(cls.Config).items():
        if k != "name":
            value = yaml.safe_dump(v, default_flow_style=True).strip().removesuffix("...").strip()
            lines.append(f"  {k}: {value}" + (f"    # {notes[k]}" if k in notes else ""))
    return "\n".join(lines) + "\n"


class _ModelKeys(argparse.Action):
    """``--model-keys NAME``: print NAME's ``model.*`` keys with their defaults, then exit."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        from gnnrec.models.registry import UnknownModelError, model_class

        try:
            model_class(values)
        except UnknownModelError as e:
            parser.error(str(e))
        print(f"# model.* keys of {values} with their defaults (a config's model: section)")
        print(model_keys_yaml(values), end="")
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
               f"train.* keys (default): what it does\n{_section_keys(TrainConfig)}\n"
               f"eval.* keys (default): what it does\n{_section_keys(EvalConfig)}")
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
    from gnnrec.train import load_config, train_run

    cfg = load_config(None if args.config == "-" else args.config, args.overrides)

    def on_interrupt() -> str:                    # the CLI's one line after Ctrl-C
        from pathlib import Path
        if (Path(cfg.runs_dir) / cfg.name / "checkpoints" / "last.safetensors").is_file():
            return f"resume with: gnnrec train {args.config} {' '.join(args.overrides)} --resume"
        return "no epoch had finished, nothing was kept: run the same command again"

    args.on_interrupt = on_interrupt
    res = train_run(cfg, overwrite=args.overwrite, resume=args.resume,
                    progress=not args.quiet, export=not args.no_export)
    print(f"run folder: {res.run_dir}")
    print(f"best valid {cfg.eval.metric}@{cfg.eval.k}: {res.best_score:.4f}")
    print(res.test.format())
    return 0
