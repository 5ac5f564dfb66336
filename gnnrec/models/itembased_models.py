"""EASE, ItemKNN and RP3beta as gnnrec models: training-free item-item recommenders over all domains.

Papers: EASE -- Steck, "Embarrassingly Shallow Autoencoders for Sparse Data"
(WWW 2019); ItemKNN -- item-based collaborative filtering with shrunk cosine
similarity (Sarwar et al., WWW 2001, as tuned by Dacrema et al.); RP3beta --
Paudel et al., "Updatable, accurate, diverse, and scalable recommendations for
interactive applications" (ACM TiiS 2017). They are the strong simple
baselines of Dacrema, Cremonesi and Jannach (RecSys 2019): a graph model's
lead counts only against them.

**Model.** Each is an item-item matrix ``W`` (n_items, n_items) with a zero
diagonal, computed in closed form by :mod:`gnnrec.models.itembased` (where
the maths of each is written out) from the binary train matrix ``R``
(n_users, n_items) of *every* domain's items. It is therefore a cross-domain
model: a user cold in domain ``d`` is scored from their items in the other
domains through the cross-domain entries of ``W``. Scores::

    S = R @ W          (n_users, n_items)          S[u, i] = r_u . W[:, i]

**Export dimension rule.** The vectors are exact, never approximated, and
their dimension is ``dim = min(n_users, n_items)``:

* *items form*, n_items <= n_users (ML-1M-CD: 6,040 users, 3,883 items):
  ``U = R`` (n_users, n_items), each user's train row, and ``V = W^T``
  (n_items, n_items), so that ``U V^T = R W``. A new user's vector is their
  history's row, so the export carries the identity as its fold-in map
  (:class:`gnnrec.export.foldin.FoldinMap`): fold-in is exact.
* *users form*, n_users < n_items (Amazon Art/Office: 9,577 users, 38,396
  items; the DisenCDR splits), with no n_items^2 array anywhere:

  - ``ease``: EASE's dual factors (:func:`gnnrec.models.itembased.ease_factors`),
    ``U = K^-1`` (n_users, n_users) with ``K = R R^T + lam I``, and
    ``V[i] = -R[:, i] / P_ii`` (n_items, n_users) with
    ``P = (R^T R + lam I)^-1``. Then ``U V^T = R W - R``: EASE's scores of
    every item the user has no train interaction with; the train items, where
    the two differ by exactly 1, are masked by the evaluator and excluded from
    recommendations by the export's ``seen`` matrix, so rankings are EASE's.
  - ``itemknn``, ``rp3beta``: ``U = I`` (n_users, n_users) and
    ``V = (R W)^T`` (n_items, n_users): the score matrix itself.

  A new user then folds in by the export's approximate rules (an exact map
  would be another (n_items, n_users) matrix).

The vectors take ``4 (n_users + n_items) dim`` bytes (plus ``4 n_items^2``
for the items form's fold-in map); evaluation and export hold about
:data:`PEAK_COPIES` copies. A model whose vectors cannot fit the available
memory raises :class:`ItemBasedMemoryError` when it is built, naming the
sizes and the fix.

**State.** ``fit()`` computes the weights (no gradient, ``trainable = False``);
the checkpoint holds them: EASE's dense ``W`` (items form) or its ``K^-1`` and
``diag(P)`` (users form); the sparse models' columns padded to ``k``
entries (index, weight), at most ``k * n_items`` of each. ``R`` is rebuilt
from the dataset.

Deviations, for all three: one model over every domain's items instead of one
per domain (the papers are single-domain); the hyper-parameters are selected
on the validation mean NDCG@20 over the domain x scenario groups, like every
gnnrec model (``experiments/itembased.py``; each config lists its grid).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar

import numpy as np
import scipy.sparse as sp
import torch

from gnnrec.errors import GnnrecError
from gnnrec.export.foldin import FoldinMap
from gnnrec.models.base import Embeddings, ModelConfig, ModelContext, Recommender
from gnnrec.models.itembased import (available_bytes, ease_factors, ease_weights, itemknn_weights,
                                     rp3beta_weights)
from gnnrec.utils.config import Range

PEAK_COPIES = 3          # copies of the vectors held at once while evaluating and exporting
SCORE_BLOCK_BYTES = 1 << 27   # users form R @ W: dense float64 score rows computed per block


class ItemBasedMemoryError(GnnrecError, MemoryError):
    """The exact vectors of an item-based model do not fit; the message names the sizes and the fix."""


def _gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB"


def vector_bytes(n_users: int, n_items: int) -> int:
    """Bytes of the float32 vectors of the export dimension rule (module docstring), with the
    items form's fold-in map."""
    dim = min(n_users, n_items)
    fold = 4 * n_items ** 2 if n_items <= n_users else 0
    return 4 * (n_users + n_items) * dim + fold


