"""Train RecBole-CDR's BiTGCF / EMCDR on gnnrec's exported per-domain ML-1M-CD benchmark files,
in both directions (source drama -> target action, source action -> target drama), record
RecBole-CDR's own target-domain test metrics, export one block embedding folder and score it with
``gnnrec evaluate``.

Runs inside the RecBole venv with RecBole-CDR's *GitHub source* on PYTHONPATH (the PyPI wheel
recbole-cdr 0.1.0 lacks ``recbole_cdr/model/cross_domain_recommender``; setup.sh unpacks the
source into experiments/peers/.recbole-cdr-src)::

    experiments/peers/.venv-recbole/bin/python experiments/peers/run_recbole_cdr.py --model BiTGCF

Recipe: RecBole-CDR's defaults (its properties/overall.yaml + properties/model/<Model>.yaml), with
the evaluation read-out widened (topk 10/20/50; valid_metric stays MRR@10).

Data layout (not a recipe change): the target domain reads its train/valid/test files; the source
domain reads only its *train* file (``benchmark_filename: [train]``), or train/valid where the
model trains a SOURCE phase with its own validation (EMCDR), so no held-out row of either domain
is ever trained on.

Block layout for gnnrec (score = one inner product):
    U[u] = [U_action[u] | U_drama[u]],   item of domain d: its vector in block d, zeros elsewhere,
where domain d's user/item vectors come from the run whose *target* is d (RecBole-CDR only scores
the target domain: BiTGCF's target-side propagated tables; EMCDR's mapped source user vector for
users present in both domains, its target MF vector otherwise, and the target item table).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")   # see run_recbole.py
for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_recbole import recbole_protocol_check  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, os.environ.get("RECBOLE_CDR_SRC", str(HERE / ".recbole-cdr-src")))

DOMAINS = ("action", "drama")
READOUT = {"metrics": ["Recall", "NDCG", "MRR", "Hit", "Precision"], "topk": [10, 20, 50]}
RECIPES: dict[str, dict[str, dict]] = {"BiTGCF": {"default": {}}, "EMCDR": {"default": {}}}


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def tokens_by_id(token2id, n: int) -> np.ndarray:
    """tokens indexed by internal id (None where an id has no token in this map)."""
    out = np.full(n, None, dtype=object)
    for tok, i in dict(token2id).items():
        if i < n:
            out[i] = tok
    return out


def domain_section(data: Path, dataset: str, files: list[str]) -> dict:
    return {"dataset": dataset, "data_path": str(data), "benchmark_filename": files,
            "USER_ID_FIELD": "user_id", "ITEM_ID_FIELD": "item_id", "RATING_FIELD": "rating",
            "TIME_FIELD": "timestamp", "LABEL_FIELD": "label", "NEG_PREFIX": "neg_",
            "load_col": {"inter": ["user_id", "item_id", "rating", "timestamp"]}}


def export_target(model_name: str, model) -> tuple[np.ndarray, np.ndarray]:
    """Target-domain (user_emb over all CDR user ids, item_emb over target item ids [0, target_num_items))."""
    model.eval()
    with torch.no_grad():
        if model_name == "BiTGCF":
            model.target_restore_user_e = model.target_restore_item_e = None
            u, i = model.get_restore_e()
            return u.numpy(), i[:model.target_num_items].numpy()
        if model_name == "EMCDR":
            model.set_phase("OVERLAP")         # the phase the trainer ends in (test uses it)
            users = torch.arange(model.total_num_users)
            mapped = model.mapping(model.source_user_embedding(users))
            own = model.target_user_embedding(users)
            u = torch.where((users < model.overlapped_num_users)[:, None], mapped, own)
            return u.numpy(), model.target_item_embedding.weight[:model.target_num_items].numpy()
    raise SystemExit(f"no export rule for {model_name}")


def run_direction(args, model_name: str, source: str, target: str, work: Path) -> dict:
    from recbole.utils import init_logger, init_seed
    from recbole_cdr.config import CDRConfig
    from recbole_cdr.data import create_dataset, data_preparation
    from recbole_cdr.utils import get_model, get_trainer
    import logging

    data = Path(args.data).resolve()
    name = f"{args.dataset}-{{}}"
    src_files = ["train", "valid"] if model_name == "EMCDR" else ["train"]
    settings = {**RECIPES[model_name][args.recipe], **args.extra}
    config_dict = {
        "source_domain": domain_section(data, name.format(source), src_files),
        "target_domain": domain_section(data, name.format(target), ["train", "valid", "test"]),
        "use_gpu": False, "gpu_id": "", "show_progress": False, "checkpoint_dir": str(work / "saved"),
        **READOUT, **settings}
    logging.getLogger().handlers.clear()
    config = CDRConfig(model=model_name, config_dict=config_dict)
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    t0, c0 = time.perf_counter(), cpu_seconds()
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    init_seed(config["seed"], config["reproducibility"])
    model = get_model(config["model"])(config, train_data.dataset).to(config["device"])
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    best_valid_score, best_valid = trainer.fit(train_data, valid_data, saved=True, show_progress=False)
    test = trainer.evaluate(test_data, load_best_model=True, show_progress=False)
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    U, V = export_target(model_name, trainer.model)
    tds = dataset.target_domain_dataset
    # RecBole-CDR's field2id_token lists are NOT ordered by id (get_keys_from_chainmap_by_order puts
    # '[PAD]' after the overlapping users), so ids are read from the token -> id maps instead.
    uid_tok, iid_tok = (tokens_by_id(tds.field2token_id[f], n)
                        for f, n in ((tds.uid_field, U.shape[0]), (tds.iid_field, V.shape[0])))
    assert uid_tok[0] == "[PAD]" and iid_tok[0] == "[PAD]"
    # export check: RecBole-CDR's target test metric recomputed from the exported (id-indexed) vectors
    hist = [np.zeros(0, np.int64)] * U.shape[0]
    pos = [None] * U.shape[0]
    for uid in np.asarray(test_data.uid_list):
        hist[uid] = np.asarray(test_data.uid2history_item[uid])
        pos[uid] = np.asarray(test_data.uid2positive_item[uid])
    check = recbole_protocol_check(U, V, hist, pos, np.asarray(test_data.uid_list))
    for h in logging.getLogger().handlers:
        if hasattr(h, "baseFilename"):
            shutil.copy(h.baseFilename, Path(args.res) / f"recbole-cdr-{source}-to-{target}.log")
    return {
        "source": source, "target": target, "source_files": src_files,
        "config": {k: config[k] for k in ("train_epochs", "train_batch_size", "learning_rate",
                                          "stopping_step", "valid_metric", "seed", "embedding_size",
                                          "n_layers", "reg_weight", "lambda_source", "lambda_target",
                                          "connect_way", "drop_rate", "latent_factor_model", "loss_type",
                                          "source_embedding_size", "target_embedding_size",
                                          "mapping_function", "mlp_hidden_size", "overlap_batch_size")
                   if config[k] is not None},
        "recbole_cdr_best_valid": {k: float(v) for k, v in (best_valid or {}).items()},
        "recbole_cdr_best_valid_score": float(best_valid_score),
        "recbole_cdr_test": {k: float(v) for k, v in test.items()},
        "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
        "n_overlap_users": int(dataset.num_overlap_user - 1),
        "export_check_from_vectors": check,
        "_U": U, "_V": V, "_uid": uid_tok, "_iid": iid_tok,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, choices=sorted(RECIPES))
    ap.add_argument("--recipe", default="default")
    ap.add_argument("--data", default=str(HERE / "data"))
    ap.add_argument("--dataset", default="ml1m-cd", help="per-domain datasets are <dataset>-<domain>")
    ap.add_argument("--work", default=str(HERE / "runs"))
    ap.add_argument("--results", default=str(REPO / "results" / "peers"))
    ap.add_argument("--set", action="append", default=[], metavar="KEY=YAML")
    ap.add_argument("--name")
    ap.add_argument("--gnnrec-python", default=os.environ.get("GNNREC_PYTHON", "/work/main/.venv/bin/python"))
    ap.add_argument("--skip-gnnrec", action="store_true")
    args = ap.parse_args()
    args.data, args.work, args.results = (str(Path(p).resolve()) for p in (args.data, args.work, args.results))
    import yaml
    torch.set_num_threads(1)
    import recbole
    args.extra = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}
    name = args.name or f"{args.model.lower()}-{args.recipe}"
    work = Path(args.work) / name
    args.res = res = Path(args.results) / name
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    res.mkdir(parents=True, exist_ok=True)
    os.chdir(work)

    runs = {}
    for target in DOMAINS:
        source = [d for d in DOMAINS if d != target][0]
        runs[target] = run_direction(args, args.model, source, target, work / f"to-{target}")
        print(json.dumps({"target": target, "test": runs[target]["recbole_cdr_test"],
                          "wall_s": runs[target]["wall_s"]}), flush=True)

    # ---- block layout ------------------------------------------------------------------------------
    users = sorted(set().union(*[{t for t in r["_uid"][1:] if t is not None} for r in runs.values()]))
    upos = {u: k for k, u in enumerate(users)}
    dims = [runs[d]["_U"].shape[1] for d in DOMAINS]
    off = np.concatenate([[0], np.cumsum(dims)])
    U = np.zeros((len(users), off[-1]), np.float32)
    item_ids, item_rows = [], []
    for b, d in enumerate(DOMAINS):
        r = runs[d]
        ids = np.array([i for i, t in enumerate(r["_uid"]) if i > 0 and t is not None])
        U[np.array([upos[r["_uid"][i]] for i in ids]), off[b]:off[b + 1]] = r["_U"][ids]
        # users of the other domain only get zeros here: RecBole-CDR has no vector for them in d
        assert all(t is not None for t in r["_iid"][1:])
        V = np.zeros((len(r["_iid"]) - 1, off[-1]), np.float32)
        V[:, off[b]:off[b + 1]] = r["_V"][1:]
        item_ids += list(r["_iid"][1:])
        item_rows.append(V)
    emb = work / "embeddings"
    emb.mkdir()
    np.save(emb / "user_embeddings.npy", U)
    np.save(emb / "item_embeddings.npy", np.concatenate(item_rows))
    (emb / "user_ids.txt").write_text("\n".join(users) + "\n")
    (emb / "item_ids.txt").write_text("\n".join(item_ids) + "\n")

    import pandas
    import scipy
    record = {
        "peer": "RecBole-CDR", "model": args.model, "recipe": args.recipe, "name": name,
        "settings_changed_from_defaults": {**RECIPES[args.model][args.recipe], **args.extra},
        "recbole_cdr_protocol": "per run: the TARGET domain only, full sort over all target-domain "
                                "items, one row per target-test user, train+valid masked",
        "runs": {d: {k: v for k, v in r.items() if not k.startswith("_")} for d, r in runs.items()},
        "block_layout": {"domains": list(DOMAINS), "dims": dims},
        "wall_s": round(sum(r["wall_s"] for r in runs.values()), 1),
        "cpu_s": round(sum(r["cpu_s"] for r in runs.values()), 1),
        "threads": torch.get_num_threads(),
        "versions": {"recbole": recbole.__version__, "recbole_cdr_source": os.environ.get(
                         "RECBOLE_CDR_COMMIT", (HERE / ".recbole-cdr-src" / "COMMIT").read_text().strip()
                         if (HERE / ".recbole-cdr-src" / "COMMIT").is_file() else "unknown"),
                     "torch": torch.__version__, "numpy": np.__version__, "scipy": scipy.__version__,
                     "pandas": pandas.__version__, "python": sys.version.split()[0]},
        "command": " ".join([Path(sys.executable).name, "experiments/peers/run_recbole_cdr.py",
                             *sys.argv[1:]]),
    }
    (res / "recbole_cdr.json").write_text(json.dumps(record, indent=1, default=str) + "\n")
    if not args.skip_gnnrec:
        env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "OPENBLAS_NUM_THREADS": "1"}
        cmd = [args.gnnrec_python, "-m", "gnnrec", "evaluate", str(emb), "--dataset", "ml1m-cd",
               "--threads", "1", "--out", str(res / "gnnrec-eval"), "--overwrite", "-q"]
        print("+", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True, env=env, cwd=REPO)
    return 0


if __name__ == "__main__":
    sys.exit(main())
