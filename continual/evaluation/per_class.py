"""Per-class scores of pooled predictions: pure functions of integer class ids and counts.

After training experience i the predictions on the test sets of experiences 0..i are pooled into
one confusion matrix over the S classes seen so far (docs/design.md, Metrics):

    C[a][b] = #{n : y_n = c_a and ŷ_n = c_b}            for a, b < S
    C[a][S] = #{n : y_n = c_a and ŷ_n not a seen class}  (the last column)

A text of one experience predicted as another experience's class is a false positive of that
class; a prediction of a class not seen yet is an error on its text and a false positive of no
seen class (scikit-learn's ``labels=`` restricts the columns the same way). From C:

    tp_c = C[c][c],  fp_c = sum_{a != c} C[a][c],  fn_c = sum_{b != c} C[c][b]  (b up to S)
    precision_c = tp_c / (tp_c + fp_c),  recall_c = tp_c / (tp_c + fn_c),
    f1_c = 2 tp_c / (2 tp_c + fp_c + fn_c),  support_c = tp_c + fn_c

each 0 where its denominator is 0 (scikit-learn's ``zero_division=0``), and macro-F1 is the
unweighted mean of f1_c over the seen classes (``f1_score(average="macro", labels=seen)``).
No function modifies its input.

References
- Sokolova, M. & Lapalme, G. (2009). A systematic analysis of performance measures for
  classification tasks. Information Processing & Management 45(4). (macro-averaged F1)
- Pedregosa, F. et al. (2011). Scikit-learn: Machine Learning in Python. JMLR 12.
  (``sklearn.metrics.precision_recall_fscore_support``, whose values these equal)
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Counts = Sequence[Sequence[int]]


def confusion_counts(true_ids: Sequence[int], predicted_ids: Sequence[int], classes: Sequence[int]) -> list[list[int]]:
    """C as plain lists of ints: S rows of S + 1 counts, rows and columns in the order of
    ``classes`` and a last column for predictions outside them (formula in the module docstring).

    Every true id must be one of ``classes``: the pooled test sets hold only seen classes.
    """
    true = np.asarray(true_ids, dtype=np.int64)
    predicted = np.asarray(predicted_ids, dtype=np.int64)
    if true.shape != predicted.shape:
        raise ValueError(f"{true.size} true ids but {predicted.size} predicted ids")
    position = {int(c): k for k, c in enumerate(classes)}
    if len(position) != len(classes):
        raise ValueError("classes must not repeat")
    outside = len(classes)
    rows = [position.get(int(y), -1) for y in true]
    if -1 in rows:
        raise ValueError("a true class id is not among the seen classes")
    columns = [position.get(int(p), outside) for p in predicted]
    counts = np.zeros((len(classes), len(classes) + 1), dtype=np.int64)
    np.add.at(counts, (np.array(rows, dtype=np.int64), np.array(columns, dtype=np.int64)), 1)
    return counts.tolist()


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    safe = np.where(denominator > 0, denominator, 1)
    return np.where(denominator > 0, numerator / safe, 0.0)


def per_class_scores(counts: Counts) -> dict[str, list]:
    """``precision``, ``recall``, ``f1`` (floats) and ``support`` (ints) per seen class, from C
    (S rows of S + 1 counts; formulas in the module docstring)."""
    c = np.array(counts, dtype=np.int64).reshape(len(counts), -1)
    s = c.shape[0]
    if c.shape[1] != s + 1:
        raise ValueError(f"a confusion matrix over {s} classes needs {s + 1} columns, got {c.shape[1]}")
    tp = np.diag(c[:, :s]).astype(float)
    predicted_as = c[:, :s].sum(axis=0).astype(float)
    support = c.sum(axis=1)
    fp, fn = predicted_as - tp, support - tp
    return {"precision": _ratio(tp, predicted_as).tolist(), "recall": _ratio(tp, support.astype(float)).tolist(),
            "f1": _ratio(2 * tp, 2 * tp + fp + fn).tolist(), "support": support.tolist()}


def macro_f1(counts: Counts, scorer=None) -> float:
    """mean_c f1_c over the S seen classes of C (0.0 for no class). ``scorer`` reads other
    counts than C (token and multi-label runs keep ``[tp, fp, fn]`` per class:
    :func:`continual.evaluation.tagging.scores`)."""
    f1 = (scorer or per_class_scores)(counts)["f1"]
    return float(np.mean(f1)) if f1 else 0.0


def experience_f1(counts: Counts, classes: Sequence[int], experience_classes: Sequence[Sequence[int]],
                  scorer=None) -> list[float]:
    """One row of ``macro_f1_matrix``: for each experience j, mean_{c in classes of j} f1_c in C,
    where a class of j not among ``classes`` (not seen yet) counts 0; 0.0 for an experience
    without classes."""
    f1 = dict(zip((int(c) for c in classes), (scorer or per_class_scores)(counts)["f1"]))
    return [float(np.mean([f1.get(int(c), 0.0) for c in own])) if len(own) else 0.0 for own in experience_classes]


def per_class_rows(classes_by_step: Sequence[Sequence[int]], counts_by_step: Sequence[Counts],
                   names: Sequence[str], scorer=None) -> list[list]:
    """per_class.csv's rows ``[after_experience, class_id, class_name, precision, recall, f1,
    support]``: one per class seen through each step, in the order of that step's classes."""
    rows = []
    for step, (classes, counts) in enumerate(zip(classes_by_step, counts_by_step)):
        scores = (scorer or per_class_scores)(counts)
        for k, class_id in enumerate(classes):
            rows.append([step, int(class_id), names[class_id], scores["precision"][k], scores["recall"][k],
                         scores["f1"][k], scores["support"][k]])
    return rows


def confusion_table(classes: Sequence[int], counts: Counts, names: Sequence[str],
                    outside: str = "outside the seen classes") -> tuple[list[str], list[list]]:
    """confusion_matrix.csv's header and rows: true class names down, predicted class names
    across, counts only; the last column (predictions outside the seen classes, or for entities
    those missed) only where it holds any."""
    labels = [names[c] for c in classes]
    extra = any(row[-1] for row in counts)
    header = ["true \\ predicted", *labels, *([outside] if extra else [])]
    rows = [[label, *[int(v) for v in (row if extra else row[:-1])]] for label, row in zip(labels, counts)]
    return header, rows
