"""Finding and reading saved runs: every ``metrics.json`` under the folders given, checked.

Nothing is recomputed from models: a run is what its metrics.json says, so runs of any age can
be compared (docs/design.md, Results). ``reference`` folders (the curated reference runs) are
skipped unless named directly.
"""
from __future__ import annotations

import json
import os
import re
import sys
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from ..errors import UserError
from .fingerprint import fingerprint_id, labels, matches, read_settings

REFERENCE_DIR = "reference"
RUN_FOLDER = re.compile(r"^seed-(?P<seed>-?\d+)(?:-order-(?P<order>\d+))?$")

Warn = Callable[[str], None]


@dataclass(frozen=True)
class Run:
    """One finished run as read from its metrics.json, with its configuration's settings and
    fingerprint (:mod:`.fingerprint`, from the config.json beside it) and its row label."""

    path: Path
    metrics: dict
    seed: Optional[int]
    order: int
    settings: dict = field(default_factory=dict, compare=False)
    fingerprint: str = ""
    label: str = ""

    @property
    def row(self) -> str:
        """The comparison row's name: the strategy, and its configuration's label where several
        configurations are shown."""
        return f"{self.strategy} ({self.label})" if self.label else self.strategy

    @property
    def stream(self) -> str:
        return str(self.metrics["stream"])

    @property
    def strategy(self) -> str:
        return str(self.metrics["strategy"])

    @property
    def accuracy_matrix(self) -> list[list[float]]:
        return self.metrics["accuracy_matrix"]

    @property
    def n_experiences(self) -> int:
        return len(self.metrics["accuracy_matrix"])


def warn_on_stderr(message: str) -> None:
    """The command line's warning channel: one line on stderr, so stdout keeps only the table."""
    print(f"warning: {message}", file=sys.stderr)


def find_metrics_files(root: Path) -> tuple[list[Path], list[Path]]:
    """All metrics.json under ``root`` (sorted), and the ``reference`` folders left out.

    A folder named ``reference`` below ``root`` is skipped: it holds curated reference results,
    compared only when named directly (``root`` itself may be, or lie inside, such a folder).
    """
    found, skipped = [], []
    for folder, subfolders, files in os.walk(root):
        for name in list(subfolders):
            if name == REFERENCE_DIR or name.startswith("."):
                subfolders.remove(name)
                if name == REFERENCE_DIR:
                    skipped.append(Path(folder) / name)
        subfolders.sort()
        if "metrics.json" in files:
            found.append(Path(folder) / "metrics.json")
    return sorted(found), sorted(skipped)


def metrics_problem(data) -> Optional[str]:
    """Why ``data`` is not a usable metrics.json, or None."""
    if not isinstance(data, dict):
        return "it is not a JSON object"
    for key in ("stream", "strategy", "accuracy_matrix"):
        if key not in data:
            return f"key {key!r} is missing"
    matrix = data["accuracy_matrix"]
    if (not isinstance(matrix, list) or not matrix
            or any(not isinstance(row, list) or len(row) != len(matrix) for row in matrix)):
        return "accuracy_matrix is not a square list of lists"
    try:
        np.asarray(matrix, dtype=float)
    except (TypeError, ValueError):
        return "accuracy_matrix holds non-numbers"
    return None


