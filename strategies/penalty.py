"""Fast quadratic penalties for the importance regularizers (EWC, online EWC, SI, MAS).

Avalanche's plugins add ``lambda * sum(F * (theta - theta_old)**2)`` to the loss one parameter
tensor at a time and let autograd differentiate it: for MiniLM's 22.7M parameters that costs
more than the training step itself, and grows with the number of past experiences.
:class:`PenaltyPlan` computes the same value and the same gradient,
``2 * lambda * F * (theta - theta_old)``, with multi-tensor ("foreach") kernels and hands
autograd the precomputed gradient, several times faster. The
penalty stays part of the loss, so plugins that act after the backward pass (A-GEM's
projection) see the same gradient as with Avalanche's own penalty.
"""
from __future__ import annotations

from typing import Sequence

import torch


class _Precomputed(torch.autograd.Function):
    """A scalar whose gradient with respect to ``params`` is known in advance."""

    @staticmethod
    def forward(ctx, holder, value, *params):
        ctx.grads = holder
        return value.clone()

    @staticmethod
    def backward(ctx, grad_output):
        grads = ctx.grads  # our own buffers, used once: scaled in place
        ctx.grads = None
        torch._foreach_mul_(grads, grad_output)
        return (None, None, *grads)


#: a parameter's rows are penalized one by one when it has at least this many rows and at most
#: this share of them carry any importance: a word-embedding matrix, whose rows for tokens that
#: never occurred have zero importance (the default stream uses about a sixth of MiniLM's 30522)
SPARSE_MIN_ROWS = 1024
SPARSE_MAX_SHARE = 0.5


def _active_rows(param: torch.Tensor, importance: torch.Tensor) -> torch.Tensor | None:
    """Indices of the rows of ``importance`` with a nonzero entry, or None to keep it whole."""
    if param.dim() < 2 or importance.shape != param.shape or param.shape[0] < SPARSE_MIN_ROWS:
        return None
    rows = torch.nonzero(importance.reshape(importance.shape[0], -1).ne(0).any(dim=1)).flatten()
    return rows if len(rows) <= SPARSE_MAX_SHARE * param.shape[0] else None


class PenaltyPlan:
    """``sum over terms of weight * sum(importance * (param - anchor)**2)``, prepared once for the
    many steps of an experience (importances and anchors do not change within one).

    Each term is ``(params, anchors, importances, weight)`` with the three lists aligned and of
    equal shapes (a parameter may appear in several terms: separate EWC has one per past
    experience). A parameter whose importance is zero on most rows (the word embeddings) keeps
    only the rows with some importance, gathered once: a zero row adds exactly nothing to the
    value nor to the gradient, so the gradient is the same and the value equal up to summation
    order, at a sixth of the work on those rows.
    """

    def __init__(self, terms: Sequence[tuple[Sequence[torch.Tensor], Sequence[torch.Tensor],
                                             Sequence[torch.Tensor], float]]):
        self.dense: list = []  # (params, anchors, importances, weight)
        self.sparse: list = []  # (param, rows, anchor rows, importance rows, weight)
        with torch.no_grad():
            for params, anchors, importances, weight in terms:
                kept = ([], [], [])
                for param, anchor, importance in zip(params, anchors, importances):
                    rows = _active_rows(param, importance)
                    if rows is None:
                        for store, item in zip(kept, (param, anchor, importance)):
                            store.append(item)
                    else:
                        self.sparse.append((param, rows, anchor.index_select(0, rows),
                                            importance.index_select(0, rows), float(weight)))
                if kept[0]:
                    self.dense.append((*kept, float(weight)))

    def __call__(self) -> torch.Tensor | None:
        """The penalty, differentiable in the parameters; None when there is nothing to penalize."""
        grads: dict[int, torch.Tensor] = {}
        by_id: dict[int, torch.Tensor] = {}
        values = []
        with torch.no_grad():
            for params, anchors, importances, weight in self.dense:
                drift = torch._foreach_sub([p.detach() for p in params], list(anchors))
                weighted = torch._foreach_mul(drift, list(importances))  # F * d
                torch._foreach_mul_(drift, weighted)  # F * d**2
                values.append(torch.stack([t.sum() for t in drift]).sum() * weight)
                torch._foreach_mul_(weighted, 2.0 * weight)  # the gradient: 2 w F d
                for param, grad in zip(params, weighted):
                    key = id(param)
                    if key in grads:
                        grads[key].add_(grad)
                    else:
                        grads[key], by_id[key] = grad, param
            for param, rows, anchor, importance, weight in self.sparse:
                drift = param.detach().index_select(0, rows).sub_(anchor)
                weighted = drift * importance
                values.append((drift * weighted).sum() * weight)
                weighted.mul_(2.0 * weight)
                key = id(param)
                if key not in grads:
                    grads[key], by_id[key] = torch.zeros_like(param), param
                grads[key].index_add_(0, rows, weighted)
        if not values:
            return None
        total = values[0]
        for value in values[1:]:
            total = total + value
        params = [by_id[k] for k in grads if by_id[k].requires_grad]
        if not params:
            return total
        return _Precomputed.apply([grads[id(p)] for p in params], total, *params)


def cached_plan(owner, key, build):
    """What ``build()`` returns (a :class:`PenaltyPlan`, or a tuple holding one), kept on
    ``owner`` as ``_plan_cache`` and built again only when ``key`` changes. The importance
    plugins key it by (experience, parameter ids): importances, anchors and the parameters'
    shapes are fixed within an experience, and a grown head is a new parameter."""
    cached = getattr(owner, "_plan_cache", None)
    if cached is None or cached[0] != key:
        cached = (key, build())
        owner._plan_cache = cached
    return cached[1]


def forget_plan(owner) -> None:
    """Drop the plan :func:`cached_plan` keeps on ``owner``: its importances or anchors changed
    (a new experience's importances, or state loaded from a checkpoint)."""
    owner._plan_cache = None
