"""Expanding heads: the output layer grows with each experience, earlier units are frozen."""
from .registry import HyperParam, StrategyParts, register_strategy


def freeze_rows_plugin():
    """A plugin that keeps the head's units of earlier classes exactly as they were.

    Avalanche's ``IncrementalClassifier`` already grows the head; this plugin restores the rows of
    previously seen classes after every optimizer step. Restoring (rather than zeroing their
    gradient) keeps them fixed under AdamW's weight decay and momentum too.
    """
    import torch
    from avalanche.training.plugins import SupervisedPlugin

    class FreezeOldHeadUnits(SupervisedPlugin):
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

    return FreezeOldHeadUnits()


@register_strategy(
    "expanding-heads",
    family="architecture",
    paper="Rusu et al. 2016 (Progressive Neural Networks) in its simplest output-layer form; "
    "the expanding-head baseline of Masana et al. 2022 (class-incremental survey, TPAMI)",
    description="The output layer grows with each experience and the head units of earlier "
    "experiences are frozen; the encoder keeps training.",
    hyperparams=[
        HyperParam("unfreeze_old", False, "let the head units of earlier experiences train too",
                   "frozen, as in the expanding-head baseline"),
    ],
    scenarios=("class",),
)
def expanding_heads(params, context) -> StrategyParts:
    return StrategyParts(plugins=[] if params["unfreeze_old"] else [freeze_rows_plugin()])
