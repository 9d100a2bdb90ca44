"""Sources: a user's labelled texts read into a :class:`SourceTable` (texts, labels, optional
domain / task / group / split columns) with its provenance card.

``load_source`` reads a local CSV / TSV / JSON Lines / JSON / Parquet file, a folder of such files,
a folder written by ``datasets``' ``save_to_disk``, a comma-separated list of files (one task per
file) or, when online, a Hugging Face dataset name. Bad data raises :class:`DataError` with a
one-line message that names the file, column or row number, never the text itself.
"""
from __future__ import annotations

import contextlib
import contextvars
import datetime
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Collection, Iterator, Optional, Sequence

from .base import DataError, Records, SourceCard

#: File extensions read, and how.
FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "json", ".parquet": "parquet",
           ".pq": "parquet"}
FORMAT_NAMES = "CSV (.csv/.tsv), JSON Lines (.jsonl/.json) or Parquet (.parquet)"
UNKNOWN_LICENCE = "as given by the data owner"
#: Split names recognised in a split column, file stem or ``DatasetDict`` key.
SPLIT_NAMES = {"train": "train", "training": "train", "test": "test", "testing": "test",
               "validation": "validation", "valid": "validation", "val": "validation",
               "dev": "validation"}


@dataclass
class SourceTable:
    """One row per example: text, class id and the optional columns, plus provenance.

    ``labels`` are class ids 0..C-1; ``label_values[i]`` is the raw label value of class ``i``
    (values sorted: numbers numerically, strings alphabetically) and ``class_names[i]`` its
    readable name. ``split`` holds 'train' / 'test' / 'validation' per row when the data came
    split, else None. ``task_order`` is the natural task order when the source has one (one
    task per file, in the order given). ``dropped`` counts rows left out while reading
    (``blank_texts``, ``missing_labels``, ``missing_domains``, ``missing_tasks``).
    """

    name: str
    card: SourceCard
    texts: list[str]
    labels: list[int]
    label_values: list[Any]
    class_names: list[str]
    domains: Optional[list[str]] = None
    tasks: Optional[list[str]] = None
    groups: Optional[list[str]] = None
    split: Optional[list[str]] = None
    task_order: Optional[list[str]] = None
    class_descriptions: Optional[list[str]] = None
    dropped: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        _check_row_counts(self, ("labels", "domains", "tasks", "groups", "split"))
        if len(self.label_values) != len(self.class_names):
            raise ValueError("label_values and class_names must have the same length")

    def __len__(self) -> int:
        return len(self.texts)

    @classmethod
    def from_records(cls, records: Records, *, name: str, card: SourceCard, **columns) -> "SourceTable":
        """A table over already-labelled records (class ids are their own raw values)."""
        return cls(name=name, card=card, texts=list(records.texts), labels=list(records.labels),
                   label_values=list(range(len(records.class_names))),
                   class_names=list(records.class_names),
                   class_descriptions=records.class_descriptions, **columns)


def _check_row_counts(table, columns: Sequence[str], *, rows: str = "texts") -> None:
    """Each of ``columns`` of ``table`` that is not None has one value per item of ``rows``."""
    n = len(getattr(table, rows))
    for column in columns:
        values = getattr(table, column)
        if values is not None and len(values) != n:
            raise ValueError(f"{column} has {len(values)} rows, {rows} has {n}")


@dataclass
class _Piece:
    """One read table: a pandas frame, where it came from, and its split / task if known."""

    frame: Any
    where: str
    split: Optional[str] = None
    task: Optional[str] = None
    label_feature_names: Optional[list[str]] = None


@dataclass(frozen=True)
class _Columns:
    """The column options of :func:`load_source`, by flag."""

    text: str
    label: str
    domain: Optional[str] = None
    task: Optional[str] = None
    group: Optional[str] = None
    split: Optional[str] = None

    def given(self) -> list[tuple[str, str]]:
        """(flag, column) of every column asked for."""
        return [(f"--{key}-col", column) for key, column in vars(self).items() if column is not None]


