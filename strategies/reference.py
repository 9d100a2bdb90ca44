"""Reference points: joint training (upper bound) and cumulative retraining (Avalanche templates)."""
from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable, Sequence

from .registry import TASK_TYPES, StrategyParts, register_strategy


def joint_epochs(sizes: Sequence[int], epochs: int, batch_size: int) -> int:
    """The epochs on the union that give joint at least cumulative's optimisation budget.

    Cumulative trains experience i on the union of experiences 0..i, N_i = n_0 + ... + n_i
    examples, for ``epochs`` = E epochs; joint trains once on all N = N_{T-1} examples. With
    ceil(N_i / B) optimizer steps per epoch (batches of B, the last one short), joint gets

        E_joint = max(E, ceil(E * sum_i N_i / N), ceil(E * sum_i ceil(N_i / B) / ceil(N / B)))

    epochs: as many examples seen and as many optimizer steps as cumulative, or more.
    """
    seen = list(itertools.accumulate(sizes))
    if not seen or seen[-1] == 0:
        return epochs

    def ceil_div(a: int, b: int) -> int:
        return -(-a // b)

    total = seen[-1]
    by_examples = ceil_div(epochs * sum(seen), total)
    by_steps = ceil_div(epochs * sum(ceil_div(n, batch_size) for n in seen), ceil_div(total, batch_size))
    return max(epochs, by_examples, by_steps)


@functools.cache
def budgeted_joint_training() -> type:
    """Avalanche's JointTraining with :func:`joint_epochs` epochs on the union (built on first
    use: it imports Avalanche)."""
    from avalanche.training import JointTraining

    class BudgetedJointTraining(JointTraining):
        """JointTraining whose ``train_epochs`` are the epochs per experience of the other
        strategies; training on the union runs :func:`joint_epochs` of them, so that joint,
        the upper bound, is not held back by a smaller budget than cumulative's."""

        def train(self, experiences, eval_streams=None, **kwargs):
            experiences = list(experiences) if isinstance(experiences, Iterable) else [experiences]
            per_experience = self.train_epochs
            self.train_epochs = joint_epochs([len(e.dataset) for e in experiences], per_experience,
                                             self.train_mb_size)
            try:
                return super().train(experiences, eval_streams, **kwargs)
            finally:
                self.train_epochs = per_experience

    return BudgetedJointTraining


@register_strategy(
    "joint",
    family="reference",
    paper="Offline (non-continual) training on all experiences at once: the upper bound",
    description="Trains once on the union of all experiences, with at least cumulative's budget: "
    "E_joint = max(E, ceil(E sum_i N_i / N), ceil(E sum_i ceil(N_i/B) / ceil(N/B))) epochs, N_i the "
    "examples of experiences 0..i, N = N_{T-1}, E the epochs per experience, B the batch size (as "
    "many examples seen and optimizer steps as cumulative, or more); its accuracy matrix has T "
    "identical rows, and training time is reported once (first experience).",
    composable=False,
    task_types=TASK_TYPES,
)
def joint(params, context) -> StrategyParts:
    return StrategyParts(template=budgeted_joint_training(), trains_once=True)


@register_strategy(
    "cumulative",
    family="reference",
    paper="Cumulative retraining on all data seen so far (Avalanche Cumulative baseline)",
    description="At each experience, trains on the union of it and every earlier experience.",
    composable=False,
    task_types=TASK_TYPES,
)
def cumulative(params, context) -> StrategyParts:
    from avalanche.training import Cumulative

    return StrategyParts(template=Cumulative)
