"""Tokenize a stream once per (texts, tokenizer, max length), cache it unpadded, pack it.

The cache is a ``datasets`` Arrow folder per fingerprint in the cache folder (never in the results
folder). It holds token ids and labels of the stream's selected texts, not the texts themselves;
token ids can still be decoded back to text, so the cache folder is as sensitive as the data.
Packing pads every example to the stream's longest tokenized text and stores it as a LongTensor
``[2, L]`` (input_ids, attention_mask), so every stored input has one shape (replay, GEM and DER
keep inputs) and every Avalanche plugin sees one tensor per example.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import torch


def default_cache_dir() -> Path:
    """Like Hugging Face: $XDG_CACHE_HOME or ~/.cache, then continual-medical/."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "continual-medical"


@dataclass
class TokenizedTexts:
    """Unpadded token ids per text, and how many texts were cut at the maximum length."""

    input_ids: list[list[int]]
    truncated: int

    @property
    def truncated_share(self) -> float:
        return self.truncated / len(self.input_ids) if self.input_ids else 0.0


def fingerprint(texts: Sequence[str], tokenizer, max_length: int) -> str:
    """The cache key: the tokenizer (its class, name, size and whole vocabulary, so a changed
    vocabulary under the same name is a new entry), the maximum length and every text."""
    digest = hashlib.sha256()
    digest.update(f"{type(tokenizer).__name__}|{tokenizer.name_or_path}|{len(tokenizer)}|"
                  f"{max_length}|".encode())
    vocab = tokenizer.get_vocab()
    digest.update(hashlib.sha256(repr(sorted(vocab.items())).encode()).digest())
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()[:32]


@contextlib.contextmanager
def _quiet_length_warning():
    """Hold back transformers' "Token indices sequence length is longer than the specified
    maximum" warning: texts are tokenized whole to count how many are cut, and the run says
    that share itself ("x% of texts truncated at L tokens")."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def _tokenize(texts: Sequence[str], tokenizer, max_length: int):
    """A ``datasets.Dataset`` of token ids; a text longer than ``max_length`` keeps its first
    tokens and its last special token."""
    import datasets

    def encode(batch):
        with _quiet_length_warning():  # the run reports its own truncated share instead
            full = tokenizer(batch["text"], truncation=False, add_special_tokens=True)["input_ids"]
        cut = [ids if len(ids) <= max_length else ids[: max_length - 1] + [ids[-1]] for ids in full]
        return {"input_ids": cut, "truncated": [len(ids) > max_length for ids in full]}

    dataset = datasets.Dataset.from_dict({"text": list(texts)})
    return dataset.map(encode, batched=True, remove_columns=["text"], keep_in_memory=True)


def tokenize_texts(
    texts: Sequence[str], tokenizer, *, max_length: int, cache_dir: Optional[Path]
) -> TokenizedTexts:
    """Token ids for ``texts`` (truncated to ``max_length``, special tokens kept), cached on disk.

    ``cache_dir=None`` keeps nothing on disk. A cache entry is written to a temporary folder and
    renamed into place, so an interrupted run never leaves a half-written entry.
    """
    import datasets

    datasets.disable_progress_bars()
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / "tokenized" / fingerprint(texts, tokenizer, max_length)
        if path.exists():
            try:
                dataset = datasets.load_from_disk(str(path))
                return TokenizedTexts(dataset["input_ids"], int(sum(dataset["truncated"])))
            except Exception:  # a damaged entry is rebuilt, never used
                shutil.rmtree(path, ignore_errors=True)
    dataset = _tokenize(texts, tokenizer, max_length)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=path.parent))
        try:
            dataset.save_to_disk(str(tmp / "data"))
            os.replace(tmp / "data", path)
        except OSError:
            pass  # another process wrote the same entry first: theirs is identical
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return TokenizedTexts(dataset["input_ids"], int(sum(dataset["truncated"])))


def pack(input_ids: Sequence[Sequence[int]], length: int, pad_id: int = 0) -> torch.Tensor:
    """Pack token id lists into a LongTensor [N, 2, length]: ids (right-padded) and mask."""
    packed = torch.full((len(input_ids), 2, length), pad_id, dtype=torch.long)
    packed[:, 1] = 0
    for row, ids in enumerate(input_ids):
        n = len(ids)
        packed[row, 0, :n] = torch.as_tensor(ids, dtype=torch.long)
        packed[row, 1, :n] = 1
    return packed


class PackedTextDataset(torch.utils.data.Dataset):
    """Packed inputs and labels; ``targets`` lets Avalanche read the labels without loading x."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        self.x, self.y = x, y
        self.targets = y.tolist()

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, index):
        return self.x[index], self.y[index]