@dataclass
class _Rows:
    """Every row of every piece, in order, before any is dropped; ``where`` is (file, 1-based
    data row) per row, for messages only."""

    where: list[tuple[str, int]] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    labels: list[Any] = field(default_factory=list)
    domains: list[Any] = field(default_factory=list)
    tasks: list[Any] = field(default_factory=list)
    groups: list[Any] = field(default_factory=list)
    split: list[Any] = field(default_factory=list)

    @classmethod
    def of(cls, pieces: list[_Piece], columns: _Columns) -> "_Rows":
        rows = cls()
        for piece in pieces:
            frame = piece.frame
            rows.where.extend((piece.where, i + 1) for i in range(len(frame)))
            rows.texts.extend(_text(v) for v in frame[columns.text].tolist())
            rows.labels.extend(frame[columns.label].tolist())
            rows.domains.extend(frame[columns.domain].tolist() if columns.domain else [])
            rows.tasks.extend(frame[columns.task].tolist() if columns.task else [piece.task] * len(frame))
            rows.groups.extend(frame[columns.group].tolist() if columns.group else [])
            rows.split.extend(frame[columns.split].tolist() if columns.split else [piece.split] * len(frame))
        return rows


def load_source(
    data,
    *,
    text_col: str,
    label_col: str,
    domain_col: Optional[str] = None,
    task_col: Optional[str] = None,
    group_col: Optional[str] = None,
    split_col: Optional[str] = None,
    label_names: Optional[str] = None,
    encoding: str = "utf-8",
) -> SourceTable:
    """Read ``data`` (file, folder, ``a.csv,b.csv`` or Hugging Face dataset name; from Python
    also a pandas DataFrame or a datasets Dataset) into a table.

    Rows with a blank text, or a missing label, domain or task, are dropped and counted in
    ``table.dropped``. ``label_names`` is a CSV (header row; first column the label value, second
    its name) or JSON (``{"value": "name"}``) file of readable class names.
    """
    columns = _Columns(text_col, label_col, domain_col, task_col, group_col, split_col)
    with _text_encoding(encoding):
        pieces, name, card_fields = _read(data, label_col=label_col)
    _check_columns(pieces, columns, name)
    raw = _Rows.of(pieces, columns)
    keep, dropped, kinds = _labelled_rows(raw, columns, name)
    optional, keep, dropped = _optional_columns(raw, pieces, columns, keep, dropped)
    if not any(keep):
        raise DataError(f"no row of {name} has a text, a label and the other columns asked for: "
                        "check the column options")
    rows = [i for i, k in enumerate(keep) if k]
    values = [_label_value(raw.labels[i]) for i in rows]
    label_values = sorted(set(values))
    class_id = {v: i for i, v in enumerate(label_values)}
    notes = [f"{n} rows dropped: {reason.replace('_', ' ')}" for reason, n in dropped.items() if n]
    return SourceTable(
        name=name,
        card=SourceCard(name=name, description=f"labelled texts read from {card_fields['source']}",
                        **card_fields),
        texts=[raw.texts[i] for i in rows],
        labels=[class_id[v] for v in values],
        label_values=label_values,
        class_names=_class_names(label_values, label_names, numeric="number" in kinds,
                                 feature_names=_feature_names(pieces)),
        **{k: None if v is None else [v[i] for i in rows] for k, v in optional.items()},
        task_order=_task_order(pieces) if not task_col else None,
        dropped=dropped,
        notes=notes,
    )


def _check_columns(pieces: list[_Piece], columns: _Columns, name: str) -> None:
    """Every column asked for is in every piece, and there is at least one row."""
    for piece in pieces:
        available = [str(c) for c in piece.frame.columns]
        for flag, column in columns.given():
            if column not in piece.frame.columns:
                raise _missing_column(column, flag, piece.where, available)
    if sum(len(p.frame) for p in pieces) == 0:
        raise DataError(f"{name} has no rows: give a file with one example per row")


def _missing_column(column: str, flag: str, where: str, available: list[str]) -> DataError:
    """The error for a ``column`` asked for with ``flag`` that is not among the ``available``
    columns of the file or split ``where``."""
    shown = ", ".join(available[:30]) + (", ..." if len(available) > 30 else "")
    return DataError(f"column {column!r} ({flag}) is not in {where}; "
                     f"available columns: {shown or 'none'}: pass one of them")


def _texted_rows(raw: _Rows, columns: _Columns, name: str) -> tuple[list[bool], dict[str, int]]:
    """Which rows have a text, and ``{"blank_texts": how many have none}``; no text at all is an
    error."""
    if not any(raw.texts):
        raise DataError(f"text column {columns.text!r} in {name} is empty or blank in every row: "
                        "check --text-col")
    keep = [bool(t) for t in raw.texts]
    return keep, {"blank_texts": keep.count(False)}


