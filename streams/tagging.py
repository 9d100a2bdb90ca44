"""Token tagging sources: sentences of words with a BIO tag per word, read into a :class:`TokenTable`.

Tag ids follow one rule everywhere (docs/design.md, Task types): ``O`` = 0, ``B-<type k>`` =
1 + 2k, ``I-<type k>`` = 2 + 2k, where type k indexes the table's (the stream's) ``class_names``.
:func:`tag_names`, :func:`tag_id` and :func:`type_of_tag` turn one into the other.

:func:`load_token_source` reads CoNLL files (a token and its tag per line, the tag last, a blank
line between sentences), two-column TSV files, JSON Lines / JSON / Parquet files with a list of
tokens and a list of tags per row, a folder of such files (train/test files are honoured), a
comma-separated list of files (one task per file), or a ``datasets`` Dataset / DatasetDict, saved
folder or hub name with a tokens column and a ``Sequence(ClassLabel)`` tags column. IO tags are
turned into BIO. Bad data raises :class:`DataError` naming the file and sentence, never its words.
"""
from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Collection, Optional, Sequence

from .base import TASK_TYPES, DataError, SourceCard
from .sources import (SPLIT_NAMES, _ENCODING, _category, _check_row_counts, _dataframe_card,
                      _dataset_pieces, _folder_files, _is_missing, _listed_files, _load_hub_dataset,
                      _load_saved_dataset, _local_card, _missing_column, _read_file, _safe_name,
                      _stem, _text_encoding, _undecodable, _unknown_encoding, _without_missing,
                      looks_like_path)

#: Files read line by line as CoNLL (token ... tag), by extension.
CONLL_SUFFIXES = (".conll", ".iob", ".iob2", ".bio", ".txt", ".tsv")
#: Files read as tables with a tokens column and a tags column, by extension.
TABLE_SUFFIXES = (".jsonl", ".json", ".parquet", ".pq")
TOKEN_FORMAT_NAMES = "CoNLL (.conll/.iob/.bio/.txt), two-column TSV (.tsv), JSON Lines (.jsonl/.json) or Parquet"
#: Column names tried, in order, when no --text-col / --label-col is given.
DEFAULT_TOKEN_COLUMNS = ("tokens", "words")
DEFAULT_TAG_COLUMNS = ("tags", "ner_tags", "labels")
#: A first line of a CoNLL/TSV file that is a header, not a token.
_HEADER_TOKENS = {"token", "tokens", "word", "words", "text", "form"}
_HEADER_TAGS = {"tag", "tags", "label", "labels", "ner", "ner_tag", "ner_tags", "bio"}


# --- tag ids ----------------------------------------------------------------------------------------


def tag_id(kind: str, k: int) -> int:
    """The id of tag ``kind`` ('O', 'B' or 'I') of entity type ``k`` (``k`` is ignored for 'O')."""
    if kind == "O":
        return 0
    if kind == "B":
        return 1 + 2 * k
    if kind == "I":
        return 2 + 2 * k
    raise ValueError(f"tag kind must be 'O', 'B' or 'I', got {kind!r}")


def type_of_tag(tag: int) -> Optional[int]:
    """The entity type of a tag id, or None for ``O`` (and for -100, the ignored label)."""
    return None if tag <= 0 else (tag - 1) // 2


def is_inside(tag: int) -> bool:
    """Whether a tag id is an ``I-`` tag (it continues the entity of the word before it)."""
    return tag > 0 and tag % 2 == 0


def tag_names(class_names: Sequence[str]) -> list[str]:
    """Every tag name in id order: ``["O", "B-t0", "I-t0", "B-t1", ...]`` (strict BIO, IOB2)."""
    return ["O"] + [f"{kind}-{name}" for name in class_names for kind in ("B", "I")]


def entity_types(tags: Sequence[int]) -> set[int]:
    """The entity types that occur in one sentence's tag ids."""
    return {type_of_tag(t) for t in tags if t > 0}


def keep_types(tags: Sequence[int], keep: Collection[int]) -> list[int]:
    """The tag ids with every type outside ``keep`` turned into ``O`` (the training labels of
    a class-incremental experience: other types are not annotated there)."""
    return [t if t > 0 and type_of_tag(t) in keep else 0 for t in tags]


