"""The results contract of a run folder (docs/design.md, Results and Metrics), checked from the
files alone: the contract files are present, metrics.json holds its keys with the right shapes,
every summary metric equals what :mod:`continual.evaluation.metrics` computes from the stored
matrix, accuracy_matrix.csv holds the JSON matrix, and nothing in the folder looks like input
text. It lives in ``state/`` beside :mod:`continual.state.run_folder`, which writes these files:
a change of the folder's layout and of its check is one change in one package.
"""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any, Optional

from ..evaluation import metrics as formulas

#: Files every finished run folder holds.
REQUIRED_FILES = ("config.json", "metrics.json", "accuracy_matrix.csv", "forgetting_curve.png")
#: What else a run folder may hold: result files, --log output, --keep-checkpoint, --save-model.
OPTIONAL_ENTRIES = ("per_class.csv", "confusion_matrix.csv", "confusion_matrix.png", "logs", "checkpoint",
                    "model", ".lock")
REQUIRED_KEYS = ("stream", "strategy", "seed", "scenario", "experiences", "accuracy_matrix", "initial_accuracy",
                 "average_accuracy", "average_incremental_accuracy", "forgetting", "bwt", "fwt",
                 "learning_accuracy", "per_experience", "train_seconds", "eval_seconds", "peak_rss_mb",
                 "trainable_parameters")
EXPERIENCE_KEYS = {"id", "classes", "task", "n_train", "n_test"}
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
    return problems


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
                f"expected {sorted(EXPERIENCE_KEYS)}"
                for i, e in enumerate(experiences) if not isinstance(e, dict) or set(e) != EXPERIENCE_KEYS]
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


def _csv_problems(path: Path, matrix: list) -> list[str]:
    """accuracy_matrix.csv: a header, then one row per experience equal to the JSON row."""
    if not path.is_file():
        return []
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        header, body = rows[0], rows[1:]
        values = [[float(v) for v in row[1:]] for row in body]
        indices = [int(row[0]) for row in body]
    except (OSError, ValueError, IndexError):
        return ["accuracy_matrix.csv is not a header and rows of numbers"]
    t = len(matrix)
    if header != ["after_experience"] + [f"exp_{j}" for j in range(t)] or indices != list(range(t)):
        return [f"accuracy_matrix.csv does not have the header and row labels of a {t}x{t} matrix"]
    if values != [[float(v) for v in row] for row in matrix]:
        return ["accuracy_matrix.csv differs from metrics.json's accuracy_matrix"]
    return []
