"""Simulated cross-domain cold start: hide one domain of some bridge users per epoch.

A cold user of domain d has train positives in other domains only, so a
LightGCN-style model must score domain d for it from a neighbourhood without
any d-edge. Bridge users seen in training always have their d-edges, so
nothing teaches the model that case. With ``train.cold_sim = s`` each epoch
draws a share ``s`` of the bridge users (users with train positives in at least
two domains) and, for each, one of its domains uniformly; the graph the model
propagates over during that epoch (and its users' text profile) leaves out
those (user, domain) edges, while the loss still uses them as positives. The
model thereby learns to predict a domain from the other domains' history --
the cold-start test condition. Validation and test always use the full graph.

The draw uses the epoch's generator, so resumed runs replay it exactly.
"""

from __future__ import annotations

import numpy as np
import torch

from gnnrec.data.schema import Dataset
from gnnrec.utils.config import ConfigError
from gnnrec.graph.facts import domain_activity


class ColdStartSimulator:
    """keep_mask(generator) -> (n_train,) bool numpy mask of the train rows kept in the graph."""

    def __init__(self, ds: Dataset, share: float) -> None:
        if not 0.0 < share <= 1.0:
            raise ConfigError(f"train.cold_sim must be in (0, 1], got {share}")
        tr = ds.train
        self.users = tr["user"].to_numpy()
        self.domains = tr["domain"].to_numpy()
        self.n_domains = len(ds.domains)
        self.n_users = ds.n_users
        self.active = domain_activity(self.users, self.domains, ds.n_users, self.n_domains)
        self.bridge = np.flatnonzero(self.active.sum(axis=1) >= 2)
        self.share = float(share)

    def keep_mask(self, generator: torch.Generator) -> np.ndarray:
        n_hide = int(round(self.share * len(self.bridge)))
        dev = generator.device
        pick = torch.randperm(len(self.bridge), generator=generator, device=dev)[:n_hide].cpu().numpy()
        users = self.bridge[pick]
        # one of each picked user's active domains, uniformly: the argmax of random keys
        # restricted to its active domains
        keys = torch.rand(n_hide, self.n_domains, generator=generator, device=dev).cpu().numpy()
        keys[~self.active[users]] = -1.0
        hidden = np.full(self.n_users, -1, dtype=np.int64)
        hidden[users] = keys.argmax(axis=1)
        return hidden[self.users] != self.domains
