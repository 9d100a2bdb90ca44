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


def make_benchmark(stream: Stream, packed: PackedStream):
    """An Avalanche ``CLScenario`` with train and test streams, class timelines and task labels."""
    from avalanche.benchmarks.scenarios.dataset_scenario import benchmark_from_datasets
    from avalanche.benchmarks.scenarios.supervised import with_classes_timeline
    from avalanche.benchmarks.scenarios.task_aware import with_task_labels
    from avalanche.benchmarks.utils.classification_dataset import (
        _make_taskaware_classification_dataset,
    )

    def dataset(x, y, task):
        return _make_taskaware_classification_dataset(
            PackedTextDataset(x, y), task_labels=task, targets=y.tolist()
        )

    train = [dataset(x, y, e.task) for x, y, e in zip(packed.train_x, packed.train_y, stream.experiences)]
    test = [dataset(x, y, e.task) for x, y, e in zip(packed.test_x, packed.test_y, stream.experiences)]
    streams = {"train": train, "test": test}
    if any(len(y) for y in packed.val_y):
        streams["valid"] = [dataset(x, y, e.task) for x, y, e in zip(packed.val_x, packed.val_y, stream.experiences)]
    return with_task_labels(with_classes_timeline(benchmark_from_datasets(**streams)))
