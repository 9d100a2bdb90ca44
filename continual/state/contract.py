"""The results contract of a run folder (docs/design.md, Results and Metrics), checked from the
files alone: the contract files are present, metrics.json holds its keys with the right shapes,
every summary metric equals what :mod:`continual.evaluation.metrics` computes from the stored
matrix, accuracy_matrix.csv holds the JSON matrix, and nothing in the folder looks like input
text; the per-class results agree with each other: per_class.csv's F1 values average, per
step, to ``macro_f1_by_step``, and confusion_matrix.csv's rows sum to the last step's supports.
It lives in ``state/`` beside :mod:`continual.state.run_folder`, which writes these files:
a change of the folder's layout and of its check is one change in one package.
"""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any, Optional

from ..evaluation import metrics as formulas
from .run_folder import PER_CLASS_HEADER

#: Files every finished run folder holds.
REQUIRED_FILES = ("config.json", "metrics.json", "accuracy_matrix.csv", "forgetting_curve.png", "per_class.csv",
                  "confusion_matrix.csv", "confusion_matrix.png")
#: What else a run folder may hold: --log output, --keep-checkpoint, --save-model, a running run's lock.
OPTIONAL_ENTRIES = ("logs", "checkpoint", "model", ".lock")
REQUIRED_KEYS = ("stream", "strategy", "seed", "scenario", "experiences", "accuracy_matrix", "initial_accuracy",
                 "average_accuracy", "average_incremental_accuracy", "forgetting", "bwt", "fwt",
                 "learning_accuracy", "per_experience", "train_seconds", "eval_seconds", "peak_rss_mb",
                 "trainable_parameters", "macro_f1_matrix", "macro_f1", "macro_f1_by_step", "notes", "score")
EXPERIENCE_KEYS = {"id", "classes", "task", "n_train", "n_test"}
#: what an experience entry may hold besides: its classes' names, beside their ids
EXPERIENCE_OPTIONAL_KEYS = {"class_names"}
#: What an accuracy matrix may hold (docs/design.md, Metrics).
SCORES = ("accuracy", "entity_f1", "micro_f1")
#: JSON keys under which input texts would be stored; results never hold any.
TEXT_KEYS = {"text", "texts", "train_texts", "test_texts", "val_texts", "tokens", "input_ids"}
#: Summary metrics are recomputed with the same functions, so only float printing may differ.
TOLERANCE = 1e-9


def check_run(run_dir: Path) -> list[str]:
    """Every breach of the results contract in ``run_dir``, one line each (empty when it holds)."""
    run_dir = Path(run_dir)
    problems = [f"missing or empty {name}" for name in REQUIRED_FILES
                if not (run_dir / name).is_file() or (run_dir / name).stat().st_size == 0]
    known = set(REQUIRED_FILES) | set(OPTIONAL_ENTRIES)
    problems += [f"unexpected file {entry.name} (results hold only the contract's files)"
                 for entry in sorted(run_dir.iterdir()) if entry.name not in known and not entry.name.endswith(".tmp")]
    metrics = _read_json(run_dir / "metrics.json", problems)
    config = _read_json(run_dir / "config.json", problems)
    for name, data in (("metrics.json", metrics), ("config.json", config)):
        problems += [f"{name} holds input text under {path}" for path in _text_keys(data)]
    if metrics is None:
        return problems
    missing = [key for key in REQUIRED_KEYS if key not in metrics]
    if missing:
        problems.append(f"metrics.json lacks {', '.join(missing)}")
    matrix_problems = _matrix_problems(metrics)
    problems += matrix_problems
    if not matrix_problems:
        problems += _summary_problems(metrics)
        problems += _csv_problems(run_dir / "accuracy_matrix.csv", metrics["accuracy_matrix"])
        if "macro_f1_by_step" in metrics:
            problems += _per_class_problems(run_dir, metrics)
        problems += _stored_bytes_problems(metrics)
    return problems


def _stored_bytes_problems(m: dict) -> list[str]:
    """``stored_bytes``, where present: one count of bytes (or null, for experiences finished
    before a resume from an older checkpoint) per experience."""
    if "stored_bytes" not in m:
        return []
    stored, t = m["stored_bytes"], len(m["accuracy_matrix"])
    if not isinstance(stored, list) or len(stored) != t or any(
            v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0) for v in stored):
        return [f"stored_bytes is not {t} byte counts (non-negative integers or null)"]
    return []


def summary_line(run_dir: Path) -> str:
    """One line naming a run that passed and its headline numbers."""
    m = json.loads((Path(run_dir) / "metrics.json").read_text(encoding="utf-8"))
    fwt = "n/a" if m.get("fwt") is None else f"{m['fwt']:.3f}"
    forgetting = "n/a" if m.get("forgetting") is None else f"{m['forgetting']:.3f}"
    return (f"ok {run_dir}: {m['strategy']} seed {m['seed']} ACC={m['average_accuracy']:.3f} "
            f"forgetting={forgetting} FWT={fwt}")


