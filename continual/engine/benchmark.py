"""From a tokenized stream to an Avalanche benchmark (train and test streams of (x, y, t))."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from streams import Stream
from streams.tokenization import PackedTextDataset, pack, tokenize_texts


@dataclass
class PackedStream:
    """Per experience: packed train/test inputs [N, 2, L] and label tensors; no texts."""

    train_x: list[torch.Tensor]
    train_y: list[torch.Tensor]
    test_x: list[torch.Tensor]
    test_y: list[torch.Tensor]
    val_x: list[torch.Tensor]
    val_y: list[torch.Tensor]
    length: int
    truncated_share: float
    #: token and multi-label streams: per side ("train", "test", "val") and experience, each
    #: example's Avalanche target (the class it was sampled for) and key (its sentence or text id,
    #: and window number: pooled scores count an example once)
    targets: Optional[dict] = None
    keys: Optional[dict] = None


def tokenize_stream(stream: Stream, tokenizer, *, max_length: int, cache_dir: Optional[Path]) -> PackedStream:
    """Tokenize every text of the stream once (cached), pad to the stream's longest text."""
    texts: list[str] = []
    for exp in stream.experiences:
        texts.extend(exp.train_texts)
        texts.extend(exp.test_texts)
        texts.extend(exp.val_texts)
    tokens = tokenize_texts(texts, tokenizer, max_length=max_length, cache_dir=cache_dir)
    length = max((len(ids) for ids in tokens.input_ids), default=2)
    pad_id = tokenizer.pad_token_id or 0
    packed = PackedStream([], [], [], [], [], [], length, tokens.truncated_share)
    start = 0
    for exp in stream.experiences:
        for texts_, labels, xs, ys in (
            (exp.train_texts, exp.train_labels, packed.train_x, packed.train_y),
            (exp.test_texts, exp.test_labels, packed.test_x, packed.test_y),
            (exp.val_texts, exp.val_labels, packed.val_x, packed.val_y),
        ):
            ids = tokens.input_ids[start : start + len(texts_)]
            start += len(texts_)
            xs.append(pack(ids, length, pad_id))
            ys.append(torch.as_tensor(labels, dtype=torch.long))
    return packed


class _TargetedDataset(PackedTextDataset):
    """Packed inputs and labels with the Avalanche target of each example given apart: a tag
    sequence or a label set is not a class id, so the class each example was sampled for is."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, targets: list):
        torch.utils.data.Dataset.__init__(self)
        self.x, self.y, self.targets = x, y, list(targets)


def make_benchmark(stream: Stream, packed: PackedStream):
    """An Avalanche ``CLScenario`` with train and test streams, class timelines and task labels."""
    from avalanche.benchmarks.scenarios.dataset_scenario import benchmark_from_datasets
    from avalanche.benchmarks.scenarios.supervised import with_classes_timeline
    from avalanche.benchmarks.scenarios.task_aware import with_task_labels
    from avalanche.benchmarks.utils.classification_dataset import (
        _make_taskaware_classification_dataset,
    )

    def dataset(x, y, task, targets):
        return _make_taskaware_classification_dataset(
            _TargetedDataset(x, y, targets), task_labels=task, targets=targets
        )

    def side(xs, ys, name):
        targets = packed.targets[name] if packed.targets else [y.tolist() for y in ys]
        return [dataset(x, y, e.task, t) for x, y, e, t in zip(xs, ys, stream.experiences, targets)]

    streams = {"train": side(packed.train_x, packed.train_y, "train"),
               "test": side(packed.test_x, packed.test_y, "test")}
    if any(len(y) for y in packed.val_y):
        streams["valid"] = side(packed.val_x, packed.val_y, "val")
    return with_task_labels(with_classes_timeline(benchmark_from_datasets(**streams)))
