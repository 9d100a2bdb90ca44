"""An Avalanche plugin that times the suite's own training epochs and repeats its evaluation.

A module of its own because it imports Avalanche at the top: it is loaded only once a
measurement starts, after the command line has checked its arguments.
"""
from __future__ import annotations

import time

from avalanche.core import SupervisedPlugin

from .attention import CallCounter, kernel_of
from .timing import timings


class EpochTimer(SupervisedPlugin):
    """Records the seconds and examples of every training epoch, and the experiences of the
    last evaluation, so that evaluation can be timed again on the trained model; and which
    attention kernel the first training and the first evaluation forward pass ran
    (``kernels``, :func:`.attention.kernel_of`)."""

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []
        self.examples: list[int] = []
        self.strategy = None
        self.eval_experiences: list = []
        self.kernels: dict[str, str] = {}
        self._counter = None
        self._start, self._n = 0.0, 0

    def _watch(self, phase: str) -> None:
        if phase not in self.kernels and self._counter is None:
            self._counter = (phase, CallCounter())
            self._counter[1].__enter__()

    def _unwatch(self) -> None:
        if self._counter is not None:
            phase, counter = self._counter
            counter.__exit__(None, None, None)
            self.kernels[phase], self._counter = kernel_of(counter), None

    def before_forward(self, strategy, **kwargs):
        self._watch("training")

    def after_forward(self, strategy, **kwargs):
        self._unwatch()

    def before_eval_forward(self, strategy, **kwargs):
        self._watch("evaluation")

    def after_eval_forward(self, strategy, **kwargs):
        self._unwatch()

    def before_training_epoch(self, strategy, **kwargs):
        self._start, self._n = time.perf_counter(), 0

    def after_training_iteration(self, strategy, **kwargs):
        self._n += len(strategy.mb_y)

    def after_training_epoch(self, strategy, **kwargs):
        self.seconds.append(time.perf_counter() - self._start)
        self.examples.append(self._n)

    def before_eval(self, strategy, **kwargs):
        self.strategy, self.eval_experiences = strategy, []

    def before_eval_exp(self, strategy, **kwargs):
        self.eval_experiences.append(strategy.experience)

    def eval_seconds(self, repeats: int) -> list[float]:
        """Seconds of each of ``repeats`` more evaluations of the last evaluated stream,
        through the strategy's own evaluation (its loaders, plugins and metrics)."""
        experiences = list(self.eval_experiences)
        return timings(self.strategy.device, repeats, lambda: self.strategy.eval(experiences))
