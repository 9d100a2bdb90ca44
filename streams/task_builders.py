"""``build_token_stream`` and ``build_multilabel_stream``: cut a :class:`TokenTable` or a
:class:`MultiLabelTable` into the experiences of one scenario.

Both see their table as examples that each carry a set of classes (the entity types of a
sentence, the labels of a text; none for a negative) and run the same named steps, in this order
(the order fixes the random draws, so it is part of the results; docs/design.md, Task types):

1. :func:`assign_layout`: the class groups (class scenario) or the experience of every row;
2. :func:`drop_repeats`: an example repeated with the same labels is kept once, one repeated
   with different labels is dropped;
3. :func:`split_examples`: train / validation / test once, from the ``split`` generator of
   ``split_seed``, before any cap (a given split is honoured); held-out examples that repeat a
   training (or, for test, a validation) example are dropped;
4. :func:`select_sides`: per experience and side, up to N examples per class (seeded) and up to N
   negatives; held-out draws come first and do not depend on the class order, so every run seed
   is scored on the same test examples;
5. :func:`make_task_experiences`: the experiences, with training labels cut to the experience's
   own classes in the class scenario and local ids in the task scenario.
"""
from __future__ import annotations

import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Hashable, NamedTuple, Optional, Sequence

from .base import DataError, ExperienceData, SourceCard, Stream
from .builders import (Sizes, _check_every_class_once, _check_order_options, _check_scenario,
                       _class_groups, _value_layout)
from .multilabel import MultiLabelTable
from .seeds import numpy_rng
from .splits import split_three_ways
from .tagging import TokenTable, entity_types, keep_types, relabel_types


@dataclass(frozen=True)
class _Kind:
    """How a task type's labels behave: the identity of a text, the classes of a label, a label
    cut to some classes and a label with renamed classes."""

    task_type: str
    what: str  # "sentence" or "text", for messages
    classes_word: str  # "entity types" or "labels"
    key: Callable[[Any], Hashable]
    classes_of: Callable[[Any], frozenset]
    keep: Callable[[Any, set], Any]
    relabel: Callable[[Any, dict], Any]


TOKEN = _Kind("token", "sentence", "entity types", tuple, lambda tags: frozenset(entity_types(tags)),
              keep_types, relabel_types)
MULTI_LABEL = _Kind("multi-label", "text", "labels", str, frozenset,
                    lambda labels, keep: [k for k in labels if k in keep],
                    lambda labels, mapping: sorted(mapping[k] for k in labels if k in mapping))


@dataclass(frozen=True)
class Examples:
    """A token or multi-label table seen one way: per row a text (words or a string), a label
    (tag ids or label ids) and its set of classes, plus the table's columns and provenance."""

    kind: _Kind
    name: str
    card: SourceCard
    texts: list
    labels: list
    classes: list[frozenset]
    class_names: list[str]
    domains: Optional[list[str]]
    tasks: Optional[list[str]]
    split: Optional[list[str]]
    task_order: Optional[list[str]]
    dropped: dict
    notes: list[str]

    @classmethod
    def of(cls, table) -> "Examples":
        kind = TOKEN if isinstance(table, TokenTable) else MULTI_LABEL
        texts = table.words if kind is TOKEN else table.texts
        labels = table.tags if kind is TOKEN else table.labels
        return cls(kind, table.name, table.card, list(texts), list(labels),
                   [kind.classes_of(y) for y in labels], list(table.class_names), table.domains,
                   table.tasks, table.split, table.task_order, dict(table.dropped), list(table.notes))


@dataclass(frozen=True)
class TaskLayout:
    """The class groups of a class scenario, or the experience of every row (-1: none) and the
    domain / task value of each experience."""

    scenario: str
    class_groups: Optional[list[list[int]]] = None
    experience: Optional[list[int]] = None
    names: Optional[list[str]] = None

    @property
    def count(self) -> int:
        return len(self.class_groups) if self.class_groups is not None else len(self.names)


class TaskSides(NamedTuple):
    """Row indices per split side, each sorted."""

    train: list[int]
    val: list[int]
    test: list[int]


