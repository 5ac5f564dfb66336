"""The deletion test of explanations on ML-1M-CD's valid cold-start users.

One epoch of cd-lightgcn (as in test_foldin_quality); each valid cold user is folded in from
their train items (the other domain). Removing the top contributor of their top item's
explanation must lower its score more than removing a random history item, on average and for
most users. (The flagship's figure, study 8 of experiments/: ratio 1.83, 523 of 523 users.)
"""

from __future__ import annotations

import pytest
import torch

from gnnrec.data.registry import load_dataset
from gnnrec.export.explain import deletion_check
from gnnrec.export.query import Retriever
from gnnrec.models.registry import build_model
from gnnrec.train import export_model, load_config
from gnnrec.train.context import make_context, seed_everything
from gnnrec.train.loop import RunLog, fit
from gnnrec.train.run import RunFolder
from gnnrec.train.steps import FullGraphSteps
from tests.conftest import needs_shared


@needs_shared("ml1m-cd")
@pytest.mark.shared
@pytest.mark.slow
def test_removing_the_top_contributor_costs_more_than_a_random_item(tmp_path):
    ds = load_dataset("ml1m-cd")
    cfg = load_config(None, ["dataset=ml1m-cd", f"runs_dir={tmp_path}", "name=ml1m_explain",
                             "model.name=cd-lightgcn", "device=cpu", "train.epochs=1",
                             "train.batch_size=131072", "train.lr=0.02", "train.threads=1"])
    device = torch.device("cpu")
    seed_everything(cfg.seed)
    model = build_model(make_context(cfg, ds, device))
    folder = RunFolder(tmp_path / "run")
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    fit(model, ds, cfg, folder, device, FullGraphSteps(model, ds, cfg, device), RunLog(folder), progress=False)
    model.eval()
    exp = export_model(model, ds)
    exp.manifest["foldin"] = {"rule": "lightgcn"}
    rec = Retriever(exp)
    cold = ds.valid[ds.valid["scenario"] == "cold"].drop_duplicates(["user", "domain"])
    train = ds.train_matrix()
    iid = ds.items["item_id"].tolist()
    res = deletion_check(rec, [[iid[j] for j in train[u].indices] for u in cold["user"]],
                         [ds.domains[d] for d in cold["domain"]])
    print(f"deletion on {res['users']} valid cold users: top {res['top_drop']:.5f}, random "
          f"{res['random_drop']:.5f}, ratio {res['ratio']:.2f}, top larger for {res['top_beats_random']:.1%}")
    assert res["users"] > 500
    assert res["ratio"] > 1.2 and res["top_beats_random"] > 0.9
    # and the trained vectors' explanations are exact and cross-domain
    u = ds.users["user_id"].iat[int(cold["user"].iat[0])]
    dom = ds.domains[int(cold["domain"].iat[0])]
    top = rec.recommend(dom, 1, user=u).items[0]
    e = rec.explain(top["item_id"], user=u)
    assert e["exact"] and e["score"] == top["score"] and all(c["domain"] != dom for c in e["contributions"])
