"""Train a RecBole 1.2.1 model on gnnrec's exported ML-1M-CD benchmark files, record RecBole's own
test metrics, export its user/item vectors as a plain embedding folder (gnnrec's raw ids) and score
that folder with ``gnnrec evaluate``.

Runs inside the RecBole virtualenv (``experiments/peers/setup.sh``)::

    experiments/peers/.venv-recbole/bin/python experiments/peers/run_recbole.py \
        --model LightGCN --recipe default

``--recipe default`` is RecBole's own defaults for the model (properties/overall.yaml +
properties/model/<Model>.yaml), with only the evaluation read-out widened (topk 10/20/50;
``valid_metric`` stays RecBole's MRR@10). A ``tuned`` recipe (see RECIPES) changes training
settings only and is selected on RecBole's *valid* metric; it is labelled as such everywhere.

Exported vectors (score = inner product, exactly RecBole's ``full_sort_predict``):

* LightGCN: the propagated user/item tables (``model.forward()``, mean over layers);
* BPR: the user/item embedding tables;
* EASE / ItemKNN: user vector = the user's train row X[u] (n_items wide), item vector = column i
  of the item-item matrix (EASE's B, ItemKNN's top-k cosine W), so X[u] . B[:, i] = RecBole's score.

Before gnnrec sees it, the export is checked: RecBole's own test metric is recomputed from the
exported vectors (RecBole's protocol: all items, train+valid masked, one row per user).
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

# RecBole 1.2.1 saves the whole config in its checkpoint and reloads it with a bare torch.load;
# torch >= 2.6 defaults to weights_only=True, which refuses that pickle. Our own checkpoint, so:
os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

# Training-side settings per (model, recipe). "default" = RecBole's defaults, nothing changed.
# tuned: RecBole's default valid_metric (MRR@10, pooled over both domains' items) is best at the
# popularity-level checkpoint of epoch 0-1 because the pooled ranking punishes any personalisation on
# cold-start users (results/peers/table.md, "From the peer's number to gnnrec's"); RecBole's own valid
# Recall@50 does rise with training (EASE 0.306 vs popularity-level 0.16), so the tuned recipes select
# the checkpoint on it, with a 10x learning rate to leave the plateau within the CPU budget. Chosen on
# valid only (table "Selection"); LightGCN's epochs are capped for time (~60-150 s/epoch on one thread).
RECIPES: dict[str, dict[str, dict]] = {
    "LightGCN": {"default": {}, "tuned": {"learning_rate": 0.01, "valid_metric": "Recall@50", "epochs": 15}},
    "BPR": {"default": {}, "tuned": {"learning_rate": 0.01, "valid_metric": "Recall@50", "epochs": 60}},
    "EASE": {"default": {}},
    "ItemKNN": {"default": {}},
}
# Evaluation read-out only (does not change training or model selection).
READOUT = {"metrics": ["Recall", "NDCG", "MRR", "Hit", "Precision"], "topk": [10, 20, 50]}


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def log_epochs(logger) -> tuple[int | None, int | None]:
    """(epochs trained, best epoch) as RecBole's log file says."""
    import re
    for h in logger.handlers:
        if hasattr(h, "baseFilename"):
            text = Path(h.baseFilename).read_text()
            done = re.findall(r"epoch (\d+) training", text)
            best = re.findall(r"best eval result in epoch (\d+)", text)
            return (int(done[-1]) + 1 if done else None), (int(best[-1]) if best else None)
    return None, None


