"""Expanding heads' plugin: the head's units of earlier classes kept exactly as they were.

Imported by :func:`strategies.expanding_heads.expanding_heads` when it builds the plugin (this
module imports torch and Avalanche).
"""
from __future__ import annotations

import torch
from avalanche.training.plugins import SupervisedPlugin


class FreezeOldHeadUnits(SupervisedPlugin):
    """Restores the head's rows of previously seen classes after every optimizer step.

    Avalanche's ``IncrementalClassifier`` already grows the head; restoring the rows (rather than
    zeroing their gradient) keeps them fixed under AdamW's weight decay and momentum too. The rows
    are copied again before each training experience, so nothing carries over between them.
    """

    def __init__(self):
        super().__init__()
        self.rows: list[int] = []
        self.weight = self.bias = None

    def before_training_exp(self, strategy, **kwargs):
        self.rows = sorted(getattr(strategy.experience, "previous_classes", ()))
        linear = strategy.model.head.classifier
        with torch.no_grad():
            self.weight = linear.weight[self.rows].clone()
            self.bias = linear.bias[self.rows].clone()

    def after_update(self, strategy, **kwargs):
        if not self.rows:
            return
        linear = strategy.model.head.classifier
        with torch.no_grad():
            linear.weight[self.rows] = self.weight
            linear.bias[self.rows] = self.bias

    def state_dict(self, examples: bool = True) -> dict:
        return {"kind": "stateless"}

    def load_state_dict(self, state: dict, context) -> None:
        pass