def _labelled_rows(raw: _Rows, columns: _Columns, name: str) -> tuple[list[bool], dict[str, int], set[str]]:
    """Which rows have a text and one label; the counts dropped (``blank_texts``,
    ``missing_labels``); and the label kinds used ('number' or 'string', never both)."""
    keep, dropped = _texted_rows(raw, columns, name)
    kinds = [_label_kind(v) for v in raw.labels]
    for i, kind in enumerate(kinds):
        if kind == "other" and keep[i]:
            file, row = raw.where[i]
            raise DataError(f"label column {columns.label!r} holds a list or object at row {row} of "
                            f"{file}: give one label (a number or a string) per row")
    dropped["missing_labels"] = sum(1 for i, k in enumerate(kinds) if keep[i] and k == "missing")
    keep = [k and kind != "missing" for k, kind in zip(keep, kinds)]
    used = {kinds[i] for i in range(len(kinds)) if keep[i]}
    if not used:
        raise DataError(f"label column {columns.label!r} in {name} has no label on any row with a "
                        "text: check --label-col")
    if used == {"number", "string"}:
        number = raw.where[next(i for i in range(len(kinds)) if keep[i] and kinds[i] == "number")]
        string = raw.where[next(i for i in range(len(kinds)) if keep[i] and kinds[i] == "string")]
        raise DataError(
            f"label column {columns.label!r} mixes numbers and strings (row {number[1]} of "
            f"{number[0]} is a number, row {string[1]} of {string[0]} a string): make every label "
            "the same type")
    return keep, dropped, used


def _optional_columns(raw: _Rows, pieces: list[_Piece], columns: _Columns, keep: list[bool],
                      dropped: dict[str, int]):
    """The domain, task, group and split columns (None where not asked for and not given by the
    pieces), ``keep`` less the rows without a domain or task, and ``dropped`` with their counts."""
    optional: dict[str, Optional[list]] = {"domains": None, "tasks": None, "groups": None,
                                           "split": None}
    if columns.domain:
        optional["domains"] = [_category(v) for v in raw.domains]
    if columns.task or any(p.task for p in pieces):
        optional["tasks"] = [_category(v) for v in raw.tasks]
    dropped = dict(dropped)
    for column in ("domains", "tasks"):
        values = optional[column]
        if values is not None:
            keep, dropped[f"missing_{column}"] = _without_missing(keep, values)
    if columns.group:
        # a row without a group is a group of its own
        optional["groups"] = [g if g is not None else f"\x00row {i}"
                              for i, g in enumerate(_category(v) for v in raw.groups)]
    if columns.split or any(p.split for p in pieces):
        optional["split"] = _split_names(raw, columns, keep)
    return optional, keep, dropped


def _without_missing(keep: list[bool], values: list) -> tuple[list[bool], int]:
    """``keep`` less the rows whose value is None, and how many kept rows that drops."""
    missing = sum(1 for k, v in zip(keep, values) if k and v is None)
    return [k and v is not None for k, v in zip(keep, values)], missing


def _split_names(raw: _Rows, columns: _Columns, keep: list[bool]) -> list[Optional[str]]:
    """'train', 'test' or 'validation' per row (None on a dropped row with another value)."""
    names = []
    for i, value in enumerate(raw.split):
        split = SPLIT_NAMES.get(str(value).strip().lower()) if _category(value) else None
        if split is None and keep[i]:
            file, row = raw.where[i]
            raise DataError(
                f"split column {columns.split!r} at row {row} of {file} is not one of "
                "train / test / validation: fix that row or leave out --split-col")
        names.append(split)
    return names


def _feature_names(pieces: list[_Piece]) -> Optional[list[str]]:
    """The label ``ClassLabel`` names of the first piece that has them."""
    return next((p.label_feature_names for p in pieces if p.label_feature_names), None)


def _class_names(label_values: list, label_names: Optional[str], *, numeric: bool,
                 feature_names: Optional[list[str]] = None) -> list[str]:
    """Readable class names: a ``label_names`` file first, then ``feature_names`` (a
    ``ClassLabel`` feature's names) for integer labels, else the label values themselves."""
    names = [str(v) for v in label_values]
    if feature_names and all(isinstance(v, int) and 0 <= v < len(feature_names) for v in label_values):
        names = [feature_names[v] for v in label_values]
    if label_names:
        mapping = _read_label_names(label_names, numeric=numeric)
        names = [mapping.get(str(v), name) for v, name in zip(label_values, names)]
    return names


