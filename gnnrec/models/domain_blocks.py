"""Per-domain user representations under the one-vector scoring contract.

Models with one user vector *per domain* (EMCDR's per-domain MF, BiTGCF's
per-domain graphs) still export a single user matrix ``U`` and item matrix
``V`` scored by inner product. They use a block layout with one block of
``k`` columns per domain::

    U[u] = [ U_0[u] | U_1[u] | ... | U_{D-1}[u] ]        (n_users, D * k)
    V[i] = [ 0 | ... | V_i (in block d(i)) | ... | 0 ]     (n_items, D * k)

so ``U[u] . V[i] = U_{d(i)}[u] . V_i``: the score of an item uses exactly the
user's representation in that item's domain, and rankings inside a domain
(what gnnrec evaluates and serves) are the per-domain model's rankings.
"""

from __future__ import annotations

import torch


def block_layout(users: torch.Tensor, items: torch.Tensor, item_domain: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Arrange per-domain embeddings in the block layout of the module docstring.

    users: (D, n_users, k) user embeddings per domain; items: (n_items, k);
    item_domain: (n_items,) int64 domain index of every item. Returns
    U (n_users, D * k) and V (n_items, D * k); differentiable in both inputs.
    """
    n_dom, n_users, k = users.shape
    if items.shape[1] != k:
        raise ValueError(f"user blocks have width {k} but items have {items.shape[1]}")
    u = users.permute(1, 0, 2).reshape(n_users, n_dom * k)
    onehot = torch.nn.functional.one_hot(item_domain, n_dom).to(items.dtype)   # (n_items, D)
    v = (onehot[:, :, None] * items[:, None, :]).reshape(items.shape[0], n_dom * k)
    return u, v


def train_degree(ds, device: torch.device | str = "cpu") -> torch.Tensor:
    """Distinct train items of every user per domain: (D, n_users) float32 tensor."""
    tr = ds.train.drop_duplicates(["user", "item"])
    deg = torch.zeros(len(ds.domains), ds.n_users)
    idx = torch.as_tensor(tr["domain"].to_numpy() * ds.n_users + tr["user"].to_numpy())
    deg.view(-1).index_add_(0, idx, torch.ones(len(idx)))
    return deg.to(device)