def recbole_protocol_check(user_emb: np.ndarray, item_emb: np.ndarray, hist: list[np.ndarray],
                           pos: list[np.ndarray], users: np.ndarray, ks=(10, 20)) -> dict:
    """RecBole's full-sort NDCG/Recall@K recomputed from exported vectors (internal ids, row 0 = pad):
    one row per test user, every item a candidate, history (train+valid) and the pad masked."""
    out = {f"{m}@{k}": 0.0 for m in ("ndcg", "recall") for k in ks}
    kmax = max(ks)
    disc = 1.0 / np.log2(np.arange(2, kmax + 2))
    item_t = torch.from_numpy(item_emb)
    for s in range(0, len(users), 1024):
        bu = users[s:s + 1024]
        sc = torch.from_numpy(user_emb[bu]) @ item_t.T
        sc[:, 0] = -np.inf
        for r, u in enumerate(bu):
            if len(hist[u]):
                sc[r, torch.from_numpy(hist[u])] = -np.inf
        top = torch.topk(sc, kmax, dim=1).indices.numpy()
        for r, u in enumerate(bu):
            p = pos[u]
            hit = np.isin(top[r], p)
            for k in ks:
                idcg = disc[:min(len(p), k)].sum()
                out[f"ndcg@{k}"] += float((hit[:k] * disc[:k]).sum() / idcg)
                out[f"recall@{k}"] += float(hit[:k].sum() / len(p))
    return {k: round(v / len(users), 4) for k, v in out.items()}


