"""Seeds derived from the run seed, one independent stream of draws per purpose.

Every random choice of a run (class order, split, model initialisation, batch order, samples
drawn by a strategy) takes its generator from ``numpy.random.SeedSequence([seed, key, ...])``
with a key that names its purpose, so that adding a purpose never moves the draws of the others.
Two pairs share a key but not their draws: class order (a numpy generator) and model
initialisation (torch's generator, seeded with one 32-bit word), and few-shot sampling ([seed, 3])
and other experience orders ([seed, 3, k]). The keys are part of the results: changing one
changes every run.
"""
from __future__ import annotations

import numpy as np

#: purpose -> key; a purpose with indices (an experience, an order) appends them after the key
PURPOSES = {
    "run-start": 0,  # the global generators before anything is built
    "class-order": 1,  # the class order of a class-incremental stream
    "split": 2,  # train / validation / test split
    "few-shot": 3,  # which K training examples per class are kept
    "other-order": 3,  # experience orders k > 0 (``--orders``): [seed, 3, k], apart from [seed, 3]
    "model-init": 1,  # new head and adapter weights: torch's generator, apart from numpy's class order
    "train-loader": 7,  # length-bucketed training batches of an experience: [seed, 7, experience]
    "importance-sample": 11,  # the examples an importance pass reads: [seed, 11, experience]
    "long-text": 12,  # the benchmark's long documents: [seed, 12, chapter]
}

#: the global generators before experience i are reseeded from [seed, EXPERIENCE_BASE + i]
EXPERIENCE_BASE = 100


def entropy(seed: int, purpose: str, *indices: int) -> list[int]:
    """The SeedSequence entropy of ``purpose`` (a key of :data:`PURPOSES`, or ``'experience'``
    with the experience index)."""
    if purpose == "experience":
        (experience,) = indices
        return [seed, EXPERIENCE_BASE + experience]
    return [seed, PURPOSES[purpose], *indices]


def derived_seed(seed: int, purpose: str, *indices: int) -> int:
    """A 32-bit seed for ``purpose`` (to seed a torch generator or the global ones)."""
    return int(np.random.SeedSequence(entropy(seed, purpose, *indices)).generate_state(1)[0])


def numpy_rng(seed: int, purpose: str, *indices: int) -> np.random.Generator:
    """A numpy generator for ``purpose``."""
    return np.random.default_rng(entropy(seed, purpose, *indices))