def relabel_types(tags: Sequence[int], mapping: dict[int, int]) -> list[int]:
    """The tag ids with type k renamed ``mapping[k]``; types not in ``mapping`` become ``O``."""
    out = []
    for t in tags:
        k = type_of_tag(t)
        out.append(0 if k is None or k not in mapping else tag_id("I" if is_inside(t) else "B", mapping[k]))
    return out


def entity_spans(tags: Sequence[int]) -> list[tuple[int, int, int]]:
    """(type, first word, end word) of every entity in strict BIO tag ids."""
    spans, start = [], None
    for i, t in enumerate([*tags, 0]):
        if start is not None and not (is_inside(t) and type_of_tag(t) == type_of_tag(tags[start])):
            spans.append((type_of_tag(tags[start]), start, i))
            start = None
        if t > 0 and not is_inside(t):
            start = i
    return spans


def parse_tag(tag: str) -> Optional[tuple[str, str]]:
    """(kind, type) of a tag string: ('O', ''), ('B', X), ('I', X), or ('X', X) for a bare type
    (IO data without prefixes); None for any other scheme (BIOES prefixes, numbers, blanks)."""
    text = str(tag).strip()
    if text in ("O", "o"):
        return "O", ""
    match = re.fullmatch(r"([BIbi])-(\S.*)", text)
    if match:
        return match.group(1).upper(), match.group(2).strip()
    if not text or text.isdigit() or re.fullmatch(r"[A-Za-z]-.*", text):
        return None
    return "X", text


def to_bio(tags: Sequence[str]) -> list[str]:
    """Tag strings in strict BIO: an ``I-X`` or bare ``X`` that does not continue an entity of
    type X starts one (``B-X``); a bare ``X`` that continues one is ``I-X``. Raises ValueError
    naming the 1-based position of a tag of another scheme."""
    parsed = []
    for i, tag in enumerate(tags):
        kind = parse_tag(tag)
        if kind is None:
            raise ValueError(f"tag {i + 1} is not O, B-X, I-X or a bare type X")
        parsed.append(kind)
    return [kind if kind == "O" else f"{kind}-{name}" for kind, name in _bio(parsed)[0]]


def _bio(parsed: Sequence[tuple[str, str]]) -> tuple[list[tuple[str, str]], int]:
    """Parsed tags in strict BIO, and how many changed."""
    out, previous, changed = [], None, 0
    for kind, name in parsed:
        if kind == "O":
            out.append(("O", ""))
            previous = None
            continue
        new = kind if kind == "B" else ("I" if previous == name else "B")
        changed += new != kind
        out.append((new, name))
        previous = name
    return out, changed


# --- the table ---------------------------------------------------------------------------------------


@dataclass
class TokenTable:
    """One row per sentence: its words and their tag ids, the optional domain / task / split
    columns, the entity type names and the provenance card.

    ``tags[i][w]`` is the tag id of word ``w`` of sentence ``i`` (see :func:`tag_names`);
    ``class_names`` are the entity types, sorted. ``dropped`` counts sentences left out while
    reading (``empty_sentences``, ``missing_domains``, ``missing_tasks``).
    """

    name: str
    card: SourceCard
    words: list[list[str]]
    tags: list[list[int]]
    class_names: list[str]
    domains: Optional[list[str]] = None
    tasks: Optional[list[str]] = None
    split: Optional[list[str]] = None
    task_order: Optional[list[str]] = None
    dropped: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        _check_row_counts(self, ("tags", "domains", "tasks", "split"), rows="words")
        for i, (words, tags) in enumerate(zip(self.words, self.tags)):
            if len(words) != len(tags):
                raise ValueError(f"sentence {i} has {len(words)} words and {len(tags)} tags")

    def __len__(self) -> int:
        return len(self.words)


@dataclass
class _Piece:
    """One read file or split: a frame with a tokens and a tags column, where it came from, the
    word used for its rows in messages, its split / task if known and the tags' ClassLabel names."""

    frame: Any
    where: str
    unit: str = "row"
    split: Optional[str] = None
    task: Optional[str] = None
    tag_names: Optional[list[str]] = None
    columns: Optional[tuple[str, str]] = None  # fixed (tokens, tags) columns of a CoNLL file


