"""``build_stream``: cut a :class:`SourceTable` into the experiences of one scenario.

A pure, keyword-only function of the table, the scenario, the orders, the number of experiences,
the per-class sizes and the seed, run as named steps in this order (the order fixes the random
draws, so it is part of the results; see docs/design.md, Streams and Reproducibility):

1. :func:`assign_experiences`: which experience each row belongs to;
2. :func:`drop_conflicting_texts`: texts that carry two labels;
3. :func:`drop_repeated_texts`: a text is kept once per experience (and split side);
4. :func:`check_class_sizes`: every class can be split;
5. :func:`split_rows`: an existing split as given, else seeded and stratified, whole groups to
   one side when there is a group column;
6. :func:`keep_shots`: ``shots`` training examples per class;
7. :func:`drop_held_out_duplicates`: held-out texts that also occur in any training data;
8. :func:`make_experiences`: the experiences, in the label space of the scenario.
"""
from __future__ import annotations

import sys
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Hashable, NamedTuple, Optional, Sequence

from .base import SCENARIOS, DataError, ExperienceData, Stream
from .seeds import numpy_rng
from .sources import SourceTable
from .splits import cap_per_stratum, sample_per_stratum, split_classes, split_three_ways

#: Class-incremental streams have this many experiences unless told (fewer when fewer classes).
DEFAULT_CLASS_EXPERIENCES = 5


@dataclass(frozen=True)
class Sizes:
    """Per-class upper bounds of each side, the few-shot count and the smallest splittable class."""

    train_per_class: int
    test_per_class: int
    val_per_class: int = 0
    shots: Optional[int] = None
    min_examples_per_class: int = 2

    def __post_init__(self) -> None:
        if self.train_per_class < 1 or self.test_per_class < 1:
            raise DataError("the train and test sizes per class must be at least 1")
        if self.val_per_class < 0:
            raise DataError("--val-per-class must be 0 or more")
        if self.shots is not None and self.shots < 1:
            raise DataError("--shots must be at least 1")
        if self.min_examples_per_class < 2:
            raise DataError("the minimum examples per class must be at least 2 (one train, one test)")


@dataclass(frozen=True)
class Layout:
    """Which experience each table row belongs to (-1: none), and what the experiences are.

    ``class_groups`` holds the class ids of each experience (class scenario); ``names`` the
    domain or task value of each experience (domain and task scenarios).
    """

    scenario: str
    experience: list[int]
    class_groups: Optional[list[list[int]]] = None
    names: Optional[list[str]] = None

    @property
    def count(self) -> int:
        return len(self.class_groups) if self.class_groups is not None else len(self.names)


@dataclass(frozen=True)
class Selection:
    """The table rows kept for splitting and, per kept row, its text, class id, stratum (the class,
    or its experience and class) and experience. Split sides index these lists."""

    rows: list[int]
    texts: list[str]
    labels: list[int]
    strata: list[Hashable]
    experience: list[int]

    @classmethod
    def of(cls, table: SourceTable, *, rows: list[int], layout: Layout) -> "Selection":
        labels = [table.labels[i] for i in rows]
        experience = [layout.experience[i] for i in rows]
        strata: list[Hashable] = labels if layout.scenario == "class" else list(zip(experience, labels))
        return cls(rows, [table.texts[i] for i in rows], labels, strata, experience)


class Sides(NamedTuple):
    """Positions in a :class:`Selection` per split side, each list sorted."""

    train: list[int]
    val: list[int]
    test: list[int]


