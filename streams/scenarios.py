"""Scenario builders: pure, keyword-only functions from records to experiences.

The general builder over any source is :func:`streams.builders.build_stream`; this module keeps
the record-level entry point used by the built-in class-incremental stream and the tests.
"""
from __future__ import annotations

from typing import Optional, Sequence

from .base import ExperienceData, Records, SourceCard


def class_incremental(
    records: Records,
    *,
    n_experiences: int,
    seed: int,
    train_per_class: int,
    test_per_class: int,
    class_order: Optional[Sequence[int]] = None,
    val_per_class: int = 0,
    shots: Optional[int] = None,
) -> list[ExperienceData]:
    """Class-incremental experiences: classes cut into ``n_experiences`` groups.

    The class order is ``class_order`` (class ids) if given, else a permutation drawn from
    ``seed``; the split is stratified and seeded (its own generator, independent of the class
    order). All experiences share one growing label space and task id 0. ``val_per_class`` holds
    out validation examples from the training data; ``shots`` keeps that many training examples
    per class.
    """
    from .builders import build_stream
    from .sources import SourceTable

    card = SourceCard("records", "", "records", "", "", "")
    table = SourceTable.from_records(records, name="records", card=card)
    stream = build_stream(
        table,
        scenario="class",
        seed=seed,
        n_experiences=n_experiences,
        train_per_class=train_per_class,
        test_per_class=test_per_class,
        val_per_class=val_per_class,
        shots=shots,
        class_order=class_order,
    )
    return stream.experiences