def build_token_stream(
    table: TokenTable,
    *,
    scenario: str,
    seed: int,
    n_experiences: Optional[int],
    train_per_class: int,
    test_per_class: int,
    val_per_class: int = 0,
    split_seed: int = 0,
    class_order: Optional[Sequence] = None,
    domain_order: Optional[Sequence] = None,
    task_order: Optional[Sequence] = None,
    name: Optional[str] = None,
    description: Optional[str] = None,
) -> Stream:
    """A token-tagging stream over ``table``: texts are lists of words, labels lists of tag ids
    (:func:`streams.tagging.tag_names`), classes entity types; see :func:`build_task_stream`."""
    if not isinstance(table, TokenTable):
        raise TypeError("build_token_stream takes a TokenTable (streams.tagging.load_token_source)")
    return build_task_stream(
        table, scenario=scenario, seed=seed, n_experiences=n_experiences,
        train_per_class=train_per_class, test_per_class=test_per_class, val_per_class=val_per_class,
        split_seed=split_seed, class_order=class_order, domain_order=domain_order,
        task_order=task_order, name=name, description=description)


def build_multilabel_stream(
    table: MultiLabelTable,
    *,
    scenario: str,
    seed: int,
    n_experiences: Optional[int],
    train_per_class: int,
    test_per_class: int,
    val_per_class: int = 0,
    split_seed: int = 0,
    class_order: Optional[Sequence] = None,
    domain_order: Optional[Sequence] = None,
    task_order: Optional[Sequence] = None,
    name: Optional[str] = None,
    description: Optional[str] = None,
) -> Stream:
    """A multi-label stream over ``table``: texts are strings, labels sorted lists of label ids
    (empty for a negative); see :func:`build_task_stream`."""
    if not isinstance(table, MultiLabelTable):
        raise TypeError("build_multilabel_stream takes a MultiLabelTable "
                        "(streams.multilabel.load_multilabel_source)")
    return build_task_stream(
        table, scenario=scenario, seed=seed, n_experiences=n_experiences,
        train_per_class=train_per_class, test_per_class=test_per_class, val_per_class=val_per_class,
        split_seed=split_seed, class_order=class_order, domain_order=domain_order,
        task_order=task_order, name=name, description=description)


def build_task_stream(
    table,
    *,
    scenario: str,
    seed: int,
    n_experiences: Optional[int],
    train_per_class: int,
    test_per_class: int,
    val_per_class: int = 0,
    split_seed: int = 0,
    class_order: Optional[Sequence] = None,
    domain_order: Optional[Sequence] = None,
    task_order: Optional[Sequence] = None,
    name: Optional[str] = None,
    description: Optional[str] = None,
) -> Stream:
    """A stream of ``scenario`` over a token or multi-label table.

    - class: the classes (entity types, labels), in ``class_order`` (names or ids) or a seeded
      order, are cut into ``n_experiences`` groups (default 5, at most the number of classes).
      An experience's training labels keep its own classes only; its validation and test
      examples keep every gold label; its test set is the test examples that carry one of its
      classes, plus its share of negatives.
    - domain: one experience per domain value; every class, labels unchanged.
    - task: one experience per task, with local class ids named by ``label_names``.

    Per-class sizes are upper bounds and count examples per class (an example with two classes
    counts for both); negatives are kept, at most ``train_per_class`` / ``test_per_class`` /
    ``val_per_class`` per experience and side. ``test_ids`` / ``val_ids`` give each held-out
    example's table row.
    """
    _check_scenario(scenario, n_experiences)
    sizes = Sizes(train_per_class, test_per_class, val_per_class)
    examples = Examples.of(table)
    layout = assign_layout(examples, scenario=scenario, seed=seed, n_experiences=n_experiences,
                           class_order=class_order, domain_order=domain_order, task_order=task_order)
    rows, conflicting, repeated = drop_repeats(examples, layout=layout)
    rng = numpy_rng(split_seed, "split")
    sides, duplicates = split_examples(examples, rows=rows, layout=layout, sizes=sizes, rng=rng)
    members = select_sides(examples, layout=layout, sides=sides, sizes=sizes, rng=rng)
    experiences, class_names = make_task_experiences(examples, layout=layout, members=members)
    extra: dict = {"conflicting_texts_dropped": conflicting, "repeated_texts_dropped": repeated,
                   "duplicates_dropped": duplicates,
                   "negatives": {side: [sum(1 for r in members[side][e] if not examples.classes[r])
                                        for e in range(layout.count)] for side in TaskSides._fields}}
    extra.update((f"{reason}_dropped", n) for reason, n in examples.dropped.items())
    if layout.names is not None:
        extra[f"{scenario}s"] = list(layout.names)
    what = examples.kind.what
    notes = list(examples.notes) + [
        f"{n} {text}" for n, text in ((conflicting, f"{what}s repeated with different labels dropped"),
                                      (repeated, f"repeated {what}s dropped (kept once)"),
                                      (duplicates, f"held-out {what}s also in the training data dropped"))
        if n]
    return Stream(name=name or f"{examples.name}-{scenario}", scenario=scenario,
                  description=description or _describe(examples, layout), card=examples.card,
                  class_names=class_names, experiences=experiences, notes=notes, extra=extra,
                  task_type=examples.kind.task_type)


