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
    register_derived(sub)


def register_derived(sub: argparse._SubParsersAction) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    u = sub.add_parser(
        "update", help="warm-start a new run from a run's last checkpoint on appended interactions",
        formatter_class=fmt,
        description="Train a new run on a run's data plus appended interactions, starting from the\n"
                    "run's last checkpoint (every old user and item keeps its rows; new users start\n"
                    "fresh) for a few epochs instead of training from scratch:\n\n"
                    "  gnnrec update runs/NAME --data new_rows.tsv [--epochs 5] [--name NAME_update]\n\n"
                    "new_rows.tsv: header user_id, item_id[, domain, rating, timestamp]; positives only;\n"
                    "items must exist (new items: gnnrec export --add-items). Held-out valid/test pairs\n"
                    "that appear leave the held-out splits; cold users who gain rows become warm.")
    u.add_argument("run_dir", help="a trained run folder")
    u.add_argument("--data", required=True, help="TSV of appended interactions")
    u.add_argument("--name", help="the new run's name (default: <run name>_update)")
    u.add_argument("--epochs", type=int, help="epochs of the warm-started training (default 5)")
    u.add_argument("--overwrite", action="store_true", help="replace an existing run of that name")
    u.add_argument("--quiet", action="store_true", help="no progress bars")
    u.set_defaults(func=_update)

    f = sub.add_parser(
        "forget", help="remove users from a run's data, model and exports (privacy)",
        formatter_class=fmt,
        description="Forget users:\n\n"
                    "  gnnrec forget runs/NAME --users ids.txt [--export exports/NAME ...] [--full-retrain]\n\n"
                    "The users and their interactions leave the run's dataset copy (runs/NAME/data);\n"
                    "the run is trained again in place without them -- warm-started from its last\n"
                    "checkpoint minus their ID rows for --epochs epochs (default 5), or from scratch\n"
                    "with --full-retrain -- and replaces the old run (checkpoints, logs, results,\n"
                    "export); the cross-domain map is refitted, its old cache deleted; every --export\n"
                    "is written again and its live log loses their interactions. The warm start fades\n"
                    "their influence on shared parameters but does not provably remove it; only\n"
                    "--full-retrain gives a model that never saw them. The source data is not touched.\n"
                    "ids.txt: one user id per line ('#' comments allowed).")
    f.add_argument("run_dir", help="a trained run folder (replaced)")
    f.add_argument("--users", required=True, help="file of user ids, one per line")
    f.add_argument("--export", action="append", default=[], metavar="DIR",
                   help="another export of this run to rewrite (repeatable)")
    f.add_argument("--full-retrain", action="store_true", help="train from scratch without the users")
    f.add_argument("--epochs", type=int, help="epochs of the warm-started fine-tune (default 5)")
    f.add_argument("--quiet", action="store_true", help="no progress bars")
    f.set_defaults(func=_forget)


def _update(args: argparse.Namespace) -> int:
    import json

    from gnnrec.train.update import update_run
    res = update_run(args.run_dir, args.data, name=args.name, epochs=args.epochs, overwrite=args.overwrite,
                     progress=not args.quiet)
    info = json.loads((res.run_dir / "update.json").read_text())
    summary = json.loads((res.run_dir / "summary.json").read_text())
    print(f"run folder: {res.run_dir} (warm start from {args.run_dir}; {info['added']} rows added, "
          f"{info['new_users']} new users, {info['duplicates']} duplicates dropped)")
    print(f"trained {summary['train_s']} s; best valid {res.config.eval.metric}@{res.config.eval.k}: "
          f"{res.best_score:.4f}")
    print(res.test.format())
    return 0


def read_user_ids(path: str) -> list[str]:
    """One user id per line; blank lines and ``#`` comments ignored."""
    from pathlib import Path

    from gnnrec.errors import GnnrecError
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise GnnrecError(f"--users {path}: cannot read the file ({type(e).__name__}: {e})") from None
    ids = [ln.split("#", 1)[0].strip() for ln in lines]
    return [i for i in ids if i]


def _forget(args: argparse.Namespace) -> int:
    from gnnrec.export.forget import forget
    rep = forget(args.run_dir, read_user_ids(args.users), full_retrain=args.full_retrain,
                 epochs=args.epochs, exports=args.export, progress=not args.quiet)
    print(f"forgot {rep['users']} user(s) in {args.run_dir}: {rep['removed_rows']} rows removed, "
          f"{rep['items_reinitialised']} item(s) re-initialised, {rep['mode']}; exports rewritten: "
          f"{[args.run_dir + '/export', *rep['exports_rewritten']]}; live events dropped: "
          f"{rep['live_events_dropped']}")
    if rep.get("source_data"):
        print(f"note: {rep['source_data']}")
    return 0


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
