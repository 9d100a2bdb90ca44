"""iCaRL's pieces on Avalanche: the nearest-mean classifier, the distillation loss, the class means.

Imported by :func:`strategies.icarl.icarl_parts` when it builds the strategy (this module imports
torch and Avalanche).
"""
from __future__ import annotations

import torch
from avalanche.core import SupervisedPlugin
from avalanche.models import NCMClassifier
from avalanche.training.losses import ICaRLLossPlugin
from avalanche.training.plugins.update_ncm import compute_class_means

from .state import teacher_state


class PaddedNCM(NCMClassifier):
    """NCM scores for every class id: classes without exemplars yet get -1000, as a masked
    head does (and before any training, every class does)."""

    def __init__(self, n_classes: int, **kwargs):
        super().__init__(**kwargs)
        self.n_classes = n_classes

    def forward(self, x):
        scores = torch.full((len(x), self.n_classes), -1000.0, device=x.device)
        if self.class_means_dict:
            out = super().forward(x)
            known = torch.tensor(sorted(self.class_means_dict), device=x.device)
            scores[:, known] = out[:, known]
        return scores


class EvalDropoutICaRLLoss(ICaRLLossPlugin):
    """The teacher keeps its training head (TrainEvalModel picks heads by mode) but with
    dropout off, so its soft targets are deterministic."""

    def after_training_exp(self, strategy, **kwargs):
        super().after_training_exp(strategy, **kwargs)
        self.old_model.train()
        for module in self.old_model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.eval()
        for parameter in self.old_model.parameters():
            parameter.requires_grad_(False)

    def state_dict(self, examples: bool = True) -> dict:
        """The classes seen so far and the teacher (the model after the last experience)."""
        return {"kind": "icarl-loss", "old_classes": [int(c) for c in self.old_classes],
                "teacher": teacher_state(self.old_model)}

    def load_state_dict(self, state: dict, context) -> None:
        self.old_classes = list(state["old_classes"])
        self.old_model = context.teacher(state["teacher"])
        self.old_logits = None


class ExemplarMeans(SupervisedPlugin):
    """After the buffer is updated, class means come from the exemplars (iCaRL's NME). The means
    live in the model's NCM classifier, so the plugin itself has no state."""

    def __init__(self, buffer):
        super().__init__()
        self.buffer = buffer

    def after_training_exp(self, strategy, **kwargs):
        means = compute_class_means(strategy.model, self.buffer.buffer, strategy.eval_mb_size,
                                    normalize=True, device=strategy.device)
        strategy.model.eval_classifier.replace_class_means_dict(means)
        strategy.model.train()

    def state_dict(self, examples: bool = True) -> dict:
        return {"kind": "stateless"}

    def load_state_dict(self, state: dict, context) -> None:
        pass