# --- the steps ------------------------------------------------------------------------------------


def assign_layout(examples: Examples, *, scenario: str, seed: int, n_experiences: Optional[int],
                  class_order: Optional[Sequence] = None, domain_order: Optional[Sequence] = None,
                  task_order: Optional[Sequence] = None) -> TaskLayout:
    """Step 1: the class groups, drawn from the ``class-order`` generator of ``seed`` when no
    order is given (class scenario), or the experience of every row (domain, task)."""
    _check_order_options(scenario, class_order=class_order, domain_order=domain_order,
                         task_order=task_order)
    if scenario == "class":
        order = _class_order(examples.class_names, class_order, seed)
        return TaskLayout(scenario, class_groups=_class_groups(
            order, n_experiences, classes_word=examples.kind.classes_word))
    names, experience = _value_layout(examples, scenario=scenario, n_experiences=n_experiences,
                                      domain_order=domain_order, task_order=task_order)
    return TaskLayout(scenario, experience=experience, names=names)


def drop_repeats(examples: Examples, *, layout: TaskLayout) -> tuple[list[int], int, int]:
    """Step 2: the rows in an experience, keeping the first of an example repeated with the same
    labels (per experience in the domain and task scenarios, per side when the data came split)
    and none of one repeated with different labels; also how many of each kind were dropped."""
    rows = list(range(len(examples.texts)))
    if layout.experience is not None:
        rows = [i for i in rows if layout.experience[i] >= 0]
    scope = layout.experience or [None] * len(examples.texts)
    side = examples.split or [None] * len(examples.texts)
    keys = {i: (scope[i], side[i], examples.kind.key(examples.texts[i])) for i in rows}
    labels_of: dict = defaultdict(set)
    for i in rows:
        labels_of[keys[i][::2]].add(tuple(examples.labels[i]))
    conflicting = {key for key, labels in labels_of.items() if len(labels) > 1}
    kept, seen = [], set()
    for i in rows:
        if keys[i][::2] in conflicting or keys[i] in seen:
            continue
        seen.add(keys[i])
        kept.append(i)
    n_conflicting = sum(1 for i in rows if keys[i][::2] in conflicting)
    return kept, n_conflicting, len(rows) - len(kept) - n_conflicting


def split_examples(examples: Examples, *, rows: list[int], layout: TaskLayout, sizes: Sizes,
                   rng) -> tuple[TaskSides, int]:
    """Step 3: train / validation / test rows and how many held-out duplicates were dropped.

    Without a given split, examples are stratified by their rarest class (negatives apart, and
    by experience in the domain and task scenarios); each stratum gives up to N test and N
    validation examples (N times the number of experiences for the negatives of a class
    stream, which are dealt to every experience) and keeps the rest for training, which
    :func:`select_sides` caps. A given split is honoured; validation examples then come from its
    validation rows or, without them, are held out of its training rows."""
    _check_class_sizes(examples, rows, given=examples.split is not None)
    frequency = Counter(k for i in rows for k in examples.classes[i])
    scope = layout.experience or [0] * len(examples.texts)
    strata = {i: (scope[i], min(examples.classes[i], key=lambda k: (frequency[k], k), default=-1))
              for i in rows}
    negatives_factor = layout.count if layout.scenario == "class" else 1
    if examples.split is None:
        train, val, test = [], [], []
        for positive in (True, False):
            part = [i for i in rows if bool(examples.classes[i]) == positive]
            factor = 1 if positive else negatives_factor
            sides = split_three_ways([strata[i] for i in part], train_per_class=sys.maxsize,
                                     test_per_class=sizes.test_per_class * factor,
                                     val_per_class=sizes.val_per_class * factor, rng=rng)
            for side, chosen in zip((train, val, test), sides):
                side.extend(part[k] for k in chosen)
        sides = TaskSides(sorted(train), sorted(val), sorted(test))
    else:
        by_side = {s: [i for i in rows if examples.split[i] == s] for s in ("train", "validation", "test")}
        train, val = by_side["train"], by_side["validation"] if sizes.val_per_class else []
        if sizes.val_per_class and not val:
            kept, _, held = split_three_ways([strata[i] for i in train], train_per_class=sys.maxsize,
                                             test_per_class=sizes.val_per_class, rng=rng)
            train, val = [train[k] for k in kept], [train[k] for k in held]
        sides = TaskSides(train, val, by_side["test"])
    return _drop_held_out_duplicates(examples, sides)


