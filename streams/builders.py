"""``build_stream``: cut a :class:`SourceTable` into the experiences of one scenario.

A pure, keyword-only function of the table, the scenario, the orders, the number of experiences,
the per-class sizes and the seed. Steps: assign rows to experiences; drop texts that carry two
labels; keep a text once per experience (and split side); check every class can be split; split
(an existing split as given, else seeded and stratified, whole groups to one side when there is a
group column); keep ``shots`` training examples per class; drop held-out texts that also occur in
any training data of the stream.
"""
from __future__ import annotations

import sys
import warnings
from collections import Counter, defaultdict
from typing import Hashable, Optional, Sequence

import numpy as np

from .base import SCENARIOS, DataError, ExperienceData, Stream
from .sources import SourceTable
from .splits import _cap, sample_per_stratum, split_classes, split_three_ways

#: Class-incremental streams have this many experiences unless told (fewer when fewer classes).
DEFAULT_CLASS_EXPERIENCES = 5


def build_stream(
    table: SourceTable,
    *,
    scenario: str,
    seed: int,
    n_experiences: Optional[int],
    train_per_class: int,
    test_per_class: int,
    val_per_class: int = 0,
    shots: Optional[int] = None,
    class_order: Optional[Sequence] = None,
    domain_order: Optional[Sequence] = None,
    task_order: Optional[Sequence] = None,
    name: Optional[str] = None,
    min_examples_per_class: int = 2,
    description: Optional[str] = None,
) -> Stream:
    """A stream of ``scenario`` ('class', 'domain' or 'task') over ``table``.

    - class: the classes, in ``class_order`` (label values, class names or ids) or a seeded
      order, are cut into ``n_experiences`` groups (default 5, at most the number of classes);
      one growing label space; task 0.
    - domain: one experience per value of the domain column, in ``domain_order`` or sorted order;
      one label space (the table's class ids); task 0.
    - task: one experience per task (task column or file), in ``task_order``, the files' order or
      sorted order; experience ``t`` has task id ``t`` and local labels 0..C_t-1 named by its
      ``label_names``.

    Per-class sizes are upper bounds (see :func:`streams.splits.split_three_ways`); with
    ``shots`` the training data keeps ``min(shots, available)`` examples per class and
    experience instead of ``train_per_class``. Counts of what was dropped go into
    ``stream.extra``.
    """
    _check_arguments(scenario, n_experiences, train_per_class, test_per_class, val_per_class,
                     shots, min_examples_per_class)
    if class_order is not None and scenario != "class":
        raise DataError("--class-order applies to the class scenario only: leave it out")
    if domain_order is not None and scenario != "domain":
        raise DataError("--domain-order applies to the domain scenario only: leave it out")
    if task_order is not None and scenario != "task":
        raise DataError("--task-order applies to the task scenario only: leave it out")

    # 1. experiences: which rows belong to which experience
    if scenario == "class":
        order = _class_order(table, class_order, seed)
        count = n_experiences or min(DEFAULT_CLASS_EXPERIENCES, len(order))
        if count > len(order):
            raise DataError(f"cannot cut {len(order)} classes into {count} experiences: use "
                            f"--experiences between 1 and {len(order)}")
        class_groups = split_classes(order, count)
        experience_of_class = {c: e for e, group in enumerate(class_groups) for c in group}
        experience = [experience_of_class[label] for label in table.labels]
        experience_names = None
    else:
        column = table.domains if scenario == "domain" else table.tasks
        if column is None:
            fix = "pass --domain-col" if scenario == "domain" else \
                "pass --task-col or a comma-separated list of files (one task per file)"
            raise DataError(f"the {scenario} scenario needs a {scenario} column: {fix}")
        given = domain_order if scenario == "domain" else (task_order or table.task_order)
        experience_names = _value_order(column, given, scenario)
        if n_experiences is not None:
            if n_experiences > len(experience_names):
                raise DataError(f"--experiences {n_experiences} is more than the "
                                f"{len(experience_names)} {scenario} values: use at most "
                                f"{len(experience_names)}")
            experience_names = experience_names[:n_experiences]
        position = {v: e for e, v in enumerate(experience_names)}
        experience = [position.get(v, -1) for v in column]
        class_groups = None
    n_exp = len(class_groups) if class_groups is not None else len(experience_names)

    # 2. texts with two different labels (within one task for the task scenario) are dropped
    extra: dict = {}
    rows = [i for i in range(len(table)) if experience[i] >= 0]
    scope = table.tasks if scenario == "task" else [None] * len(table)
    labels_of = defaultdict(set)
    for i in rows:
        labels_of[(scope[i], table.texts[i])].add(table.labels[i])
    conflicting = {key for key, labels in labels_of.items() if len(labels) > 1}
    rows = [i for i in rows if (scope[i], table.texts[i]) not in conflicting]
    extra["conflicting_texts_dropped"] = len(conflicting)

    # 3. a text is kept once per experience (and split side, when the data came split)
    side = table.split or [None] * len(table)
    seen, unique_rows = set(), []
    for i in rows:
        key = (experience[i], side[i], table.texts[i])
        if key not in seen:
            seen.add(key)
            unique_rows.append(i)
    extra["repeated_texts_dropped"] = len(rows) - len(unique_rows)
    rows = unique_rows

    labels = [table.labels[i] for i in rows]
    strata: list[Hashable] = labels if scenario == "class" else \
        [(experience[i], label) for i, label in zip(rows, labels)]

    # 4. every class must be splittable (built-in streams leave small classes out beforehand)
    if table.split is None:
        # a domain stream has one label space: a class is counted over all its domains
        counted = labels if scenario == "domain" else strata
        for stratum, n in sorted(Counter(counted).items()):
            if n < min_examples_per_class:
                raise DataError(_too_few_message(table, scenario, stratum, n, min_examples_per_class,
                                                 experience_names))

    # 5. split
    train_cap = sys.maxsize if shots is not None else train_per_class
    rng = np.random.default_rng([seed, 2])
    groups = None if table.groups is None else [table.groups[i] for i in rows]
    if table.split is None:
        train, val, test = split_three_ways(
            strata, train_per_class=train_cap, test_per_class=test_per_class,
            val_per_class=val_per_class, rng=rng, groups=groups)
    else:
        train, val, test = _given_split([side[i] for i in rows], strata, groups, rng,
                                        train_cap, test_per_class, val_per_class)

    # 6. few-shot training data
    if shots is not None:
        train, short = sample_per_stratum(train, strata, per_stratum=shots,
                                          rng=np.random.default_rng([seed, 3]))
        for stratum, n in sorted(short.items(), key=lambda item: str(item[0])):
            warnings.warn(f"{_stratum_name(table, scenario, stratum, experience_names)} has only "
                          f"{n} training examples, fewer than {shots} shots: it keeps {n}",
                          stacklevel=2)

    # 7. held-out texts that also occur in training data anywhere in the stream are dropped
    texts = [table.texts[i] for i in rows]
    trained = {texts[k] for k in train}
    kept_val = [k for k in val if texts[k] not in trained]
    held_out_of_test = trained | {texts[k] for k in kept_val}
    kept_test = [k for k in test if texts[k] not in held_out_of_test]
    extra["duplicates_dropped"] = (len(val) - len(kept_val)) + (len(test) - len(kept_test))
    val, test = kept_val, kept_test
    for reason, n in table.dropped.items():
        extra[f"{reason}_dropped"] = n

    # 8. experiences
    experiences = []
    class_names: list[str] = []
    descriptions: Optional[list[str]] = [] if table.class_descriptions else None
    sides = {"train": train, "val": val, "test": test}
    members = {key: [[] for _ in range(n_exp)] for key in sides}
    for key, chosen in sides.items():
        for k in chosen:
            members[key][experience[rows[k]]].append(k)
    for e in range(n_exp):
        present = sorted({labels[k] for key in sides for k in members[key][e]})
        label_names = None
        if scenario == "class":
            classes = list(class_groups[e])
            local = {c: c for c in present}
        elif scenario == "domain":
            classes = present
            local = {c: c for c in present}
        else:
            classes = list(range(len(present)))
            local = {c: i for i, c in enumerate(present)}
            label_names = [table.class_names[c] for c in present]
            class_names.extend(f"{experience_names[e]}: {n}" for n in label_names)
            if descriptions is not None:
                descriptions.extend(table.class_descriptions[c] for c in present)
        for key in ("train", "test"):
            if not members[key][e]:
                raise DataError(_empty_message(scenario, e, key, experience_names))
        experiences.append(ExperienceData(
            id=e, classes=classes, task=e if scenario == "task" else 0,
            train_texts=[texts[k] for k in members["train"][e]],
            train_labels=[local[labels[k]] for k in members["train"][e]],
            test_texts=[texts[k] for k in members["test"][e]],
            test_labels=[local[labels[k]] for k in members["test"][e]],
            val_texts=[texts[k] for k in members["val"][e]],
            val_labels=[local[labels[k]] for k in members["val"][e]],
            label_names=label_names,
        ))
    if scenario != "task":
        class_names = list(table.class_names)
        descriptions = table.class_descriptions
    if experience_names is not None:
        extra[f"{scenario}s"] = list(experience_names)

    notes = list(table.notes)
    for key, what in (("conflicting_texts_dropped", "texts with two different labels dropped"),
                      ("repeated_texts_dropped", "repeated texts dropped (kept once per experience)"),
                      ("duplicates_dropped", "held-out texts also in the training data dropped")):
        if extra[key]:
            notes.append(f"{extra[key]} {what}")
    return Stream(
        name=name or f"{table.name}-{scenario}",
        scenario=scenario,
        description=description or _describe(table, scenario, n_exp, experience_names),
        card=table.card,
        class_names=class_names,
        experiences=experiences,
        class_descriptions=descriptions,
        notes=notes,
        extra=extra,
    )


