"""Synthetic multi-domain interaction graphs of any size (scaling benchmarks, tests).

Generative model (all vectorised numpy; no Python loop per edge or per user):

* Shared taste space of dimension ``k``. Every user has ONE latent vector
  ``p_u ~ N(0, I/k)`` used in every domain: this planted cross-domain taste is
  what makes transfer from a user's other domains learnable.
* Each domain ``d`` has ``topics`` topic centres ``c_{d,t} ~ N(0, I/k)``; item
  ``j`` of topic ``t`` has ``q_j = c_{d,t} + noise * N(0, I/k)``.
* Power-law degrees: user activity ``a_u`` and item popularity ``b_j`` are
  Pareto(``alpha``) draws (heavy-tailed degrees as in real logs).
* Edge ``e``: user ``u_e ~ a`` (by activity), domain ``d_e ~ pi_u`` (a
  per-user Dirichlet domain mix: some users live in one domain, bridge users in
  several), then ``candidates`` items of ``d_e`` drawn by popularity ``b``, of
  which the one maximising ``beta * <p_u, q_j> + Gumbel`` is kept (a softmax
  choice tilted by taste). Duplicated (user, item) pairs are dropped and the
  generator tops up until exactly ``edges`` distinct pairs exist (or the pool
  is exhausted).
* Text-like item features: each topic owns a vocabulary slice; an item's title
  is ``title_words`` words, most from its topic's slice, the rest generic, so a
  text encoder sees taste-bearing tokens. ``item_features`` is a dense
  (n_items, feat_dim) "text embedding" stand-in: a fixed random projection of
  ``q_j`` plus noise (for scale runs where running a language model over
  millions of titles is not the point).
* Splits follow the ml1m-cd protocol: bridge users (>= ``bridge_min``
  positives in >= 2 domains); per domain a seeded ``cold_frac`` of them become
  cold (disjoint groups across domains; all their positives there leave train
  and are halved between valid and test, ``scenario=cold``); every other
  (user, domain) with >= 3 positives gives its last positive by time to test
  and the one before to valid (``scenario=warm``).

Identical arguments and seed give identical output (one numpy Generator).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from gnnrec.data.schema import DataError, Dataset, namespaced

log = logging.getLogger(__name__)

_GENERIC = ("the", "of", "a", "and", "new", "best", "classic", "edition", "set", "pro",
            "mini", "deluxe", "series", "collection", "vol", "pack")


@dataclass(frozen=True)
class SynthConfig:
    """Size and shape of a synthetic graph (see the module docstring for the model)."""

    users: int = 10_000
    items: int = 5_000
    domains: int = 2
    edges: int = 200_000
    seed: int = 0
    dim: int = 16                 # latent taste dimension k
    topics: int = 20              # topics per domain
    alpha_user: float = 1.8       # Pareto shape of user activity (smaller = heavier tail)
    alpha_item: float = 2.0       # Pareto shape of item popularity
    beta: float = 12.0            # taste strength in the item choice
    candidates: int = 4           # popularity-drawn candidates per edge within its topic
    item_noise: float = 0.5       # item spread around its topic centre
    domain_conc: float = 0.7      # Dirichlet concentration of a user's domain mix
    cold_frac: float = 0.1        # share of bridge users made cold per domain
    bridge_min: int = 5           # positives per domain that make a bridge user
    feat_dim: int = 64            # width of the dense text-like item features
    title_words: int = 5
    vocab_per_topic: int = 12

    def __post_init__(self) -> None:
        for name in ("users", "items", "domains", "edges", "dim", "topics", "candidates",
                     "feat_dim", "title_words", "vocab_per_topic"):
            if int(getattr(self, name)) < 1:
                raise DataError(f"synthetic graph: --{name} must be >= 1, got {getattr(self, name)}")
        if self.items < self.domains:
            raise DataError(f"synthetic graph: --items ({self.items}) must be >= --domains "
                            f"({self.domains}) so every domain has an item")
        if self.edges > self.users * self.items:
            raise DataError(f"synthetic graph: --edges {self.edges} exceeds users x items "
                            f"({self.users * self.items}) distinct pairs; lower --edges")
        if not 0.0 <= self.cold_frac < 1.0:
            raise DataError(f"synthetic graph: cold_frac must be in [0, 1), got {self.cold_frac}")


@dataclass
class Synthetic:
    """Output of :func:`generate`.

    dataset: the split :class:`Dataset`; item_features: (n_items, feat_dim)
    float32 text-like features (dataset item order); user_factors (n_users, k)
    and item_factors (n_items, k): the planted ground truth; seconds: wall time.
    """

    dataset: Dataset
    item_features: np.ndarray
    user_factors: np.ndarray
    item_factors: np.ndarray
    seconds: float
    info: dict = field(default_factory=dict)


def _pareto_weights(rng: np.random.Generator, n: int, alpha: float) -> np.ndarray:
    w = rng.pareto(alpha, size=n) + 1.0
    return w / w.sum()


@dataclass
class _Planted:
    """Planted structure the edges are drawn from (see :func:`_sample_edges`)."""

    p_user: np.ndarray        # (U,) activity distribution
    dom_cum: np.ndarray       # (U, D) cumulative per-user domain mix
    topic_cum: np.ndarray     # (U, D, T) cumulative per-user topic choice per domain
    by_topic: np.ndarray      # (I,) item ids sorted by global topic d * T + t
    topic_cum_pop: np.ndarray  # (I,) global topic id + cumulative popularity within the topic
    uf: np.ndarray            # (U, k) user tastes
    itf: np.ndarray           # (I, k) item factors


def _sample_edges(cfg: SynthConfig, rng: np.random.Generator, pl: _Planted, n: int,
                  chunk: int = 1_000_000) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` (user, item) edges, duplicates possible.

    Per edge: user ~ activity, domain ~ the user's mix, topic ~ softmax over the
    domain's topics of ``beta <p_u, c_t> + log(topic popularity)``, then
    ``candidates`` items of that topic by popularity, the one maximising
    ``beta <p_u, q_j> + Gumbel`` kept. Work is O(n * (D + T + candidates * k)).
    """
    users = rng.choice(cfg.users, size=n, p=pl.p_user).astype(np.int64)
    items = np.empty(n, dtype=np.int64)
    for s in range(0, n, chunk):
        u = users[s:s + chunk]
        m = len(u)
        dom = (rng.random(m)[:, None] > pl.dom_cum[u, :-1]).sum(axis=1)
        topic = (rng.random(m)[:, None] > pl.topic_cum[u, dom, :-1]).sum(axis=1)
        g = (dom * cfg.topics + topic).astype(np.float64)
        pos = np.searchsorted(pl.topic_cum_pop, g[:, None] + rng.random((m, cfg.candidates)))
        cand = pl.by_topic[np.minimum(pos, len(pl.by_topic) - 1)]          # (m, C)
        score = np.einsum("mk,mck->mc", pl.uf[u], pl.itf[cand])
        score = cfg.beta * score + rng.gumbel(size=score.shape)
        items[s:s + chunk] = cand[np.arange(m), score.argmax(axis=1)]
    return users, items


