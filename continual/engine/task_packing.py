"""Token tagging and multi-label streams packed for the model: inputs [N, 2, L] as for single-label
streams, labels as tag sequences [N, L] (-100 where nothing is scored) or multi-hot rows [N, K],
each example's Avalanche target and its key (docs/design.md, Streams)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import torch

from streams import Stream
from streams.tagging import entity_types
from streams.tokenization import pack, tokenize_texts

from .benchmark import PackedStream

SIDES = ("train", "test", "val")


def _target(labels, own: list[int], task_type: str) -> int:
    """The class an example counts under in Avalanche's class timeline and class-balanced
    buffers: the smallest of its experience's own classes it carries, else the experience's
    first class (a negative)."""
    present = entity_types(labels) if task_type == "token" else set(labels)
    mine = sorted(present & set(own))
    return mine[0] if mine else own[0]


def pack_task_stream(stream: Stream, tokenizer, *, max_length: int, stride: int,
                     cache_dir: Optional[Path]) -> PackedStream:
    """Tokenize and pack a token or multi-label stream (sides and experiences in order)."""
    if stream.task_type == "token":
        return _pack_token(stream, tokenizer, max_length=max_length, stride=stride)
    return _pack_multilabel(stream, tokenizer, max_length=max_length, cache_dir=cache_dir)


def _side(exp, name: str):
    texts, labels = getattr(exp, f"{name}_texts"), getattr(exp, f"{name}_labels")
    ids = getattr(exp, f"{name}_ids", None) if name != "train" else None
    return texts, labels, ids if ids is not None else list(range(len(texts)))


def _pack_multilabel(stream: Stream, tokenizer, *, max_length: int, cache_dir) -> PackedStream:
    texts = [t for exp in stream.experiences for name in SIDES for t in _side(exp, name)[0]]
    tokens = tokenize_texts(texts, tokenizer, max_length=max_length, cache_dir=cache_dir)
    length = max((len(ids) for ids in tokens.input_ids), default=2)
    packed = PackedStream([], [], [], [], [], [], length, tokens.truncated_share, targets={}, keys={})
    pad_id, width, start = tokenizer.pad_token_id or 0, stream.n_classes, 0
    for exp in stream.experiences:
        for name in SIDES:
            side_texts, labels, ids = _side(exp, name)
            y = torch.zeros(len(labels), width)
            for row, label_set in enumerate(labels):
                y[row, list(label_set)] = 1.0
            getattr(packed, f"{name}_x").append(pack(tokens.input_ids[start:start + len(side_texts)], length, pad_id))
            getattr(packed, f"{name}_y").append(y)
            packed.targets.setdefault(name, []).append([_target(s, list(exp.classes), "multi-label") for s in labels])
            packed.keys.setdefault(name, []).append([(int(i), 0) for i in ids])
            start += len(side_texts)
    return packed


def _pack_token(stream: Stream, tokenizer, *, max_length: int, stride: int) -> PackedStream:
    from streams.tokenization import tokenize_tagged

    windows, cut, sentences, split = {}, 0, 0, 0
    for exp in stream.experiences:
        for name in SIDES:
            words, tags, ids = _side(exp, name)
            w = tokenize_tagged(words, tags, tokenizer, max_length=max_length, stride=stride)
            windows[(exp.id, name)] = (w, ids)
            cut, sentences = cut + w.cut_entities, sentences + len(words)
            split += len(w.source) - len(set(w.source))
    length = max((len(ids) for w, _ in windows.values() for ids in w.input_ids), default=2)
    print(f"   {split} extra windows for sentences longer than {max_length} word pieces"
          f"{f'; {cut} entities longer than a window were cut' if cut else ''}", file=sys.stderr)
    packed = PackedStream([], [], [], [], [], [], length, 0.0, targets={}, keys={})
    pad_id = tokenizer.pad_token_id or 0
    for exp in stream.experiences:
        for name in SIDES:
            w, ids = windows[(exp.id, name)]
            y = torch.full((len(w.input_ids), length), -100, dtype=torch.long)
            ordinal: dict[int, int] = {}
            keys = []
            for row, (labels, owned, source) in enumerate(zip(w.labels, w.owned, w.source)):
                # training learns every tagged word of a window; evaluation scores each word once,
                # in the window that owns it
                kept = labels if name == "train" else [t if o else -100 for t, o in zip(labels, owned)]
                y[row, :len(kept)] = torch.as_tensor(kept, dtype=torch.long)
                keys.append((int(ids[source]), ordinal.setdefault(source, 0)))
                ordinal[source] += 1
            getattr(packed, f"{name}_x").append(pack(w.input_ids, length, pad_id))
            getattr(packed, f"{name}_y").append(y)
            packed.targets.setdefault(name, []).append(
                [_target([t for t in labels if t != -100], list(exp.classes), "token") for labels in w.labels])
            packed.keys.setdefault(name, []).append(keys)
    return packed
