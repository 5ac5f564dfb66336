"""Benchmark suites: which datasets, which config folder, which headline metrics.

A :class:`Suite` names the datasets it trains on (registered names of
:func:`gnnrec.data.load_dataset`), the folder ``configs/<config_dir>/`` whose
``<model>.yaml`` files (model name with ``-`` -> ``_``) configure each model,
the evaluation protocols and the headline cells reported in the main table.

A model with no YAML file in the suite's folder runs on the trainer's defaults
with ``dataset`` set; the run record says so (``config_source: defaults``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Headline:
    """One headline cell: ``metric@k`` on (domain, scenario) under ``protocol``."""

    metric: str
    k: int
    domain: str
    scenario: str
    protocol: str = "full"

    @property
    def label(self) -> str:
        names = {"ndcg": "NDCG", "recall": "Recall", "hr": "HR", "mrr": "MRR"}
        at = f"@{self.k}" if self.k else ""
        tag = "" if self.protocol == "full" else f" ({self.protocol})"
        return f"{self.domain}/{self.scenario} {names.get(self.metric, self.metric)}{at}{tag}"


@dataclass(frozen=True)
class Suite:
    """A named benchmark: datasets x models x seeds, evaluated the same way."""

    name: str
    description: str
    datasets: tuple[str, ...]
    config_dirs: tuple[str, ...]          # one per dataset, under configs/
    headline: tuple[tuple[str, Headline], ...]   # (dataset, cell)
    protocols: tuple[str, ...] = ("full",)
    default_models: tuple[str, ...] = ()
    smoke_overrides: tuple[str, ...] = ("train.epochs=2", "train.patience=2")
    # the model a suite's targets are quoted against (e.g. "beat the plain cross-domain
    # LightGCN recipe by 20% on the cold groups"): the best of gnnrec's models is also
    # compared with it, relative difference with a bootstrap CI (gnnrec.bench.significance)
    reference: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def config_dir(self, dataset: str) -> str:
        return self.config_dirs[self.datasets.index(dataset)]


ALL_MODELS = ("pop", "mf", "ease", "itemknn", "rp3beta", "lightgcn", "cd-lightgcn", "cd-lightgcn-text", "hgt",
              "emcdr", "bitgcf", "ptupcdr", "cdrib", "disencdr", "unicdr", "text-only")


def _cold_headline(ds: str, domains: tuple[str, ...]) -> tuple[tuple[str, Headline], ...]:
    return tuple((ds, Headline(m, 20, d, "cold")) for d in domains for m in ("ndcg", "recall"))


DISENCDR_SCENARIOS = ("sport_cloth", "phone_electronic")


def _disencdr_headline() -> tuple[tuple[str, Headline], ...]:
    out = []
    for sc in DISENCDR_SCENARIOS:
        ds = f"amazon-disencdr-{sc}"
        for dom in sc.split("_"):
            out += [(ds, Headline("mrr", 0, dom, "all", "sampled")),
                    (ds, Headline("ndcg", 10, dom, "all", "sampled")),
                    (ds, Headline("hr", 10, dom, "all", "sampled")),
                    (ds, Headline("ndcg", 20, dom, "all", "full"))]
    return tuple(out)


SUITES: dict[str, Suite] = {
    "ml1m-cd": Suite(
        "ml1m-cd", "MovieLens-1M action/drama (frozen split); headline: cold groups",
        ("ml1m-cd",), ("ml1m_cd",), _cold_headline("ml1m-cd", ("action", "drama")),
        default_models=ALL_MODELS, reference="cd-lightgcn"),
    "ml100k-cd": Suite(
        "ml100k-cd", "MovieLens-100K action/drama (ML-CD protocol); the CI smoke suite",
        ("ml100k-cd",), ("ml100k_cd",), _cold_headline("ml100k-cd", ("action", "drama")),
        default_models=("pop", "mf", "cd-lightgcn", "cd-lightgcn-text")),
    "ml1m-3d": Suite(
        "ml1m-3d", "MovieLens-1M in three domains (action / thriller / drama by genre, ML-CD cold-start "
        "protocol per domain); headline: cold groups",
        ("ml1m-3d",), ("ml1m_3d",), _cold_headline("ml1m-3d", ("action", "thriller", "drama")),
        default_models=("pop", "mf", "ease", "itemknn", "rp3beta", "cd-lightgcn", "cd-lightgcn-text", "emcdr",
                        "bitgcf"),
        reference="cd-lightgcn"),
    "amazon-ao": Suite(
        "amazon-ao", "Amazon Art/Office with titles (frozen split); headline: cold groups",
        ("amazon-ao",), ("amazon_ao",), _cold_headline("amazon-ao", ("art", "office")),
        default_models=ALL_MODELS, reference="cd-lightgcn"),
    "amazon-disencdr": Suite(
        "amazon-disencdr", "DisenCDR Amazon Sport/Cloth and Phone/Electronic (ids only), both "
        "directions; sampled protocol (1 positive vs 999 negatives) beside full ranking",
        tuple(f"amazon-disencdr-{s}" for s in DISENCDR_SCENARIOS),
        tuple(f"amazon_disencdr_{s}" for s in DISENCDR_SCENARIOS),
        _disencdr_headline(), protocols=("full", "sampled"),
        default_models=("pop", "mf", "lightgcn", "cd-lightgcn", "hgt", "emcdr", "bitgcf", "ptupcdr", "cdrib",
                        "disencdr", "unicdr")),
}


def get_suite(name: str) -> Suite:
    """The suite called ``name``; unknown names raise listing the valid ones."""
    if name not in SUITES:
        raise KeyError(f"unknown suite {name!r}; available: {', '.join(SUITES)}")
    return SUITES[name]


def model_is_ours(model: str) -> bool:
    """gnnrec's own models (``Recommender.ours``); every other model is a baseline."""
    from gnnrec.models.registry import MODELS, model_class

    return model in MODELS and model_class(model).ours
