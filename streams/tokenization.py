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


# --- tagged sentences (token tasks) -----------------------------------------------------------------

#: The label of a position that carries no tag (special tokens, a word's later pieces):
#: PyTorch's cross-entropy ignores it.
IGNORED = -100


@dataclass
class TaggedWindows:
    """Tagged sentences as windows of word pieces.

    ``input_ids[w]`` is window ``w`` with its special tokens; ``labels[w][p]`` the tag id of the
    word whose first piece is at ``p`` (:data:`IGNORED` elsewhere); ``owned[w][p]`` is True at
    the first piece of each word that window ``w`` owns (every word is owned by one window, so a
    sentence's prediction takes each word from its owner); ``source[w]`` the sentence of window
    ``w``; ``cut_entities`` how many entities a window boundary cut (only an entity longer than a
    window is ever cut).
    """

    input_ids: list[list[int]]
    labels: list[list[int]]
    owned: list[list[bool]]
    source: list[int]
    cut_entities: int = 0


def tokenize_tagged(words: Sequence[Sequence[str]], tags: Sequence[Sequence[int]], tokenizer, *,
                    max_length: int, stride: int) -> TaggedWindows:
    """Word pieces of tagged sentences in windows of at most ``max_length`` pieces (special tokens
    included), the first piece of each word labelled with its tag and every other position
    :data:`IGNORED`.

    A sentence that fits is one window. A longer one is cut into windows of whole words that
    overlap by at most ``stride`` pieces (at most half a window) and whose boundaries never fall
    inside an entity unless one entity alone is longer than a window (counted in
    ``cut_entities``); see :func:`plan_windows`. A word longer than a window keeps its first
    pieces; a word the tokenizer gives no piece for is its unknown token.
    """
    prefix, suffix = _special_tokens(tokenizer)
    budget = max_length - len(prefix) - len(suffix)
    if budget < 1:
        raise ValueError(f"max_length {max_length} leaves no room for a word piece beside the "
                         f"{len(prefix) + len(suffix)} special tokens")
    if len(words) != len(tags):
        raise ValueError(f"{len(words)} sentences of words and {len(tags)} of tags")
    out = TaggedWindows([], [], [], [])
    for s, (pieces, sentence_tags) in enumerate(zip(_word_pieces(words, tokenizer), tags)):
        if len(pieces) != len(sentence_tags):
            raise ValueError(f"sentence {s} has {len(pieces)} words and {len(sentence_tags)} tags")
        pieces = [p[:budget] for p in pieces]
        windows, owner, cut = plan_windows([len(p) for p in pieces], sentence_tags, budget=budget,
                                           stride=min(max(stride, 0), budget // 2))
        out.cut_entities += cut
        for w, (start, end) in enumerate(windows):
            ids, labels, owned = list(prefix), [IGNORED] * len(prefix), [False] * len(prefix)
            for i in range(start, end):
                ids.extend(pieces[i])
                labels.extend([int(sentence_tags[i])] + [IGNORED] * (len(pieces[i]) - 1))
                owned.extend([owner[i] == w] + [False] * (len(pieces[i]) - 1))
            out.input_ids.append(ids + list(suffix))
            out.labels.append(labels + [IGNORED] * len(suffix))
            out.owned.append(owned + [False] * len(suffix))
            out.source.append(s)
    return out


def plan_windows(lengths: Sequence[int], tags: Sequence[int], *, budget: int, stride: int
                 ) -> tuple[list[tuple[int, int]], list[int], int]:
    """The windows of one sentence as (first word, end word) pairs, the window that owns each
    word, and how many entities a boundary cut.

    ``lengths`` are the words' piece counts (each at most ``budget``, the pieces a window holds)
    and ``tags`` their tag ids; a boundary before word i is allowed when word i does not continue
    an entity (it is not an ``I-`` tag). Each window reaches the furthest allowed boundary within
    the budget; the next starts at the earliest allowed boundary that leaves at most ``stride``
    pieces of overlap, never before the end of the window before last (no word is in three
    windows) and lets it reach past this one. Where two windows overlap, the owned regions meet
    at the allowed boundary nearest the middle of the overlap (a word is owned where it is
    farther from the window's edge).
    """
    from .tagging import is_inside

    n = len(lengths)
    ends = [0]
    for length in lengths:
        ends.append(ends[-1] + length)
    allowed = [i == 0 or i == n or not is_inside(tags[i]) for i in range(n + 1)]

    def furthest(start: int, after: int):
        """The furthest allowed boundary past ``after`` within a window from ``start``."""
        reach = max(b for b in range(start + 1, n + 1) if ends[b] - ends[start] <= budget or b == start + 1)
        return next((b for b in range(reach, after, -1) if allowed[b]), None), reach

    windows, cut, start, before_last = [], 0, 0, 0
    while True:
        end, reach = furthest(start, windows[-1][1] if windows else 0)
        if end is None:
            end, cut = reach, cut + 1
        windows.append((start, end))
        if end >= n:
            break
        start = next((s for s in range(max(before_last, start + 1), end)
                      if allowed[s] and ends[end] - ends[s] <= stride and furthest(s, end)[0] is not None), end)
        before_last = end
    owner, meet = [0] * n, 0
    for w in range(len(windows)):
        if w + 1 < len(windows):
            low, high = windows[w + 1][0], windows[w][1]
            middle = (ends[low] + ends[high]) / 2
            choices = [b for b in range(low, high + 1) if allowed[b]] or [high]
            new_meet = max(meet, min(choices, key=lambda b: (abs(ends[b] - middle), b)))
        else:
            new_meet = n
        for i in range(meet, new_meet):
            owner[i] = w
        meet = new_meet
    return windows, owner, cut


def _special_tokens(tokenizer) -> tuple[list[int], list[int]]:
    """The special token ids the tokenizer puts before and after one sentence ([CLS], [SEP])."""
    encoding = tokenizer([["a"]], is_split_into_words=True, add_special_tokens=True)
    ids, word_ids = encoding["input_ids"][0], encoding.word_ids(0)
    words = [p for p, w in enumerate(word_ids) if w is not None]
    return list(ids[: words[0]]), list(ids[words[-1] + 1:])


def _word_pieces(words: Sequence[Sequence[str]], tokenizer) -> list[list[list[int]]]:
    """Per sentence, per word, its piece ids (the unknown token for a word with none)."""
    if not words:
        return []
    with _quiet_length_warning():  # sentences are cut into windows here, never truncated
        encoding = tokenizer([list(map(str, s)) for s in words], is_split_into_words=True,
                             add_special_tokens=False)
    unknown = tokenizer.unk_token_id if tokenizer.unk_token_id is not None else 0
    out = []
    for s, sentence in enumerate(words):
        pieces: list[list[int]] = [[] for _ in sentence]
        for piece, word in zip(encoding["input_ids"][s], encoding.word_ids(s)):
            if word is not None:
                pieces[word].append(piece)
        out.append([p or [unknown] for p in pieces])
    return out