@dataclass
class _Sentences:
    """Every sentence of every piece, in order, before any is dropped; ``where`` is (file, word
    for its rows, 1-based number) per sentence, for messages only."""

    where: list[tuple[str, str, int]] = field(default_factory=list)
    words: list[list[str]] = field(default_factory=list)
    tags: list[list[str]] = field(default_factory=list)
    domains: list[Optional[str]] = field(default_factory=list)
    tasks: list[Optional[str]] = field(default_factory=list)
    split: list[Optional[str]] = field(default_factory=list)


def load_token_source(
    data,
    *,
    text_col: Optional[str] = None,
    label_col: Optional[str] = None,
    domain_col: Optional[str] = None,
    task_col: Optional[str] = None,
    split_col: Optional[str] = None,
    encoding: str = "utf-8",
) -> TokenTable:
    """Read ``data`` (file, folder, ``a.conll,b.conll``, saved ``datasets`` folder or hub name;
    from Python also a pandas DataFrame or a datasets Dataset / DatasetDict) into a table.

    ``text_col`` / ``label_col`` name the tokens and tags columns of a table (default: the first
    of tokens/words and tags/ner_tags/labels present); CoNLL files have no columns. Sentences
    without words, or without a domain or task asked for, are dropped and counted.
    """
    with _text_encoding(encoding):
        pieces, name, card_fields = _read_token_pieces(data, label_col)
    columns = _token_columns(pieces, text_col, label_col, name)
    for flag, column in (("--domain-col", domain_col), ("--task-col", task_col), ("--split-col", split_col)):
        if column is not None:
            _check_column(pieces, column, flag)
    raw = _sentences(pieces, columns, domain_col, task_col, split_col)
    return _token_table(raw, name=name, card_fields=card_fields, domain_col=domain_col,
                        task_col=task_col, task_order=[p.task for p in pieces if p.task] or None)


def _token_table(raw: _Sentences, *, name: str, card_fields: dict, domain_col, task_col,
                 task_order) -> TokenTable:
    """The table of the read sentences: tags checked and made strict BIO, types numbered in
    sorted order, rows without words (or a domain / task asked for) dropped and counted."""
    keep = [bool(w) for w in raw.words]
    dropped = {"empty_sentences": keep.count(False)}
    for column, values, asked in (("domains", raw.domains, domain_col), ("tasks", raw.tasks, task_col)):
        if asked:
            keep, dropped[f"missing_{column}"] = _without_missing(keep, values)
    rows = [i for i, k in enumerate(keep) if k]
    if not rows:
        raise DataError(f"no sentence of {name} has words (and the columns asked for): check the "
                        "tokens column and the column options")
    bio, converted = [], 0
    for i in rows:
        parsed, changed = _bio(_parsed_tags(raw, i))
        bio.append(parsed)
        converted += changed
    types = sorted({t for sentence in bio for kind, t in sentence if kind != "O"})
    if not types:
        raise DataError(f"no sentence of {name} has an entity (every tag is O): check the tags "
                        "column (--label-col) or the data")
    type_id = {t: k for k, t in enumerate(types)}
    notes = [f"{n} sentences dropped: {reason.replace('_', ' ')}" for reason, n in dropped.items() if n]
    if converted:
        notes.append(f"{converted} tags changed to make strict BIO (IO tags, or an I- tag that "
                     "starts an entity)")
    given_split = any(raw.split[i] is not None for i in rows)
    return TokenTable(
        name=name, card=SourceCard(name=name, description=f"tagged sentences read from "
                                   f"{card_fields['source']}", **card_fields),
        words=[raw.words[i] for i in rows],
        tags=[[tag_id(kind, type_id.get(t, 0)) for kind, t in sentence] for sentence in bio],
        class_names=types,
        domains=[raw.domains[i] for i in rows] if domain_col else None,
        tasks=[raw.tasks[i] for i in rows] if (task_col or task_order) else None,
        split=[raw.split[i] for i in rows] if given_split else None,
        task_order=None if task_col else task_order, dropped=dropped, notes=notes)


def _parsed_tags(raw: _Sentences, i: int) -> list[tuple[str, str]]:
    file, unit, number = raw.where[i]
    words, tags = raw.words[i], raw.tags[i]
    if len(words) != len(tags):
        raise DataError(f"{unit} {number} of {file} has {len(words)} tokens and {len(tags)} tags: "
                        "give one tag per token")
    parsed = []
    for w, tag in enumerate(tags):
        kind = parse_tag(tag)
        if kind is None:
            raise DataError(f"unknown tag scheme at token {w + 1} of {unit} {number} of {file}: "
                            "tags must be O, B-X, I-X (BIO) or a bare type X (IO); convert other "
                            "schemes (BIOES, numbers without names) to BIO")
        parsed.append(kind)
    return parsed