# --- reading -------------------------------------------------------------------------------------


def _read(data, *, label_col: str) -> tuple[list[_Piece], str, dict]:
    """Pieces of the source, its name, and the card fields (source, version, licence, citation).
    ``data`` is a path or name, or (from the Python API) a pandas DataFrame, a ``datasets``
    Dataset or DatasetDict."""
    if not isinstance(data, str):
        return _read_object(data, label_col)
    path = Path(os.path.expanduser(data))
    if not path.exists() and "," in data:
        files, stems = _listed_files(data)
        pieces = [_Piece(_read_file(f), f.name, task=s) for f, s in zip(files, stems)]
        return pieces, _safe_name("+".join(stems)), _local_card(data, files)
    if path.is_file():
        return [_Piece(_read_file(path), path.name)], _safe_name(_stem(path)), _local_card(data, [path])
    if path.is_dir():
        if (path / "dataset_dict.json").exists() or (path / "state.json").exists():
            return _read_saved_dataset(path, data, label_col)
        return _read_folder(path, data)
    if looks_like_path(data):
        raise DataError(f"file or folder {data!r} not found: check the --data path")
    return _read_hub_dataset(data, label_col)


def _listed_files(data: str) -> tuple[list[Path], list[str]]:
    """The files of a comma-separated ``--data`` list and their stems, the names of their tasks;
    each file must exist and no two may share a stem."""
    files = [Path(os.path.expanduser(p.strip())) for p in data.split(",") if p.strip()]
    for file in files:
        if not file.is_file():
            raise DataError(f"file {str(file)!r} not found: check the comma-separated --data list")
    stems = [_stem(f) for f in files]
    if len(set(stems)) != len(stems):
        raise DataError("two files in the --data list have the same name; the task name is the "
                        "file name: rename one of them")
    return files, stems


def looks_like_path(name: str) -> bool:
    """Whether ``name`` (a ``--data`` or ``--model`` value) means a local path rather than a
    Hugging Face name, so that a missing path is reported as missing instead of sent to the hub.

    Hub names are ``name`` or ``org/name`` and start with a letter or digit, so a path is a name
    that starts with '.', '~' or the path separator, holds a backslash on Windows, ends in a
    data-file suffix, holds more than one '/', or is ``org/name`` where ``org`` is a local folder.
    """
    if name.startswith((".", "~", "/", os.sep)) or os.sep != "/" and os.sep in name:
        return True
    if Path(name).suffix.lower() in FORMATS or name.count("/") > 1:
        return True
    return "/" in name and Path(name.split("/")[0]).expanduser().is_dir()


def _stem(path: Path) -> str:
    return path.name[: -len(path.suffix)] if path.suffix else path.name


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", name).strip("-") or "data"


#: the text encoding of the files being read (load_source's ``encoding``)
_ENCODING: contextvars.ContextVar[str] = contextvars.ContextVar("encoding", default="utf-8")


@contextlib.contextmanager
def _text_encoding(encoding: str) -> Iterator[None]:
    """Files read inside the block are read as ``encoding`` text."""
    token = _ENCODING.set(encoding)
    try:
        yield
    finally:
        _ENCODING.reset(token)


def _undecodable(path: Path, encoding: str, error: UnicodeDecodeError) -> DataError:
    """The error for a file ``path`` that is not ``encoding`` text."""
    return DataError(f"cannot read {path.name}: it is not {encoding} text (byte "
                     f"0x{error.object[error.start]:02x} at byte {error.start}); give its "
                     "encoding with --encoding (latin-1, cp1252, ...)")


def _unknown_encoding(encoding: str) -> DataError:
    """The error for an ``encoding`` that Python does not know."""
    return DataError(f"--encoding {encoding} is not a text encoding Python knows: use utf-8, "
                     "latin-1, cp1252, ...")


