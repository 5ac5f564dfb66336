"""Optimisers: Adam, or row-sparse Adam on ID tables plus Adam on the rest (mini-batch mode).

A mini-batch step touches a few thousand rows of the ID embedding tables, but
dense Adam updates every row of every table on every step, so its cost grows
with the node count times the step count -- quadratic in the graph size. With
sparse gradients (``F.embedding(..., sparse=True)``) and
:class:`torch.optim.SparseAdam` ("lazy" Adam: moments and weights of a row
change only in steps whose batch holds it) a step costs O(rows in the batch).

:class:`CombinedOptimizer` drives several optimisers as one (``zero_grad``,
``step``, ``state_dict`` / ``load_state_dict`` with one global parameter
numbering, so :mod:`gnnrec.train.checkpoint` saves and resumes it unchanged).
"""

from __future__ import annotations

from typing import Any, Iterable

import torch
from torch import nn


class CombinedOptimizer:
    """Several optimisers stepped together; parameter ``i`` of optimiser ``k`` has global
    index ``sum(#params of optimisers < k) + i`` in :meth:`state_dict`."""

    def __init__(self, optimizers: list[torch.optim.Optimizer]) -> None:
        self.optimizers = optimizers

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return [g for o in self.optimizers for g in o.param_groups]

    def _sizes(self) -> list[int]:
        return [sum(len(g["params"]) for g in o.param_groups) for o in self.optimizers]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for o in self.optimizers:
            o.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        for o in self.optimizers:
            o.step()

    def state_dict(self) -> dict[str, Any]:
        state: dict[int, Any] = {}
        groups: list[Any] = []
        off = 0
        for o, n in zip(self.optimizers, self._sizes()):
            sd = o.state_dict()
            state.update({off + int(i): st for i, st in sd["state"].items()})
            groups.append(sd["param_groups"])
            off += n
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        off = 0
        for o, n in zip(self.optimizers, self._sizes()):
            own = o.state_dict()
            own["state"] = {int(i) - off: st for i, st in sd["state"].items() if off <= int(i) < off + n}
            o.load_state_dict(own)
            off += n


def make_optimizer(params: Iterable[nn.Parameter], lr: float,
                   sparse: Iterable[nn.Parameter] = ()) -> torch.optim.Optimizer | CombinedOptimizer:
    """Adam over ``params``; those also in ``sparse`` (tables that get sparse gradients)
    go to :class:`torch.optim.SparseAdam` instead."""
    params = list(params)
    sparse_ids = {id(p) for p in sparse}
    rows = [p for p in params if id(p) in sparse_ids]
    dense = [p for p in params if id(p) not in sparse_ids]
    if not rows:
        return torch.optim.Adam(dense, lr=lr)
    opts: list[torch.optim.Optimizer] = [torch.optim.SparseAdam(rows, lr=lr)]
    if dense:
        opts.append(torch.optim.Adam(dense, lr=lr))
    return CombinedOptimizer(opts)
