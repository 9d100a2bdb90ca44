"""What a run's accuracy matrix R[i][j] holds, in words, for every table and figure.

metrics.json's ``score`` names it: ``accuracy`` (top-1 accuracy, single-label streams),
``entity_f1`` (entity-level micro-F1, seqeval strict BIO, over experience j's entity types;
token tagging streams) or ``micro_f1`` (micro-F1 over experience j's labels; multi-label
streams). A run written before the key existed holds accuracy. Every metric (ACC, forgetting,
BWT, FWT, learning accuracy) is computed from R the same way whatever it holds, so only the
words change: a reader must never take an F1 for an accuracy (docs/design.md, Metrics).

Also here: the experiences' class names, shortened for tick labels.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

ACCURACY_KEY = "accuracy"


@dataclass(frozen=True)
class Score:
    """One kind of R[i][j] and the words for it."""

    key: str  # metrics.json's "score"
    name: str  # axis labels and table notes: "accuracy (top-1)"
    short: str  # titles and column headers: "accuracy", "entity F1"
    axis: str  # a value axis, with the unit: "accuracy (top-1, fraction)"
    definition: str  # what R[i][j] is, for the Definitions
    counted: str = "test texts"  # what a confusion matrix of such a run counts

    @property
    def title(self) -> str:
        """``short`` as a title starts: "Accuracy", "Entity F1", "Micro-F1"."""
        return self.short[:1].upper() + self.short[1:]

    @property
    def is_accuracy(self) -> bool:
        return self.key == ACCURACY_KEY


SCORES = {
    "accuracy": Score("accuracy", "accuracy (top-1)", "accuracy", "accuracy (top-1, fraction)",
                      "top-1 accuracy on the test set of experience j"),
    "entity_f1": Score("entity_f1", "entity F1 (strict, micro)", "entity F1", "entity F1 (strict, micro; fraction)",
                       "entity-level micro-F1 (seqeval, strict BIO) over experience j's entity types on its test set",
                       counted="gold entities"),
    "micro_f1": Score("micro_f1", "micro-F1", "micro-F1", "micro-F1 (fraction)",
                      "micro-F1 over experience j's labels on its test set", counted="gold label occurrences"),
}


def score_named(key: Optional[str]) -> Score:
    """The :class:`Score` of a metrics.json ``score`` value: accuracy when absent (runs written
    before the key existed); a key this version does not know is shown as itself, never as
    accuracy."""
    if not key:
        return SCORES[ACCURACY_KEY]
    if key == MIXED.key:  # comparison.csv's word for a row whose runs hold different scores
        return MIXED
    if key in SCORES:
        return SCORES[key]
    words = str(key).replace("_", " ")
    return Score(str(key), words, words, f"{words} (fraction)", f"{words} on the test set of experience j",
                 counted="test examples")


def score_of(metrics: dict) -> Score:
    """The score a run's metrics.json says its matrix holds."""
    return score_named(metrics.get("score"))


#: R of runs that hold different scores (a stream mixing them): named as a score, never as accuracy
MIXED = Score("mixed", "mixed scores (each run's own)", "score", "score (fraction; each run's own)",
              "the score each run names (top-1 accuracy, entity F1 or micro-F1) on the test set of experience j")


def common_score(runs: Iterable[dict]) -> Score:
    """The one score that ``runs`` (metrics.json contents) hold; :data:`MIXED` when they differ."""
    keys = {score_of(m).key for m in runs}
    return score_named(next(iter(keys))) if len(keys) == 1 else MIXED if keys else SCORES[ACCURACY_KEY]


def matrix_definition(scores_by_stream: dict[str, Score]) -> str:
    """The Definitions' sentence on R[i][j] and b[j]: the accuracy wording where every stream
    holds accuracy; otherwise what each stream's R holds, and that the metrics read it alike."""
    scores = list(dict.fromkeys(scores_by_stream.values()))
    if all(s.is_accuracy for s in scores):
        return ("R[i][j]: accuracy on the test set of experience j after training through experience i; "
                "b[j]: accuracy before any training.")
    kinds = "; ".join(
        f"{s.definition} ({', '.join(n for n, v in scores_by_stream.items() if v == s)})" for s in scores)
    return ("R[i][j]: the stream's score after training through experience i, and b[j] the same score before "
            f"any training: {kinds}. Every metric below is computed from R the same way whatever it holds, "
            "so where a definition says accuracy, read the stream's score (ACC of an entity-F1 stream is its "
            "average entity F1, not an accuracy).")


# ---------------------------------------------------------------------------------------------
# Experiences' class names, for tick labels
# ---------------------------------------------------------------------------------------------

def short_class_names(names: Sequence[str], keep: int = 2, width: int = 12, joiner: str = ", ") -> str:
    """The first ``keep`` names, each cut to ``width`` characters, joined by ``joiner``, and "+N"
    for the rest: ``Neoplasms, Diseases of… +3``; '' for no names."""
    def cut(name: str) -> str:
        name = " ".join(str(name).split())
        return name if len(name) <= width else name[: width - 1].rstrip() + "…"

    shown = joiner.join(cut(n) for n in names[:keep])
    return shown + (f" +{len(names) - keep}" if len(names) > keep else "")


def experience_class_names(runs: Sequence[dict], t: int) -> list[tuple[str, ...]]:
    """Per experience j < ``t``: its class names (metrics.json ``experiences[j].class_names``),
    or () where a run lacks them or the runs disagree (different class orders). All () when
    every experience has the same names (domain-incremental: they tell no experience apart)."""
    per_run = []
    for metrics in runs:
        experiences = metrics.get("experiences") or []
        if len(experiences) < t:
            return [()] * t
        per_run.append([tuple(str(n) for n in e.get("class_names") or ()) if isinstance(e, dict) else ()
                        for e in experiences[:t]])
    names = [column[0] if len(set(column)) == 1 else () for column in zip(*per_run)]
    if not names or len(set(names)) == 1:
        return [()] * t
    return names


def experience_tick_labels(class_names: Sequence[Sequence[str]], separator: str = "\n", **shortening) -> list[str]:
    """Tick labels: each experience's number, and after ``separator`` its class names shortened
    by :func:`short_class_names` (``shortening``: keep, width, joiner) where it has any."""
    labels = []
    for j, names in enumerate(class_names):
        short = short_class_names(list(names), **shortening)
        labels.append(f"{j}{separator}{short}" if short else str(j))
    return labels