def build_stream(
    table: SourceTable,
    *,
    scenario: str,
    seed: int,
    n_experiences: Optional[int],
    train_per_class: int,
    test_per_class: int,
    val_per_class: int = 0,
    split_seed: int = 0,
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
    _check_scenario(scenario, n_experiences)
    sizes = Sizes(train_per_class, test_per_class, val_per_class, shots, min_examples_per_class)
    layout = assign_experiences(table, scenario=scenario, seed=seed, n_experiences=n_experiences,
                                class_order=class_order, domain_order=domain_order,
                                task_order=task_order)
    rows, conflicting = drop_conflicting_texts(table, layout=layout)
    rows, repeated = drop_repeated_texts(table, rows=rows, layout=layout)
    selection = Selection.of(table, rows=rows, layout=layout)
    check_class_sizes(table, selection=selection, layout=layout, sizes=sizes)
    sides = split_rows(table, selection=selection, sizes=sizes, split_seed=split_seed)
    sides = keep_shots(table, selection=selection, layout=layout, sides=sides, sizes=sizes, seed=seed)
    sides, duplicates = drop_held_out_duplicates(selection.texts, sides)
    extra: dict = {"conflicting_texts_dropped": conflicting, "repeated_texts_dropped": repeated,
                   "duplicates_dropped": duplicates}
    extra.update((f"{reason}_dropped", n) for reason, n in table.dropped.items())
    experiences, class_names, descriptions = make_experiences(
        table, selection=selection, layout=layout, sides=sides)
    if layout.names is not None:
        extra[f"{scenario}s"] = list(layout.names)
    return Stream(name=name or f"{table.name}-{scenario}", scenario=scenario,
                  description=description or _describe(table, layout), card=table.card,
                  class_names=class_names, experiences=experiences, class_descriptions=descriptions,
                  notes=list(table.notes) + _dropped_notes(extra), extra=extra)


# --- the steps ------------------------------------------------------------------------------------


def assign_experiences(
    table: SourceTable,
    *,
    scenario: str,
    seed: int,
    n_experiences: Optional[int],
    class_order: Optional[Sequence] = None,
    domain_order: Optional[Sequence] = None,
    task_order: Optional[Sequence] = None,
) -> Layout:
    """Step 1: the experience of every row. The class order is drawn here when not given."""
    _check_order_options(scenario, class_order=class_order, domain_order=domain_order,
                         task_order=task_order)
    if scenario == "class":
        groups = _class_groups(_class_order(table, class_order, seed), n_experiences)
        experience_of_class = {c: e for e, group in enumerate(groups) for c in group}
        return Layout(scenario, [experience_of_class[label] for label in table.labels],
                      class_groups=groups)
    names, experience = _value_layout(table, scenario=scenario, n_experiences=n_experiences,
                                      domain_order=domain_order, task_order=task_order)
    return Layout(scenario, experience, names=names)


def drop_conflicting_texts(table: SourceTable, *, layout: Layout) -> tuple[list[int], int]:
    """Step 2: the rows in an experience whose text carries one label only (within its task in
    the task scenario, where tasks have their own label spaces), and how many texts carry two."""
    rows = [i for i in range(len(table)) if layout.experience[i] >= 0]
    scope = table.tasks if layout.scenario == "task" else [None] * len(table)
    labels_of = defaultdict(set)
    for i in rows:
        labels_of[(scope[i], table.texts[i])].add(table.labels[i])
    conflicting = {key for key, labels in labels_of.items() if len(labels) > 1}
    return [i for i in rows if (scope[i], table.texts[i]) not in conflicting], len(conflicting)


def drop_repeated_texts(table: SourceTable, *, rows: list[int], layout: Layout) -> tuple[list[int], int]:
    """Step 3: ``rows`` keeping the first of each text per experience (and split side, when the
    data came split), and how many were dropped."""
    side = table.split or [None] * len(table)
    seen, unique_rows = set(), []
    for i in rows:
        key = (layout.experience[i], side[i], table.texts[i])
        if key not in seen:
            seen.add(key)
            unique_rows.append(i)
    return unique_rows, len(rows) - len(unique_rows)


def check_class_sizes(table: SourceTable, *, selection: Selection, layout: Layout, sizes: Sizes) -> None:
    """Step 4: every class can give a train and a test example. Built-in streams leave small
    classes out beforehand; a given split is taken as it is."""
    if table.split is not None:
        return
    # a domain stream has one label space: a class is counted over all its domains
    counted = selection.labels if layout.scenario == "domain" else selection.strata
    minimum = sizes.min_examples_per_class
    for stratum, n in sorted(Counter(counted).items()):
        if n < minimum:
            raise DataError(_too_few_message(table, layout, stratum, n, minimum))


def split_rows(table: SourceTable, *, selection: Selection, sizes: Sizes, split_seed: int) -> Sides:
    """Step 5: train / validation / test positions, from the ``split`` generator of ``split_seed``
    (not the run seed: every run seed is scored on the same test texts, and validation texts
    drawn under one seed are never test texts under another). With shots the training side is
    left whole here and sampled by :func:`keep_shots`."""
    train_cap = sys.maxsize if sizes.shots is not None else sizes.train_per_class
    rng = numpy_rng(split_seed, "split")
    groups = None if table.groups is None else [table.groups[i] for i in selection.rows]
    if table.split is None:
        return Sides(*split_three_ways(
            selection.strata, train_per_class=train_cap, test_per_class=sizes.test_per_class,
            val_per_class=sizes.val_per_class, rng=rng, groups=groups))
    given = [table.split[i] for i in selection.rows]
    return _given_split(given, selection.strata, groups, rng=rng, train_cap=train_cap, sizes=sizes)


def keep_shots(table: SourceTable, *, selection: Selection, layout: Layout, sides: Sides,
               sizes: Sizes, seed: int) -> Sides:
    """Step 6: with ``sizes.shots``, that many training positions per stratum (from the
    ``few-shot`` generator); a warning names each stratum that has fewer and keeps what it has.
    Called by :func:`build_stream` only, whose caller the warning names."""
    if sizes.shots is None:
        return sides
    kept, short = sample_per_stratum(sides.train, selection.strata, per_stratum=sizes.shots,
                                     rng=numpy_rng(seed, "few-shot"))
    for stratum, n in sorted(short.items(), key=lambda item: str(item[0])):
        warnings.warn(f"{_stratum_name(table, layout, stratum)} has only {n} training examples, "
                      f"fewer than {sizes.shots} shots: it keeps {n}", stacklevel=3)
    return sides._replace(train=kept)


def drop_held_out_duplicates(texts: list[str], sides: Sides) -> tuple[Sides, int]:
    """Step 7: validation texts that occur in training data anywhere in the stream, and test texts
    that occur in training or validation data, are dropped; also how many were."""
    trained = {texts[k] for k in sides.train}
    val = [k for k in sides.val if texts[k] not in trained]
    held_out_of_test = trained | {texts[k] for k in val}
    test = [k for k in sides.test if texts[k] not in held_out_of_test]
    dropped = (len(sides.val) - len(val)) + (len(sides.test) - len(test))
    return Sides(sides.train, val, test), dropped


def make_experiences(table: SourceTable, *, selection: Selection, layout: Layout, sides: Sides
                     ) -> tuple[list[ExperienceData], list[str], Optional[list[str]]]:
    """Step 8: the experiences, and the stream's class names and descriptions.

    The task scenario numbers each experience's labels from 0 and names the stream's classes
    "<task>: <class>"; the others keep the table's class ids and names.
    """
    members = {key: [[] for _ in range(layout.count)] for key in Sides._fields}
    for key, chosen in zip(Sides._fields, sides):
        for k in chosen:
            members[key][selection.experience[k]].append(k)
    experiences: list[ExperienceData] = []
    class_names: list[str] = []
    descriptions: Optional[list[str]] = [] if table.class_descriptions else None
    for e in range(layout.count):
        present = sorted({selection.labels[k] for key in members for k in members[key][e]})
        label_names = None
        if layout.scenario == "task":
            classes = list(range(len(present)))
            local = {c: i for i, c in enumerate(present)}
            label_names = [table.class_names[c] for c in present]
            class_names.extend(f"{layout.names[e]}: {n}" for n in label_names)
            if descriptions is not None:
                descriptions.extend(table.class_descriptions[c] for c in present)
        else:
            classes = list(layout.class_groups[e]) if layout.scenario == "class" else present
            local = {c: c for c in present}
        for key in ("train", "test"):
            if not members[key][e]:
                raise DataError(_empty_message(layout, e, key))
        sides_of_e = {}
        for key in Sides._fields:
            sides_of_e[f"{key}_texts"] = [selection.texts[k] for k in members[key][e]]
            sides_of_e[f"{key}_labels"] = [local[selection.labels[k]] for k in members[key][e]]
        experiences.append(ExperienceData(id=e, classes=classes, task=e if layout.scenario == "task" else 0,
                                          label_names=label_names, **sides_of_e))
    if layout.scenario != "task":
        return experiences, list(table.class_names), table.class_descriptions
    return experiences, class_names, descriptions


# --- helpers --------------------------------------------------------------------------------------


def _check_scenario(scenario: str, n_experiences: Optional[int]) -> None:
    if scenario not in SCENARIOS:
        raise DataError(f"unknown scenario {scenario!r}: use one of {', '.join(SCENARIOS)}")
    if n_experiences is not None and n_experiences < 1:
        raise DataError("--experiences must be at least 1")


def _check_order_options(scenario: str, *, class_order: Optional[Sequence],
                         domain_order: Optional[Sequence], task_order: Optional[Sequence]) -> None:
    """An order option of another scenario than ``scenario`` is refused, not silently ignored."""
    for option, given, applies in (("--class-order", class_order, "class"),
                                   ("--domain-order", domain_order, "domain"),
                                   ("--task-order", task_order, "task")):
        if given is not None and scenario != applies:
            raise DataError(f"{option} applies to the {applies} scenario only: leave it out")


def _class_groups(order: list[int], n_experiences: Optional[int], *,
                  classes_word: str = "classes") -> list[list[int]]:
    """The classes of ``order`` cut into ``n_experiences`` groups (default
    ``DEFAULT_CLASS_EXPERIENCES``, at most the number of classes); ``classes_word`` names the
    classes in the message."""
    count = n_experiences or min(DEFAULT_CLASS_EXPERIENCES, len(order))
    if count > len(order):
        raise DataError(f"cannot cut {len(order)} {classes_word} into {count} experiences: use "
                        f"--experiences between 1 and {len(order)}")
    return split_classes(order, count)


def _value_layout(table, *, scenario: str, n_experiences: Optional[int],
                  domain_order: Optional[Sequence], task_order: Optional[Sequence]
                  ) -> tuple[list[str], list[int]]:
    """The domain or task value of each experience of a domain or task ``scenario`` and the
    experience of every row (-1: its value is left out).

    ``table`` is any table with ``domains``, ``tasks`` and ``task_order`` columns. The values
    come in the given order, else the table's task order (tasks only), else sorted, and the
    first ``n_experiences`` of them are kept."""
    column = table.domains if scenario == "domain" else table.tasks
    if column is None:
        fix = "pass --domain-col" if scenario == "domain" else \
            "pass --task-col or a comma-separated list of files (one task per file)"
        raise DataError(f"the {scenario} scenario needs a {scenario} column: {fix}")
    given = domain_order if scenario == "domain" else (task_order or table.task_order)
    names = _value_order(column, given, scenario)
    if n_experiences is not None:
        if n_experiences > len(names):
            raise DataError(f"--experiences {n_experiences} is more than the {len(names)} "
                            f"{scenario} values: use at most {len(names)}")
        names = names[:n_experiences]
    position = {v: e for e, v in enumerate(names)}
    return names, [position.get(v, -1) for v in column]


def _class_order(table: SourceTable, class_order: Optional[Sequence], seed: int) -> list[int]:
    """Class ids in order: the given order (label values, class names or ids), or seeded."""
    classes = list(range(len(table.class_names)))
    if class_order is None:
        return [classes[i] for i in numpy_rng(seed, "class-order").permutation(len(classes))]
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
    _check_every_class_once(order, len(classes))
    return order


def _check_every_class_once(order: list[int], n_classes: int) -> None:
    """A given class order names each of the ``n_classes`` class ids exactly once."""
    if sorted(order) != list(range(n_classes)):
        raise DataError(f"the class order must name every class exactly once: the data has "
                        f"{n_classes} classes, the order names {len(set(order))} of them")


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


def _given_split(sides: list[str], strata: list[Hashable], groups: Optional[list[str]], *,
                 rng, train_cap: int, sizes: Sizes) -> Sides:
    """Honour an existing split; validation comes from 'validation' rows or, without them, is held
    out of the training rows (whole groups when there are groups). Draws: test, train, then
    validation."""
    train = [k for k, s in enumerate(sides) if s == "train"]
    test = cap_per_stratum([k for k, s in enumerate(sides) if s == "test"], strata,
                           sizes.test_per_class, rng)
    given_val = [k for k, s in enumerate(sides) if s == "validation"]
    if sizes.val_per_class == 0:
        return Sides(cap_per_stratum(train, strata, train_cap, rng), [], test)
    if given_val:
        capped_train = cap_per_stratum(train, strata, train_cap, rng)
        return Sides(capped_train, cap_per_stratum(given_val, strata, sizes.val_per_class, rng), test)
    sub_strata = [strata[k] for k in train]
    sub_groups = None if groups is None else [groups[k] for k in train]
    kept, _, held = split_three_ways(sub_strata, train_per_class=train_cap,
                                     test_per_class=sizes.val_per_class, rng=rng, groups=sub_groups)
    return Sides([train[k] for k in kept], [train[k] for k in held], test)


def _stratum_name(table: SourceTable, layout: Layout, stratum) -> str:
    if layout.scenario == "class":
        return f"class {table.class_names[stratum]!r}"
    e, label = stratum
    return f"class {table.class_names[label]!r} of {layout.scenario} {layout.names[e]!r}"


def _too_few_message(table: SourceTable, layout: Layout, stratum, n: int, minimum: int) -> str:
    if layout.scenario == "domain":
        what = f"class {table.class_names[stratum]!r}"
    else:
        what = _stratum_name(table, layout, stratum)
    return (f"{what} has {n} example{'s' if n != 1 else ''}, fewer than the {minimum} needed to "
            "split it into train and test: drop that label from the data or lower the minimum "
            "examples per class")


def _empty_message(layout: Layout, e: int, key: str) -> str:
    where = f"experience {e}" if layout.names is None else \
        f"{layout.scenario} {layout.names[e]!r}"
    fix = {"class": "give its classes more examples or use fewer experiences",
           "domain": "give it more examples or leave it out with --domain-order",
           "task": "give it more examples or leave it out with --task-order"}[layout.scenario]
    return f"{where} has no {key} examples after the split: {fix}"


#: the counts of ``stream.extra`` that become notes when not zero, with their wording
_DROPPED_NOTES = (("conflicting_texts_dropped", "texts with two different labels dropped"),
                  ("repeated_texts_dropped", "repeated texts dropped (kept once per experience)"),
                  ("duplicates_dropped", "held-out texts also in the training data dropped"))


def _dropped_notes(extra: dict) -> list[str]:
    return [f"{extra[key]} {what}" for key, what in _DROPPED_NOTES if extra[key]]


def _describe(table: SourceTable, layout: Layout) -> str:
    n_exp = layout.count
    by = {"class": f"{len(table.class_names)} classes in {n_exp} groups",
          "domain": f"one experience per domain ({n_exp})",
          "task": f"one task per experience ({n_exp})"}[layout.scenario]
    return f"{layout.scenario.capitalize()}-incremental stream over {table.name}: {by}."
