"""Plain data types shared by every stream: no Avalanche, no torch.

A source yields :class:`Records` (texts, integer labels, optional domain/task/group columns) and a
:class:`SourceCard` (provenance). A scenario builder cuts records into :class:`ExperienceData`
items, which together with the card form a :class:`Stream`.
"""
from __future__ import annotations

from dataclasses import dataclass, field, asdict
from typing import Optional


SCENARIOS = ("class", "domain", "task")


@dataclass(frozen=True)
class SourceCard:
    """Where a stream's texts and labels come from (shown by --list-streams, saved in config.json)."""

    name: str
    description: str
    source: str
    version: str
    licence: str
    citation: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Records:
    """A labelled text collection before it is cut into experiences.

    ``labels`` are integer class ids 0..C-1 indexing ``class_names``; ``class_descriptions``
    optionally gives a longer description per class (used by zero-shot strategies).
    """

    texts: list[str]
    labels: list[int]
    class_names: list[str]
    class_descriptions: Optional[list[str]] = None

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise ValueError("texts and labels must have the same length")

    def __len__(self) -> int:
        return len(self.texts)


@dataclass
class ExperienceData:
    """One experience: its train and test examples, the classes it introduces and its task id."""

    id: int
    classes: list[int]
    task: int
    train_texts: list[str]
    train_labels: list[int]
    test_texts: list[str]
    test_labels: list[int]

    @property
    def n_train(self) -> int:
        return len(self.train_texts)

    @property
    def n_test(self) -> int:
        return len(self.test_texts)

    def summary(self) -> dict:
        """The ``experiences`` entry of metrics.json (no texts)."""
        return {
            "id": self.id,
            "classes": list(self.classes),
            "task": self.task,
            "n_train": self.n_train,
            "n_test": self.n_test,
        }


@dataclass
class Stream:
    """An ordered list of experiences, its scenario, its class names and its provenance card."""

    name: str
    scenario: str
    description: str
    card: SourceCard
    class_names: list[str]
    experiences: list[ExperienceData]
    class_descriptions: Optional[list[str]] = None
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise ValueError(f"scenario must be one of {SCENARIOS}, got {self.scenario!r}")

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def summary(self) -> dict:
        """Sizes and provenance, without any text."""
        return {
            "name": self.name,
            "scenario": self.scenario,
            "description": self.description,
            "n_classes": self.n_classes,
            "n_experiences": len(self.experiences),
            "experiences": [e.summary() for e in self.experiences],
            "notes": list(self.notes),
            "card": self.card.to_dict(),
        }
