"""Continual-learning metrics: pure functions of the accuracy matrix.

Notation: ``R[i][j]`` is top-1 accuracy on the test set of experience ``j`` after training through
experience ``i`` (``i, j = 0..T-1``); ``b[j]`` is the accuracy on experience ``j`` of the model
before any training. No function modifies its input; all return plain floats (or lists, or None).

References
- Lopez-Paz, D. & Ranzato, M. (2017). Gradient Episodic Memory for Continual Learning. NeurIPS.
  (average accuracy, backward transfer BWT, forward transfer FWT)
- Chaudhry, A., Dokania, P., Ajanthan, T. & Torr, P. (2018). Riemannian Walk for Incremental
  Learning: Understanding Forgetting and Intransigence. ECCV. (forgetting)
- Rebuffi, S.-A., Kolesnikov, A., Sperl, G. & Lampert, C. (2017). iCaRL: Incremental Classifier and
  Representation Learning. CVPR. (average incremental accuracy)
- Riemer, M. et al. (2019). Learning to Learn without Forgetting by Maximizing Transfer and
  Minimizing Interference. ICLR. (learning accuracy)
- Lomonaco, V. et al. (2021). Avalanche: an End-to-End Library for Continual Learning. CVPR
  Workshops. (Avalanche's forgetting, a variant shown beside ours)
- Díaz-Rodríguez, N., Lomonaco, V., Filliat, D. & Maltoni, D. (2018). Don't forget, there is more
  than forgetting: new metrics for Continual Learning. NeurIPS Continual Learning Workshop,
  arXiv:1810.13166. (BWT over all pairs, a variant shown beside ours)

Beware: Avalanche's metric called "forgetting" is ``R[j][j] - R[T-1][j]`` (= -BWT per
experience), not Chaudhry's max-based forgetting of :func:`forgetting`; it is available as
:func:`avalanche_forgetting` for comparison with papers that report it (docs/design.md, Metrics).
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

Matrix = Sequence[Sequence[float]]


def _as_square(matrix: Matrix) -> np.ndarray:
    array = np.array(matrix, dtype=float)  # a copy: callers' lists are never touched
    if array.ndim != 2 or array.shape[0] != array.shape[1] or array.shape[0] == 0:
        raise ValueError(f"the accuracy matrix must be square and non-empty, got shape {array.shape}")
    return array


def average_accuracy(matrix: Matrix) -> float:
    """ACC = mean_j R[T-1][j] (Lopez-Paz & Ranzato 2017)."""
    r = _as_square(matrix)
    return float(r[-1].mean())


def average_incremental_accuracy(matrix: Matrix) -> float:
    """mean_i ( mean_{j<=i} R[i][j] ) (Rebuffi et al. 2017)."""
    r = _as_square(matrix)
    return float(np.mean([r[i, : i + 1].mean() for i in range(len(r))]))


def learning_accuracy(matrix: Matrix) -> float:
    """mean_j R[j][j]: accuracy on each experience right after learning it (Riemer et al. 2019)."""
    r = _as_square(matrix)
    return float(np.diag(r).mean())


def forgetting_per_experience(matrix: Matrix) -> list[float]:
    """f_j = max_{i in j..T-2} R[i][j] - R[T-1][j] for j < T-1 (Chaudhry et al. 2018)."""
    r = _as_square(matrix)
    t = len(r)
    return [float(r[j : t - 1, j].max() - r[t - 1, j]) for j in range(t - 1)]


def forgetting(matrix: Matrix) -> Optional[float]:
    """Mean Chaudhry forgetting over j < T-1; None for a single experience."""
    values = forgetting_per_experience(matrix)
    return float(np.mean(values)) if values else None


def bwt_per_experience(matrix: Matrix) -> list[float]:
    """R[T-1][j] - R[j][j] for j < T-1 (Lopez-Paz & Ranzato 2017)."""
    r = _as_square(matrix)
    t = len(r)
    return [float(r[t - 1, j] - r[j, j]) for j in range(t - 1)]


def bwt(matrix: Matrix) -> Optional[float]:
    """Backward transfer: mean over j < T-1 of R[T-1][j] - R[j][j]; None for T = 1."""
    values = bwt_per_experience(matrix)
    return float(np.mean(values)) if values else None


def fwt_per_experience(matrix: Matrix, initial_accuracy: Sequence[float]) -> list[float]:
    """R[j-1][j] - b[j] for j >= 1 (Lopez-Paz & Ranzato 2017)."""
    r = _as_square(matrix)
    b = np.array(initial_accuracy, dtype=float)
    if b.shape != (len(r),):
        raise ValueError("initial_accuracy must have one value per experience")
    return [float(r[j - 1, j] - b[j]) for j in range(1, len(r))]


def fwt(matrix: Matrix, initial_accuracy: Sequence[float]) -> Optional[float]:
    """Forward transfer: mean over j >= 1 of R[j-1][j] - b[j]; None for T = 1."""
    values = fwt_per_experience(matrix, initial_accuracy)
    return float(np.mean(values)) if values else None


def fwt_undefined_reason(scenario: str, head: str) -> str | None:
    """Why forward transfer is undefined for this scenario and head, or None where it is defined.

    FWT compares R[j-1][j] with b[j], so it needs a head that could already answer experience j
    before training on it. It cannot where experience j's head is untrained before j: a
    class-incremental run with a growing head (``incremental``, or ``multi``, whose one task head
    grows the same way), where R[i][j>i] = 0 by construction, and a task-incremental run with one
    head per task (``multi``). A ``fixed`` head holds every class from the start, and a
    domain-incremental run shares one label space, so FWT is defined there.
    """
    if head == "fixed" or scenario == "domain":
        return None
    if scenario == "class" and head in ("incremental", "multi"):
        return (f"fwt is null: the {head} head of a class-incremental run has no trained output for the "
                "classes of experience j before j, so R[j-1][j] = 0 by construction")
    if scenario == "task" and head == "multi":
        return ("fwt is null: in a task-incremental run with one head per task, the head of experience j "
                "is untrained before j, so R[j-1][j] measures no transfer")
    return None


def summarize(
    matrix: Matrix, initial_accuracy: Sequence[float], *, fwt_defined: bool = True
) -> dict:
    """All metrics of docs/design.md (Metrics), unrounded.

    ``fwt_defined=False`` (where :func:`fwt_undefined_reason` gives a reason) stores forward
    transfer and its per-experience list as None.
    """
    return {
        "average_accuracy": average_accuracy(matrix),
        "average_incremental_accuracy": average_incremental_accuracy(matrix),
        "forgetting": forgetting(matrix),
        "bwt": bwt(matrix),
        "fwt": fwt(matrix, initial_accuracy) if fwt_defined else None,
        "learning_accuracy": learning_accuracy(matrix),
        "per_experience": {
            "forgetting": forgetting_per_experience(matrix),
            "bwt": bwt_per_experience(matrix),
            "fwt": fwt_per_experience(matrix, initial_accuracy) if fwt_defined else None,
        },
    }


# Published variants that differ from the definitions above: metrics.json never holds them;
# ``continual.compare --metric-variant`` shows them beside ours for readers of other papers.

def avalanche_forgetting(matrix: Matrix) -> Optional[float]:
    """Avalanche's stream forgetting: mean over j < T-1 of ( R[j][j] - R[T-1][j] ).

    The accuracy right after learning experience j minus the final accuracy on it, averaged over
    every experience but the last (Lomonaco et al. 2021; code:
    ``avalanche/evaluation/metrics/forgetting_bwt.py``, ``StreamForgetting``). It equals -BWT of
    Lopez-Paz & Ranzato (2017), not Chaudhry et al.'s (2018) max-based :func:`forgetting`.
    None for T = 1.
    """
    r = _as_square(matrix)
    t = len(r)
    if t < 2:
        return None
    return float(np.mean([r[j, j] - r[t - 1, j] for j in range(t - 1)]))


def diaz_rodriguez_bwt(matrix: Matrix) -> Optional[float]:
    """BWT over all pairs: sum_{i=1}^{T-1} sum_{j<i} ( R[i][j] - R[j][j] ) / ( T(T-1)/2 ).

    Díaz-Rodríguez et al. (2018). Unlike Lopez-Paz & Ranzato's :func:`bwt`, which looks only at
    the final row, it averages the change on every earlier experience after every later training
    step. None for T = 1.
    """
    r = _as_square(matrix)
    t = len(r)
    if t < 2:
        return None
    total = sum(r[i, j] - r[j, j] for i in range(1, t) for j in range(i))
    return float(total / (t * (t - 1) / 2))
