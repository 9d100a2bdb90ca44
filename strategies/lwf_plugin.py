"""LwF's plugin: Avalanche's LwFPlugin with a deterministic teacher and a saved state.

Imported by :func:`strategies.lwf.lwf` when it builds the plugin (this module imports Avalanche).
"""
from __future__ import annotations

from collections import defaultdict

import torch
from avalanche.training import LearningWithoutForgetting
from avalanche.training.plugins import LwFPlugin

from .state import ordered_set, teacher_state
from .task_losses import IGNORE_INDEX, multilabel_distillation, token_distillation


class EvalTeacherLwF(LearningWithoutForgetting):
    """Avalanche's LwF loss with the teacher in eval mode.

    Avalanche 0.6.0 deep-copies the student in train mode, so dropout stays on in the teacher and
    its soft targets are noisy; Li & Hoiem record the old model's responses deterministically.
    """

    def post_adapt(self, agent, exp):
        super().post_adapt(agent, exp)
        self.prev_model.eval()
        for parameter in self.prev_model.parameters():
            parameter.requires_grad_(False)


class MultiLabelLwF(EvalTeacherLwF):
    """LwF for independent label units: the binary cross-entropy of the student's sigmoid outputs
    of the old labels against the teacher's, both at temperature T
    (:func:`strategies.task_losses.multilabel_distillation`); a softmax over labels that are not
    exclusive would distil the wrong distribution."""

    def _distillation_loss(self, out, prev_out, active_units):
        return multilabel_distillation(out, prev_out, sorted(active_units), self.temperature)


#: the LwF loss of each task type
LWF_BY_TASK_TYPE = {"single-label": EvalTeacherLwF, "token": EvalTeacherLwF, "multi-label": MultiLabelLwF}


def class_history(benchmark, finished: int) -> dict:
    """``prev_classes_by_task`` rebuilt with LearningWithoutForgetting.post_adapt's own set
    operations over the finished experiences (their iteration order is then the same)."""
    classes: dict = {}
    for exp_id in range(finished):
        dataset = benchmark.train_stream[exp_id].dataset
        for task_id in dataset.targets_task_labels.uniques:
            found = set(dataset.task_set[task_id].targets.uniques)
            classes[task_id] = found if task_id not in classes else classes[task_id].union(found)
    return classes


class EvalTeacherLwFPlugin(LwFPlugin):
    """Avalanche's LwFPlugin distilling from an :class:`EvalTeacherLwF`, or the variant of the
    task type (:data:`LWF_BY_TASK_TYPE`)."""

    def __init__(self, alpha: float, temperature: float, task_type: str = "single-label"):
        super().__init__(alpha=alpha, temperature=temperature)
        self.lwf = LWF_BY_TASK_TYPE[task_type](alpha=alpha, temperature=temperature)

    def state_dict(self, examples: bool = True) -> dict:
        """The experience count, the teacher and the classes it distils, per task."""
        lwf = self.lwf
        return {"kind": "lwf", "expcount": lwf.expcount, "teacher": teacher_state(lwf.prev_model),
                "prev_classes": [[int(t), [int(c) for c in classes]]
                                 for t, classes in lwf.prev_classes_by_task.items()]}

    def load_state_dict(self, state: dict, context) -> None:
        lwf = self.lwf
        lwf.expcount = state["expcount"]
        lwf.prev_model = context.teacher(state["teacher"])
        replayed = class_history(context.benchmark, context.finished)
        classes = defaultdict(set)
        for task_id, ids in state["prev_classes"]:
            candidate = replayed.get(task_id)
            classes[task_id] = candidate if candidate is not None and list(candidate) == ids else ordered_set(ids)
        lwf.prev_classes_by_task = classes


class TokenLwFPlugin(EvalTeacherLwFPlugin):
    """LwF for a tagger as ExtendNER defines it (Monaikul et al. 2021): once there is a teacher,
    a word the new data tags ``O`` (perhaps an entity of an old type, left unannotated) is taught
    by the teacher's output distribution (:func:`strategies.task_losses.token_distillation`, weight
    alpha) instead of by the cross-entropy towards ``O``, which only the words tagged with a new
    type keep. The first experience trains on every tag as usual."""

    def __init__(self, alpha: float, temperature: float):
        super().__init__(alpha, temperature, "token")
        self._labels = None

    def after_forward(self, strategy, **kwargs):
        # runs between the forward and the criterion: the criterion then sees O words ignored
        self._labels = None
        if self.lwf.prev_model is None:
            return
        batch = list(strategy.mbatch)
        self._labels = batch[1]
        batch[1] = self._labels.masked_fill(self._labels == 0, IGNORE_INDEX)
        strategy.mbatch = batch

    def before_backward(self, strategy, **kwargs):
        if self._labels is None:
            return
        with torch.no_grad():
            teacher = self.lwf.prev_model(strategy.mb_x)
        strategy.loss += self.lwf.alpha * token_distillation(strategy.mb_output, teacher, self._labels,
                                                             self.lwf.temperature)
