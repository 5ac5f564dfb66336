"""Scoring-time additions for cross-domain cold users on a trained run, VALID split only.

A run with the cross-domain item map (``model.cross_map``) scores
``U[u] . V[i] / s_model + alpha * map(u, i)`` (:mod:`gnnrec.models.cross_map`). This
script asks whether cold (user, domain) pairs -- the user has no train row in
the item's domain -- want more of some signal than warm ones. Every variant
stays one inner product: a per-(user, domain) weight multiplies that domain's
block of the user vector, and each extra signal is one more block.

* ``map-cold W``: the map weighted ``W`` (instead of ``alpha``) for cold pairs;
* ``pop-cold G``: plus ``G * z(log(1 + pop_i))`` for cold pairs (``z``: standardised
  over the domain's items; the model part has unit score std);
* ``seq-cooc G``: plus ``G *`` the sequence co-occurrence of
  ``experiments/cold_signals.py`` (``cooc-seq``, other domains -> this one),
  factorised to rank 256 and standardised like the map, for every user;
* ``map lambda L``: the map refitted with ridge lambda ``L`` for every pair
  (weight ``alpha``) -- the cold / warm trade-off that round 13 resolved with
  a separate map for warm pairs (``model.cross_map_lambda_warm``).

Test metrics are never computed here: this is a selection step.

    python experiments/cold_blends.py runs/selection/aor10_cm2_l100
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
RANK = 256


def seq_cooc_blocks(ds, tau: float, rank: int = RANK) -> tuple[torch.Tensor, torch.Tensor]:
    """(n_users, D*rank), (n_items, D*rank): rank-``rank`` blocks of ``r_u C[src, d]`` per domain d.

    ``C[src, d] ~ A_d B_d^T`` by the library's randomized SVD; ``U[u] = [r_u[src] A_d]_d``,
    ``V[i] = B_d[i]`` in the block of i's domain (the layout of gnnrec.models.cross_map).
    """
    import scipy.sparse as sp

    from cold_signals import sequence_cooc
    from gnnrec.models.cross_map import randomized_svd

    c = sequence_cooc(ds, tau).tocsr()
    r, item_dom = sp.csr_matrix(ds.train_matrix(), dtype=np.float64), ds.item_domain()
    ublocks, iblocks = [], []
    for d in range(int(item_dom.max()) + 1):
        src, tgt = np.flatnonzero(item_dom != d), np.flatnonzero(item_dom == d)
        m = sp.csr_matrix(c[src][:, tgt], dtype=np.float64)
        mt = m.T.tocsr()
        a, sig, b = randomized_svd(lambda x, m=m: torch.from_numpy(m @ x.numpy()),
                                   lambda y, mt=mt: torch.from_numpy(mt @ y.numpy()),
                                   (len(src), len(tgt)), rank, d)
        ub, ib = np.zeros((r.shape[0], rank), np.float32), np.zeros((r.shape[1], rank), np.float32)
        ub[:, :len(sig)] = r[:, src] @ (a * sig)
        ib[tgt, :len(sig)] = b
        ublocks.append(ub)
        iblocks.append(ib)
    return torch.from_numpy(np.hstack(ublocks)), torch.from_numpy(np.hstack(iblocks))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="a run folder whose model has model.cross_map > 0")
    p.add_argument("--map-cold", default="0.1,0.3,0.45,0.7")
    p.add_argument("--pop-cold", default="0.1,0.2,0.4,0.8")
    p.add_argument("--seq-cooc", default="0.1,0.2,0.4")
    p.add_argument("--seq-tau", type=float, default=20.0)
    p.add_argument("--map-lambda", default="30,10,3,1")
    a = p.parse_args()
    from cold_signals import write_table
    from gnnrec.eval import evaluate
    from gnnrec.data.registry import data_dir
    from gnnrec.graph.facts import domain_activity
    from gnnrec.models.cross_map import CrossMapHead, pair_std
    from gnnrec.train.run import load_run

    run = load_run(a.run, device="cpu")
    model, ds = run.model, run.ds
    head = getattr(model, "cross_head", None)
    if head is None:
        raise SystemExit(f"{a.run}: the model has no cross-domain item map (model.cross_map = 0)")
    alpha = run.config.model.cross_map
    with torch.no_grad():
        u, v = (t.float() for t in model.embeddings())             # map appended, model part / s_model
    n_dom, dim = len(ds.domains), u.shape[1] - head.user_map.shape[1]
    k = head.rank                               # the cold pairs' map comes first (CrossMapHead)
    r, item_dom = ds.train_matrix(), ds.item_domain()
    cold_t = ~torch.from_numpy(domain_activity(ds.train["user"].to_numpy(), ds.train["domain"].to_numpy(),
                                               ds.n_users, n_dom))
    dom = torch.from_numpy(item_dom.astype(np.int64))

    def cold_weighted(w: float) -> torch.Tensor:
        out = u.clone()
        for d in range(n_dom):
            out[cold_t[:, d], dim + d * k: dim + (d + 1) * k] *= w / alpha
        return out

    pop = np.log1p(np.asarray(r.sum(axis=0)).ravel())
    zpop = np.zeros_like(pop)
    for d in range(n_dom):
        m = item_dom == d
        zpop[m] = (pop[m] - pop[m].mean()) / (pop[m].std() or 1.0)
    pop_items = torch.zeros(ds.n_items, n_dom)
    pop_items[torch.arange(ds.n_items), dom] = torch.from_numpy(zpop).float()
    su, sv = seq_cooc_blocks(ds, a.seq_tau) if a.seq_cooc else (None, None)
    variants: list[tuple[str, torch.Tensor, torch.Tensor]] = [(f"run as trained (map {alpha})", u, v)]
    variants += [(f"map-cold {w}", cold_weighted(float(w)), v) for w in a.map_cold.split(",") if w]
    variants += [(f"pop-cold {g}", torch.cat([u, float(g) * cold_t.float()], 1), torch.cat([v, pop_items], 1))
                 for g in a.pop_cold.split(",") if g]
    if su is not None:
        su = su / float(pair_std(su, sv, head.pair_users, head.pair_items))   # the head's pair sample
        variants += [(f"seq-cooc {g}", torch.cat([u, float(g) * su], 1), torch.cat([v, sv], 1))
                     for g in a.seq_cooc.split(",") if g]
    for lam in (x for x in a.map_lambda.split(",") if x):
        refit = CrossMapHead(r, item_dom, alpha, float(lam), head.rank,
                             cache_dir=data_dir() / "cross_maps")
        variants.append((f"map lambda {lam}", torch.cat([u[:, :dim], refit.user_map], 1),
                         torch.cat([v[:, :dim], refit.item_map], 1)))
    groups = [(d, s) for d in ds.domains for s in ("warm", "cold")]
    lines = [f"### Scoring-time variants of the cross-domain map on `{a.run}` (valid NDCG@20)", "",
             "| variant | mean | cold / warm | " + " | ".join(f"{d}/{s}" for d, s in groups) + " |",
             "|---|---|---|" + "---|" * len(groups)]
    for name, uu, vv in variants:
        res = evaluate(uu, vv, ds, split="valid", ks=(20,), bootstrap=0)
        val = {g: res.value("ndcg", 20, domain=g[0], scenario=g[1]) for g in groups}
        mean = lambda sc, val=val: np.mean([x for g, x in val.items() if sc is None or g[1] == sc])  # noqa: E731
        lines.append(f"| {name} | {mean(None):.4f} | {mean('cold'):.4f} / {mean('warm'):.4f} | "
                     + " | ".join(f"{val[g]:.4f}" for g in groups) + " |")
        print(lines[-1], flush=True)
    lines += ["", f"Reproduce: `python experiments/cold_blends.py {a.run}`"]
    write_table(f"cold-blends-{ds.name}", lines)


if __name__ == "__main__":
    main()
