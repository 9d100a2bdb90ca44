"""DER's template: Avalanche's DER with masked stored logits, bucketed memory batches and a saved buffer.

Imported by :func:`strategies.der.der` when it builds the strategy (this module imports torch
and Avalanche).
"""
from __future__ import annotations

import torch
from avalanche.training import DER
from avalanche.training.templates import SupervisedTemplate
from avalanche.training.utils import cycle

from streams.batching import BucketBatchSampler, example_lengths

from .der import logit_targets
from .parts import set_parts
from .state import collate_padded, load_storage, storage_state
from .task_losses import der_loss


def _without_grad(function, *args, **kwargs):
    with torch.no_grad():
        return function(*args, **kwargs)


class MaskedLogitsDER(DER):
    """Avalanche's DER, with stored logits of then-masked units left out of the logit loss and
    length-bucketed memory batches.

    With a masked ``IncrementalClassifier`` the logits stored for classes not yet seen hold the
    mask value (-1000); regressing today's logits of those (now active) classes onto -1000 would
    dominate the loss. Those entries are replaced by the current (detached) outputs, so they add
    neither loss nor gradient, which is what DER++ means on a growing head.
    """

    #: its state includes stored training examples (left out with --no-buffer-checkpoint)
    holds_examples = True
    #: how memory batches are collated (None: torch's default)
    memory_collate = None

    def __init__(self, **kwargs):  # keyword-only, as Avalanche asks of templates (it warns otherwise)
        super().__init__(**kwargs)
        # the buffer update stores logits from a forward pass over the experience; Avalanche runs
        # it with autograd recording a graph that nothing uses (the same logits, a third slower)
        update = self.storage_policy.update
        self.storage_policy.update = lambda *a, **kw: _without_grad(update, *a, **kw)

    def _before_training_exp(self, **kwargs):
        super()._before_training_exp(**kwargs)
        if self.replay_loader is not None:
            # memory batches length-bucketed too (Avalanche draws them uniformly, each padded
            # to its longest text); the generator comes from torch's global RNG, which the run
            # reseeds before each experience
            buffer = self.storage_policy.buffer
            generator = torch.Generator().manual_seed(int(torch.randint(2**31 - 1, (1,)).item()))
            sampler = BucketBatchSampler(example_lengths(buffer), self.batch_size_mem,
                                         generator=generator, drop_last=True)
            self.replay_loader = cycle(torch.utils.data.DataLoader(buffer, batch_sampler=sampler,
                                                                   collate_fn=self.memory_collate))

    def _before_forward(self, **kwargs):
        super()._before_forward(**kwargs)  # joins the memory batch (first) to the current one
        # each part length-bucketed on its own: each runs at its own length rather than both
        # padded to the longer
        if self.is_training and getattr(self, "replay_loader", None) is not None:
            set_parts(self.model, [self.batch_size_mem, len(self.mb_x) - self.batch_size_mem])

    def _after_forward(self, **kwargs):
        set_parts(self.model, None)
        super()._after_forward(**kwargs)
        if getattr(self, "replay_loader", None) is not None:
            self.batch_logits = logit_targets(self.batch_logits, self.mb_output[: self.batch_size_mem])

    def state_dict(self, examples: bool = True) -> dict:
        """The buffer of examples with their stored logits."""
        return {"kind": "der", "storage": storage_state(self.storage_policy, examples)}

    def load_state_dict(self, state: dict, context) -> None:
        load_storage(self.storage_policy, state["storage"], context)


class MultiLabelDER(MaskedLogitsDER):
    """DER++ for multi-label outputs: stored logits over the label units, and the binary
    cross-entropy of the label units (the run's criterion) where Avalanche's DER hard-codes a
    softmax cross-entropy in its own training loop. The template's loop runs instead, and the
    criterion adds DER++'s terms while a memory batch is replayed
    (:func:`strategies.task_losses.der_loss`)."""

    training_epoch = SupervisedTemplate.training_epoch
    memory_collate = staticmethod(collate_padded)

    def criterion(self):
        if not self.is_training or self.replay_loader is None:
            return super().criterion()
        return der_loss(self.mb_output, self.mb_y, self.batch_logits, self.batch_size_mem, self.alpha,
                        self.beta, self._criterion)
