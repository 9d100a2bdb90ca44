"""How much each parameter matters to a finished experience: the importance estimates of EWC,
MAS and SI as plain functions on models and tensors.

- EWC (Kirkpatrick et al. 2017) and online EWC (Schwarz et al. 2018): the empirical Fisher,
  ``F = mean over examples of (d log p(y | x) / d theta)**2`` with y the true label, one squared
  gradient per example (:func:`per_example_importance` with :func:`negative_log_likelihood`;
  for a tag sequence or a label set, y is the whole sequence or set:
  :func:`negative_log_likelihood_of`).
- MAS (Aljundi et al. 2018): ``Omega = mean over examples of |d ||f(x)||_2**2 / d theta|`` with
  f(x) the output vector (:func:`per_example_importance` with :func:`squared_output_norm`).
- SI (Zenke, Poole & Ganguli 2017): the path integral ``omega += -g * delta`` over the
  optimizer steps of an experience, g the gradient of the task loss alone and delta the step's
  actual parameter change (:func:`task_gradients`, :func:`path_integral_step`), turned into
  ``Omega = max(0, Omega + omega / (Delta**2 + xi))`` at the end of the experience, Delta the
  experience's total parameter change (:func:`consolidate`).

The per-example estimates read the examples in an order fixed by their content
(:func:`sample_positions`), so the estimate is the same, bit for bit, whatever order the
experience stores them in; a mean of per-example terms also does not depend on which
examples would have shared a minibatch. The model runs in eval mode (no dropout): the estimate
is that of the trained, deterministic model, and no random draw moves it.

Per-example gradients: ``torch.func`` (``vmap`` over ``grad`` of ``functional_call``) cannot
run these models, since the encoder's padding trim (``trim_to_longest``) and Hugging Face's
attention-mask construction branch on tensor values, which ``vmap`` refuses. For the modules an
encoder and its heads are made of (Linear, LayerNorm, Embedding) each example's gradient is
recovered from one batched backward pass per chunk of examples (:class:`_BatchedGradients`);
a model with any other trainable parameter takes one backward pass per example.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import torch
from avalanche.models.utils import avalanche_forward

from streams.seeds import numpy_rng

from .task_losses import multilabel_negative_log_likelihood, token_negative_log_likelihood

# --------------------------------------------------------------------------- which examples

def _label_key(y):
    """A class id as an int; a tag sequence or a multi-hot row as the tuple of its values."""
    y = torch.as_tensor(y)
    return int(y) if y.dim() == 0 else tuple(y.reshape(-1).tolist())


def _content_key(example) -> tuple:
    x, y, task = example[0], example[1], example[-1]
    return (tuple(torch.as_tensor(x).reshape(-1).tolist()), _label_key(y), int(task))


def sample_positions(dataset, n_samples: int, seed: int, experience: int) -> list[int]:
    """Positions in ``dataset`` of the examples an importance pass reads, in the order to read them.

    The examples are ranked by content (token ids, label, task label); ``n_samples`` ranks are
    drawn without replacement with the run's ``"importance-sample"`` generator for
    ``experience`` (all of them when ``n_samples`` is 0 or at least the dataset's size), and
    read in rank order. Permuting the dataset leaves the drawn set and the reading order, hence
    the estimate, unchanged.
    """
    ranked = sorted(range(len(dataset)), key=lambda i: (_content_key(dataset[i]), i))
    if 0 < n_samples < len(ranked):
        drawn = numpy_rng(seed, "importance-sample", experience).choice(len(ranked), n_samples, replace=False)
        ranked = [ranked[r] for r in np.sort(drawn)]
    return ranked


# --------------------------------------------------------------------------- EWC and MAS

#: examples whose per-example gradients come from one batched backward pass: at 16, MiniLM's
#: largest per-example weight gradients take 16 x 2.4 MB at a time
CHUNK = 16


def negative_log_likelihood(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``sum over the batch of -log p(y | x)``, y the true label (EWC's empirical Fisher
    squares each example's gradient)."""
    return torch.nn.functional.cross_entropy(output, target, reduction="sum")


def negative_log_likelihood_of(task_type: str) -> Callable:
    """EWC's per-example loss for the outputs of ``task_type``: the true label's
    ``-log p(y | x)`` of a class (:func:`negative_log_likelihood`), of a tag sequence (summed over
    the tagged positions) or of a label set (Bernoulli over the label units):
    :mod:`strategies.task_losses`."""
    losses = {"single-label": negative_log_likelihood, "token": token_negative_log_likelihood,
              "multi-label": multilabel_negative_log_likelihood}
    if task_type not in losses:
        raise ValueError(f"no log-likelihood for task type {task_type!r} (known: {', '.join(losses)})")
    return losses[task_type]


def squared_output_norm(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``sum over the batch of ||f(x)||_2**2``, f(x) the output vector, the label unused (MAS)."""
    return output.pow(2).sum()


class Magnitude(NamedTuple):
    """The per-example term of an estimate, on gradient tensors of our own (changed in place),
    in the three forms the two routes need, each fused where a kernel allows."""

    of: Callable  # grad -> its elementwise term
    add: Callable  # (total, grad) -> total += term(grad)
    summed: Callable  # per-example grads [B, *shape] -> sum over B of their terms


MAGNITUDES = {
    "square": Magnitude(lambda grad: grad.pow_(2), lambda total, grad: total.addcmul_(grad, grad),
                        lambda grads: torch.einsum("b...,b...->...", grads, grads)),
    "absolute": Magnitude(lambda grad: grad.abs_(), lambda total, grad: total.add_(grad.abs_()),
                          lambda grads: grads.abs_().sum(0)),
}


def per_example_importance(model: torch.nn.Module, examples, loss: Callable, magnitude: str,
                           device, chunk_size: int = CHUNK) -> dict[str, torch.Tensor]:
    """``mean over examples of magnitude(d loss(f(x), y) / d theta)`` for every parameter of
    ``model`` (zero for frozen ones), model in eval mode.

    ``examples`` is a sequence of ``(x, y, task_label)`` items (one example each, as a dataset
    gives them); ``loss`` sums over a batch (:func:`negative_log_likelihood`,
    :func:`squared_output_norm`); ``magnitude`` is ``"square"`` (EWC) or ``"absolute"`` (MAS).
    Where every trainable parameter sits in a Linear, LayerNorm or Embedding module (the
    encoder, the heads, LoRA), the examples run ``chunk_size`` at a time, in order of length,
    and :class:`_BatchedGradients` recovers each example's gradient from the batch's backward
    pass; otherwise one backward pass per example. Either way the result depends on the set
    of examples only (float rounding aside between the two routes). Train/eval flags and
    ``requires_grad`` flags are restored afterwards.
    """
    examples = list(examples)
    named = list(model.named_parameters())
    totals = {name: torch.zeros_like(param) for name, param in named}
    modes = {module: module.training for module in model.modules()}
    trainable = {name: param.requires_grad for name, param in named}
    model.eval()
    try:
        batched = _BatchedGradients.owners(model)
        if batched is not None:
            try:
                _accumulate_batched(model, examples, loss, MAGNITUDES[magnitude], device, totals,
                                    batched, chunk_size)
            except _NotBatchable:
                batched = None
                for name, param in named:
                    param.requires_grad_(trainable[name])
                    totals[name].zero_()
        if batched is None:
            _accumulate_one_by_one(model, examples, loss, MAGNITUDES[magnitude], device, totals)
    finally:
        for module, training in modes.items():
            module.training = training
        for name, param in named:
            param.requires_grad_(trainable[name])
    torch._foreach_div_(list(totals.values()), float(max(len(examples), 1)))
    return totals


def _batch(examples, device):
    x = torch.stack([torch.as_tensor(e[0]) for e in examples]).to(device)
    if torch.as_tensor(examples[0][1]).dim() == 0:  # class ids
        y = torch.as_tensor([int(e[1]) for e in examples], device=device)
    else:  # tag sequences [L] or multi-hot rows [K]
        y = torch.stack([torch.as_tensor(e[1]) for e in examples]).to(device)
    task = torch.as_tensor([int(e[-1]) for e in examples])
    return x, y, task


def _length(x) -> int:
    """Real tokens of a packed [2, L] example (token ids, attention mask); 0 for other inputs."""
    x = torch.as_tensor(x)
    return int(x[1].sum()) if x.dim() == 2 and x.shape[0] == 2 else 0


def _accumulate_one_by_one(model, examples, loss, magnitude, device, totals) -> None:
    """One forward and backward pass per example, its gradients added as they come."""
    named = [(name, param) for name, param in model.named_parameters() if param.requires_grad]
    params = [param for _, param in named]
    for example in examples:
        x, y, task = _batch([example], device)
        value = loss(avalanche_forward(model, x, task), y)
        if not value.requires_grad:
            continue
        grads = torch.autograd.grad(value, params, allow_unused=True)
        for (name, _), grad in zip(named, grads):
            if grad is not None:
                magnitude.add(totals[name], grad)


def _accumulate_batched(model, examples, loss, magnitude, device, totals, owners, chunk_size) -> None:
    """The examples ``chunk_size`` at a time, shortest first (least padding), each chunk's
    per-example gradients recovered by :class:`_BatchedGradients`."""
    order = sorted(range(len(examples)), key=lambda i: (_length(examples[i][0]), i))
    names = {id(param): name for name, param in model.named_parameters()}
    for param in model.parameters():
        param.requires_grad_(False)  # autograd computes activation gradients only
    for start in range(0, len(order), chunk_size):
        chunk = [examples[i] for i in order[start:start + chunk_size]]
        x, y, task = _batch(chunk, device)
        with _BatchedGradients(owners, len(chunk)) as capture:
            value = loss(avalanche_forward(model, x, task), y)
            capture.add_to(value, magnitude, {id(p): totals[names[id(p)]] for p in capture.params()})


class _NotBatchable(Exception):
    """A module saw a batch dimension other than the chunk's: per-example passes instead."""


class _BatchedGradients:
    """Per-example gradients of the parameters of Linear, LayerNorm and Embedding modules from
    one batched backward pass (the per-sample-gradient rules of Opacus and of PyTorch's
    ExpandedWeights): forward hooks keep each module's input and output; the gradients of the
    summed loss with respect to the outputs give, per example b,
    Linear: ``dW_b = sum_t dy_bt x_bt^T``, ``db_b = sum_t dy_bt``;
    LayerNorm: ``dw_b = sum_t dy_bt * norm(x_bt)``, ``db_b = sum_t dy_bt``;
    Embedding: row v of ``dE_b`` = sum of dy_bt over the positions t holding token v (none for
    padding_idx), kept as rows rather than a dense table.
    Padded positions receive zero output gradient (masked out of attention and pooling), so
    they add nothing. An embedding output with batch dimension 1 (BERT's position embeddings,
    broadcast over the batch) is expanded to the chunk so that each example gets its own."""

    KINDS = (torch.nn.Linear, torch.nn.LayerNorm, torch.nn.Embedding)

    def __init__(self, owners: dict, batch_size: int):
        self.owners, self.batch_size = owners, batch_size
        self.calls: dict = {module: [] for module in owners}
        self.handles: list = []

    @classmethod
    def owners(cls, model) -> dict | None:
        """``{module: its trainable parameters}`` when every trainable parameter belongs to
        one Linear, LayerNorm or plain Embedding module; None otherwise."""
        owners, seen = {}, set()
        for module in model.modules():
            own = [p for p in module.parameters(recurse=False) if p.requires_grad]
            if not own:
                continue
            plain = type(module) in cls.KINDS and not (
                isinstance(module, torch.nn.Embedding)
                and (module.max_norm is not None or module.scale_grad_by_freq or module.sparse))
            if not plain or any(id(p) in seen for p in own):
                return None
            seen.update(id(p) for p in own)
            owners[module] = own
        return owners or None

    def params(self) -> list:
        return [p for own in self.owners.values() for p in own]

    def __enter__(self):
        self.handles = [module.register_forward_hook(self._keep) for module in self.owners]
        return self

    def __exit__(self, *exc):
        for handle in self.handles:
            handle.remove()
        return False

    def _keep(self, module, args, output):
        x, n = args[0], self.batch_size
        if output.shape[0] != n:
            if not (isinstance(module, torch.nn.Embedding) and output.shape[0] == 1 and x.shape[0] == 1):
                raise _NotBatchable(type(module).__name__)
            output, x = output.expand(n, *output.shape[1:]), x.expand(n, *x.shape[1:])
        if not output.requires_grad:
            output = output.detach().requires_grad_()
        self.calls[module].append((x.detach(), output))
        return output

    def add_to(self, value: torch.Tensor, magnitude: Callable, totals: dict) -> None:
        """Backpropagate ``value`` and add the sum over examples of ``magnitude`` of each
        parameter's per-example gradient to ``totals`` (``{id(param): tensor}``)."""
        calls = [(module, x, out) for module, kept in self.calls.items() for x, out in kept]
        if not calls or not value.requires_grad:
            return
        grads = torch.autograd.grad(value, [out for _, _, out in calls], allow_unused=True)
        per_module: dict = {}
        for (module, x, out), grad in zip(calls, grads):
            grad = torch.zeros_like(out) if grad is None else grad
            per_module.setdefault(module, []).append((x, grad))
        for module, pairs in per_module.items():
            self._add_module(module, pairs, magnitude, totals)

    def _add_module(self, module, pairs, magnitude, totals) -> None:
        n, inputs, grads = self.batch_size, [x for x, _ in pairs], [g for _, g in pairs]
        if isinstance(module, torch.nn.Embedding):
            _add_embedding_rows(module, _joined(inputs, n, ()), _joined(grads, n, (module.embedding_dim,)).float(),
                                magnitude, totals[id(module.weight)])
            return
        if isinstance(module, torch.nn.Linear):
            grad = _joined(grads, n, (module.out_features,)).float()
            x = _joined(inputs, n, (module.in_features,)).float()
            if id(module.weight) in totals:
                # example by example: each [out, in] gradient is used while it sits in cache,
                # and n of them never exist at once (a batched einsum writes all n to memory
                # and reads them back, several times slower on a CPU)
                total = totals[id(module.weight)]
                for b in range(n):
                    magnitude.add(total, grad[b].T @ x[b])
        else:  # LayerNorm over its last dimension(s)
            shape = tuple(module.normalized_shape)
            normalized = [torch.nn.functional.layer_norm(x.float(), shape, eps=module.eps) for x in inputs]
            grad = _joined(grads, n, shape).float()
            per_example = (grad * _joined(normalized, n, shape)).sum(1)
            if id(module.weight) in totals:
                totals[id(module.weight)].add_(magnitude.summed(per_example))
        if module.bias is not None and id(module.bias) in totals:
            totals[id(module.bias)].add_(magnitude.summed(grad.sum(1)))


def _joined(tensors: list, n: int, width: tuple) -> torch.Tensor:
    """The calls of one module as one ``[n, positions, *width]`` tensor (positions of every call)."""
    parts = [t.reshape(n, -1, *width) for t in tensors]
    return parts[0] if len(parts) == 1 else torch.cat(parts, 1)


def _add_embedding_rows(module, ids, grad, magnitude, total) -> None:
    """Per-example embedding gradients as rows: one row per (example, token) pair, the sum of
    the output gradients at that token's positions in that example; ``magnitude`` of each row
    is added to the token's row of ``total``."""
    n, dim = ids.shape[0], grad.shape[-1]
    keys = (torch.arange(n, device=ids.device)[:, None] * module.num_embeddings + ids).reshape(-1)
    grad = grad.reshape(-1, dim)
    if module.padding_idx is not None:
        keep = ids.reshape(-1) != module.padding_idx
        keys, grad = keys[keep], grad[keep]
    unique, inverse = torch.unique(keys, return_inverse=True)
    rows = torch.zeros(len(unique), dim, device=grad.device).index_add_(0, inverse, grad)
    total.index_add_(0, unique % module.num_embeddings, magnitude.of(rows).to(total.dtype))


# --------------------------------------------------------------------------- SI

def task_gradients(grads: Sequence[torch.Tensor], importance: Sequence[torch.Tensor],
                   before: Sequence[torch.Tensor], anchor: Sequence[torch.Tensor],
                   strength: float) -> list[torch.Tensor]:
    """The gradients of the task loss alone: the step's gradients less those of SI's own
    penalty ``strength * sum(Omega * (theta - anchor)**2)``, i.e. ``g - 2 c Omega (theta_before -
    anchor)`` (new tensors; the penalty is evaluated at the weights before the step)."""
    penalty = torch._foreach_sub(list(before), list(anchor))
    torch._foreach_mul_(penalty, list(importance))
    torch._foreach_mul_(penalty, -2.0 * strength)
    torch._foreach_add_(penalty, list(grads))
    return penalty


def path_integral_step(path: Sequence[torch.Tensor], grads: Sequence[torch.Tensor],
                       before: Sequence[torch.Tensor], after: Sequence[torch.Tensor]) -> None:
    """``path += -grad * (after - before)`` in place: one optimizer step's share of SI's path
    integral (Zenke et al. 2017: the integral of -g dtheta, summed over the steps taken)."""
    displacement = torch._foreach_sub(list(before), list(after))  # -(after - before)
    torch._foreach_addcmul_(list(path), list(grads), displacement)


def consolidate(importance: Sequence[torch.Tensor], path: Sequence[torch.Tensor],
                anchor: Sequence[torch.Tensor], current: Sequence[torch.Tensor], damping: float) -> None:
    """End of an experience, in place: ``Omega = max(0, Omega + omega / ((theta - anchor)**2 +
    xi))`` (Zenke et al. 2017; the clip at 0 from below, and no upper bound, as in the authors'
    code, ganguli-lab/pathint), then ``anchor = theta`` and ``omega = 0``."""
    moved = torch._foreach_sub(list(current), list(anchor))
    torch._foreach_mul_(moved, moved)
    torch._foreach_add_(moved, damping)
    torch._foreach_add_(list(importance), torch._foreach_div(list(path), moved))
    torch._foreach_clamp_min_(list(importance), 0.0)
    torch._foreach_copy_(list(anchor), list(current))
    torch._foreach_zero_(list(path))