def _sentences(pieces: list[_Piece], columns: tuple[str, str], domain_col, task_col, split_col) -> _Sentences:
    """The sentences of every piece: words and tag strings per row, and the optional columns."""
    raw = _Sentences()
    for piece in pieces:
        tokens_col, tags_col = piece.columns or columns
        frame = piece.frame
        for row, (tokens, tags) in enumerate(zip(frame[tokens_col].tolist(), frame[tags_col].tolist())):
            number = row + 1
            raw.where.append((piece.where, piece.unit, number))
            raw.words.append(_as_list(tokens, piece, number, "tokens"))
            raw.tags.append(_tag_strings(_as_list(tags, piece, number, "tags"), piece, number))
        n = len(frame)
        if domain_col:
            raw.domains.extend(_category(v) for v in frame[domain_col].tolist())
        else:
            raw.domains.extend([None] * n)
        if task_col:
            raw.tasks.extend(_category(v) for v in frame[task_col].tolist())
        else:
            raw.tasks.extend([piece.task] * n)
        if split_col:
            raw.split.extend(_split_values(frame[split_col].tolist(), piece, split_col))
        else:
            raw.split.extend([piece.split] * n)
    return raw


def _as_list(value, piece: _Piece, number: int, what: str) -> list:
    """A cell holding a list (or array) of tokens or tags; a string is split on whitespace."""
    if isinstance(value, str):
        return value.split()
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [str(v) if what == "tokens" else v for v in value]
    if _is_missing(value):
        return []
    raise DataError(f"the {what} of {piece.unit} {number} of {piece.where} are not a list: give "
                    f"a list of {what} per row")


def _tag_strings(tags: list, piece: _Piece, number: int) -> list[str]:
    """Tags as strings; integer tags are named by the tags column's ClassLabel names."""
    out = []
    for tag in tags:
        if isinstance(tag, str):
            out.append(tag)
        elif piece.tag_names is not None and isinstance(tag, int) and 0 <= tag < len(piece.tag_names):
            out.append(piece.tag_names[tag])
        elif isinstance(tag, (int, float)) or hasattr(tag, "item"):
            raise DataError(f"the tags of {piece.unit} {number} of {piece.where} are numbers without "
                            "names: write them as strings (O, B-X, I-X) or save the data with "
                            "datasets' Sequence(ClassLabel) tag names")
        else:
            out.append(str(tag))
    return out


def _split_values(values: list, piece: _Piece, column: str) -> list[Optional[str]]:
    out = []
    for row, value in enumerate(values):
        split = SPLIT_NAMES.get(str(value).strip().lower()) if _category(value) else None
        if split is None:
            raise DataError(f"split column {column!r} at {piece.unit} {row + 1} of {piece.where} is "
                            "not one of train / test / validation: fix it or leave out --split-col")
        out.append(split)
    return out


def _token_columns(pieces: list[_Piece], text_col, label_col, name: str) -> tuple[str, str]:
    """The tokens and tags columns of the table pieces: as given, else the first default present."""
    tables = [p for p in pieces if p.columns is None]
    if not tables:
        return ("", "")
    available = [str(c) for c in tables[0].frame.columns]
    resolved = []
    for given, defaults, flag in ((text_col, DEFAULT_TOKEN_COLUMNS, "--text-col"),
                                  (label_col, DEFAULT_TAG_COLUMNS, "--label-col")):
        column = given or next((c for c in defaults if c in available), None)
        if column is None:
            raise DataError(f"{name} has none of the columns {', '.join(defaults)}: name the "
                            f"{'tokens' if flag == '--text-col' else 'tags'} column with {flag}")
        _check_column(tables, column, flag)
        resolved.append(column)
    return resolved[0], resolved[1]


def _check_column(pieces: list[_Piece], column: str, flag: str) -> None:
    for piece in pieces:
        if piece.columns is not None:
            raise DataError(f"{flag} needs a table (JSON Lines, Parquet or a datasets dataset); "
                            f"{piece.where} is a CoNLL file without columns: leave {flag} out")
        available = [str(c) for c in piece.frame.columns]
        if column not in available:
            raise _missing_column(column, flag, piece.where, available)