def _read_json(path: Path, problems: list[str]) -> Optional[dict]:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        problems.append(f"{path.name} is not readable JSON ({err.__class__.__name__})")
        return None
    if not isinstance(data, dict):
        problems.append(f"{path.name} does not hold a JSON object")
        return None
    return data


def _text_keys(data: Any, where: str = "") -> list[str]:
    """Paths of keys in ``data`` named like stored input text."""
    found = []
    if isinstance(data, dict):
        for key, value in data.items():
            path = f"{where}.{key}" if where else str(key)
            if key in TEXT_KEYS:
                found.append(path)
            found += _text_keys(value, path)
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found += _text_keys(value, f"{where}[{i}]")
    return found


def _matrix_problems(m: dict) -> list[str]:
    """Shapes: T experiences, a T x T matrix in [0, 1], T initial values, T timings each."""
    experiences = m.get("experiences")
    if not isinstance(experiences, list) or not experiences:
        return ["experiences is not a non-empty list"]
    t = len(experiences)
    problems = [f"experiences[{i}] keys are {sorted(e) if isinstance(e, dict) else e!r}, "
                f"expected {sorted(EXPERIENCE_KEYS)} (and optionally {sorted(EXPERIENCE_OPTIONAL_KEYS)})"
                for i, e in enumerate(experiences)
                if not isinstance(e, dict) or not EXPERIENCE_KEYS <= set(e) <= EXPERIENCE_KEYS | EXPERIENCE_OPTIONAL_KEYS]
    problems += [f"experiences[{i}].class_names does not name its {len(e['classes'])} classes"
                 for i, e in enumerate(experiences) if isinstance(e, dict) and "class_names" in e
                 and (not isinstance(e["class_names"], list) or len(e["class_names"]) != len(e.get("classes") or []))]
    matrix = m.get("accuracy_matrix")
    if not _is_table(matrix, t, t):
        return problems + [f"accuracy_matrix is not {t}x{t} numbers"]
    if any(not 0.0 <= v <= 1.0 for row in matrix for v in row):
        problems.append("accuracy_matrix holds values outside [0, 1]")
    if not _is_table([m.get("initial_accuracy")], 1, t):
        problems.append(f"initial_accuracy is not {t} numbers")
    for key in ("train_seconds", "eval_seconds"):
        if key in m and not _is_table([m[key]], 1, t):
            problems.append(f"{key} is not {t} numbers")
    return problems


def _is_table(rows: Any, n_rows: int, n_columns: int) -> bool:
    return (isinstance(rows, list) and len(rows) == n_rows
            and all(isinstance(row, list) and len(row) == n_columns
                    and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in row)
                    for row in rows))


def _summary_problems(m: dict) -> list[str]:
    """Every summary metric against the matrix; fwt may be null only where it is undefined."""
    matrix, initial = m["accuracy_matrix"], m["initial_accuracy"]
    fwt_null_allowed = m.get("scenario") in ("class", "task") or bool(m.get("notes"))
    expected = formulas.summarize(matrix, initial, fwt_defined=not (m.get("fwt") is None and fwt_null_allowed))
    problems = []
    if m.get("fwt") is None and not fwt_null_allowed:
        problems.append("fwt is null in a domain-incremental run without a reason in notes")
    elif m.get("fwt") is None and "notes" in m and not m["notes"]:
        problems.append("fwt is null without a reason in notes")
    for key in ("average_accuracy", "average_incremental_accuracy", "forgetting", "bwt", "fwt", "learning_accuracy"):
        if not _same(m.get(key), expected[key]):
            problems.append(f"{key}={m.get(key)} but the matrix gives {expected[key]}")
    per_experience = m.get("per_experience")
    if not isinstance(per_experience, dict):
        return problems + ["per_experience is not an object"]
    for key, values in expected["per_experience"].items():
        got = per_experience.get(key)
        if values is None or got is None:
            if values != got:
                problems.append(f"per_experience.{key}={got} but the matrix gives {values}")
        elif not (isinstance(got, list) and len(got) == len(values) and all(map(_same, got, values))):
            problems.append(f"per_experience.{key}={got} but the matrix gives {values}")
    return problems


def _same(got: Any, expected: Optional[float]) -> bool:
    if expected is None or got is None:
        return got is None and expected is None
    return isinstance(got, (int, float)) and math.isclose(got, expected, rel_tol=0.0, abs_tol=TOLERANCE)


