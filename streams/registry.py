"""Built-in streams, registered by name (``--stream NAME``; ``--list-streams`` shows them).

A built-in stream is a function of the seed and the sizes that reads its table from
:mod:`streams.icd10cm` and cuts it with :func:`streams.builders.build_stream`; see
docs/design.md, Streams.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Optional, Sequence

from .base import TASK_TYPES, DataError, Stream


@dataclass(frozen=True)
class StreamSpec:
    """A registered stream: its name, scenario, description, default experiences, builder and
    task type (one of :data:`streams.base.TASK_TYPES`)."""

    name: str
    scenario: str
    description: str
    default_experiences: int
    build: Callable[..., Stream]
    task_type: str = "single-label"
    #: training settings this stream's runs start from, as (field, value, source): above
    #: TrainingConfig's defaults, below a strategy's own, the config file and the flags
    training_defaults: tuple[tuple[str, Any, str], ...] = ()


BUILTIN_STREAMS: dict[str, StreamSpec] = {}


def register_stream(name: str, *, scenario: str, description: str, default_experiences: int,
                    task_type: str = "single-label",
                    training_defaults: Optional[dict[str, tuple[Any, str]]] = None):
    """Register the decorated builder under ``name``; a name registered twice is an error.
    ``training_defaults`` maps a TrainingConfig field to ``(value, source)``: the budget a
    stream needs where it differs from the suite's (each with the validation run that chose it)."""
    training = []
    for key, entry in (training_defaults or {}).items():
        if not (isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[1], str) and entry[1]):
            raise ValueError(f"training default {name}.{key} must be (value, source text)")
        training.append((key, *entry))

    def decorator(build: Callable[..., Stream]) -> Callable[..., Stream]:
        if name in BUILTIN_STREAMS:
            raise ValueError(f"stream {name!r} is registered twice")
        if task_type not in TASK_TYPES:
            raise ValueError(f"stream {name!r}: task_type must be one of {TASK_TYPES}")
        BUILTIN_STREAMS[name] = StreamSpec(name, scenario, description, default_experiences, build,
                                           task_type, tuple(training))
        return build

    return decorator


@register_stream(
    "icd10cm-chapters",
    scenario="class",
    description="Class-incremental: label = ICD-10-CM chapter (21 chapters; chapter 22 has too few "
    "texts), text = leaf code titles + inclusion terms, capped per class.",
    default_experiences=5,
)
def icd10cm_chapters(
    *,
    seed: int,
    n_experiences: Optional[int] = None,
    train_per_class: int = 200,
    test_per_class: int = 50,
    class_order: Optional[Sequence[int]] = None,
    val_per_class: int = 0,
    shots: Optional[int] = None,
    split_seed: int = 0,
) -> Stream:
    from . import icd10cm
    from .sources import SourceTable

    spec = BUILTIN_STREAMS["icd10cm-chapters"]
    records, notes = icd10cm.chapter_records()
    table = SourceTable.from_records(records, name="icd10cm",
                                     card=icd10cm.card(spec.name, spec.description))
    return _build(spec, table, notes, seed=seed, n_experiences=n_experiences,
                  train_per_class=train_per_class, test_per_class=test_per_class,
                  val_per_class=val_per_class, shots=shots, class_order=class_order, split_seed=split_seed)


@register_stream(
    "icd10cm-blocks",
    scenario="task",
    description="Task-incremental: each experience is one ICD-10-CM chapter (chapters with at "
    "least 6 blocks of 50+ texts, in ICD order: 17 chapters), label = its block (section), text = "
    "leaf code titles + inclusion terms, capped per class; blocks below 50 texts are left out.",
    default_experiences=5,
)
def icd10cm_blocks(
    *,
    seed: int,
    n_experiences: Optional[int] = None,
    train_per_class: int = 200,
    test_per_class: int = 50,
    class_order: Optional[Sequence[int]] = None,
    val_per_class: int = 0,
    shots: Optional[int] = None,
    split_seed: int = 0,
) -> Stream:
    from . import icd10cm

    spec = BUILTIN_STREAMS["icd10cm-blocks"]
    table, notes_by_task = icd10cm.block_table()
    count = n_experiences or spec.default_experiences
    used = (table.task_order or [])[:count]
    notes = notes_by_task.get("", []) + [n for task in used for n in notes_by_task.get(task, [])]
    table = replace(table, card=icd10cm.card(spec.name, spec.description))
    return _build(spec, table, notes, seed=seed, n_experiences=count,
                  train_per_class=train_per_class, test_per_class=test_per_class,
                  val_per_class=val_per_class, shots=shots, class_order=class_order, split_seed=split_seed)