# --- reading -----------------------------------------------------------------------------------------


def _read_token_pieces(data, label_col: Optional[str]) -> tuple[list[_Piece], str, dict]:
    """Pieces of the source, its name and its card fields (``label_col`` names the tags column
    whose ClassLabel names a datasets source gives)."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return [_Piece(data.copy(), "the DataFrame")], "dataframe", _dataframe_card(data)
    found = read_dataset_source(data, label_col=label_col)
    if found is not None:
        pieces, name, card = found
        return [_Piece(p.frame, p.where, split=p.split, tag_names=names) for p, names in pieces], name, card
    path = Path(os.path.expanduser(data))
    if not path.exists() and "," in data:
        files, stems = _listed_files(data)
        pieces = [_read_token_file(f, task=s) for f, s in zip(files, stems)]
        return pieces, _safe_name("+".join(stems)), _local_card(data, files)
    if path.is_file():
        return [_read_token_file(path)], _safe_name(_stem(path)), _local_card(data, [path])
    if path.is_dir():
        return _read_token_folder(path, data)
    raise DataError(f"file or folder {data!r} not found: check the --data path")


def _read_token_folder(path: Path, data: str) -> tuple[list[_Piece], str, dict]:
    splits = _folder_files(path, data, suffixes=CONLL_SUFFIXES + TABLE_SUFFIXES,
                           format_names=TOKEN_FORMAT_NAMES)
    pieces = [_read_token_file(f, split=split) for f, split in splits.items()]
    return pieces, _safe_name(path.resolve().name), _local_card(data, list(splits))


def _read_token_file(path: Path, *, split: Optional[str] = None, task: Optional[str] = None) -> _Piece:
    import pandas as pd

    suffix = path.suffix.lower()
    if suffix in TABLE_SUFFIXES:
        return _Piece(_read_file(path), path.name, split=split, task=task)
    if suffix not in CONLL_SUFFIXES:
        raise DataError(f"cannot read {path.name} as tagged sentences: its extension is not "
                        f"{TOKEN_FORMAT_NAMES}; convert it or rename it to its format")
    sentences = read_conll(path, encoding=_ENCODING.get())
    frame = pd.DataFrame({"tokens": [w for w, _ in sentences], "tags": [t for _, t in sentences]},
                         columns=["tokens", "tags"])
    return _Piece(frame, path.name, unit="sentence", split=split, task=task, columns=("tokens", "tags"))


def read_conll(path: Path, *, encoding: str = "utf-8") -> list[tuple[list[str], list[str]]]:
    """(tokens, tags) per sentence of a CoNLL-style file: one token per line, whitespace or tab
    separated columns, the first the token and the last its tag; a blank line ends a sentence;
    ``-DOCSTART-`` lines and a first header line (token / tag) are skipped."""
    text = _read_text(path, encoding)
    sentences, words, tags, first = [], [], [], True
    for number, line in enumerate(text.splitlines(), start=1):
        parts = [p.strip() for p in line.split("\t")] if "\t" in line else line.split()
        parts = [p for p in parts if p]
        if not parts or parts[0] == "-DOCSTART-":
            if words:
                sentences.append((words, tags))
            words, tags = [], []
            continue
        if first and parts[0].lower() in _HEADER_TOKENS and parts[-1].lower() in _HEADER_TAGS:
            first = False
            continue
        first = False
        if len(parts) < 2:
            raise DataError(f"line {number} of {path.name} has one column: write each token and its "
                            "tag on one line (the tag last), a blank line between sentences")
        words.append(parts[0])
        tags.append(parts[-1])
    if words:
        sentences.append((words, tags))
    return sentences


def _read_text(path: Path, encoding: str) -> str:
    try:
        return path.read_text(encoding=encoding)
    except UnicodeDecodeError as error:
        raise _undecodable(path, encoding, error) from None
    except LookupError:
        raise _unknown_encoding(encoding) from None


def read_dataset_source(data, *, label_col: Optional[str]):
    """``data`` read as a ``datasets`` source (a Dataset / DatasetDict object, a folder written by
    ``save_to_disk`` or, for a name that is not a local path, a hub dataset), or None when it is
    none of these. Returns ([(piece, label names), ...], name, card fields); the label names are
    those of the ``label_col`` feature (a ClassLabel, or a Sequence of ClassLabel; the first of
    the default tag columns when ``label_col`` is None), else None."""
    import datasets

    if isinstance(data, (datasets.Dataset, datasets.DatasetDict)):
        loaded, name, source = data, "dataset", "a datasets object given to the Python API"
    elif not isinstance(data, str):
        raise DataError(f"data of type {type(data).__name__} cannot be read: give a path, a Hugging "
                        "Face dataset name, a pandas DataFrame or a datasets Dataset")
    else:
        path = Path(os.path.expanduser(data))
        if path.is_dir() and ((path / "dataset_dict.json").exists() or (path / "state.json").exists()):
            loaded, name, source = _load_saved_dataset(path, data), _safe_name(path.resolve().name), data
        elif path.exists() or looks_like_path(data) or "," in data:
            return None
        else:
            loaded, name, source = _load_hub_dataset(data), _safe_name(data.rstrip("/").split("/")[-1]), data
    first = loaded if isinstance(loaded, datasets.Dataset) else next(iter(loaded.values()), None)
    features = first.features if first is not None else {}
    column = label_col or next((c for c in DEFAULT_TAG_COLUMNS if c in features), None)
    feature = features.get(column) if column else None
    inner = getattr(feature, "feature", feature)
    names = list(inner.names) if isinstance(inner, datasets.ClassLabel) else None
    pieces, card = _dataset_pieces(loaded, source, column or "")
    return [(p, names) for p in pieces], name, card


# --- which task type -----------------------------------------------------------------------------------


def detect_task_type(data, *, task_type: Optional[str] = None, label_sep: Optional[str] = None) -> str:
    """The task type of ``data``: ``task_type`` when given; else 'token' for a CoNLL file (or a
    folder or file list whose first file is one), a two-column TSV without header whose second
    column holds BIO tags, a JSON Lines file whose first record has ``tokens`` and ``tags`` (or
    ``ner_tags``) and a datasets object with such columns; else 'multi-label' when
    ``label_sep`` is given; else 'single-label'. Only the first lines of a file are read."""
    if task_type is not None:
        if task_type not in TASK_TYPES:
            raise DataError(f"unknown task type {task_type!r}: use one of {', '.join(TASK_TYPES)}")
        return task_type
    if _looks_tagged(data):
        return "token"
    return "multi-label" if label_sep is not None else "single-label"


def _looks_tagged(data) -> bool:
    if not isinstance(data, str):
        columns = getattr(data, "column_names", None) or getattr(data, "columns", None)
        if isinstance(columns, dict):  # a DatasetDict: columns per split
            columns = next(iter(columns.values()), [])
        names = {str(c) for c in (columns if columns is not None else [])}
        return bool(names & set(DEFAULT_TOKEN_COLUMNS)) and bool(names & {"tags", "ner_tags"})
    path = Path(os.path.expanduser(data))
    if path.is_dir():
        files = sorted(f for f in path.iterdir() if f.is_file() and not f.name.startswith("."))
    elif not path.exists() and "," in data:
        files = [Path(os.path.expanduser(p.strip())) for p in data.split(",") if p.strip()]
    else:
        files = [path]
    files = [f for f in files if f.is_file() and f.suffix.lower() in CONLL_SUFFIXES + TABLE_SUFFIXES]
    if not files:
        return False
    first = files[0]
    suffix = first.suffix.lower()
    if suffix in (".conll", ".iob", ".iob2", ".bio"):
        return True
    head = _first_lines(first, 50)
    if suffix == ".tsv":
        rows = [line.split("\t") for line in head if line.strip()]
        return bool(rows) and all(len(r) == 2 and _prefixed_tag(r[1]) for r in rows)
    if suffix in (".jsonl", ".json") and head:
        import json

        try:
            record = json.loads(head[0])
        except ValueError:
            return False
        return isinstance(record, dict) and "tokens" in record and bool({"tags", "ner_tags"} & set(record))
    return False


def _prefixed_tag(text: str) -> bool:
    kind = parse_tag(text)
    return kind is not None and kind[0] in ("O", "B", "I")


def _first_lines(path: Path, count: int) -> list[str]:
    lines = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            lines.append(line.rstrip("\n").rstrip("\r"))
            if len(lines) >= count:
                break
    return lines


def type_counts(table: TokenTable) -> Counter:
    """How many sentences carry each entity type (by type id)."""
    return Counter(k for tags in table.tags for k in entity_types(tags))

