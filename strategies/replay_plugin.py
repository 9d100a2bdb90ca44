"""The replay plugin: Avalanche's ReplayPlugin with length-bucketed batches and a saved buffer.

Imported by the replay and iCaRL builders when they build a plugin (this module imports torch
and Avalanche).
"""
from __future__ import annotations

import torch
from avalanche.training.plugins import ReplayPlugin

from streams.batching import BucketedReplayLoader

from .parts import set_parts
from .state import check_storage, load_storage, storage_state


class BucketedReplayPlugin(ReplayPlugin):
    """Avalanche's ReplayPlugin (same buffer, same update) with length-bucketed current and
    memory batches (:class:`streams.batching.BucketedReplayLoader`), the two parts of a joined
    batch each run at its own length (:func:`strategies.parts.set_parts`). The loader's generator
    is drawn from torch's global RNG, which the run reseeds before each experience."""

    #: its state includes stored training examples (left out with --no-buffer-checkpoint)
    holds_examples = True

    def before_training_exp(self, strategy, num_workers=0, shuffle=True, drop_last=False, **kw):
        if len(self.storage_policy.buffer) == 0:
            return
        generator = torch.Generator().manual_seed(int(torch.randint(2**31 - 1, (1,)).item()))
        strategy.dataloader = BucketedReplayLoader(
            strategy.adapted_dataset, self.storage_policy.buffer,
            batch_size=self.batch_size or strategy.train_mb_size,
            batch_size_mem=self.batch_size_mem or strategy.train_mb_size, generator=generator)

    def before_forward(self, strategy, **kwargs):
        if strategy.is_training and isinstance(strategy.dataloader, BucketedReplayLoader):
            set_parts(strategy.model, strategy.dataloader.parts)

    def after_forward(self, strategy, **kwargs):
        set_parts(strategy.model, None)

    def check_state(self) -> None:
        """NotCapturable when the storage policy is of a kind :meth:`state_dict` cannot save."""
        check_storage(self.storage_policy)

    def state_dict(self, examples: bool = True) -> dict:
        return {"kind": "replay", "storage": storage_state(self.storage_policy, examples)}

    def load_state_dict(self, state: dict, context) -> None:
        load_storage(self.storage_policy, state["storage"], context)
