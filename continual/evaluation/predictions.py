"""Predictions collected during evaluation, per evaluated experience, and the class space they
are pooled in (docs/design.md, Metrics)."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np
import torch
from avalanche.core import SupervisedPlugin

from . import per_class


@dataclass(frozen=True)
class ClassSpace:
    """Every class of a stream under one integer id, its name, and the class ids of each
    experience.

    A class's key is its label in class- and domain-incremental streams (one label space).
    In task-incremental streams labels are local to their task and predictions only compete
    within their task's head, so the key is the pair (task, label) and equal local labels of two
    tasks are two classes. Ids follow the stream's ``class_names``, which the task scenario
    lists task after task as "<task>: <label>".
    """

    keys: tuple[Hashable, ...]
    names: tuple[str, ...]
    experience_classes: tuple[tuple[int, ...], ...]
    experience_tasks: tuple[int, ...]
    task_scoped: bool

    @classmethod
    def of(cls, stream) -> ClassSpace:
        experiences = stream.experiences
        tasks = tuple(e.task for e in experiences)
        if stream.scenario != "task":
            return cls(tuple(range(len(stream.class_names))), tuple(stream.class_names),
                       tuple(tuple(int(c) for c in e.classes) for e in experiences), tasks, False)
        keys: dict = {}
        names: list[str] = []
        for e in experiences:
            labels = e.label_names or [str(c) for c in e.classes]
            for label, name in enumerate(labels):
                if (e.task, label) not in keys:
                    keys[(e.task, label)] = len(keys)
                    names.append(name)
        if len(stream.class_names) == len(keys):  # "<task>: <label>": unique across tasks
            names = list(stream.class_names)
        own = tuple(tuple(keys[(e.task, label)] for label in range(len(e.classes))) for e in experiences)
        return cls(tuple(keys), tuple(names), own, tasks, True)

    def ids(self, task: int, labels: np.ndarray) -> np.ndarray:
        """Class ids of ``labels`` predicted or true in ``task``; -1 for a label of no class."""
        index = {key: k for k, key in enumerate(self.keys)}
        return np.array([index.get((task, int(y)) if self.task_scoped else int(y), -1) for y in labels],
                        dtype=np.int64)

    def seen_through(self, step: int) -> list[int]:
        """The class ids of experiences 0..step, ascending."""
        return sorted({c for own in self.experience_classes[: step + 1] for c in own})


class PredictionCollector(SupervisedPlugin):
    """Keeps the predicted and true class of every evaluated example, per experience, so the
    run computes its accuracy matrix and its per-class scores from the predictions themselves."""

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

    def accuracy(self, exp_id: int) -> float:
        predicted = torch.cat(self.predictions[exp_id])
        target = torch.cat(self.targets[exp_id])
        return float((predicted == target).double().mean().item())

    def pooled_confusion(self, space: ClassSpace, through: int) -> tuple[list[int], list[list[int]]]:
        """The seen classes after training experience ``through`` and the confusion counts of
        the predictions on the test sets of experiences 0..through pooled over them
        (:func:`per_class.confusion_counts`)."""
        true, predicted = [], []
        for exp_id in range(through + 1):
            task = space.experience_tasks[exp_id]
            true.append(space.ids(task, torch.cat(self.targets[exp_id]).numpy()))
            predicted.append(space.ids(task, torch.cat(self.predictions[exp_id]).numpy()))
        classes = space.seen_through(through)
        return classes, per_class.confusion_counts(np.concatenate(true), np.concatenate(predicted), classes)
