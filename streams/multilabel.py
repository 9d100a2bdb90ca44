"""Multi-label sources: texts with a set of labels each, read into a :class:`MultiLabelTable`.

A label cell holds a list (JSON Lines, Parquet, a ``datasets`` Sequence column; a CSV cell
written as ``["a", "b"]``) or a string split on ``label_sep`` (``"asthma;copd"``). An empty set is a
negative: a text with none of the labels. Files, folders, file lists, DataFrames and ``datasets``
sources are read as :func:`streams.sources.load_source` reads them; errors are one-line
:class:`DataError` messages that name the file and row, never the text.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any, Optional

from .base import DataError, SourceCard
from .sources import (_check_columns, _check_row_counts, _class_names, _Columns, _is_missing,
                      _label_value, _optional_columns, _read, _Rows, _text_encoding, _texted_rows)
from .tagging import read_dataset_source


@dataclass
class MultiLabelTable:
    """One row per text: its sorted label ids (possibly none), the optional domain / task /
    split columns, the label names and the provenance card.

    ``label_values[i]`` is the raw value of label ``i`` (sorted: numbers numerically, strings
    alphabetically) and ``class_names[i]`` its readable name. ``dropped`` counts rows left out
    while reading (``blank_texts``, ``missing_domains``, ``missing_tasks``).
    """

    name: str
    card: SourceCard
    texts: list[str]
    labels: list[list[int]]
    label_values: list[Any]
    class_names: list[str]
    domains: Optional[list[str]] = None
    tasks: Optional[list[str]] = None
    split: Optional[list[str]] = None
    task_order: Optional[list[str]] = None
    class_descriptions: Optional[list[str]] = None
    dropped: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        _check_row_counts(self, ("labels", "domains", "tasks", "split"))
        if len(self.label_values) != len(self.class_names):
            raise ValueError("label_values and class_names must have the same length")

    def __len__(self) -> int:
        return len(self.texts)


def load_multilabel_source(
    data,
    *,
    text_col: str,
    label_col: str,
    label_sep: Optional[str] = None,
    domain_col: Optional[str] = None,
    task_col: Optional[str] = None,
    split_col: Optional[str] = None,
    label_names: Optional[str] = None,
    encoding: str = "utf-8",
) -> MultiLabelTable:
    """Read ``data`` (file, folder, ``a.csv,b.csv``, saved ``datasets`` folder or hub name; from
    Python also a pandas DataFrame or a datasets object) into a table.

    Rows with a blank text, or without a domain or task asked for, are dropped and counted; a
    row with no label is a negative. ``label_names`` is a file of readable names as for
    :func:`streams.sources.load_source`.
    """
    if label_sep is not None and not label_sep:
        raise DataError("--label-sep is empty: give the character that separates labels, e.g. ';'")
    columns = _Columns(text_col, label_col, domain_col, task_col, None, split_col)
    with _text_encoding(encoding):
        found = read_dataset_source(data, label_col=label_col) if not _is_frame(data) else None
        if found is not None:
            named, name, card_fields = found
            pieces = [piece for piece, _ in named]
            for piece, names in named:
                piece.label_feature_names = names
        else:
            pieces, name, card_fields = _read(data, label_col=label_col)
    _check_columns(pieces, columns, name)
    raw = _Rows.of(pieces, columns)
    feature_names = [names for piece in pieces for names in [piece.label_feature_names]
                     for _ in range(len(piece.frame))]
    keep, dropped = _texted_rows(raw, columns, name)
    optional, keep, dropped = _optional_columns(raw, pieces, columns, keep, dropped)
    rows = [i for i, k in enumerate(keep) if k]
    sets = _numbers_if_all([_label_set(raw.labels[i], label_sep, feature_names[i], raw.where[i], label_col)
                            for i in rows])
    label_values = _sorted_values(sets, [raw.where[i] for i in rows], label_col)
    if not label_values:
        raise DataError(f"no text of {name} has a label (every label set in {label_col!r} is empty): "
                        "check --label-col and --label-sep")
    label_id = {v: k for k, v in enumerate(label_values)}
    names = _class_names(label_values, label_names, numeric=isinstance(label_values[0], (int, float)))
    notes = [f"{n} rows dropped: {reason.replace('_', ' ')}" for reason, n in dropped.items() if n]
    return MultiLabelTable(
        name=name, card=SourceCard(name=name, description=f"multi-labelled texts read from "
                                   f"{card_fields['source']}", **card_fields),
        texts=[raw.texts[i] for i in rows], labels=[sorted({label_id[v] for v in s}) for s in sets],
        label_values=label_values, class_names=names,
        domains=None if optional["domains"] is None else [optional["domains"][i] for i in rows],
        tasks=None if optional["tasks"] is None else [optional["tasks"][i] for i in rows],
        split=None if optional["split"] is None else [optional["split"][i] for i in rows],
        task_order=None if task_col else ([p.task for p in pieces if p.task] or None),
        dropped=dropped, notes=notes)


def _is_frame(data) -> bool:
    import pandas as pd

    return isinstance(data, pd.DataFrame)


def _label_set(cell, sep: Optional[str], names: Optional[list[str]], where: tuple[str, int],
               column: str) -> list:
    """The label values of one cell: a list's items, a string split on ``sep`` (or, without
    ``sep``, a written list ``["a", "b"]`` or one label), a number; nothing when missing."""
    if isinstance(cell, str):
        text = cell.strip()
        if sep is not None:
            values = [v.strip() for v in text.split(sep)]
        elif text.startswith("[") and text.endswith("]"):
            values = _written_list(text, where, column)
        else:
            values = [text]
    elif hasattr(cell, "tolist") and not isinstance(cell, (int, float)):
        values = cell.tolist()
        values = values if isinstance(values, list) else [values]
    elif isinstance(cell, (list, tuple, set, frozenset)):
        values = list(cell)
    elif _is_missing(cell):
        values = []
    elif isinstance(cell, (int, float)):
        values = [cell]
    else:
        file, row = where
        raise DataError(f"label column {column!r} holds an object at row {row} of {file}: give a "
                        "list of labels or a string of labels separated by --label-sep")
    out = []
    for value in values:
        if _is_missing(value) or (isinstance(value, str) and not value.strip()):
            continue
        if names is not None and isinstance(value, int) and 0 <= value < len(names):
            value = names[value]
        out.append(_label_value(value))
    return out


def _written_list(text: str, where: tuple[str, int], column: str) -> list:
    try:
        values = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        file, row = where
        raise DataError(f"label column {column!r} at row {row} of {file} starts with '[' but is "
                        "not a list: write it as [\"a\", \"b\"] or use --label-sep") from None
    return list(values) if isinstance(values, (list, tuple)) else [values]


def _numbers_if_all(sets: list[list]) -> list[list]:
    """Label strings as integers when every label is one ("10;2" splits into strings), so they
    sort as numbers do, as a single-label column of numbers would."""
    if all(isinstance(v, str) and re.fullmatch(r"-?\d+", v) for s in sets for v in s):
        return [[int(v) for v in s] for s in sets]
    return sets


def _sorted_values(sets: list[list], where: list[tuple[str, int]], column: str) -> list:
    """Every label value used, sorted; numbers and strings are never mixed."""
    used = {v for s in sets for v in s}
    numbers = [v for v in used if isinstance(v, (int, float))]
    if numbers and len(numbers) != len(used):
        at = next(w for s, w in zip(sets, where) if any(isinstance(v, str) for v in s))
        raise DataError(f"label column {column!r} mixes numbers and strings (row {at[1]} of {at[0]} "
                        "holds a string label): make every label the same type")
    return sorted(used)
