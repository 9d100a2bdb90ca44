"""Seeded, stratified train/test splits with per-class upper bounds."""
from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np


def stratified_split(
    labels: Sequence[int],
    *,
    train_per_class: int,
    test_per_class: int,
    rng: np.random.Generator,
    min_test_share: float = 0.2,
) -> tuple[list[int], list[int]]:
    """Split indices into (train, test), per class, with seeded shuffling.

    Sizes are upper bounds: a class with ``n`` examples gives
    ``n_test = min(test_per_class, max(1, round(n * min_test_share)))`` test examples (so a small
    class still keeps most of its examples for training) and ``min(train_per_class, n - n_test)``
    training examples. Classes are visited in sorted order so the result depends only on the
    labels and the generator's state. Returned index lists are sorted.
    """
    by_class: dict[int, list[int]] = defaultdict(list)
    for index, label in enumerate(labels):
        by_class[int(label)].append(index)
    train: list[int] = []
    test: list[int] = []
    for label in sorted(by_class):
        indices = np.asarray(by_class[label])
        indices = indices[rng.permutation(len(indices))]
        n = len(indices)
        n_test = min(test_per_class, max(1, int(round(n * min_test_share)))) if n > 1 else 0
        n_train = min(train_per_class, n - n_test)
        test.extend(indices[:n_test].tolist())
        train.extend(indices[n_test : n_test + n_train].tolist())
    return sorted(train), sorted(test)


def split_classes(class_order: Sequence[int], n_experiences: int) -> list[list[int]]:
    """Cut an ordered class list into ``n_experiences`` contiguous groups.

    Every class lands in exactly one group; when the classes do not divide evenly the first groups
    get one class more (Avalanche's ``class_incremental_benchmark`` silently drops the remainder).
    """
    n_classes = len(class_order)
    if not 1 <= n_experiences <= n_classes:
        raise ValueError(
            f"cannot cut {n_classes} classes into {n_experiences} experiences: "
            f"use --experiences between 1 and {n_classes}"
        )
    base, extra = divmod(n_classes, n_experiences)
    groups, start = [], 0
    for e in range(n_experiences):
        size = base + (1 if e < extra else 0)
        groups.append([int(c) for c in class_order[start : start + size]])
        start += size
    return groups