def read_run(path: Path) -> Run:
    """Read one metrics.json; raise ValueError naming the problem when it is unusable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"unreadable ({type(err).__name__}: {err})") from None
    problem = metrics_problem(data)
    if problem:
        raise ValueError(problem)
    folder = RUN_FOLDER.match(path.parent.name)
    seed = data.get("seed", int(folder["seed"]) if folder else None)
    order = data.get("order")
    if order is None:  # a metrics.json without "order": the folder name says, else the given order 0
        order = int(folder["order"]) if folder and folder["order"] else 0
    settings = read_settings(path.parent)
    return Run(path=path, metrics=data, seed=seed, order=int(order), settings=settings,
               fingerprint=fingerprint_id(settings))


def load_runs(dirs: Sequence[Path], warn: Warn = warn_on_stderr, *, filters: Sequence[str] = (),
              group_by: Optional[Sequence[str]] = None) -> list[Run]:
    """Every readable run under ``dirs`` that passes every ``KEY=VALUE`` of ``filters``, labelled
    by what tells its configuration apart; corrupt files and duplicates (same stream, strategy,
    configuration, seed and order) are skipped with a warning. ``group_by`` (setting names)
    keeps only those settings in the fingerprint, so runs that differ in others share a row.

    Raises :class:`~continual.errors.UserError` when there is no metrics.json, none readable,
    or none left by the filters.
    """
    runs = _read_all(dirs, warn)
    for condition in filters:
        verdicts = [matches(r.settings, {"strategy": r.strategy, "stream": r.stream, "seed": r.seed}, condition)
                    for r in runs]
        if all(v is None for v in verdicts):
            raise UserError(f"--filter {condition}: no run has the setting {condition.partition('=')[0]!r}; "
                            "use a setting of config.json (ewc.lambda, model.model, training.lr) or strategy, stream, seed")
        runs = [r for r, v in zip(runs, verdicts) if v]
        if not runs:
            raise UserError(f"--filter {condition} leaves no run to compare")
    if group_by is not None:
        runs = [_regrouped(r, group_by) for r in runs]
    return _deduplicated_and_labelled(runs, warn)


def _regrouped(run: Run, keys: Sequence[str]) -> Run:
    kept = {k: v for k, v in run.settings.items() if k in keys or k.rpartition(".")[2] in keys}
    return dataclasses.replace(run, settings=kept, fingerprint=fingerprint_id(kept))


def _deduplicated_and_labelled(runs: list[Run], warn: Warn) -> list[Run]:
    kept, seen = [], {}
    for run in runs:
        key = (run.stream, run.strategy, run.fingerprint, run.seed, run.order)
        if key in seen:
            warn(f"skipping {run.path}: same stream, strategy, configuration, seed and order as {seen[key]}")
            continue
        seen[key] = run.path
        kept.append(run)
    names = labels({(r.stream, r.strategy, r.fingerprint): r.settings for r in kept})
    return [dataclasses.replace(r, label=names[(r.stream, r.strategy, r.fingerprint)]) for r in kept]


def _read_all(dirs: Sequence[Path], warn: Warn) -> list[Run]:
    runs: list[Run] = []
    skipped_reference: list[Path] = []
    any_file = False
    for root in dirs:
        files, skipped = find_metrics_files(root)
        skipped_reference += skipped
        for path in files:
            any_file = True
            try:
                run = read_run(path)
            except ValueError as err:
                warn(f"skipping {path}: {err}")
                continue
            runs.append(run)
    if not runs:
        raise UserError(_nothing_to_compare(dirs, any_file, skipped_reference))
    return runs


def _nothing_to_compare(dirs: Sequence[Path], any_file: bool, skipped_reference: Sequence[Path]) -> str:
    where = ", ".join(str(d) for d in dirs)
    if any_file:
        return (f"no readable metrics.json under {where} (see the warnings above): rerun the "
                "broken runs with `python -m continual.run --overwrite`")
    hint = ""
    if skipped_reference:
        hint = f" ({', '.join(map(str, skipped_reference))} skipped: name it directly to compare reference runs)"
    return (f"no metrics.json under {where}{hint}: run `python -m continual.run --out DIR` "
            "first, or give the folder those runs were written to")


def as_result_dirs(dirs) -> list[Path]:
    """``dirs`` (one path or several) as existing folders; a UserError names the one that is not."""
    if isinstance(dirs, (str, os.PathLike)):
        dirs = [dirs]
    paths = [Path(d) for d in dirs]
    if not paths:
        raise UserError("no results folder given: pass the folder that `python -m continual.run --out` wrote")
    for path in paths:
        if not path.exists():
            raise UserError(f"results folder {path} does not exist: give the folder that "
                            "`python -m continual.run --out` wrote (default results/)")
        if not path.is_dir():
            raise UserError(f"{path} is not a folder: give the results folder that holds the run folders")
    return paths