def _read_file(path: Path):
    import pandas as pd

    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise DataError(f"cannot read {path.name}: its extension is not {FORMAT_NAMES}; "
                        "convert it or rename it to its format")
    encoding = _ENCODING.get()
    try:
        if kind in ("csv", "tsv"):
            return pd.read_csv(path, sep="," if kind == "csv" else "\t", encoding=encoding)
        if kind == "parquet":
            return pd.read_parquet(path)
        if kind == "jsonl":
            return pd.read_json(path, lines=True, dtype=False, convert_dates=False, encoding=encoding)
        try:
            return pd.read_json(path, dtype=False, convert_dates=False, encoding=encoding)
        except ValueError:
            return pd.read_json(path, lines=True, dtype=False, convert_dates=False, encoding=encoding)
    except UnicodeDecodeError as error:
        raise _undecodable(path, encoding, error) from None
    except LookupError:
        raise _unknown_encoding(encoding) from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path.name} is empty: give a file with a header row and one example per "
                        "row") from None
    except Exception as error:  # the message of a parse error may quote the data: never shown
        line = re.search(r"line (\d+)", str(error))
        at = f" near line {line.group(1)}" if line else ""
        raise DataError(f"cannot read {path.name} as {kind.upper()}{at} ({type(error).__name__}): "
                        f"check that the file is valid {kind.upper()} in UTF-8") from None


def _read_folder(path: Path, data: str) -> tuple[list[_Piece], str, dict]:
    splits = _folder_files(path, data, suffixes=FORMATS, format_names=FORMAT_NAMES)
    pieces = [_Piece(_read_file(f), f.name, split=split) for f, split in splits.items()]
    return pieces, _safe_name(path.resolve().name), _local_card(data, list(splits))


def _folder_files(path: Path, data: str, *, suffixes: Collection[str], format_names: str
                  ) -> dict[Path, Optional[str]]:
    """The data files of folder ``path`` (visible files with one of ``suffixes``), sorted, each
    with its split when the folder holds train and test files (then it may hold nothing else),
    else with None."""
    files = sorted(f for f in path.iterdir()
                   if f.is_file() and not f.name.startswith(".") and f.suffix.lower() in suffixes)
    if not files:
        raise DataError(f"folder {data!r} holds no {format_names} file: check the --data path")
    splits = {f: SPLIT_NAMES.get(_stem(f).lower()) for f in files}
    if not {"train", "test"} <= set(splits.values()):
        return {f: None for f in files}
    others = [f.name for f, s in splits.items() if s is None]
    if others:
        raise DataError(f"folder {data!r} has train and test files and also {others[0]}: move "
                        "other files out of the folder")
    return splits


def _local_card(data: str, files: Sequence[Path]) -> dict:
    newest = max(f.stat().st_mtime for f in files)
    date = datetime.datetime.fromtimestamp(newest, datetime.timezone.utc).date().isoformat()
    return {"source": data, "version": f"file modified {date}", "licence": UNKNOWN_LICENCE,
            "citation": ""}


def _dataframe_card(frame) -> dict:
    """The card fields of a pandas DataFrame handed over in memory."""
    return {"source": "a pandas DataFrame given to the Python API", "version": f"{len(frame)} rows",
            "licence": UNKNOWN_LICENCE, "citation": ""}


