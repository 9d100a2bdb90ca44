"""Length-bucketed batching: batches of texts of similar length, in a seeded random order.

Texts in a medical stream vary in length (ICD titles: 5-40 tokens); since the model cuts each
batch to its longest text, grouping similar lengths removes most padding compute. The sampler
keeps randomness where it matters: each epoch draws a fresh permutation from its generator, cuts
it into pools of ``pool_batches`` batches, sorts each pool by length, cuts batches, and shuffles
the batch order. Every index appears exactly once per epoch.
"""
from __future__ import annotations

from typing import Iterator, Sequence

import torch


class BucketBatchSampler(torch.utils.data.Sampler[list[int]]):
    """Batches of indices of similar length, in an order drawn from ``generator`` each epoch
    (pools of ``pool_batches`` batches sorted by length, then the batches shuffled)."""

    def __init__(self, lengths: Sequence[int], batch_size: int, *, generator: torch.Generator,
                 pool_batches: int = 50, drop_last: bool = False):
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        self.lengths = torch.as_tensor(list(lengths), dtype=torch.long)
        self.batch_size = batch_size
        self.generator = generator
        self.pool_batches = pool_batches
        self.drop_last = drop_last

    def __len__(self) -> int:
        n = len(self.lengths)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        order = torch.randperm(len(self.lengths), generator=self.generator)
        pool = self.batch_size * self.pool_batches
        batches = []
        for start in range(0, len(order), pool):
            chunk = order[start : start + pool]
            # stable sort on length keeps the random order among equal lengths
            chunk = chunk[torch.sort(self.lengths[chunk], stable=True).indices]
            batches.extend(chunk[i : i + self.batch_size].tolist()
                           for i in range(0, len(chunk), self.batch_size))
        if self.drop_last:
            batches = [b for b in batches if len(b) == self.batch_size]
        for i in torch.randperm(len(batches), generator=self.generator).tolist():
            yield batches[i]


def example_lengths(dataset) -> list[int]:
    """Real token count of each packed [2, L] example of an (Avalanche) dataset."""
    return [int(dataset[i][0][1].sum()) for i in range(len(dataset))]


class BucketedReplayLoader:
    """Training batches of the current data joined by equal memory batches, both length-bucketed.

    Plays the part of Avalanche's ``ReplayDataLoader`` (one pass over the current data, the memory
    cycled as often as needed) with :class:`BucketBatchSampler` on both sides, so a replayed batch
    is padded to the longest of texts of similar length rather than of a random draw. ``parts``
    holds the row counts of the last batch's current and memory parts, for the model to run
    each at its own length (:func:`strategies.parts.set_parts`).
    """

    def __init__(self, data, memory, *, batch_size: int, batch_size_mem: int,
                 generator: torch.Generator):
        self.current = torch.utils.data.DataLoader(data, batch_sampler=BucketBatchSampler(
            example_lengths(data), batch_size, generator=generator))
        self.memory = torch.utils.data.DataLoader(memory, batch_sampler=BucketBatchSampler(
            example_lengths(memory), batch_size_mem, generator=generator))
        self.parts: tuple[int, int] = (0, 0)  # rows of the last batch's current and memory parts

    def __len__(self) -> int:
        return len(self.current)

    def __iter__(self):
        memory = iter(self.memory)
        for batch in self.current:
            try:
                replayed = next(memory)
            except StopIteration:
                memory = iter(self.memory)
                replayed = next(memory)
            self.parts = (len(batch[0]), len(replayed[0]))
            yield [torch.cat([a, b]) for a, b in zip(batch, replayed)]


def length_groups(lengths: Sequence[int], overhead: int = 32) -> list[list[int]]:
    """Positions ``0..n-1`` cut into groups of similar length so that running each group cut to
    its own longest text costs the fewest padded tokens.

    A batch whose texts cannot be reordered (the importance pass of EWC takes consecutive
    examples, mostly of one class, by design) can still be run in pieces, each cut to its own
    longest text, and the pieces' gradients summed. The cost of a group is its size times its
    longest length plus ``overhead`` tokens for the extra forward and backward call; the cut is
    the exact minimum (dynamic programming over the lengths in sorted order). Groups come out
    shortest first, positions in each group in ascending order.
    """
    n = len(lengths)
    if n == 0:
        return []
    order = sorted(range(n), key=lambda i: (lengths[i], i))
    ranked = [lengths[i] for i in order]
    best = [0] + [float("inf")] * n  # best[j]: cheapest cut of the j shortest texts
    start = [0] * (n + 1)
    for j in range(1, n + 1):
        for i in range(j):  # the last group holds ranks i..j-1
            cost = best[i] + (j - i) * ranked[j - 1] + overhead
            if cost < best[j]:
                best[j], start[j] = cost, i
    groups, j = [], n
    while j > 0:
        groups.append(sorted(order[start[j]:j]))
        j = start[j]
    return groups[::-1]


EVAL_TOKENS_PER_TEXT = 8


def eval_batches(lengths, batch_size: int, tokens_per_text: int = EVAL_TOKENS_PER_TEXT) -> list[list[int]]:
    """Evaluation batches: indices sorted by length, cut into batches of at most ``batch_size``
    texts and at most ``batch_size * tokens_per_text`` tokens counting padding.

    Order does not change accuracy. A test experience of a few hundred short texts fits one large
    batch, which the model pads to its longest text, several times the real tokens; the token
    budget splits it where the padding would grow, and keeps each batch's activations small
    enough to stay in the processor's cache.
    """
    lengths = torch.as_tensor(list(lengths), dtype=torch.long)
    order = torch.sort(lengths, stable=True).indices.tolist()
    budget = max(1, batch_size) * tokens_per_text
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        longest = max(int(lengths[index]), 1)  # sorted: the newest text is the longest
        if current and (len(current) >= batch_size or (len(current) + 1) * longest > budget):
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches
