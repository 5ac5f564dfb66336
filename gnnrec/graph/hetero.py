"""The PyG ``HeteroData`` that mini-batch sampling and HGT propagate over.

:func:`build_hetero` is :func:`gnnrec.data.pyg.to_hetero_data` restricted to
what message passing needs: node types ``user`` and one ``item_<domain>`` per
domain (``n_id``: the global user / item index of every node; ``x``: text
features when given), edge types ``(user, interacts, item_<domain>)`` and
their reverses with the train positives only (each pair once), so no
valid/test information leaks into the graph.
"""

from __future__ import annotations

import numpy as np

from gnnrec.data.pyg import item_type, to_hetero_data, user_text_mean
from gnnrec.data.schema import Dataset

_EXTRAS = ("ids", "rating", "time")       # bookkeeping of to_hetero_data a sampler need not carry


def build_hetero(ds: Dataset, item_text: np.ndarray | None = None):
    """The train graph of ``ds`` as ``HeteroData`` (module docstring)."""
    data = to_hetero_data(ds, item_text, splits=False)
    for store in data.stores:
        for key in _EXTRAS:
            if key in store:
                del store[key]
    return data


__all__ = ["build_hetero", "item_type", "user_text_mean"]
