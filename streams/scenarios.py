"""Scenario builders: pure, keyword-only functions from records to experiences."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from .base import ExperienceData, Records
from .splits import split_classes, stratified_split


def class_incremental(
    records: Records,
    *,
    n_experiences: int,
    seed: int,
    train_per_class: int,
    test_per_class: int,
    class_order: Optional[Sequence[int]] = None,
) -> list[ExperienceData]:
    """Class-incremental experiences: classes cut into ``n_experiences`` groups.

    The class order is ``class_order`` if given, else a permutation drawn from ``seed``; the split
    is stratified and seeded (its own generator, independent of the class order). All experiences
    share one growing label space and task id 0.
    """
    classes = sorted(set(records.labels))
    if class_order is None:
        order_rng = np.random.default_rng([seed, 1])
        class_order = [classes[i] for i in order_rng.permutation(len(classes))]
    else:
        class_order = [int(c) for c in class_order]
        if sorted(class_order) != classes:
            raise ValueError("the class order must name every class exactly once")
    groups = split_classes(class_order, n_experiences)
    train_idx, test_idx = stratified_split(
        records.labels,
        train_per_class=train_per_class,
        test_per_class=test_per_class,
        rng=np.random.default_rng([seed, 2]),
    )
    experiences = []
    for exp_id, group in enumerate(groups):
        members = set(group)
        tr = [i for i in train_idx if records.labels[i] in members]
        te = [i for i in test_idx if records.labels[i] in members]
        experiences.append(
            ExperienceData(
                id=exp_id,
                classes=list(group),
                task=0,
                train_texts=[records.texts[i] for i in tr],
                train_labels=[records.labels[i] for i in tr],
                test_texts=[records.texts[i] for i in te],
                test_labels=[records.labels[i] for i in te],
            )
        )
    return experiences
