"""Built-in streams, registered by name."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from .base import Stream


@dataclass(frozen=True)
class StreamSpec:
    name: str
    scenario: str
    description: str
    default_experiences: int
    build: Callable[..., Stream]


BUILTIN_STREAMS: dict[str, StreamSpec] = {}


def register_stream(name: str, *, scenario: str, description: str, default_experiences: int):
    def decorator(build: Callable[..., Stream]) -> Callable[..., Stream]:
        if name in BUILTIN_STREAMS:
            raise ValueError(f"stream {name!r} is registered twice")
        BUILTIN_STREAMS[name] = StreamSpec(name, scenario, description, default_experiences, build)
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
) -> Stream:
    from . import icd10cm
    from .scenarios import class_incremental

    spec = BUILTIN_STREAMS["icd10cm-chapters"]
    records, notes = icd10cm.chapter_records()
    experiences = class_incremental(
        records,
        n_experiences=n_experiences or spec.default_experiences,
        seed=seed,
        train_per_class=train_per_class,
        test_per_class=test_per_class,
        class_order=class_order,
    )
    return Stream(
        name=spec.name,
        scenario=spec.scenario,
        description=spec.description,
        card=icd10cm.card(spec.name, spec.description),
        class_names=records.class_names,
        class_descriptions=records.class_descriptions,
        experiences=experiences,
        notes=notes,
    )
