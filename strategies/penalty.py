"""Fast quadratic penalties for the importance regularizers (EWC, online EWC, SI, MAS).

Avalanche's plugins add ``lambda * sum(F * (theta - theta_old)**2)`` to the loss one parameter
tensor at a time and let autograd differentiate it: for MiniLM's 22.7M parameters that cost
0.39 s per training step on this machine for one past experience, 0.89 s for four, more than
the step itself (about 0.2 s). :func:`quadratic_penalty` computes the same value and the same
gradient, ``2 * lambda * F * (theta - theta_old)``, with multi-tensor ("foreach") kernels and
hands autograd the precomputed gradient (0.05 s for one past experience, 0.19 s for four). The
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


def quadratic_penalty(terms: Sequence[tuple[Sequence[torch.Tensor], Sequence[torch.Tensor],
                                            Sequence[torch.Tensor], float]]) -> torch.Tensor | None:
    """``sum over terms of weight * sum(importance * (param - anchor)**2)``, differentiable in
    the parameters.

    Each term is ``(params, anchors, importances, weight)`` with the three lists aligned and of
    equal shapes (a parameter may appear in several terms: separate EWC has one per past
    experience). Returns None when there is nothing to penalize.
    """
    grads: dict[int, torch.Tensor] = {}
    by_id: dict[int, torch.Tensor] = {}
    total = None
    with torch.no_grad():
        for params, anchors, importances, weight in terms:
            if not params:
                continue
            drift = torch._foreach_sub([p.detach() for p in params], list(anchors))
            weighted = torch._foreach_mul(drift, list(importances))  # F * d
            torch._foreach_mul_(drift, weighted)  # F * d**2
            value = torch.stack([t.sum() for t in drift]).sum() * weight
            total = value if total is None else total + value
            torch._foreach_mul_(weighted, 2.0 * weight)  # the gradient: 2 w F d
            for param, grad in zip(params, weighted):
                key = id(param)
                if key in grads:
                    grads[key].add_(grad)
                else:
                    grads[key], by_id[key] = grad, param
    if total is None:
        return None
    params = [by_id[k] for k in grads if by_id[k].requires_grad]
    if not params:
        return total
    return _Precomputed.apply([grads[id(p)] for p in params], total, *params)