def _check_arguments(scenario, n_experiences, train_per_class, test_per_class, val_per_class,
                     shots, min_examples_per_class) -> None:
    if scenario not in SCENARIOS:
        raise DataError(f"unknown scenario {scenario!r}: use one of {', '.join(SCENARIOS)}")
    if n_experiences is not None and n_experiences < 1:
        raise DataError("--experiences must be at least 1")
    if train_per_class < 1 or test_per_class < 1:
        raise DataError("the train and test sizes per class must be at least 1")
    if val_per_class < 0:
        raise DataError("--val-per-class must be 0 or more")
    if shots is not None and shots < 1:
        raise DataError("--shots must be at least 1")
    if min_examples_per_class < 2:
        raise DataError("the minimum examples per class must be at least 2 (one train, one test)")


def _class_order(table: SourceTable, class_order: Optional[Sequence], seed: int) -> list[int]:
    """Class ids in order: the given order (label values, class names or ids), or seeded."""
    classes = list(range(len(table.class_names)))
    if class_order is None:
        order_rng = np.random.default_rng([seed, 1])
        return [classes[i] for i in order_rng.permutation(len(classes))]
    given = [str(c).strip() for c in class_order]
    by_value = {str(v): i for i, v in enumerate(table.label_values)}
    by_name = {n: i for i, n in enumerate(table.class_names)}
    by_id = {str(i): i for i in classes}
    for lookup in (by_value, by_name, by_id):
        if all(c in lookup for c in given):
            order = [lookup[c] for c in given]
            break
    else:
        unknown = next(c for c in given if c not in by_value and c not in by_name and c not in by_id)
        raise DataError(f"--class-order names {unknown!r}, which is not a label value, class name "
                        f"or class id (0..{len(classes) - 1}): check the order")
    if sorted(order) != classes:
        raise DataError(f"the class order must name every class exactly once: the data has "
                        f"{len(classes)} classes, the order names {len(set(order))} of them")
    return order


