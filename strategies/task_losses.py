"""The losses of token tagging and multi-label streams as plain functions on tensors: the training
criterion of each task type, the per-example log-likelihood EWC's Fisher differentiates, and the
distillation terms of LwF.

Output contract (the engine builds the models):

- token: logits ``[B, L', U]`` over the tag units (L' = the batch's longest real text, U = 1 + 2 *
  entity types seen; unit 0 = O, 1 + 2k = B of type k, 2 + 2k = I of type k; units of types not
  seen yet masked to a large negative value), labels ``y`` ``[B, L]`` of unit ids with
  :data:`IGNORE_INDEX` where no tag is scored (padding, special tokens, non-first word pieces),
  cut here to the logits' L' columns;
- multi-label: logits ``[B, U]`` over label units, labels ``y`` ``[B, K]`` float multi-hot over
  all K labels of the stream, of which the first U columns count.

This module imports torch: the builders import it when called, the engine for its criterion.
"""
from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F

#: the label of a position that is not scored (PyTorch's cross-entropy default)
IGNORE_INDEX = -100


def token_labels(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``y`` cut to the positions the model saw (its first L' columns), with the tags of types the
    head has no unit for yet not scored: held-out sentences keep every gold type, also those of
    later experiences, and evaluation computes a loss on them too."""
    labels = y[:, :logits.shape[1]]
    return labels.masked_fill(labels >= logits.shape[-1], IGNORE_INDEX)


def label_columns(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``y``'s columns of the head's U label units, as the logits' dtype."""
    return y[:, :logits.shape[1]].to(logits.dtype)


# --------------------------------------------------------------------------- criteria

def token_cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean over the tagged positions of the batch of ``-log softmax(logits)[tag]``.

    A batch without a tagged position gives 0 (not 0/0): the count is clamped at 1, which also
    keeps the loss free of a host synchronisation.
    """
    labels = token_labels(logits, y)
    total = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1),
                            ignore_index=IGNORE_INDEX, reduction="sum")
    return total / (labels != IGNORE_INDEX).sum().clamp(min=1)


def multilabel_bce(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``BCEWithLogits`` averaged over the B x U entries: each label unit an independent Bernoulli
    (the first U columns of the multi-hot ``y``)."""
    return F.binary_cross_entropy_with_logits(logits, label_columns(logits, y))


# --------------------------------------------------------------------------- per example

def token_negative_log_likelihood(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``sum over the batch of -log p(tags | x)``, each example's log-likelihood the sum over its
    tagged positions (the tags independent given x): summed, so that the gradient of one example
    is its own (EWC's empirical Fisher squares it)."""
    labels = token_labels(logits, y)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1),
                           ignore_index=IGNORE_INDEX, reduction="sum")


def multilabel_negative_log_likelihood(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``sum over the batch of -log p(labels | x)``, each example's the Bernoulli log-likelihood of
    its U label units (binary cross-entropy summed over them)."""
    return F.binary_cross_entropy_with_logits(logits, label_columns(logits, y), reduction="sum")


# --------------------------------------------------------------------------- distillation

def token_units(types: Iterable[int]) -> list[int]:
    """The output units of entity types: O (unit 0) and each type k's B and I units (1 + 2k, 2 + 2k)."""
    return [0, *sorted(u for k in types for u in (1 + 2 * int(k), 2 + 2 * int(k)))]


def token_distillation(student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor,
                       temperature: float) -> torch.Tensor:
    """ExtendNER's distillation (Monaikul et al. 2021): at every word the new data tags ``O``
    (``labels == 0``, cut to the logits' L' columns), which may be an entity of an old type,
    ``KL(q || p)`` with ``q = softmax(teacher_t / T)`` over the teacher's units and 0 on the units
    it lacks (the new types), ``p = softmax(student_t / T)`` over all the student's units;
    averaged over those words (0 when there are none). Words tagged with a new type are left to
    the cross-entropy, padding and word pieces after a word's first to neither."""
    scored = token_labels(student, labels) == 0
    log_p = torch.log_softmax(student / temperature, dim=-1)[..., :teacher.shape[-1]]
    q = torch.softmax(teacher[:, :student.shape[1]] / temperature, dim=-1)
    per_word = (q * (q.clamp_min(1e-12).log() - log_p)).sum(-1)
    return (per_word * scored).sum() / scored.sum().clamp(min=1)


def multilabel_distillation(student: torch.Tensor, teacher: torch.Tensor, units: list[int],
                            temperature: float) -> torch.Tensor:
    """LwF for independent label units (Li & Hoiem 2016's distillation with sigmoid outputs):
    the binary cross-entropy of ``sigmoid(student[:, units] / T)`` against the soft targets
    ``sigmoid(teacher[:, units] / T)``, averaged over the B x old units entries."""
    soft_targets = torch.sigmoid(teacher[:, units] / temperature)
    return F.binary_cross_entropy_with_logits(student[:, units] / temperature, soft_targets)


def der_loss(output: torch.Tensor, y: torch.Tensor, stored_logits: torch.Tensor, n_memory: int,
             alpha: float, beta: float, label_loss) -> torch.Tensor:
    """DER++ (Buzzega et al. 2020) on a batch whose first ``n_memory`` rows are replayed:
    ``label_loss(current) + alpha * MSE(replayed outputs, stored logits) + beta *
    label_loss(replayed outputs, replayed labels)``; ``stored_logits`` already hold the current
    (detached) outputs where a unit was masked when stored (:func:`strategies.der.logit_targets`)."""
    loss = label_loss(output[n_memory:], y[n_memory:])
    loss = loss + alpha * F.mse_loss(output[:n_memory], stored_logits)
    return loss + beta * label_loss(output[:n_memory], y[:n_memory])
