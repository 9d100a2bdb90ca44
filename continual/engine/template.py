"""The training loop's Avalanche template: seeded length-bucketed loaders, global reseeding,
the optimizer, and a progress plugin."""
from __future__ import annotations

import random
import sys
import time

import numpy as np
import torch
from avalanche.core import SupervisedPlugin
from avalanche.models.utils import avalanche_model_adaptation
from tqdm.auto import tqdm

from streams.batching import BucketBatchSampler, eval_batches, example_lengths
from streams.seeds import derived_seed


def reseed_global(seed: int, purpose: str, *indices: int) -> None:
    """Seed torch's (CPU and CUDA), numpy's and Python's global generators for ``purpose``.

    Avalanche draws head growth, buffer sampling and replay-loader shuffles from torch's global
    RNG, and A-GEM's memory and random exemplar selection from Python's ``random``; reseeding all
    three from (seed, experience) before each experience makes them reproducible across
    processes and lets a resumed run continue with exactly the draws of an uninterrupted one.
    """
    value = derived_seed(seed, purpose, *indices)
    torch.manual_seed(value)
    np.random.seed(value)
    random.seed(value)


def make_optimizer(parameters, *, lr: float, weight_decay: float, name: str = "adamw"):
    """AdamW with the fused kernel (one pass over all parameters per step, on CPU and CUDA), or
    with ``name="sgd"`` plain SGD (no momentum), whose step is the gradient itself.

    The default AdamW on CPU updates parameter by parameter in Python, which costs a large share
    of a training step for a model of MiniLM's size; the fused kernel applies the same update
    rule (values agree to float rounding). Falls back to the multi-tensor ("foreach") kernel
    where fused is not available.
    """
    parameters = list(parameters)
    if name == "sgd":
        return torch.optim.SGD(parameters, lr=lr, weight_decay=weight_decay, foreach=True)
    try:
        return torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, ValueError, TypeError):  # a device or dtype without the fused kernel
        return torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay, foreach=True)


def text_template(base: type, seed: int) -> type:
    """``base`` (an Avalanche template) with text batching; training batches are drawn from
    generators derived from ``seed``."""

    class TextTemplate(base):
        """Training batches are length-bucketed in a seeded order; evaluation batches are cut
        from the texts sorted by length under a token budget (:func:`streams.batching.eval_batches`)."""

        run_seed = seed

        def model_adaptation(self, model=None):
            # Evaluation adapts to the evaluated experience, whatever the template does in
            # training (JointTraining adapts to its whole training list, absent before training).
            if self.is_training:
                return super().model_adaptation(model)
            model = self.model if model is None else model
            avalanche_model_adaptation(model, self.experience)
            return model.to(self.device)

        def make_train_dataloader(self, num_workers=0, shuffle=True, pin_memory=None,
                                  persistent_workers=False, drop_last=False, **kwargs):
            generator = torch.Generator().manual_seed(
                derived_seed(self.run_seed, "train-loader", self.experience.current_experience))
            sampler = BucketBatchSampler(example_lengths(self.adapted_dataset), self.train_mb_size,
                                         generator=generator, drop_last=drop_last)
            self.dataloader = torch.utils.data.DataLoader(
                self.adapted_dataset, batch_sampler=sampler, pin_memory=self.device.type == "cuda")

        def eval_epoch(self, **kwargs):
            # The forward passes of evaluation run under inference mode (no autograd bookkeeping
            # at all, a little faster than Avalanche's no_grad). Model adaptation happens before,
            # in _before_eval_exp, outside it, so head units added there stay trainable tensors.
            with torch.inference_mode():
                return super().eval_epoch(**kwargs)

        def make_eval_dataloader(self, num_workers=0, shuffle=False, pin_memory=None,
                                 persistent_workers=False, **kwargs):
            batches = eval_batches(example_lengths(self.adapted_dataset), self.eval_mb_size)
            self.dataloader = torch.utils.data.DataLoader(
                self.adapted_dataset, batch_sampler=batches, pin_memory=self.device.type == "cuda")

    TextTemplate.__name__ = TextTemplate.__qualname__ = f"Text{base.__name__}"
    return TextTemplate


class Progress(SupervisedPlugin):
    """tqdm bars over training iterations (per experience) and evaluated experiences, on a
    terminal only: where stderr goes to a file, a batch job's log or a Ray worker, bars would
    fill it with carriage-return frames, so a line per experience is logged instead
    (``after_training_exp``)."""

    def __init__(self, enabled: bool):
        super().__init__()
        self.enabled = enabled and sys.stderr.isatty()
        self.lines = enabled and not self.enabled
        self.bar = None
        self._started = 0.0
        self._loss = None

    def before_training_exp(self, strategy, **kwargs):
        self._started = time.perf_counter()

    def after_training_exp(self, strategy, **kwargs):
        if self.lines:
            exp = strategy.experience.current_experience
            loss = "" if self._loss is None else f", last loss {self._loss:.3f}"
            print(f"   experience {exp}: trained in {time.perf_counter() - self._started:.1f} s{loss}",
                  file=sys.stderr, flush=True)

    def _open(self, strategy, phase: str) -> None:
        exp = strategy.experience.current_experience
        self.bar = tqdm(total=len(strategy.dataloader), desc=f"{phase} exp {exp}", unit="batch",
                        leave=False, disable=not self.enabled)

    def before_training_epoch(self, strategy, **kwargs):
        self._open(strategy, "train")

    def after_training_iteration(self, strategy, **kwargs):
        self.bar.update(1)
        if self.enabled:
            self.bar.set_postfix(loss=f"{strategy.loss.item():.3f}", refresh=False)

    def after_training_epoch(self, strategy, **kwargs):
        self.bar.close()
        if self.lines:
            self._loss = float(strategy.loss.item())

    def before_eval_exp(self, strategy, **kwargs):
        self._open(strategy, "eval")

    def after_eval_iteration(self, strategy, **kwargs):
        self.bar.update(1)

    def after_eval_exp(self, strategy, **kwargs):
        self.bar.close()
