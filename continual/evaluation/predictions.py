"""Predictions collected during evaluation, per evaluated experience."""
from __future__ import annotations

from collections import defaultdict

import torch
from avalanche.core import SupervisedPlugin


class PredictionCollector(SupervisedPlugin):
    """Keeps the predicted and true class of every evaluated example, per experience, so the
    run computes its accuracy matrix (and F1) from the predictions themselves."""

    def __init__(self):
        super().__init__()
        self.reset()

    def reset(self):
        self.predictions = defaultdict(list)
        self.targets = defaultdict(list)

    def after_eval_iteration(self, strategy, **kwargs):
        exp_id = strategy.experience.current_experience
        self.predictions[exp_id].append(strategy.mb_output.argmax(dim=1).cpu())
        self.targets[exp_id].append(strategy.mb_y.cpu())

    def macro_f1(self, exp_id: int) -> float:
        """Macro-F1 over the classes present in this experience's test set."""
        from sklearn.metrics import f1_score

        target = torch.cat(self.targets[exp_id]).numpy()
        predicted = torch.cat(self.predictions[exp_id]).numpy()
        return float(f1_score(target, predicted, labels=sorted(set(target.tolist())),
                              average="macro", zero_division=0))

    def accuracy(self, exp_id: int) -> float:
        predicted = torch.cat(self.predictions[exp_id])
        target = torch.cat(self.targets[exp_id])
        return float((predicted == target).double().mean().item())
