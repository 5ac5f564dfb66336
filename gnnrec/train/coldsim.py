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

Held-out cold users (``train.cold_holdout = h``): the per-epoch draw above
still lets every bridge user's own ID embedding learn all its domains in the
other epochs (and from the hidden positives themselves), so the model can
score a simulated cold user's hidden domain from that memorised row -- which
a real cold user does not have. A share ``h`` of the bridge users is
therefore drawn once per run (from the seed), each with one of its domains,
and those (user, domain) rows leave the graph for the whole run; they stay in
the loss, where the user's own ID embedding is detached
(:meth:`gnnrec.models.base.Recommender.detach_own_id`), so they can only be
fitted through what transfers from the user's other domains. Held-out users
are not drawn by the per-epoch simulation.
"""

from __future__ import annotations

import numpy as np
import torch

from gnnrec.data.schema import Dataset


class ColdStartSimulator:
    """keep_mask(generator) -> (n_train,) bool numpy mask of the train rows kept in the graph;
    ``held`` -> (n_train,) bool numpy mask of the held-out rows (all False without a holdout)."""

    def __init__(self, ds: Dataset, share: float, holdout: float = 0.0, seed: int = 0) -> None:
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"train.cold_sim must be in [0, 1], got {share}")
        if not 0.0 <= holdout < 1.0:
            raise ValueError(f"train.cold_holdout must be in [0, 1), got {holdout}")
        tr = ds.train
        self.users = tr["user"].to_numpy()
        self.domains = tr["domain"].to_numpy()
        self.n_domains = len(ds.domains)
        self.n_users = ds.n_users
        active = np.zeros((ds.n_users, self.n_domains), dtype=bool)
        active[self.users, self.domains] = True
        self.active = active
        bridge = np.flatnonzero(active.sum(axis=1) >= 2)
        self.held = np.zeros(len(tr), dtype=bool)
        if holdout > 0:
            rng = np.random.default_rng(seed)
            users = rng.permutation(bridge)[: int(round(holdout * len(bridge)))]
            self.held = self._hidden_rows(users, rng.random((len(users), self.n_domains)))
            bridge = np.setdiff1d(bridge, users)
        self.bridge = bridge
        self.share = float(share)

    def _hidden_rows(self, users: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """(n_train,) bool: rows of one active domain per user in ``users``, the argmax of the
        random ``keys`` (len(users), D) restricted to the user's active domains (uniform)."""
        keys = keys.copy()
        keys[~self.active[users]] = -1.0
        hidden = np.full(self.n_users, -1, dtype=np.int64)
        hidden[users] = keys.argmax(axis=1)
        return hidden[self.users] == self.domains

    def keep_mask(self, generator: torch.Generator) -> np.ndarray:
        n_hide = int(round(self.share * len(self.bridge)))
        if n_hide == 0:
            return ~self.held
        dev = generator.device
        pick = torch.randperm(len(self.bridge), generator=generator, device=dev)[:n_hide].cpu().numpy()
        keys = torch.rand(n_hide, self.n_domains, generator=generator, device=dev).cpu().numpy()
        return ~(self._hidden_rows(self.bridge[pick], keys) | self.held)