def check_memory(model: str, dataset: str, n_users: int, n_items: int, state_bytes: int,
                 have: int | None = None) -> None:
    """Raise :class:`ItemBasedMemoryError` when ``model``'s vectors (:data:`PEAK_COPIES` copies) and
    its state need more than ``have`` bytes (default: the memory available now)."""
    vec = vector_bytes(n_users, n_items)
    need = PEAK_COPIES * vec + int(state_bytes)
    have = available_bytes() if have is None else int(have)
    if need <= have:
        return
    dim = min(n_users, n_items)
    side = "users" if n_users < n_items else "items"
    raise ItemBasedMemoryError(
        f"model {model!r} on {dataset} ({n_users:,} users, {n_items:,} items) exports exact vectors of "
        f"dimension min(n_users, n_items) = {dim:,}: {_gib(vec)} in float32, ~{_gib(need)} while "
        f"evaluating and exporting, but only {_gib(have)} is available. Fix: run it where "
        f"{_gib(need)} is free, or make the smaller side smaller (the {side}: e.g. keep the {side} "
        f"with more train interactions); item-based models have no approximate export")


def pack_columns(W: sp.spmatrix, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Column ``j``'s stored entries as rows ``0..`` of ``(width, n_items)`` index (int32) and
    weight (float32) arrays; unused slots hold index 0 and weight 0."""
    W = sp.csc_matrix(W, dtype=np.float32)
    W.sum_duplicates()
    W.eliminate_zeros()
    n = W.shape[1]
    counts = np.diff(W.indptr)
    if counts.max(initial=0) > width:
        raise GnnrecError(f"a column has {int(counts.max())} entries, more than the {width} slots")
    col = np.repeat(np.arange(n), counts)
    slot = np.arange(W.nnz) - W.indptr[col]
    index = np.zeros((width, n), dtype=np.int32)
    weight = np.zeros((width, n), dtype=np.float32)
    index[slot, col] = W.indices
    weight[slot, col] = W.data
    return index, weight


def unpack_columns(index: np.ndarray, weight: np.ndarray) -> sp.csr_matrix:
    """The (n_items, n_items) CSR matrix of :func:`pack_columns`' arrays."""
    slot, col = np.nonzero(weight)
    n = weight.shape[1]
    return sp.csr_matrix((weight[slot, col], (index[slot, col].astype(np.int64), col)), shape=(n, n))


class ItemItem(Recommender):
    """Shared part: the dimension rule, ``R`` and the memory check (module docstring)."""

    trainable = False

    def __init__(self, ctx: ModelContext) -> None:
        super().__init__(ctx)
        self.items_form = self.n_items <= self.n_users          # dim = min(n_users, n_items)
        check_memory(self.name, ctx.ds.name, self.n_users, self.n_items, self.state_bytes())
        self.train_matrix = ctx.ds.train_matrix()               # (n_users, n_items) binary CSR
        r = self.train_matrix.tocoo()
        self.register_buffer("r_user", torch.as_tensor(r.row, dtype=torch.int64), persistent=False)
        self.register_buffer("r_item", torch.as_tensor(r.col, dtype=torch.int64), persistent=False)

    def state_bytes(self) -> int:
        """Bytes of the fitted state (the checkpoint's buffers)."""
        raise NotImplementedError

    def train_rows(self) -> torch.Tensor:
        """``R`` dense (n_users, n_items) float32: the items form's user vectors."""
        u = torch.zeros(self.n_users, self.n_items, device=self.r_user.device)
        u[self.r_user, self.r_item] = 1.0
        return u

    def foldin_map(self) -> FoldinMap | None:
        """Items form: the user vector is the history's row, i.e. the identity map (exact fold-in)."""
        if not self.items_form:
            return None
        return FoldinMap(matrix=np.eye(self.n_items, dtype=np.float32), k_model=0)


@dataclass
class EASEConfig(ModelConfig):
    """``model:`` keys of ``ease``."""

    lam: Annotated[float, Range(gt=0)] = 500.0   # L2 strength lambda of the closed form (configs: valid-selected)


class EASE(ItemItem):
    """EASE (Steck, WWW 2019): the item-item ridge regression with a zero diagonal, in closed form.

    ``min_W ||R - R W||_F^2 + lam ||W||_F^2  s.t. diag(W) = 0`` gives, with
    ``P = (R^T R + lam I)^-1`` (n_items, n_items)::

        W = I - P diag(P)^-1           W_ij = -P_ij / P_jj (i != j),  W_jj = 0

    Items form: ``W`` by the primal Cholesky inverse
    (:func:`~gnnrec.models.itembased.ease_weights`, float64, n_items^3 flops);
    ``U = R`` (n_users, n_items), ``V = W^T`` (n_items, n_items). Users form:
    the dual factors (module docstring; n_users^3 flops), ``U = K^-1``
    (n_users, n_users), ``V = -R D^-1`` transposed (n_items, n_users),
    ``D = diag(P)``.

    Deviations: none in the model; in the users form the vectors omit the
    ``+ R`` term, which only changes the scores of the user's train items.
    """

    name: ClassVar[str] = "ease"
    Config = EASEConfig

    def __init__(self, ctx: ModelContext) -> None:
        super().__init__(ctx)
        if self.items_form:
            self.register_buffer("weights", torch.zeros(self.n_items, self.n_items))
        else:
            self.register_buffer("kinv", torch.zeros(self.n_users, self.n_users))
            self.register_buffer("pdiag", torch.ones(self.n_items, dtype=torch.float64))

    def state_bytes(self) -> int:
        return 4 * self.n_items ** 2 if self.n_items <= self.n_users else 4 * self.n_users ** 2

    @torch.no_grad()
    def fit(self) -> None:
        if self.items_form:
            self.weights.copy_(torch.from_numpy(ease_weights(self.train_matrix, self.cfg.lam,
                                                             method="primal")))
        else:
            f = ease_factors(self.train_matrix, self.cfg.lam)
            self.kinv.copy_(torch.from_numpy(f.user))
            self.pdiag.copy_(torch.from_numpy(f.diag))

    def forward(self) -> Embeddings:
        if self.items_form:
            return Embeddings(self.train_rows(), self.weights.T)
        v = torch.zeros(self.n_items, self.n_users, device=self.kinv.device)
        v[self.r_item, self.r_user] = (-1.0 / self.pdiag[self.r_item]).float()
        return Embeddings(self.kinv, v)


class SparseItemItem(ItemItem):
    """A model whose ``W`` keeps at most ``k`` entries per column (ItemKNN, RP3beta)."""

    def __init__(self, ctx: ModelContext) -> None:
        super().__init__(ctx)
        self.width = self.slots(self.n_items)
        self.register_buffer("neighbours", torch.zeros(self.width, self.n_items, dtype=torch.int32))
        self.register_buffer("neighbour_weights", torch.zeros(self.width, self.n_items))

    def slots(self, n_items: int) -> int:
        """Stored entries per column: ``k``, at most the n_items - 1 other items."""
        return max(1, min(int(self.cfg.k), n_items - 1))

    def state_bytes(self) -> int:
        return 8 * self.slots(self.n_items) * self.n_items

    def item_weights(self) -> sp.csr_matrix:
        """The model's ``W`` (n_items, n_items) from ``R`` (subclasses)."""
        raise NotImplementedError

    @torch.no_grad()
    def fit(self) -> None:
        index, weight = pack_columns(self.item_weights(), self.width)
        self.neighbours.copy_(torch.from_numpy(index))
        self.neighbour_weights.copy_(torch.from_numpy(weight))

    def weight_matrix(self) -> sp.csr_matrix:
        """The fitted ``W`` (n_items, n_items) as scipy CSR float32."""
        return unpack_columns(self.neighbours.cpu().numpy(), self.neighbour_weights.cpu().numpy())

    def forward(self) -> Embeddings:
        dev = self.neighbours.device
        if self.items_form:                         # V = W^T: V[j, index[t, j]] = weight[t, j]
            slot, col = torch.nonzero(self.neighbour_weights, as_tuple=True)
            v = torch.zeros(self.n_items, self.n_items, device=dev)
            v[col, self.neighbours[slot, col].long()] = self.neighbour_weights[slot, col]
            return Embeddings(self.train_rows(), v)
        W = self.weight_matrix().astype(np.float64)
        R = self.train_matrix
        v = np.empty((self.n_items, self.n_users), dtype=np.float32)
        step = max(1, SCORE_BLOCK_BYTES // (8 * max(self.n_items, 1)))
        for lo in range(0, self.n_users, step):     # V = (R W)^T, a block of users at a time
            hi = min(self.n_users, lo + step)
            v[:, lo:hi] = (R[lo:hi] @ W).toarray().T
        return Embeddings(torch.eye(self.n_users, device=dev), torch.from_numpy(v).to(dev))


@dataclass
class ItemKNNConfig(ModelConfig):
    """``model:`` keys of ``itemknn``."""

    k: Annotated[int, Range(ge=1)] = 50                 # neighbours kept per item column (reference default)
    shrink: Annotated[float, Range(ge=0)] = 100.0       # cosine denominator shrinkage (reference default)


class ItemKNN(SparseItemItem):
    """ItemKNN-CF with shrunk cosine similarity (Sarwar et al., WWW 2001; Dacrema et al., RecSys 2019).

    With ``r_i`` the column of item ``i`` in ``R`` (n_users,)::

        sim(i, j) = r_i . r_j / (||r_i|| ||r_j|| + shrink)          (n_items, n_items)
        W[:, j]   = the k largest off-diagonal sim(., j), the rest 0

    (:func:`~gnnrec.models.itembased.itemknn_weights`, computed a block of
    columns at a time, never as a dense n_items^2 array). ``(R W)[u, j]`` sums
    the similarities to ``j`` of u's items among ``j``'s ``k`` neighbours.

    Deviations from the reference ``ItemKNNCFRecommender``: no ``+ 1e-6`` in
    the denominator, no feature weighting (BM25 / TF-IDF), ties at the k-th
    place broken arbitrarily.
    """

    name: ClassVar[str] = "itemknn"
    Config = ItemKNNConfig

    def item_weights(self) -> sp.csr_matrix:
        return itemknn_weights(self.train_matrix, self.cfg.k, self.cfg.shrink)


@dataclass
class RP3betaConfig(ModelConfig):
    """``model:`` keys of ``rp3beta``."""

    alpha: Annotated[float, Range(gt=0)] = 1.0     # exponent of the transition probabilities (reference default)
    beta: Annotated[float, Range(ge=0)] = 0.6      # popularity penalty exponent of the target item (reference default)
    k: Annotated[int, Range(ge=1)] = 100           # neighbours kept per item row, then per column (reference default)


class RP3beta(SparseItemItem):
    """RP3beta (Paudel et al., ACM TiiS 2017): a popularity-penalised 3-step random walk, as in
    Dacrema et al.'s reference ``RP3betaRecommender``.

    ``P_ui = R / rowsum(R)`` (n_users, n_items), ``P_iu = R^T / rowsum(R^T)``
    (n_items, n_users), both raised elementwise to ``alpha``::

        W0[i, j] = (P_iu^alpha @ P_ui^alpha)[i, j] / pop(j)^beta       (n_items, n_items)

    with ``pop(j)`` the train users of ``j`` and a zero diagonal; then the
    ``k`` largest entries of every row, rows L1-normalised, the ``k`` largest
    of every column (:func:`~gnnrec.models.itembased.rp3beta_weights`).

    Deviations: none intended (the reference's optional ``min_rating`` /
    ``implicit`` preprocessing does not apply to a binary ``R``); ties at the
    k-th place broken arbitrarily (rows) / by lower row index (columns).
    """

    name: ClassVar[str] = "rp3beta"
    Config = RP3betaConfig

    def item_weights(self) -> sp.csr_matrix:
        return rp3beta_weights(self.train_matrix, self.cfg.alpha, self.cfg.beta, self.cfg.k)
