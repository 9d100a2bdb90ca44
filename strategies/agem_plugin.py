"""A-GEM's plugin: Avalanche's AGEMPlugin without concatenating the model's gradients.

Imported by :func:`strategies.gem.agem` when it builds a plugin (this module imports torch and
Avalanche).
"""
from __future__ import annotations

import torch
from avalanche.benchmarks.utils.data_loader import GroupBalancedInfiniteDataLoader
from avalanche.models.utils import avalanche_forward
from avalanche.training.plugins import AGEMPlugin

from streams.batching import length_groups

from .parts import in_parts


class TextAGEMPlugin(AGEMPlugin):
    """A-GEM (Chaudhry et al. 2019) as Avalanche's AGEMPlugin computes it, with the gradients
    kept per parameter.

    Avalanche concatenates every parameter's gradient into one vector twice per step (the
    reference gradient and the current one: two parameter-sized allocations and copies) and
    splits the projection back. Here the reference gradient is the memory batch's ``.grad``
    tensors themselves, taken over rather than copied, and the projection works tensor by
    tensor: ``dotg = sum_i <g_i, r_i>``; when ``dotg < 0``, ``g_i -= (dotg / sum_i <r_i, r_i>)
    r_i``. The same projection as Avalanche's; its dot products are summed tensor by tensor
    instead of over one vector, so they can differ from Avalanche's in the last bits.

    The memory sample (a uniform draw, of every length) runs sorted by length in groups, each cut
    to its own longest text (:func:`streams.batching.length_groups`), rather than padded to the
    longest text of the draw: the same mean loss over the same examples.

    Each step's sample is drawn at random, as the paper's algorithm (and Avalanche's docstring)
    has it: Avalanche's loader reads every buffer in its stored order, so with 64 examples per
    experience and samples of 32 its reference gradient alternates between the same two fixed
    halves of the memory for a whole experience. Here the loader shuffles each buffer anew on
    every pass over it (samples without replacement within a pass), with a generator drawn from
    torch's global RNG at the start of each experience, which the run reseeds.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reference: list = []  # per parameter: its reference gradient or None
        self.reference_square = 0.0

    def before_training_exp(self, strategy, **kwargs):
        if not self.buffers:
            return
        generator = torch.Generator().manual_seed(int(torch.randint(2**31 - 1, (1,)).item()))
        self.buffer_dataloader = GroupBalancedInfiniteDataLoader(
            self.buffers, batch_size=self.sample_size // len(self.buffers), num_workers=0, pin_memory=False,
            persistent_workers=False, shuffle=True, generator=generator)
        self.buffer_dliter = iter(self.buffer_dataloader)

    def before_training_iteration(self, strategy, **kwargs):
        if len(self.buffers) == 0:
            return
        strategy.model.train()
        strategy.optimizer.zero_grad()
        mb = self.sample_from_memory()
        xref, yref, tid = mb[0], mb[1], mb[-1]
        order, parts = _by_length(xref)
        xref, yref = xref[order].to(strategy.device), yref[order].to(strategy.device)
        if torch.is_tensor(tid) and tid.dim() > 0:
            tid = tid[order]
        with in_parts(strategy.model, parts):
            out = avalanche_forward(strategy.model, xref, tid)
        strategy._criterion(out, yref).backward()
        self.reference = []
        for param in strategy.model.parameters():
            self.reference.append(None if param.grad is None else param.grad.detach())
            param.grad = None  # taken over: the step's own backward starts from no gradient
        kept = [r.reshape(-1) for r in self.reference if r is not None]
        self.reference_square = float(sum(torch.dot(r, r) for r in kept)) if kept else 0.0

    @torch.no_grad()
    def after_backward(self, strategy, **kwargs):
        if len(self.buffers) == 0 or not self.reference:
            return
        pairs = [(p.grad, r) for p, r in zip(strategy.model.parameters(), self.reference)
                 if p.grad is not None and r is not None]
        if len(self.reference) != sum(1 for _ in strategy.model.parameters()):
            raise AssertionError("Different model parameters in AGEM projection")
        dotg = float(sum(torch.dot(g.reshape(-1), r.reshape(-1)) for g, r in pairs)) if pairs else 0.0
        if dotg < 0 and self.reference_square > 0:
            alpha = dotg / self.reference_square
            torch._foreach_add_([g for g, _ in pairs], [r for _, r in pairs], alpha=-alpha)

    def after_training_exp(self, strategy, **kwargs):
        self.reference = []
        super().after_training_exp(strategy, **kwargs)


def _by_length(x: torch.Tensor) -> tuple[torch.Tensor, list[int]]:
    """The rows of a packed [B, 2, L] batch sorted by real length, and the sizes of the
    consecutive groups (:func:`streams.batching.length_groups`) to run each at its own length."""
    if x.dim() != 3:  # not packed texts (a model of other inputs): one part, in its order
        return torch.arange(len(x)), [len(x)]
    lengths = x[:, 1].sum(dim=1)
    order = torch.sort(lengths, stable=True).indices
    groups = length_groups(lengths[order].tolist())
    return order, [len(group) for group in groups]