def _read_object(data, label_col: str) -> tuple[list[_Piece], str, dict]:
    """A table handed over in memory: a pandas DataFrame, or a datasets Dataset / DatasetDict."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return [_Piece(data.copy(), "the DataFrame")], "dataframe", _dataframe_card(data)
    try:
        import datasets
    except ImportError:  # pragma: no cover - datasets is a dependency
        datasets = None
    if datasets is not None and isinstance(data, (datasets.Dataset, datasets.DatasetDict)):
        pieces, card = _dataset_pieces(data, "a datasets object given to the Python API", label_col)
        return pieces, "dataset", card
    raise DataError(f"data of type {type(data).__name__} cannot be read: give a path, a Hugging Face dataset "
                    "name, a pandas DataFrame or a datasets Dataset")


def _read_saved_dataset(path: Path, data: str, label_col: str):
    pieces, card = _dataset_pieces(_load_saved_dataset(path, data), data, label_col)
    return pieces, _safe_name(path.resolve().name), card


def _read_hub_dataset(name: str, label_col: str):
    pieces, card = _dataset_pieces(_load_hub_dataset(name), name, label_col)
    return pieces, _safe_name(name.rstrip("/").split("/")[-1]), card


def _load_saved_dataset(path: Path, data: str):
    """The Dataset or DatasetDict that ``save_to_disk`` wrote to folder ``path`` (``data``, as
    given)."""
    import datasets

    try:
        return datasets.load_from_disk(str(path))
    except Exception as error:
        raise DataError(f"cannot read {data!r} as a folder saved by datasets' save_to_disk "
                        f"({type(error).__name__}): save it again or give a file") from None


def _load_hub_dataset(name: str):
    """The hub dataset ``name``, as ``datasets.load_dataset`` gives it."""
    import datasets

    try:
        return datasets.load_dataset(name)
    except Exception as error:
        raise DataError(f"cannot load {name!r} as a file, folder or Hugging Face dataset "
                        f"({type(error).__name__}): check the name (and that you are online) or "
                        "give a local file") from None


def _dataset_pieces(loaded, source: str, label_col: str) -> tuple[list[_Piece], dict]:
    """Pieces of a ``Dataset`` or ``DatasetDict``; its train/test splits are kept when both exist."""
    import datasets

    if isinstance(loaded, datasets.Dataset):
        parts = [(None, None, loaded)]
    else:
        splits = {key: SPLIT_NAMES.get(str(key).lower()) for key in loaded}
        if {"train", "test"} <= set(splits.values()):
            parts = [(splits[k], k, d) for k, d in loaded.items() if splits[k] is not None]
        else:  # no train/test split to honour: every split is data to split ourselves
            parts = [(None, k, d) for k, d in loaded.items()]
    pieces = []
    for split, key, dataset in parts:
        feature = dataset.features.get(label_col)
        names = list(feature.names) if isinstance(feature, datasets.ClassLabel) else None
        where = f"{source} ({key} split)" if key is not None else source
        pieces.append(_Piece(dataset.to_pandas(), where, split=split, label_feature_names=names))
    datasets_ = [d for _, _, d in parts]
    info = datasets_[0].info if datasets_ else None
    fingerprints = ",".join(getattr(d, "_fingerprint", "") or "" for d in datasets_)
    version = f"fingerprint {fingerprints}"
    if info is not None and info.version and str(info.version) != "0.0.0":
        version = f"version {info.version}, {version}"
    return pieces, {
        "source": source,
        "version": version,
        "licence": (info.license if info is not None and info.license else UNKNOWN_LICENCE),
        "citation": (info.citation if info is not None and info.citation else ""),
    }


def _task_order(pieces: list[_Piece]) -> Optional[list[str]]:
    tasks = [p.task for p in pieces if p.task]
    return tasks or None


# --- values ------------------------------------------------------------------------------------


def _is_missing(value) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    try:
        import pandas as pd

        return value is pd.NA or value is pd.NaT
    except ImportError:  # pragma: no cover
        return False


def _text(value) -> str:
    if _is_missing(value):
        return ""
    return (value if isinstance(value, str) else str(value)).strip()


def _label_kind(value) -> str:
    import numpy as np

    if _is_missing(value):
        return "missing"
    if isinstance(value, (bool, np.bool_)):
        return "string"
    if isinstance(value, (int, float, np.integer, np.floating)):
        return "missing" if isinstance(value, (float, np.floating)) and math.isnan(value) else "number"
    if isinstance(value, str):
        return "string" if value.strip() else "missing"
    return "other"


def _label_value(value):
    """A label as a sortable, hashable value: an int when integral, else a float or a string."""
    import numpy as np

    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return int(value) if float(value).is_integer() else float(value)
    return str(value).strip()


def _category(value) -> Optional[str]:
    """A domain / task / group / split value as a string; None when missing or blank."""
    if _is_missing(value):
        return None
    if not isinstance(value, str):
        value = _label_value(value)
    text = str(value).strip()
    return text or None


def _read_label_names(path_str: str, *, numeric: bool) -> dict[str, str]:
    """Label value (as a string) -> readable name, from a CSV (two columns) or JSON object."""
    path = Path(os.path.expanduser(path_str))
    if not path.is_file():
        raise DataError(f"label names file {path_str!r} not found: check --label-names")
    try:
        if path.suffix.lower() == ".json":
            raw = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(raw, dict):
                raise DataError(f"label names file {path.name} is not a JSON object: write it as "
                                '{"label value": "name", ...}')
            pairs = list(raw.items())
        else:
            import pandas as pd

            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
            if frame.shape[1] < 2:
                raise DataError(f"label names file {path.name} needs two columns (label value, "
                                "name) under a header row")
            pairs = list(zip(frame.iloc[:, 0], frame.iloc[:, 1]))
    except DataError:
        raise
    except Exception as error:
        raise DataError(f"cannot read label names file {path.name} ({type(error).__name__}): give "
                        "a CSV with a header row or a JSON object") from None
    mapping = {}
    for key, name in pairs:
        key = str(key).strip()
        if numeric:
            try:
                key = str(_label_value(float(key)))
            except ValueError:
                pass
        mapping[key] = str(name).strip()
    return mapping