@register_stream(
    "icd10cm-views",
    scenario="domain",
    description="Domain-incremental: label = ICD-10-CM chapter (20 chapters: 8 and 22 have fewer "
    "than 50 texts in some view); experience 0 = code titles, 1 = inclusion terms, 2 = excludes-"
    "note phrases (their chapter from the code they reference), capped per class.",
    default_experiences=3,
)
def icd10cm_views(
    *,
    seed: int,
    n_experiences: Optional[int] = None,
    train_per_class: int = 200,
    test_per_class: int = 50,
    class_order: Optional[Sequence[int]] = None,
    val_per_class: int = 0,
    shots: Optional[int] = None,
    split_seed: int = 0,
) -> Stream:
    from . import icd10cm

    spec = BUILTIN_STREAMS["icd10cm-views"]
    table, notes = icd10cm.view_table()
    table = replace(table, card=icd10cm.card(spec.name, spec.description))
    return _build(spec, table, notes, seed=seed, n_experiences=n_experiences or spec.default_experiences,
                  train_per_class=train_per_class, test_per_class=test_per_class,
                  val_per_class=val_per_class, shots=shots, class_order=class_order, split_seed=split_seed,
                  domain_order=list(icd10cm.VIEWS))


@register_stream(
    "icd10cm-tags",
    scenario="class",
    task_type="token",
    description="Class-incremental disease tagging (a BIO tag per word): the sentences are "
    "synthetic clinical note templates, the entities in them real ICD-10-CM terms (leaf code "
    "titles and inclusion terms); entity type = disease group (8: diabetes E08-E13, neoplasm "
    "C00-D49, cerebrovascular I60-I69, heart disease I20-I5A, chronic lower respiratory J40-J4A, "
    "kidney failure N17-N19, influenza and pneumonia J09-J18, liver disease K70-K77), 2 types "
    "per experience; some sentences hold two entities, some none; capped per type (sentences).",
    default_experiences=4,
    training_defaults={"lr": (3e-4, (
        "validation of icd10cm-tags, tuning seeds 10-11, naive at lr 1e-4, 3e-4, 1e-3 x 2, 5 epochs "
        "(results/reference/tuning/icd10cm-tags/naive/): by the default budget's rule, the cheapest "
        "setting at which naive learns every experience (entity F1 >= 0.8 on each diagonal entry, both "
        "seeds: 0.88 at worst); 1e-4 needs 5 epochs, 1e-3 collapses to all O"))},
)
def icd10cm_tags(
    *,
    seed: int,
    n_experiences: Optional[int] = None,
    train_per_class: int = 200,
    test_per_class: int = 50,
    class_order: Optional[Sequence] = None,
    val_per_class: int = 0,
    shots: Optional[int] = None,
    split_seed: int = 0,
) -> Stream:
    from . import icd10cm_tags
    from .task_builders import build_token_stream

    if shots is not None:
        raise DataError("--shots applies to single-label streams only: leave it out for icd10cm-tags")
    spec = BUILTIN_STREAMS["icd10cm-tags"]
    table, notes = icd10cm_tags.tag_table(spec.name, spec.description)
    stream = build_token_stream(table, scenario=spec.scenario, seed=seed,
                                n_experiences=n_experiences or spec.default_experiences,
                                train_per_class=train_per_class, test_per_class=test_per_class,
                                val_per_class=val_per_class, split_seed=split_seed,
                                class_order=class_order, name=spec.name, description=spec.description)
    stream.notes = notes + stream.notes
    return stream


def _build(spec: StreamSpec, table, notes: list[str], **options) -> Stream:
    """A built-in stream from its table: the spec's name, scenario and description; the source's
    notes first."""
    from .builders import build_stream

    stream = build_stream(table, scenario=spec.scenario, name=spec.name,
                          description=spec.description, **options)
    stream.notes = list(notes) + stream.notes
    return stream