def export_vectors(model_name: str, model, dataset) -> tuple[np.ndarray, np.ndarray]:
    """(user_emb, item_emb) over RecBole's internal ids (row 0 = [PAD]); score = inner product."""
    model.eval()
    with torch.no_grad():
        if model_name == "LightGCN":
            u, i = model.forward()
            return u.numpy().astype(np.float32), i.numpy().astype(np.float32)
        if model_name == "BPR":
            return (model.user_embedding.weight.numpy().astype(np.float32),
                    model.item_embedding.weight.numpy().astype(np.float32))
    X = model.interaction_matrix.toarray().astype(np.float32)         # users x items (train)
    if model_name == "EASE":
        B = np.asarray(model.item_similarity, dtype=np.float32)      # items x items
    elif model_name == "ItemKNN":
        B = model.w.toarray().astype(np.float32)                      # pred = X @ W
    else:
        raise SystemExit(f"no export rule for {model_name}")
    return X, np.ascontiguousarray(B.T)                               # item i's vector = column i


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, choices=sorted(RECIPES))
    ap.add_argument("--recipe", default="default")
    ap.add_argument("--data", default=str(HERE / "data"),
                    help="folder written by `gnnrec data export ml1m-cd --format recbole --out DIR`")
    ap.add_argument("--dataset", default="ml1m-cd", help="merged dataset (all domains)")
    ap.add_argument("--work", default=str(HERE / "runs"), help="scratch (checkpoints, embeddings)")
    ap.add_argument("--results", default=str(REPO / "results" / "peers"))
    ap.add_argument("--set", action="append", default=[], metavar="KEY=YAML",
                    help="extra RecBole setting (recorded); e.g. --set epochs=50")
    ap.add_argument("--name", help="run name (default MODEL-RECIPE)")
    ap.add_argument("--gnnrec-python", default=os.environ.get("GNNREC_PYTHON", "/work/main/.venv/bin/python"))
    ap.add_argument("--skip-gnnrec", action="store_true")
    args = ap.parse_args()
    args.data, args.work, args.results = (str(Path(p).resolve()) for p in (args.data, args.work, args.results))

    import yaml
    torch.set_num_threads(1)
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import get_model, get_trainer, init_logger, init_seed
    import recbole

    if args.recipe not in RECIPES[args.model]:
        raise SystemExit(f"{args.model} has recipes {sorted(RECIPES[args.model])}")
    extra = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}
    name = args.name or f"{args.model.lower()}-{args.recipe}"
    work = Path(args.work) / name
    res = Path(args.results) / name
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    res.mkdir(parents=True, exist_ok=True)
    os.chdir(work)                                   # RecBole writes log/, log_tensorboard/, saved/ here

    settings = {**RECIPES[args.model][args.recipe], **extra}
    config_dict = {"data_path": str(Path(args.data).resolve()), "use_gpu": False, "gpu_id": "",
                   "show_progress": False, "checkpoint_dir": str(work / "saved"), "worker": 0,
                   **READOUT, **settings}
    config = Config(model=args.model, dataset=args.dataset,
                    config_file_list=[str(Path(args.data) / "recbole.yaml")], config_dict=config_dict)
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    t0, c0 = time.perf_counter(), cpu_seconds()
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    t_fit, c_fit = time.perf_counter(), cpu_seconds()
    best_valid_score, best_valid = trainer.fit(train_data, valid_data, saved=True, show_progress=False)
    fit_s, fit_cpu = time.perf_counter() - t_fit, cpu_seconds() - c_fit
    test = trainer.evaluate(test_data, load_best_model=True, show_progress=False)
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    epochs_run, best_epoch = log_epochs(trainer.logger)

    # ---- export: internal ids -> gnnrec raw ids --------------------------------------------------
    U, V = export_vectors(args.model, trainer.model, dataset)
    uid_tok = dataset.field2id_token[dataset.uid_field]
    iid_tok = dataset.field2id_token[dataset.iid_field]
    assert uid_tok[0] == "[PAD]" and iid_tok[0] == "[PAD]"
    assert U.shape[0] == len(uid_tok) and V.shape[0] == len(iid_tok), (U.shape, V.shape)

    # export check: RecBole's test metric recomputed from the exported vectors
    hist = [np.zeros(0, np.int64)] * len(uid_tok)
    pos = [None] * len(uid_tok)
    for uid in test_data.uid_list.numpy():
        hist[uid] = test_data.uid2history_item[uid].numpy()
        pos[uid] = test_data.uid2positive_item[uid].numpy()
    check = recbole_protocol_check(U, V, hist, pos, test_data.uid_list.numpy())

    emb = work / "embeddings"
    emb.mkdir()
    np.save(emb / "user_embeddings.npy", U[1:])
    np.save(emb / "item_embeddings.npy", V[1:])
    (emb / "user_ids.txt").write_text("\n".join(map(str, uid_tok[1:])) + "\n")
    (emb / "item_ids.txt").write_text("\n".join(map(str, iid_tok[1:])) + "\n")

    def plain(d):
        return {k: float(v) for k, v in d.items()} if d is not None else None

    import pandas
    import scipy
    record = {
        "peer": "RecBole", "model": args.model, "recipe": args.recipe, "name": name,
        "dataset": args.dataset, "settings_changed_from_defaults": settings,
        "config": {k: config[k] for k in ("epochs", "train_batch_size", "learning_rate", "stopping_step",
                                          "valid_metric", "eval_step", "seed", "train_neg_sample_args",
                                          "weight_decay")}
                  | {k: config[k] for k in ("embedding_size", "n_layers", "reg_weight", "k", "shrink",
                                            "knn_method") if config[k] is not None},
        "recbole_protocol": "full sort over ALL items of both domains, one row per test user (all "
                            "the user's test items, both domains, are positives), train+valid items "
                            "masked; metrics averaged over users",
        "recbole_best_valid": plain(best_valid), "recbole_best_valid_score": float(best_valid_score),
        "recbole_test": plain(test),
        "export_check_from_vectors": check,
        "epochs_run": epochs_run, "best_epoch": best_epoch,
        "n_users": int(U.shape[0] - 1), "n_items": int(V.shape[0] - 1), "dim": int(U.shape[1]),
        "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "fit_wall_s": round(fit_s, 1),
        "fit_cpu_s": round(fit_cpu, 1), "threads": torch.get_num_threads(),
        "versions": {"recbole": recbole.__version__, "torch": torch.__version__, "numpy": np.__version__,
                     "scipy": scipy.__version__, "pandas": pandas.__version__,
                     "python": sys.version.split()[0]},
        "command": " ".join([Path(sys.executable).name, "experiments/peers/run_recbole.py",
                             *sys.argv[1:]]),
    }
    (res / "recbole.json").write_text(json.dumps(record, indent=1) + "\n")
    for h in trainer.logger.handlers:
        if hasattr(h, "baseFilename"):
            shutil.copy(h.baseFilename, res / "recbole.log")
    print(json.dumps({"test": record["recbole_test"], "check": check, "wall_s": record["wall_s"]}))

    if not args.skip_gnnrec:
        run_gnnrec(args.gnnrec_python, emb, res / "gnnrec-eval")
    return 0


def run_gnnrec(python: str, folder: Path, out: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1"}
    cmd = [python, "-m", "gnnrec", "evaluate", str(folder), "--dataset", "ml1m-cd", "--threads", "1",
           "--out", str(out), "--overwrite", "-q"]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env=env, cwd=REPO)


if __name__ == "__main__":
    sys.exit(main())
