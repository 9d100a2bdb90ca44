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
        grads = ctx.grads  # our own buffers, rewritten at the next step: scaled in place
        ctx.grads = None
        if grad_output.device.type != "cpu" or grad_output.item() != 1.0:  # a plain sum of losses: 1
            grads = [g * grad_output if g.is_sparse else g.mul_(grad_output) for g in grads]
        return (None, None, *grads)


#: a parameter's rows are penalized one by one when it has at least this many rows and at most
#: this share of them carry any importance: a word-embedding matrix, whose rows for tokens that
#: never occurred have zero importance (the default stream uses about a sixth of MiniLM's 30522)
SPARSE_MIN_ROWS = 1024
SPARSE_MAX_SHARE = 0.5

#: on the CPU a penalty's passes over a large parameter run piece by piece, this many elements
#: at a time, with the drift in a scratch buffer that stays in the core's cache: it never
#: travels to memory and back, which is what bounds these passes. Pieces of 2**18 to 2**19
#: float32 (1-2 MiB) were fastest on MiniLM's shapes on the benchmark's machine; smaller ones
#: pay Python's per-call cost (docs/benchmarks.md). On a GPU every tensor stays whole: there a
#: call's launch costs more than the pass.
CPU_CHUNK = 1 << 18


def pieces(*tensors: torch.Tensor) -> list[tuple[torch.Tensor, ...]]:
    """The same consecutive pieces of each of ``tensors`` (all of one shape): flat runs of
    :data:`CPU_CHUNK` elements on the CPU when every one is contiguous (so that writing a piece
    writes the tensor), else the tensors whole."""
    first = tensors[0]
    n = first.numel()
    if first.device.type != "cpu" or n <= CPU_CHUNK or not all(t.is_contiguous() for t in tensors):
        return [tensors]
    flat = [t.view(-1) for t in tensors]
    return [tuple(f[start:start + CPU_CHUNK] for f in flat) for start in range(0, n, CPU_CHUNK)]


