"""Plain data types shared by every stream: no Avalanche, no torch.

A source yields :class:`Records` (texts, integer labels, optional domain/task/group columns) and a
:class:`SourceCard` (provenance). A scenario builder cuts records into :class:`ExperienceData`
items, which together with the card form a :class:`Stream`.
"""
from __future__ import annotations

from dataclasses import dataclass, field, asdict
from typing import Optional


SCENARIOS = ("class", "domain", "task")
#: What a stream's labels are: one class per text, a BIO tag per word, or a set of labels per text
#: (docs/design.md, Task types).
TASK_TYPES = ("single-label", "token", "multi-label")


class DataError(ValueError):
    """Bad user data: a one-line message naming the problem and the fix.

    The message never quotes input text (clinical data can hold patient information): it names
    the file, the column, the row number or the label instead.
    """


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
    """One experience: its train, validation and test examples, its classes and its task id.

    ``label_names`` names this experience's label ids when they are local to it (the task
    scenario, where every task counts its labels from 0); otherwise it is None and the ids index
    the stream's ``class_names``. The validation split is held out of the training data and is
    never part of the test data.

    Token and multi-label streams also give ``test_ids`` and ``val_ids``: one stream-wide id per
    held-out example (its source row), so an example that sits in two experiences' test sets
    has the same id in both and a pooled score counts it once; single-label streams leave them
    None. In a token stream the texts are lists of words and the labels lists of tag ids
    (:mod:`streams.tagging`); in a multi-label stream the labels are sorted lists of label ids.
    """

    id: int
    classes: list[int]
    task: int
    train_texts: list[str]
    train_labels: list[int]
    test_texts: list[str]
    test_labels: list[int]
    val_texts: list[str] = field(default_factory=list)
    val_labels: list[int] = field(default_factory=list)
    label_names: Optional[list[str]] = None
    test_ids: Optional[list[int]] = None
    val_ids: Optional[list[int]] = None

    @property
    def n_train(self) -> int:
        return len(self.train_texts)

    @property
    def n_test(self) -> int:
        return len(self.test_texts)

    @property
    def n_val(self) -> int:
        return len(self.val_texts)

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
    """An ordered list of experiences, its scenario, its class names and its provenance card.

    ``extra`` holds facts about how the stream was made (counts of dropped duplicates, blank
    texts, ...); it is JSON-serialisable and never holds text. ``task_type`` is one of
    :data:`TASK_TYPES`.
    """

    name: str
    scenario: str
    description: str
    card: SourceCard
    class_names: list[str]
    experiences: list[ExperienceData]
    class_descriptions: Optional[list[str]] = None
    notes: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    task_type: str = "single-label"

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise ValueError(f"scenario must be one of {SCENARIOS}, got {self.scenario!r}")
        if self.task_type not in TASK_TYPES:
            raise ValueError(f"task_type must be one of {TASK_TYPES}, got {self.task_type!r}")

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def experience_summaries(self) -> list[dict]:
        """Each experience's ``summary()`` with ``class_names`` beside its class ids (a task's own
        label names in the task scenario). Names, never texts."""
        out = []
        for e in self.experiences:
            if e.label_names is not None:
                names = [e.label_names[c] if 0 <= c < len(e.label_names) else str(c) for c in e.classes]
            else:
                names = [self.class_names[c] if 0 <= c < len(self.class_names) else str(c) for c in e.classes]
            out.append({**e.summary(), "class_names": names})
        return out

    def summary(self) -> dict:
        """Sizes and provenance, without any text. ``task_type`` is there for token and
        multi-label streams; its absence means single-label, so the summaries of single-label
        streams read as they always have."""
        typed = {} if self.task_type == "single-label" else {"task_type": self.task_type}
        return {
            "name": self.name,
            "scenario": self.scenario,
            **typed,
            "description": self.description,
            "n_classes": self.n_classes,
            "n_experiences": len(self.experiences),
            "experiences": self.experience_summaries(),
            "notes": list(self.notes),
            "extra": dict(self.extra),
            "card": self.card.to_dict(),
        }


def validation_view(stream: Stream) -> Stream:
    """The stream as a tuning run sees it: each experience's validation split takes the place of
    its test set, and the test texts are left behind.

    Only the training and validation attributes of the experiences are read, so a tuning run
    cannot score, tokenize or cache a test text (docs/reproducibility.md, Validation protocol).
    """
    missing = [e.id for e in stream.experiences if not e.val_texts]
    if missing:
        raise DataError(f"experience(s) {', '.join(map(str, missing))} have no validation texts: "
                        "raise --val-per-class (tuning scores validation splits only)")
    experiences = [
        ExperienceData(id=e.id, classes=list(e.classes), task=e.task,
                       train_texts=list(e.train_texts), train_labels=list(e.train_labels),
                       test_texts=list(e.val_texts), test_labels=list(e.val_labels),
                       label_names=None if e.label_names is None else list(e.label_names),
                       test_ids=None if e.val_ids is None else list(e.val_ids))
        for e in stream.experiences
    ]
    return Stream(name=stream.name, scenario=stream.scenario, description=stream.description,
                  card=stream.card, class_names=list(stream.class_names), experiences=experiences,
                  class_descriptions=stream.class_descriptions,
                  notes=[*stream.notes, "scored on validation splits (a tuning run): no test text is used"],
                  extra=dict(stream.extra), task_type=stream.task_type)
