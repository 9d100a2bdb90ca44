"""Predictions of token tagging and multi-label runs, collected during evaluation per experience,
and the scores of the accuracy matrix computed from them (:mod:`continual.evaluation.tagging`).

Each evaluated example keeps its key (the stream-wide id of its sentence or text, and for a long
sentence the window's number), so that pooled scores over experiences 0..i count a sentence that
sits in two experiences' test sets once. In the task scenario a task's labels are its own,
numbered from 0: each experience's labels are read as the stream's class ids of its task's labels
(:class:`continual.evaluation.predictions.ClassSpace`), so that pooled scores keep the label k of two
tasks apart.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np
import torch
from avalanche.core import SupervisedPlugin

from . import tagging

#: what each task type's accuracy matrix holds (metrics.json ``score``)
SCORE_OF_TASK = {"single-label": "accuracy", "token": "entity_f1", "multi-label": "micro_f1"}


class _KeyedCollector(SupervisedPlugin):
    """Keeps, per evaluated experience, one (key, gold, predicted) entry per example; the keys of
    each stream's experiences' examples (in dataset order) are given up front, by stream name
    (``test``, ``valid``). ``experience_classes`` holds stream-wide class ids; with ``task_scoped``
    an experience's label k is its k-th class there (the task scenario's local ids)."""

    def __init__(self, keys: dict, experience_classes: Sequence[Sequence[int]], task_scoped: bool = False):
        super().__init__()
        self.keys = {name: [list(k) for k in per_experience] for name, per_experience in keys.items()}
        self.experience_classes = [list(map(int, c)) for c in experience_classes]
        self.task_scoped = task_scoped
        self.reset()

    def reset(self):
        self.entries = defaultdict(list)
        self._iteration = 0

    def before_eval_exp(self, strategy, **kwargs):
        self._iteration = 0

    def after_eval_iteration(self, strategy, **kwargs):
        exp_id = strategy.experience.current_experience
        batches = strategy.dataloader.batch_sampler  # evaluation batches are a list of index lists
        indices = batches[self._iteration]
        self._iteration += 1
        keys = self.keys[strategy.experience.origin_stream.name][exp_id]
        stream_ids = self.experience_classes[exp_id] if self.task_scoped else None
        for index, (gold, guess) in zip(indices, self.examples(strategy.mb_output, strategy.mb_y)):
            if stream_ids is not None:
                gold, guess = self.relabel(gold, stream_ids), self.relabel(guess, stream_ids)
            self.entries[exp_id].append((keys[index], gold, guess))

    def examples(self, output: torch.Tensor, y: torch.Tensor):
        raise NotImplementedError

    def relabel(self, labels: tuple, stream_ids: Sequence[int]) -> tuple:
        """An example's labels in an experience's local ids, as the stream's class ids."""
        raise NotImplementedError

    def accuracy(self, exp_id: int) -> float:
        """R[i][exp_id] of the last evaluation: micro-F1 over the experience's own classes."""
        _, gold, guess = zip(*self.entries[exp_id]) if self.entries[exp_id] else ((), (), ())
        return tagging.micro_f1(self.counts(gold, guess, self.experience_classes[exp_id]))

    def _pooled(self, through: int):
        seen, gold, guess = set(), [], []
        for exp_id in range(through + 1):
            for key, true, predicted in self.entries[exp_id]:
                if key not in seen:
                    seen.add(key)
                    gold.append(true)
                    guess.append(predicted)
        classes = sorted({c for own in self.experience_classes[: through + 1] for c in own})
        return classes, gold, guess

    def pooled_counts(self, through: int) -> tuple[list[int], list[list[int]], list[list[int]]]:
        """The classes seen through experience ``through``, their ``[tp, fp, fn]`` on the pooled
        test examples of experiences 0..through (each example once) and the confusion rows."""
        classes, gold, guess = self._pooled(through)
        counts = self.counts(gold, guess, classes)
        return classes, counts, self.confusion(gold, guess, classes, counts)


class TagCollector(_KeyedCollector):
    """Token tagging: per example the gold and predicted tag ids of its scored words (the first
    word piece of each word the window owns; y is -100 elsewhere)."""

    def examples(self, output, y):
        predicted = output.argmax(dim=-1).cpu()
        y = y.cpu()[:, : predicted.shape[1]]
        for row_y, row_p in zip(y, predicted):
            scored = row_y != -100
            yield tuple(row_y[scored].tolist()), tuple(row_p[scored].tolist())

    def relabel(self, tags, stream_ids):
        # tag ids: O = 0, B-k = 1 + 2k, I-k = 2 + 2k
        return tuple(t and 1 + 2 * stream_ids[(t - 1) // 2] + (t - 1) % 2 for t in tags)

    def counts(self, gold, guess, classes):
        return tagging.entity_counts(gold, guess, classes)

    def confusion(self, gold, guess, classes, counts):
        return tagging.entity_confusion(gold, guess, classes)


class LabelSetCollector(_KeyedCollector):
    """Multi-label: per example the gold and predicted label sets (a label is predicted where its
    sigmoid output exceeds 0.5, its logit 0)."""

    def examples(self, output, y):
        predicted = (output > 0).cpu()
        for row_y, row_p in zip(y.cpu(), predicted):
            yield (tuple(int(i) for i in torch.nonzero(row_y > 0.5).flatten()),
                   tuple(int(i) for i in torch.nonzero(row_p).flatten()))

    def relabel(self, labels, stream_ids):
        return tuple(stream_ids[k] for k in labels)

    def counts(self, gold, guess, classes):
        width = max([max(classes, default=0) + 1, *(max(s, default=0) + 1 for s in (*gold, *guess))])
        return tagging.label_counts(_multi_hot(gold, width), _multi_hot(guess, width), classes)

    def confusion(self, gold, guess, classes, counts):
        return tagging.label_confusion(counts)


def _multi_hot(sets, width: int) -> np.ndarray:
    matrix = np.zeros((len(sets), width), dtype=bool)
    for row, labels in enumerate(sets):
        matrix[row, list(labels)] = True
    return matrix