def _header_and_rows(path: Path, convert) -> tuple[list[str], list[str], list[list]]:
    """A CSV's header, its rows' first cells and the rest of each row converted by ``convert``;
    OSError, ValueError or IndexError when it is not that."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    return header, [row[0] for row in body], [[convert(v) for v in row[1:]] for row in body]


def _csv_problems(path: Path, matrix: list) -> list[str]:
    """accuracy_matrix.csv: a header, then one row per experience equal to the JSON row."""
    if not path.is_file():
        return []
    try:
        header, first, values = _header_and_rows(path, float)
        indices = [int(v) for v in first]
    except (OSError, ValueError, IndexError):
        return ["accuracy_matrix.csv is not a header and rows of numbers"]
    t = len(matrix)
    if header != ["after_experience"] + [f"exp_{j}" for j in range(t)] or indices != list(range(t)):
        return [f"accuracy_matrix.csv does not have the header and row labels of a {t}x{t} matrix"]
    if values != [[float(v) for v in row] for row in matrix]:
        return ["accuracy_matrix.csv differs from metrics.json's accuracy_matrix"]
    return []


def _per_class_problems(run_dir: Path, m: dict) -> list[str]:
    """The F1 keys against each other and against per_class.csv and confusion_matrix.csv."""
    t = len(m["accuracy_matrix"])
    by_step = m["macro_f1_by_step"]
    if not _is_table([by_step], 1, t) or any(not 0.0 <= v <= 1.0 for v in by_step):
        return [f"macro_f1_by_step is not {t} numbers in [0, 1]"]
    problems: list[str] = []
    if "macro_f1" in m and not _same(m["macro_f1"], by_step[-1]):
        problems.append(f"macro_f1={m['macro_f1']} but the last value of macro_f1_by_step is {by_step[-1]}")
    f1_matrix = m.get("macro_f1_matrix")
    if "macro_f1_matrix" in m and (not _is_table(f1_matrix, t, t) or any(not 0.0 <= v <= 1.0 for r in f1_matrix for v in r)):
        problems.append(f"macro_f1_matrix is not {t}x{t} numbers in [0, 1]")
    if "score" in m and m["score"] not in SCORES:
        problems.append(f"score is {m['score']!r}, expected one of {', '.join(SCORES)}")
    notes = m.get("notes", [])
    if not isinstance(notes, list) or not all(isinstance(n, str) and n and "\n" not in n for n in notes):
        problems.append("notes is not a list of one-line reasons")
    last_step = _per_class_csv_problems(run_dir / "per_class.csv", by_step, problems)
    if last_step is not None:
        problems += _confusion_csv_problems(run_dir / "confusion_matrix.csv", last_step)
    return problems


def _per_class_csv_problems(path: Path, by_step: list, problems: list[str]) -> list[tuple[str, int]] | None:
    """per_class.csv: its header, one block of rows per step whose F1 values average to that
    step's macro-F1; appends to ``problems`` and returns the last step's (class name, support)."""
    if not path.is_file():
        return None
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        header, body = rows[0], rows[1:]
        parsed = [(int(r[0]), int(r[1]), r[2], float(r[3]), float(r[4]), float(r[5]), int(r[6])) for r in body]
    except (OSError, ValueError, IndexError):
        problems.append("per_class.csv is not a header and rows of per-class values")
        return None
    if header != list(PER_CLASS_HEADER):
        problems.append(f"per_class.csv's header is {','.join(header)}, expected {','.join(PER_CLASS_HEADER)}")
        return None
    if any(not 0.0 <= v <= 1.0 for row in parsed for v in row[3:6]) or any(row[6] < 0 for row in parsed):
        problems.append("per_class.csv holds precision, recall or f1 outside [0, 1] or a negative support")
    for step, expected in enumerate(by_step):
        f1 = [row[5] for row in parsed if row[0] == step]
        if not f1 or not math.isclose(sum(f1) / len(f1), expected, rel_tol=0.0, abs_tol=TOLERANCE):
            problems.append(f"per_class.csv's f1 after experience {step} does not average to "
                            f"macro_f1_by_step[{step}]={expected}")
    if any(not 0 <= row[0] < len(by_step) for row in parsed):
        problems.append(f"per_class.csv has after_experience values outside 0..{len(by_step) - 1}")
    return [(row[2], row[6]) for row in parsed if row[0] == len(by_step) - 1]


def _confusion_csv_problems(path: Path, last_step: list[tuple[str, int]]) -> list[str]:
    """confusion_matrix.csv: class names and counts only; its rows are the last step's classes
    and sum to their supports in per_class.csv."""
    if not path.is_file():
        return []
    try:
        header, body_names, counts = _header_and_rows(path, int)
    except (OSError, ValueError, IndexError):
        return ["confusion_matrix.csv is not a header and rows of counts"]
    if any(len(row) != len(header) - 1 or min(row, default=0) < 0 for row in counts):
        return ["confusion_matrix.csv's rows do not hold one count per predicted class"]
    if body_names != [name for name, _ in last_step]:
        return ["confusion_matrix.csv's rows are not the classes of per_class.csv's last step"]
    if [sum(row) for row in counts] != [support for _, support in last_step]:
        return ["confusion_matrix.csv's rows do not sum to the supports of per_class.csv's last step"]
    return []