def _natural_key(value: str):
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)


def _value_order(column: list[str], given: Optional[Sequence], scenario: str) -> list[str]:
    values = sorted(set(column), key=_natural_key)
    if given is None:
        return values
    order = [str(v).strip() for v in given]
    known = set(values)
    for v in order:
        if v not in known:
            shown = ", ".join(values[:20]) + (", ..." if len(values) > 20 else "")
            raise DataError(f"--{scenario}-order names {v!r}, which is not a {scenario} value; "
                            f"the values are: {shown}")
    if len(set(order)) != len(order):
        raise DataError(f"--{scenario}-order names a value twice: name each at most once")
    return order


def _given_split(sides, strata, groups, rng, train_cap, test_per_class, val_per_class):
    """Honour an existing split; validation comes from 'validation' rows or, without them, is held
    out of the training rows (whole groups when there are groups)."""
    train = [k for k, s in enumerate(sides) if s == "train"]
    test = _cap([k for k, s in enumerate(sides) if s == "test"], strata, test_per_class, rng)
    given_val = [k for k, s in enumerate(sides) if s == "validation"]
    if val_per_class == 0:
        return _cap(train, strata, train_cap, rng), [], test
    if given_val:
        return _cap(train, strata, train_cap, rng), _cap(given_val, strata, val_per_class, rng), test
    sub_strata = [strata[k] for k in train]
    sub_groups = None if groups is None else [groups[k] for k in train]
    kept, _, held = split_three_ways(sub_strata, train_per_class=train_cap,
                                     test_per_class=val_per_class, rng=rng, groups=sub_groups)
    return [train[k] for k in kept], [train[k] for k in held], test


def _stratum_name(table, scenario, stratum, experience_names) -> str:
    if scenario == "class":
        return f"class {table.class_names[stratum]!r}"
    e, label = stratum
    return f"class {table.class_names[label]!r} of {scenario} {experience_names[e]!r}"


def _too_few_message(table, scenario, stratum, n, minimum, experience_names) -> str:
    if scenario == "domain":
        what = f"class {table.class_names[stratum]!r}"
    else:
        what = _stratum_name(table, scenario, stratum, experience_names)
    return (f"{what} has {n} example{'s' if n != 1 else ''}, fewer than the {minimum} needed to "
            "split it into train and test: drop that label from the data or lower the minimum "
            "examples per class")


def _empty_message(scenario, e, key, experience_names) -> str:
    where = f"experience {e}" if experience_names is None else \
        f"{scenario} {experience_names[e]!r}"
    fix = {"class": "give its classes more examples or use fewer experiences",
           "domain": "give it more examples or leave it out with --domain-order",
           "task": "give it more examples or leave it out with --task-order"}[scenario]
    return f"{where} has no {key} examples after the split: {fix}"


def _describe(table, scenario, n_exp, experience_names) -> str:
    by = {"class": f"{len(table.class_names)} classes in {n_exp} groups",
          "domain": f"one experience per domain ({n_exp})",
          "task": f"one task per experience ({n_exp})"}[scenario]
    return f"{scenario.capitalize()}-incremental stream over {table.name}: {by}."