class Scratch:
    """A reusable buffer of :data:`CPU_CHUNK` elements per dtype and device: :meth:`like` gives
    one shaped as a piece of :func:`pieces` (a tensor larger than that, kept whole off the CPU,
    gets a fresh one)."""

    def __init__(self):
        self.buffers: dict = {}

    def like(self, piece: torch.Tensor) -> torch.Tensor:
        if piece.numel() > CPU_CHUNK:
            return torch.empty_like(piece, memory_format=torch.contiguous_format)
        key = (piece.dtype, piece.device)
        if key not in self.buffers:
            self.buffers[key] = torch.empty(CPU_CHUNK, dtype=piece.dtype, device=piece.device)
        return self.buffers[key][:piece.numel()].view(piece.shape)


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
    order, at a sixth of the work on those rows; its gradient goes to autograd as a sparse
    tensor of those rows, so no parameter-sized zero tensor is filled and added each step (a
    hook makes the parameter's ``.grad`` dense again should nothing else give it a gradient).

    A step makes four elementwise passes over the penalized parameters: ``d = theta - anchor``
    into a scratch buffer, ``g = F d`` into a gradient buffer kept from step to step (no
    allocation), the value ``w * sum(d . (F d))`` as dot products that write nothing, and ``g
    *= 2 w`` (the gradient, computed in this order, so training is bit for bit that of the
    plain formula); on the CPU all four run piece by piece (:func:`pieces`), so ``d`` never
    leaves the cache and a pass reads the parameters, anchors and importances once. Autograd
    then adds ``g`` to the parameters' gradients.
    """

    def __init__(self, terms: Sequence[tuple[Sequence[torch.Tensor], Sequence[torch.Tensor],
                                             Sequence[torch.Tensor], float]]):
        self.dense: list = []  # (params, anchors, importances, weight, gradient buffers)
        self.scratch = Scratch()  # the drift, piece by piece
        self.sparse: list = []  # (param, rows, anchor rows, importance rows, weight)
        self.hooks: list = []
        self.last: dict[int, torch.Tensor] = {}  # the last call's dense gradient buffers, by parameter id
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
                    self.dense.append((*kept, float(weight), [torch.empty_like(p) for p in kept[0]]))
        for param in {id(entry[0]): entry[0] for entry in self.sparse}.values():
            if param.requires_grad:
                self.hooks.append(param.register_post_accumulate_grad_hook(_dense_grad))

    def close(self) -> None:
        """Remove the hooks the plan put on its parameters (a new plan replaces it)."""
        for handle in self.hooks:
            handle.remove()
        self.hooks = []

    def dense_gradients(self) -> dict[int, torch.Tensor]:
        """The gradient the last call gave each dense-kept parameter, by parameter id: the
        buffers autograd added to ``.grad`` (scaled in place if the loss was), valid until the
        next call rewrites them. A consumer may overwrite them."""
        return self.last

    def __call__(self) -> torch.Tensor | None:
        """The penalty, differentiable in the parameters; None when there is nothing to penalize."""
        grads: dict[int, torch.Tensor] = {}
        by_id: dict[int, torch.Tensor] = {}
        values = []
        with torch.no_grad():
            for params, anchors, importances, weight, weighted in self.dense:
                dots = []
                for param, anchor, importance, g in zip(params, anchors, importances, weighted):
                    for p, a, f, gp in pieces(param.detach(), anchor, importance, g):
                        d = self.scratch.like(p)
                        torch.sub(p, a, out=d)
                        torch.mul(d, f, out=gp)  # F * d
                        dots.append(torch.dot(d.reshape(-1), gp.reshape(-1)))
                        gp.mul_(2.0 * weight)  # the gradient: 2 w F d
                values.append(torch.stack(dots).sum() * weight)
                for param, grad in zip(params, weighted):
                    _add_grad(grads, by_id, param, grad)
            for param, rows, anchor, importance, weight in self.sparse:
                drift = param.detach().index_select(0, rows).sub_(anchor)
                weighted = drift * importance
                values.append((drift * weighted).sum() * weight)
                weighted.mul_(2.0 * weight)
                gradient = torch.sparse_coo_tensor(rows.unsqueeze(0), weighted, param.shape, is_coalesced=True,
                                               check_invariants=False)  # rows are unique and sorted
                _add_grad(grads, by_id, param, gradient)
        self.last = {key: grad for key, grad in grads.items() if not grad.is_sparse}
        if not values:
            return None
        total = values[0]
        for value in values[1:]:
            total = total + value
        params = [by_id[k] for k in grads if by_id[k].requires_grad]
        if not params:
            return total
        return _Precomputed.apply([grads[id(p)] for p in params], total, *params)


def _add_grad(grads: dict, by_id: dict, param: torch.Tensor, grad: torch.Tensor) -> None:
    """Collect ``grad`` for ``param``, adding to what another term gave it (dense wins)."""
    key = id(param)
    if key not in grads:
        grads[key], by_id[key] = grad, param
        return
    have = grads[key]
    if have.is_sparse and not grad.is_sparse:
        have, grad = grad, have
    grads[key] = (have + grad) if have.is_sparse else have.add_(grad)


def _dense_grad(param: torch.Tensor) -> None:
    """A parameter whose only gradient was a penalty's sparse rows gets a dense ``.grad``, as
    optimizers and the gradient-projecting plugins expect."""
    if param.grad is not None and param.grad.is_sparse:
        param.grad = param.grad.to_dense()


def cached_plan(owner, key, build):
    """What ``build()`` returns (a :class:`PenaltyPlan`, or a tuple holding one), kept on
    ``owner`` as ``_plan_cache`` and built again only when ``key`` changes. The importance
    plugins key it by (experience, parameter ids): importances, anchors and the parameters'
    shapes are fixed within an experience, and a grown head is a new parameter."""
    cached = getattr(owner, "_plan_cache", None)
    if cached is None or cached[0] != key:
        forget_plan(owner)
        cached = (key, build())
        owner._plan_cache = cached
    return cached[1]


def forget_plan(owner) -> None:
    """Drop the plan :func:`cached_plan` keeps on ``owner``: its importances or anchors changed
    (a new experience's importances, or state loaded from a checkpoint)."""
    cached = getattr(owner, "_plan_cache", None)
    if cached is not None:
        for part in cached[1] if isinstance(cached[1], tuple) else (cached[1],):
            if isinstance(part, PenaltyPlan):
                part.close()
    owner._plan_cache = None
