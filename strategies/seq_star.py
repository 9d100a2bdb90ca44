"""SEQ*: sequential training of the head alone on a frozen encoder, earlier head units frozen.

Zheng, Qiu & Ma (2024) find that sequential fine-tuning of a pre-trained language model forgets
little in the encoder: most of what it loses is in the classifier, whose units of earlier classes
drift once their data is gone. SEQ* keeps the encoder frozen and freezes those units.
"""
from __future__ import annotations

import functools

from .peft_strategies import SEQ_STAR_TRAINING, freeze
from .registry import StrategyParts, register_strategy


def old_units(head, experience) -> list[tuple[str | None, list[int] | None]]:
    """What to keep fixed while ``experience`` trains, as (task key, rows) pairs: in a multi-head
    model every head but the current task's (key = its task, rows None: all of them); in a single
    head the rows of the classes of earlier experiences (key None)."""
    from avalanche.models import MultiHeadClassifier

    if isinstance(head, MultiHeadClassifier):
        current = {str(t) for t in experience.task_labels}
        return [(task, None) for task in head.classifiers if task not in current]
    rows = sorted(getattr(experience, "previous_classes", ()))
    return [(None, rows)] if rows else []


def head_layer(head, task: str | None):
    """The linear layer of a head: the task's in a multi-head model, else the head's own (an
    Avalanche IncrementalClassifier holds it as ``classifier``; a fixed head is one)."""
    if task is not None:
        head = head.classifiers[task]
    return getattr(head, "classifier", head)


@functools.cache
def freeze_old_units_plugin() -> type:
    """The plugin class (built on first use: it imports torch and Avalanche)."""
    import torch
    from avalanche.core import SupervisedPlugin

    class FreezeOldUnits(SupervisedPlugin):
        """Writes the head units of earlier experiences back after every optimizer step.

        Restoring (rather than zeroing their gradients) also undoes AdamW's weight decay and
        momentum, which move every row of a tensor that has a gradient, so the units stay
        bit-identical. The values are copied before each training experience, so nothing
        carries over between experiences and a checkpoint needs no state of this plugin.
        """

        def __init__(self):
            super().__init__()
            self.kept: list[tuple] = []

        def before_training_exp(self, strategy, **kwargs):
            head = strategy.model.head
            with torch.no_grad():
                self.kept = []
                for task, rows in old_units(head, strategy.experience):
                    layer = head_layer(head, task)
                    index = slice(None) if rows is None else rows
                    self.kept.append((task, index, layer.weight[index].clone(), layer.bias[index].clone()))

        def after_update(self, strategy, **kwargs):
            with torch.no_grad():
                for task, index, weight, bias in self.kept:
                    layer = head_layer(strategy.model.head, task)
                    layer.weight[index] = weight
                    layer.bias[index] = bias

        def after_training_exp(self, strategy, **kwargs):
            self.kept = []

        def state_dict(self, examples: bool = True) -> dict:
            return {"kind": "stateless"}

        def load_state_dict(self, state: dict, context) -> None:
            pass

    return FreezeOldUnits


@register_strategy(
    "seq-star",
    family="baseline",
    paper="Zheng, Qiu & Ma 2024, Learn or Recall? Revisiting Incremental Learning with Pre-trained "
    "Language Models, ACL (SEQ*)",
    description="SEQ* in its authors' frozen-encoder form (their SEQ_fix setting): the pretrained "
    "encoder stays frozen and, from the second experience on, the head units (weights and biases) "
    "of the classes of earlier experiences are kept exactly as they were; in task-incremental runs "
    "the heads of the other tasks. The head is the suite's linear head (IncrementalClassifier), so "
    "seq-star differs from frozen only by the frozen units; left out of the paper's recipe: "
    "fine-tuning the encoder on the first task before freezing it (warm-up), the cosine classifier "
    "and pre-allocated future heads. Class-incremental only: in a domain stream every class comes "
    "with the first experience, so nothing would train after it, and in a task stream each task's "
    "head is apart already, so seq-star would be frozen.",
    scenarios=("class",),
    training_defaults=SEQ_STAR_TRAINING,
)
def seq_star(params, context) -> StrategyParts:
    def prepare(model):
        freeze(model.features)
        return model

    return StrategyParts(plugins=[freeze_old_units_plugin()()], prepare_model=prepare)
