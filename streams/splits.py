"""Seeded, stratified train / validation / test splits with per-class upper bounds."""
from __future__ import annotations

from collections import Counter, defaultdict
from typing import Hashable, Optional, Sequence

import numpy as np


def split_classes(class_order: Sequence[int], n_experiences: int) -> list[list[int]]:
    """Cut an ordered class list into ``n_experiences`` contiguous groups.

    Every class lands in exactly one group; when the classes do not divide evenly the first groups
    get one class more (Avalanche's ``class_incremental_benchmark`` silently drops the remainder).
    """
    n_classes = len(class_order)
    if not 1 <= n_experiences <= n_classes:
        raise ValueError(
            f"cannot cut {n_classes} classes into {n_experiences} experiences: "
            f"use --experiences between 1 and {n_classes}"
        )
    base, extra = divmod(n_classes, n_experiences)
    groups, start = [], 0
    for e in range(n_experiences):
        size = base + (1 if e < extra else 0)
        groups.append([int(c) for c in class_order[start : start + size]])
        start += size
    return groups


def split_three_ways(
    strata: Sequence[Hashable],
    *,
    train_per_class: int,
    test_per_class: int,
    val_per_class: int = 0,
    rng: np.random.Generator,
    groups: Optional[Sequence[Hashable]] = None,
    min_share: float = 0.2,
) -> tuple[list[int], list[int], list[int]]:
    """Split indices into (train, validation, test), per stratum (a class, or an experience and a
    class), with seeded shuffling. Returned index lists are sorted.

    Sizes are upper bounds. A stratum with ``n`` examples gives
    ``n_test = min(test_per_class, max(1, round(n * min_share)))`` test examples (none when
    ``n == 1``); of the ``r`` left, ``n_val = min(val_per_class, max(1, round(r * min_share)))``
    validation examples (none when ``val_per_class == 0`` or ``r == 1``) and
    ``min(train_per_class, r - n_val)`` training examples, so a small class still keeps most of
    its examples for training. Strata are visited in sorted order, so the result depends only on
    the strata and the generator's state.

    With ``groups`` (say a patient id per example) whole groups go to one side: see
    :func:`_group_split`.
    """
    if groups is not None:
        return _group_split(
            strata, groups, train_per_class=train_per_class, test_per_class=test_per_class,
            val_per_class=val_per_class, rng=rng, min_share=min_share,
        )
    by_stratum: dict[Hashable, list[int]] = defaultdict(list)
    for index, stratum in enumerate(strata):
        by_stratum[stratum].append(index)
    train: list[int] = []
    val: list[int] = []
    test: list[int] = []
    for stratum in sorted(by_stratum):
        indices = np.asarray(by_stratum[stratum])
        indices = indices[rng.permutation(len(indices))]
        n = len(indices)
        n_test = _share(n, test_per_class, min_share)
        n_val = _share(n - n_test, val_per_class, min_share)
        n_train = min(train_per_class, n - n_test - n_val)
        test.extend(indices[:n_test].tolist())
        val.extend(indices[n_test : n_test + n_val].tolist())
        train.extend(indices[n_test + n_val : n_test + n_val + n_train].tolist())
    return sorted(train), sorted(val), sorted(test)


def _share(n: int, cap: int, share: float) -> int:
    """How many of ``n`` examples to hold out: a share of them, at least one, at most ``cap``,
    and never all of them (so training keeps at least one)."""
    if cap <= 0 or n <= 1:
        return 0
    return min(cap, max(1, int(round(n * share))), n - 1)


def _group_split(
    strata: Sequence[Hashable],
    groups: Sequence[Hashable],
    *,
    train_per_class: int,
    test_per_class: int,
    val_per_class: int,
    rng: np.random.Generator,
    min_share: float,
) -> tuple[list[int], list[int], list[int]]:
    """Group-aware, approximately stratified split: every group lies wholly in one side.

    Groups are visited in a seeded order; a group goes to the held-out side (test, then
    validation from what is left) when it fills more of the per-stratum targets than it
    overshoots them and leaves every one of its strata at least one example for training. Then
    each side is capped per stratum (dropping examples never moves a group across sides).
    """
    all_indices = list(range(len(strata)))
    rest, test = _hold_out_groups(all_indices, strata, groups, test_per_class, rng, min_share)
    train_pool, val = _hold_out_groups(rest, strata, groups, val_per_class, rng, min_share)
    return (
        cap_per_stratum(train_pool, strata, train_per_class, rng),
        cap_per_stratum(val, strata, val_per_class, rng),
        cap_per_stratum(test, strata, test_per_class, rng),
    )


def _hold_out_groups(indices, strata, groups, cap, rng, share):
    if cap <= 0:
        return list(indices), []
    members: dict[Hashable, list[int]] = defaultdict(list)
    for index in indices:
        members[groups[index]].append(index)
    left = Counter(strata[i] for i in indices)
    need = {s: _share(n, cap, share) for s, n in left.items()}
    names = sorted(members, key=lambda g: (type(g).__name__, g))
    kept: list[int] = []
    held: list[int] = []
    for position in rng.permutation(len(names)):
        group = members[names[position]]
        counts = Counter(strata[i] for i in group)
        gain = sum(min(c, need[s]) for s, c in counts.items())
        overshoot = sum(max(0, c - need[s]) for s, c in counts.items())
        leaves_training = all(left[s] - c >= 1 for s, c in counts.items())
        if gain > 0 and gain >= overshoot and leaves_training:
            held.extend(group)
            for s, c in counts.items():
                need[s] -= min(c, need[s])
                left[s] -= c
        else:
            kept.extend(group)
    return sorted(kept), sorted(held)


def cap_per_stratum(indices: Sequence[int], strata: Sequence[Hashable], cap: int,
                    rng: np.random.Generator) -> list[int]:
    """At most ``cap`` of ``indices`` per stratum, drawn in sorted stratum order; sorted."""
    by_stratum: dict[Hashable, list[int]] = defaultdict(list)
    for index in indices:
        by_stratum[strata[index]].append(index)
    out: list[int] = []
    for stratum in sorted(by_stratum):
        chosen = np.asarray(by_stratum[stratum])
        if len(chosen) > cap:
            chosen = chosen[rng.permutation(len(chosen))[:cap]]
        out.extend(chosen.tolist())
    return sorted(out)


def sample_per_stratum(
    indices: Sequence[int], strata: Sequence[Hashable], *, per_stratum: int, rng: np.random.Generator
) -> tuple[list[int], dict[Hashable, int]]:
    """Keep ``min(per_stratum, available)`` of ``indices`` per stratum (seeded); also return the
    strata that had fewer than ``per_stratum`` with their available count."""
    by_stratum: dict[Hashable, list[int]] = defaultdict(list)
    for index in indices:
        by_stratum[strata[index]].append(index)
    short = {s: len(v) for s, v in by_stratum.items() if len(v) < per_stratum}
    return cap_per_stratum(indices, strata, per_stratum, rng), short