def select_sides(examples: Examples, *, layout: TaskLayout, sides: TaskSides, sizes: Sizes,
                 rng) -> dict[str, list[list[int]]]:
    """Step 4: the rows of each experience per side: for each of its classes up to N rows that
    carry it, the union, plus up to N negatives (dealt round-robin from a seeded order in the
    class scenario). Training rows go to one experience only. Draws: test, validation (both
    independent of the class order), then training."""
    caps = {"train": sizes.train_per_class, "val": sizes.val_per_class, "test": sizes.test_per_class}
    members = {side: [[] for _ in range(layout.count)] for side in TaskSides._fields}
    for side in ("test", "val", "train"):
        pool = getattr(sides, side)
        if not caps[side] or not pool:
            continue
        positives = _positives(examples, layout, pool, caps[side], rng, disjoint=side == "train")
        negatives = _negatives(examples, layout, pool, caps[side], rng)
        for e in range(layout.count):
            members[side][e] = sorted(positives[e] | negatives[e])
    return members


def make_task_experiences(examples: Examples, *, layout: TaskLayout,
                          members: dict[str, list[list[int]]]) -> tuple[list[ExperienceData], list[str]]:
    """Step 5: the experiences and the stream's class names. Class scenario: training labels keep
    the experience's classes only. Task scenario: each experience numbers the classes it holds
    from 0 (``label_names``) and the stream names them "<task>: <class>"."""
    experiences, class_names = [], []
    for e in range(layout.count):
        for side in ("train", "test"):
            if not members[side][e]:
                raise DataError(_empty_message(examples, layout, e, side))
        present = sorted({k for side in TaskSides._fields for r in members[side][e] for k in examples.classes[r]})
        label_names, classes = None, present
        if layout.scenario == "class":
            classes = list(layout.class_groups[e])
        elif layout.scenario == "task":
            label_names, classes = [examples.class_names[k] for k in present], list(range(len(present)))
            class_names.extend(f"{layout.names[e]}: {n}" for n in label_names)
        label = _labeller(examples, layout, e, present)
        data = {}
        for side in TaskSides._fields:
            data[f"{side}_texts"] = [_copy(examples.texts[r]) for r in members[side][e]]
            data[f"{side}_labels"] = [label(side, r) for r in members[side][e]]
        experiences.append(ExperienceData(
            id=e, classes=classes, task=e if layout.scenario == "task" else 0, label_names=label_names,
            test_ids=list(members["test"][e]), val_ids=list(members["val"][e]), **data))
    return experiences, class_names if layout.scenario == "task" else list(examples.class_names)


def _labeller(examples: Examples, layout: TaskLayout, e: int, present: list[int]) -> Callable[[str, int], list]:
    """The label of a row on a side of experience ``e``: the gold label, cut to the experience's
    own classes in class-scenario training, in local ids in the task scenario."""
    kind = examples.kind
    if layout.scenario == "task":
        local = {k: i for i, k in enumerate(present)}
        return lambda side, r: list(kind.relabel(examples.labels[r], local))
    own = set(layout.class_groups[e]) if layout.scenario == "class" else None
    return lambda side, r: list(kind.keep(examples.labels[r], own) if own is not None and side == "train"
                                else examples.labels[r])


# --- helpers --------------------------------------------------------------------------------------


def _class_order(class_names: list[str], class_order: Optional[Sequence], seed: int) -> list[int]:
    """Class ids in order: the given order (class names or ids), or from the seed."""
    classes = list(range(len(class_names)))
    if class_order is None:
        return [int(i) for i in numpy_rng(seed, "class-order").permutation(len(classes))]
    given = [str(c).strip() for c in class_order]
    by_name = {n: i for i, n in enumerate(class_names)}
    by_id = {str(i): i for i in classes}
    lookup = by_name if all(c in by_name for c in given) else by_id
    unknown = next((c for c in given if c not in lookup), None)
    if unknown is not None:
        raise DataError(f"--class-order names {unknown!r}, which is not a class name or id "
                        f"(0..{len(classes) - 1}): check the order")
    order = [lookup[c] for c in given]
    _check_every_class_once(order, len(classes))
    return order