def _vocabulary(n_words: int) -> np.ndarray:
    """``n_words`` distinct pronounceable pseudo-words (base-16 digits spelt as syllables)."""
    syl = np.asarray(["ka", "lo", "mi", "ru", "te", "sa", "no", "vi", "pe", "zu", "da", "ri",
                      "go", "be", "fa", "xu"])
    ids = np.arange(n_words)
    word = syl[ids % 16]
    for p in range(1, max(3, int(np.ceil(np.log(max(n_words, 2)) / np.log(16))))):
        word = np.char.add(word, syl[(ids // 16 ** p) % 16])
    return word


def _titles(cfg: SynthConfig, rng: np.random.Generator, topic: np.ndarray,
            dom_of_item: np.ndarray) -> list[str]:
    """Titles: ``title_words`` tokens, ~70% from the item's topic vocabulary."""
    n = len(topic)
    vocab = _vocabulary(cfg.domains * cfg.topics * cfg.vocab_per_topic)
    gtopic = dom_of_item * cfg.topics + topic                     # global topic id
    slot = rng.integers(0, cfg.vocab_per_topic, size=(n, cfg.title_words))
    own = rng.random((n, cfg.title_words)) < 0.7
    generic = rng.integers(0, len(_GENERIC), size=(n, cfg.title_words))
    words = np.where(own, vocab[gtopic[:, None] * cfg.vocab_per_topic + slot],
                     np.asarray(_GENERIC)[generic])
    return [" ".join(w) for w in words.tolist()]


def _split(cfg: SynthConfig, rng: np.random.Generator, users: np.ndarray, items: np.ndarray,
           dom: np.ndarray, ts: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    """ml1m-cd style split (module docstring); returns train, valid, test, info."""
    D = cfg.domains
    key = users * D + dom
    order = np.lexsort((ts, key))                                  # by (user, domain), time
    users, items, dom, ts, key = users[order], items[order], dom[order], ts[order], key[order]
    ukeys, start, counts = np.unique(key, return_index=True, return_counts=True)
    per_ud = np.zeros((cfg.users, D), dtype=np.int64)
    per_ud[ukeys // D, ukeys % D] = counts
    active = per_ud >= cfg.bridge_min
    bridge = active.sum(axis=1) >= 2
    cold = np.zeros((cfg.users, D), dtype=bool)
    taken = np.zeros(cfg.users, dtype=bool)
    for d in range(D):
        cand = np.flatnonzero(bridge & active[:, d] & ~taken)
        pick = rng.permutation(cand)[: int(round(cfg.cold_frac * len(cand)))]
        cold[pick, d] = True
        taken[pick] = True
    row_cold = cold[users, dom]
    half = rng.random((cfg.users, D)) < 0.5                       # cold (u, d) -> valid or test
    rank_from_end = (start + counts)[np.searchsorted(ukeys, key)] - 1 - np.arange(len(key))
    size = counts[np.searchsorted(ukeys, key)]
    warm_ok = (size >= 3) & ~row_cold
    is_test = (warm_ok & (rank_from_end == 0)) | (row_cold & ~half[users, dom])
    is_valid = (warm_ok & (rank_from_end == 1)) | (row_cold & half[users, dom])
    is_train = ~(is_test | is_valid)

    def table(mask: np.ndarray, scenario: bool) -> pd.DataFrame:
        t = pd.DataFrame({"user": users[mask], "item": items[mask], "domain": dom[mask],
                          "rating": np.ones(int(mask.sum()), np.float32), "timestamp": ts[mask]})
        if scenario:
            t["scenario"] = np.where(row_cold[mask], "cold", "warm")
        return t

    info = {"bridge_users": int(bridge.sum()), "cold_users_per_domain": cold.sum(axis=0).tolist()}
    return table(is_train, False), table(is_valid, True), table(is_test, True), info


def generate(cfg: SynthConfig) -> Synthetic:
    """Build the synthetic graph described by ``cfg`` (deterministic for ``cfg.seed``)."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(cfg.seed)
    k, D = cfg.dim, cfg.domains
    # items per domain: as even as possible, domain d holds items offsets[d]:offsets[d+1]
    per_dom = np.full(D, cfg.items // D) + (np.arange(D) < cfg.items % D)
    offsets = np.concatenate([[0], np.cumsum(per_dom)]).astype(np.int64)
    dom_of_item = np.repeat(np.arange(D), per_dom)
    uf = (rng.standard_normal((cfg.users, k)) / np.sqrt(k)).astype(np.float32)
    centres = (rng.standard_normal((D, cfg.topics, k)) / np.sqrt(k)).astype(np.float32)
    topic = rng.integers(0, cfg.topics, size=cfg.items)
    itf = (centres[dom_of_item, topic]
           + cfg.item_noise * rng.standard_normal((cfg.items, k)) / np.sqrt(k)).astype(np.float32)
    item_w = _pareto_weights(rng, cfg.items, cfg.alpha_item)
    gtopic = dom_of_item * cfg.topics + topic                        # (I,) global topic
    by_topic = np.argsort(gtopic, kind="stable")
    t_mass = np.bincount(gtopic, weights=item_w, minlength=D * cfg.topics)
    w_sorted = item_w[by_topic] / np.maximum(t_mass[gtopic[by_topic]], 1e-300)
    block_start = np.searchsorted(gtopic[by_topic], np.arange(D * cfg.topics))
    cum = np.cumsum(w_sorted)
    cum -= np.concatenate([[0.0], cum])[block_start][gtopic[by_topic]]   # within-topic cumsum
    logits = cfg.beta * np.einsum("uk,dtk->udt", uf, centres)            # (U, D, T)
    logits += np.log(np.maximum(t_mass.reshape(D, cfg.topics), 1e-300))
    prob = np.exp(logits - logits.max(axis=2, keepdims=True))
    topic_cum = np.cumsum(prob / prob.sum(axis=2, keepdims=True), axis=2)
    dom_mix = rng.dirichlet(np.full(D, cfg.domain_conc), size=cfg.users)
    planted = _Planted(p_user=_pareto_weights(rng, cfg.users, cfg.alpha_user),
                       dom_cum=np.cumsum(dom_mix, axis=1), topic_cum=topic_cum,
                       by_topic=by_topic, topic_cum_pop=gtopic[by_topic] + cum,
                       uf=uf, itf=itf)

    pairs = np.empty(0, dtype=np.int64)
    for _ in range(8):                                             # top up after de-duplication
        need = cfg.edges - len(pairs)
        if need <= 0:
            break
        u, i = _sample_edges(cfg, rng, planted, int(need * 1.3) + 1000)
        pairs = np.union1d(pairs, u * cfg.items + i)
    if len(pairs) > cfg.edges:
        pairs = np.sort(rng.choice(pairs, size=cfg.edges, replace=False))
    elif len(pairs) < cfg.edges:
        log.warning("synthetic graph: only %d distinct pairs after top-ups (asked %d): the "
                    "popularity tail is too steep for this size", len(pairs), cfg.edges)
    users, items = pairs // cfg.items, pairs % cfg.items
    dom = dom_of_item[items].astype(np.int64)
    ts = rng.integers(0, 1_000_000_000, size=len(pairs), dtype=np.int64)
    train, valid, test, info = _split(cfg, rng, users, items, dom, ts)

    names = [f"d{d}" for d in range(D)]
    dom_names = np.asarray(names)[dom_of_item]
    item_ids = [namespaced(dn, str(j - offsets[d]))
                for j, (d, dn) in enumerate(zip(dom_of_item.tolist(), dom_names.tolist()))]
    items_df = pd.DataFrame({"item_id": item_ids, "domain": dom_names,
                             "title": _titles(cfg, rng, topic, dom_of_item)})
    users_df = pd.DataFrame({"user_id": np.char.add("u", np.arange(cfg.users).astype(str))})
    proj = (rng.standard_normal((k, cfg.feat_dim)) / np.sqrt(k)).astype(np.float32)
    feats = itf @ proj * np.sqrt(k)
    feats += 0.3 * rng.standard_normal(feats.shape).astype(np.float32)
    protocol = {"kind": "synthetic", **asdict(cfg), **info}
    ds = Dataset(name=f"synth-u{cfg.users}-i{cfg.items}-d{D}-e{cfg.edges}-s{cfg.seed}",
                 users=users_df, items=items_df, domains=names,
                 train=train, valid=valid, test=test, protocol=protocol)
    seconds = time.perf_counter() - t0
    info.update(edges=int(len(pairs)), seconds=round(seconds, 2))
    return Synthetic(ds, feats.astype(np.float32), uf, itf, seconds, info)


FEATURES_FILE = "item_features.npy"


def save_synthetic(folder: Path, syn: Synthetic) -> Path:
    """Prepared folder (atomic) + ``item_features.npy`` (written via temp file and rename)."""
    from gnnrec.data.store import save_prepared

    save_prepared(syn.dataset, folder, inputs={})
    tmp = folder / f".{FEATURES_FILE}.tmp"
    with open(tmp, "wb") as f:
        np.save(f, syn.item_features)
    os.replace(tmp, folder / FEATURES_FILE)
    return folder


def load_item_features(folder: str | os.PathLike) -> np.ndarray:
    """The (n_items, feat_dim) features written by `gnnrec synth` into ``folder``."""
    path = Path(folder) / FEATURES_FILE
    if not path.is_file():
        raise DataError(f"{path} not found: only folders written by `gnnrec synth` carry synthetic "
                        f"item features")
    return np.load(path, allow_pickle=False)
