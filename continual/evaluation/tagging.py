"""Scores of token tagging and multi-label runs: pure functions of predicted and gold labels.

Token tagging (continual named-entity recognition): a sequence of BIO tags per sentence, tag id
0 = ``O``, ``1 + 2k`` = ``B-<type k>``, ``2 + 2k`` = ``I-<type k>``. An entity is a maximal
``B-X I-X ...`` run (IOB2, strict matching: an ``I-X`` that does not continue a ``B-X`` starts no
entity); a predicted entity is correct when its type, start and end equal a gold entity's. Per type
``tp`` (correct predicted entities), ``fp`` (other predicted entities), ``fn`` (gold entities not
predicted). R[i][j] is the micro-F1 of the entities of experience j's types:
``2 tp / (2 tp + fp + fn)`` summed over those types, other types read as ``O`` on both sides
(seqeval's ``f1_score(mode="strict", scheme=IOB2)`` on the same tags).

Multi-label: a set of label ids per text; per label ``tp`` (predicted and gold), ``fp`` (predicted,
not gold), ``fn`` (gold, not predicted); R[i][j] is the micro-F1 over experience j's labels
(scikit-learn's ``f1_score(average="micro", labels=...)`` on the multi-hot matrices).

Both give per-class counts ``[tp, fp, fn]``, from which per-class precision, recall, F1 and
support (``tp + fn``) follow as in :mod:`continual.evaluation.per_class` (0 where a denominator
is 0).

References
- Tjong Kim Sang, E. F. & De Meulder, F. (2003). Introduction to the CoNLL-2003 Shared Task:
  Language-Independent Named Entity Recognition. CoNLL. (entity-level precision/recall/F1)
- Nakayama, H. (2018). seqeval: A Python framework for sequence labeling evaluation.
  (``mode="strict"``, whose values these equal)
- Monaikul, N., Castellucci, G., Filice, S. & Rokhlenko, O. (2021). Continual Learning for Named
  Entity Recognition. AAAI. (the class-incremental protocol)
- Tsoumakas, G. & Katakis, I. (2007). Multi-label classification: an overview. (micro-F1)
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Optional

import numpy as np

from streams.tagging import entity_spans, keep_types


def entities(tags: Sequence[int]) -> set[tuple[int, int, int]]:
    """The (type, start, end) of every entity of one tag sequence, strict IOB2 (an entity starts
    at ``B-X`` and runs over the ``I-X`` that follow; a stray ``I-X`` starts none)."""
    return set(entity_spans(tags))


def entity_counts(gold: Iterable[Sequence[int]], predicted: Iterable[Sequence[int]],
                  types: Sequence[int]) -> list[list[int]]:
    """``[tp, fp, fn]`` per type of ``types`` (in that order) over the sentences; tags of other
    types are read as ``O`` (they neither count nor break an entity of these types)."""
    index = {int(t): k for k, t in enumerate(types)}
    counts = np.zeros((len(types), 3), dtype=np.int64)
    for true_tags, predicted_tags in zip(gold, predicted):
        true = entities(keep_types(true_tags, index))
        guess = entities(keep_types(predicted_tags, index))
        for kind, *_ in true & guess:
            counts[index[kind], 0] += 1
        for kind, *_ in guess - true:
            counts[index[kind], 1] += 1
        for kind, *_ in true - guess:
            counts[index[kind], 2] += 1
    return counts.tolist()


def entity_confusion(gold: Iterable[Sequence[int]], predicted: Iterable[Sequence[int]],
                     types: Sequence[int]) -> list[list[int]]:
    """Entity-level confusion over ``types``: row a = the gold entities of type a, column b = how
    many of them were predicted with exactly their span as type b, last column = with no
    predicted entity of exactly their span (missed). Rows sum to the gold entity counts."""
    index = {int(t): k for k, t in enumerate(types)}
    counts = np.zeros((len(types), len(types) + 1), dtype=np.int64)
    for true_tags, predicted_tags in zip(gold, predicted):
        guess = {(start, end): kind for kind, start, end in entities(keep_types(predicted_tags, index))}
        for kind, start, end in entities(keep_types(true_tags, index)):
            counts[index[kind], index[guess[(start, end)]] if (start, end) in guess else len(types)] += 1
    return counts.tolist()


def label_counts(gold: np.ndarray, predicted: np.ndarray, labels: Sequence[int]) -> list[list[int]]:
    """``[tp, fp, fn]`` per label of ``labels`` from multi-hot matrices [N, K] (0/1)."""
    gold, predicted = np.asarray(gold, dtype=bool), np.asarray(predicted, dtype=bool)
    columns = list(labels)
    g, p = gold[:, columns], predicted[:, columns]
    return np.stack([(g & p).sum(0), (~g & p).sum(0), (g & ~p).sum(0)], axis=1).astype(np.int64).tolist()


def label_confusion(counts: Sequence[Sequence[int]]) -> list[list[int]]:
    """The multi-label confusion rows: per label, the gold occurrences predicted and missed (a set
    of labels per text has no single predicted class to confuse a label with)."""
    return [[int(tp), int(fn)] for tp, _, fn in counts]


def micro_f1(counts: Sequence[Sequence[int]]) -> float:
    """``2 tp / (2 tp + fp + fn)`` over the summed counts; 0.0 when there is nothing to score."""
    tp, fp, fn = (int(v) for v in np.asarray(counts, dtype=np.int64).reshape(-1, 3).sum(axis=0))
    return 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else 0.0


def scores(counts: Sequence[Sequence[int]]) -> dict[str, list]:
    """``precision``, ``recall``, ``f1`` and ``support`` per class from ``[tp, fp, fn]`` rows."""
    c = np.asarray(counts, dtype=float).reshape(-1, 3)
    tp, fp, fn = c[:, 0], c[:, 1], c[:, 2]

    def ratio(a, b):
        return np.where(b > 0, a / np.where(b > 0, b, 1), 0.0)

    return {"precision": ratio(tp, tp + fp).tolist(), "recall": ratio(tp, tp + fn).tolist(),
            "f1": ratio(2 * tp, 2 * tp + fp + fn).tolist(), "support": (tp + fn).astype(int).tolist()}