def _check_class_sizes(examples: Examples, rows: list[int], *, given: bool) -> None:
    """Every class can give a training and a test example (a given split is taken as it is)."""
    counts = Counter(k for i in rows for k in examples.classes[i])
    if not counts:
        raise DataError(f"no {examples.kind.what} of {examples.name} left to split carries any of "
                        f"its {examples.kind.classes_word}: check the data and the order options")
    if given:
        return
    for k, name in enumerate(examples.class_names):
        if counts[k] < 2:
            raise DataError(f"{examples.kind.classes_word[:-1]} {name!r} occurs in {counts[k]} "
                            f"{examples.kind.what}{'s' if counts[k] != 1 else ''}, fewer than the 2 "
                            "needed to split it into train and test: drop it from the data")


def _drop_held_out_duplicates(examples: Examples, sides: TaskSides) -> tuple[TaskSides, int]:
    key = examples.kind.key
    trained = {key(examples.texts[i]) for i in sides.train}
    val = [i for i in sides.val if key(examples.texts[i]) not in trained]
    held = trained | {key(examples.texts[i]) for i in val}
    test = [i for i in sides.test if key(examples.texts[i]) not in held]
    return TaskSides(sides.train, val, test), len(sides.val) - len(val) + len(sides.test) - len(test)


def _positives(examples: Examples, layout: TaskLayout, pool: list[int], cap: int, rng, *,
               disjoint: bool) -> list[set[int]]:
    """Per experience, the union over its classes of up to ``cap`` pool rows carrying each.
    Held-out draws are made per class in id order, so they do not depend on the class groups;
    with ``disjoint`` a row taken by one experience is not offered to a later one."""
    carrying: dict = defaultdict(list)
    for r in pool:
        scope = layout.experience[r] if layout.experience is not None else 0
        for k in examples.classes[r]:
            carrying[(scope, k)].append(r)
    chosen: list[set[int]] = [set() for _ in range(layout.count)]
    if layout.class_groups is not None and not disjoint:
        picks = {k: _draw(carrying[(0, k)], cap, rng) for k in range(len(examples.class_names))}
        for e, group in enumerate(layout.class_groups):
            chosen[e] = {r for k in group for r in picks[k]}
        return chosen
    used: set[int] = set()
    for e in range(layout.count):
        cells = [(0, k) for k in layout.class_groups[e]] if layout.class_groups is not None else \
            sorted(cell for cell in carrying if cell[0] == e)
        for cell in cells:
            picked = _draw([r for r in carrying[cell] if r not in used], cap, rng)
            chosen[e].update(picked)
        used |= chosen[e]
    return chosen


def _negatives(examples: Examples, layout: TaskLayout, pool: list[int], cap: int, rng) -> list[set[int]]:
    """Per experience, up to ``cap`` pool rows without any class: its own (domain, task), or dealt
    round-robin from a seeded order of all of them (class)."""
    negatives = [r for r in pool if not examples.classes[r]]
    if layout.class_groups is not None:
        order = [negatives[k] for k in rng.permutation(len(negatives))]
        return [set(order[e::layout.count][:cap]) for e in range(layout.count)]
    return [set(_draw([r for r in negatives if layout.experience[r] == e], cap, rng))
            for e in range(layout.count)]


def _draw(rows: list[int], cap: int, rng) -> list[int]:
    if len(rows) <= cap:
        return list(rows)
    return [rows[k] for k in sorted(rng.permutation(len(rows))[:cap])]


def _copy(text):
    return list(text) if isinstance(text, (list, tuple)) else text


def _empty_message(examples: Examples, layout: TaskLayout, e: int, side: str) -> str:
    where = f"experience {e}" if layout.names is None else f"{layout.scenario} {layout.names[e]!r}"
    fix = {"class": f"give its {examples.kind.classes_word} more {examples.kind.what}s or use fewer experiences",
           "domain": "give it more examples or leave it out with --domain-order",
           "task": "give it more examples or leave it out with --task-order"}[layout.scenario]
    return f"{where} has no {side} {examples.kind.what}s after the split: {fix}"


def _describe(examples: Examples, layout: TaskLayout) -> str:
    classes = f"{len(examples.class_names)} {examples.kind.classes_word}"
    by = {"class": f"{classes} in {layout.count} groups",
          "domain": f"one experience per domain ({layout.count}), {classes}",
          "task": f"one task per experience ({layout.count})"}[layout.scenario]
    return (f"{layout.scenario.capitalize()}-incremental {examples.kind.task_type} stream over "
            f"{examples.name}: {by}.")
