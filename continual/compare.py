"""``python -m continual.compare DIR``: compare strategies across saved runs (DESIGN.md section 8).

Reads every ``metrics.json`` under DIR (any age; nothing is recomputed from models), groups the runs
by (stream, strategy) and writes into ``--out`` (default DIR):

- ``comparison.md``, ``comparison.csv``, ``comparison.tex``: one row per (stream, strategy); each
  metric as mean ± std (ddof=1) with a Student-t 95% confidence interval over seeds and class
  orders, the number of runs behind it, the best value of each column (per stream) in bold;
- ``forgetting_curves.png``, ``accuracy_matrices.png``, ``experience_curves_<strategy>.png`` and
  ``cost_frontier.png`` (see :mod:`continual.report.plots`).

The library entry point is :func:`compare`; :func:`main` is the CLI over it. ``results/reference/``
(the curated reference runs) is skipped unless named directly. ``--metric-variant`` adds columns
for published definitions of forgetting and BWT that differ from ours (section "Metric variants").
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

import numpy as np

from .errors import ArgumentParser, UserError, exit_code
from .report.summary import NO_FORGETTING
from .state.files import atomic_write

PathLike = Union[str, os.PathLike]

REFERENCE_DIR = "reference"
RUN_FOLDER = re.compile(r"^seed-(?P<seed>-?\d+)(?:-order-(?P<order>\d+))?$")
SCENARIO_NAMES = {"class": "class-incremental", "domain": "domain-incremental", "task": "task-incremental"}


# ---------------------------------------------------------------------------------------------
# Reading runs
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Run:
    """One finished run as read from its metrics.json."""

    path: Path
    metrics: dict
    seed: Optional[int]
    order: int

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


def _warn(message: str) -> None:
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


def _check_metrics(data) -> Optional[str]:
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
    problem = _check_metrics(data)
    if problem:
        raise ValueError(problem)
    folder = RUN_FOLDER.match(path.parent.name)
    seed = data.get("seed", int(folder["seed"]) if folder else None)
    order = data.get("order")
    if order is None:  # older runs carry no "order" key: the folder name, else the given order 0
        order = int(folder["order"]) if folder and folder["order"] else 0
    return Run(path=path, metrics=data, seed=seed, order=int(order))


def load_runs(dirs: Sequence[Path], warn: Callable[[str], None] = _warn) -> list[Run]:
    """Every readable run under ``dirs``; corrupt files and duplicate runs are skipped with a warning."""
    runs: list[Run] = []
    seen: dict[tuple, Path] = {}
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
            key = (run.stream, run.strategy, run.seed, run.order)
            if key in seen:
                warn(f"skipping {path}: same stream, strategy, seed and order as {seen[key]}")
                continue
            seen[key] = path
            runs.append(run)
    where = ", ".join(str(d) for d in dirs)
    hint = ""
    if skipped_reference:
        hint = f" ({', '.join(map(str, skipped_reference))} skipped: name it directly to compare reference runs)"
    if not any_file:
        raise UserError(f"no metrics.json under {where}{hint}: run `python -m continual.run --out DIR` "
                        "first, or give the folder those runs were written to")
    if not runs:
        raise UserError(f"no readable metrics.json under {where} (see the warnings above): rerun the "
                        "broken runs with `python -m continual.run --overwrite`")
    return runs


# ---------------------------------------------------------------------------------------------
# Metric variants: published definitions that differ from ours (DESIGN.md section 6 defines ours,
# in continual/metrics.py). Pure functions of the accuracy matrix R, R[i][j] = accuracy on test
# experience j after training through experience i; they never modify their input.
# ---------------------------------------------------------------------------------------------

def avalanche_forgetting(matrix: Sequence[Sequence[float]]) -> Optional[float]:
    """Avalanche's stream forgetting: mean over j < T-1 of ( R[j][j] - R[T-1][j] ).

    The accuracy right after learning experience j minus the final accuracy on it, averaged over
    every experience but the last (Lomonaco et al. 2021, "Avalanche: an End-to-End Library for
    Continual Learning", CVPR-W; code: ``avalanche/evaluation/metrics/forgetting_bwt.py``,
    ``StreamForgetting``). It equals -BWT of Lopez-Paz & Ranzato (2017), not Chaudhry et al.'s
    (2018) max-based forgetting that our ``forgetting`` column reports. None for T = 1.
    """
    r = np.array(matrix, dtype=float)
    t = len(r)
    if t < 2:
        return None
    return float(np.mean([r[j, j] - r[t - 1, j] for j in range(t - 1)]))


def diaz_rodriguez_bwt(matrix: Sequence[Sequence[float]]) -> Optional[float]:
    """BWT over all pairs: sum_{i=1}^{T-1} sum_{j<i} ( R[i][j] - R[j][j] ) / ( T(T-1)/2 ).

    Díaz-Rodríguez, N., Lomonaco, V., Filliat, D. & Maltoni, D. (2018). Don't forget, there is more
    than forgetting: new metrics for Continual Learning. NeurIPS Continual Learning Workshop
    (arXiv:1810.13166). Unlike Lopez-Paz & Ranzato's BWT, which looks only at the final row, it
    averages the change on every earlier experience after every later training step. None for T = 1.
    """
    r = np.array(matrix, dtype=float)
    t = len(r)
    if t < 2:
        return None
    total = sum(r[i, j] - r[j, j] for i in range(1, t) for j in range(i))
    return float(total / (t * (t - 1) / 2))


# ---------------------------------------------------------------------------------------------
# Statistics over seeds and orders
# ---------------------------------------------------------------------------------------------

# Two-sided 95% Student-t critical values t_{0.975, df} for df = 1..30.
_T975 = (12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004, 2.262157,
         2.228139, 2.200985, 2.178813, 2.160369, 2.144787, 2.131450, 2.119905, 2.109816, 2.100922,
         2.093024, 2.085963, 2.079614, 2.073873, 2.068658, 2.063899, 2.059539, 2.055529, 2.051831,
         2.048407, 2.045230, 2.042272)
_Z975 = 1.959963984540054


def t_critical_975(df: int) -> float:
    """t_{0.975, df}: a table for df <= 30, beyond it the Cornish-Fisher expansion around the
    normal quantile (Abramowitz & Stegun 26.7.5), within 1e-7 of the exact value there."""
    if df < 1:
        raise ValueError("degrees of freedom must be >= 1")
    if df <= len(_T975):
        return _T975[df - 1]
    z, v = _Z975, float(df)
    return (z + (z**3 + z) / (4 * v) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)
            + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * v**3)
            + (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / (92160 * v**4))


def describe(values: Sequence[Optional[float]]) -> dict:
    """Mean, std (ddof=1), 95% CI half-width (t-distribution) and count of the non-null values.

    With no values every field is None (n/a); with one value std and CI are None.
    """
    present = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    n = len(present)
    if n == 0:
        return {"mean": None, "std": None, "ci95": None, "n": 0}
    mean = float(np.mean(present))
    if n == 1:
        return {"mean": mean, "std": None, "ci95": None, "n": 1}
    std = float(np.std(present, ddof=1))
    return {"mean": mean, "std": std, "ci95": t_critical_975(n - 1) * std / math.sqrt(n), "n": n}


# ---------------------------------------------------------------------------------------------
# The comparison table
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Column:
    """One metric column: its CSV stem, display label, which way is better, format and source."""

    key: str
    label: str
    higher_is_better: bool
    unit: str  # "fraction" | "seconds" | "MB" | "count"
    extract: Callable[[Run], Optional[float]]
    definition: str
    forgetting_like: bool = False  # n/a for strategies without forgetting (joint, zero-shot)


def _key(name: str) -> Callable[[Run], Optional[float]]:
    def get(run: Run) -> Optional[float]:
        value = run.metrics.get(name)
        return None if value is None else float(value)
    return get


def _train_seconds(run: Run) -> Optional[float]:
    seconds = run.metrics.get("train_seconds")
    return None if seconds is None else float(sum(seconds))


COLUMNS: tuple[Column, ...] = (
    Column("ACC", "ACC", True, "fraction", _key("average_accuracy"),
           "average accuracy after the last experience, mean_j R[T-1][j] (Lopez-Paz & Ranzato 2017)"),
    Column("macro_F1", "macro-F1", True, "fraction", _key("macro_f1"),
           "macro-averaged F1 over all classes after the last experience"),
    Column("AIA", "avg. incr. acc.", True, "fraction", _key("average_incremental_accuracy"),
           "average incremental accuracy, mean_i mean_{j<=i} R[i][j] (Rebuffi et al. 2017)"),
    Column("forgetting", "forgetting", False, "fraction", _key("forgetting"),
           "mean_{j<T-1} (max_{i in j..T-2} R[i][j] - R[T-1][j]) (Chaudhry et al. 2018)",
           forgetting_like=True),
    Column("BWT", "BWT", True, "fraction", _key("bwt"),
           "backward transfer, mean_{j<T-1} (R[T-1][j] - R[j][j]) (Lopez-Paz & Ranzato 2017)",
           forgetting_like=True),
    Column("FWT", "FWT", True, "fraction", _key("fwt"),
           "forward transfer, mean_{j>=1} (R[j-1][j] - b[j]) (Lopez-Paz & Ranzato 2017); n/a in "
           "class-incremental runs, where R[i][j>i] = 0 by construction"),
    Column("LA", "learning acc.", True, "fraction", _key("learning_accuracy"),
           "learning accuracy, mean_j R[j][j] (Riemer et al. 2019)"),
    Column("train_time_s", "train time (s)", False, "seconds", _train_seconds,
           "wall-clock training time summed over experiences, seconds"),
    Column("peak_memory_MB", "peak memory (MB)", False, "MB", _key("peak_rss_mb"),
           "peak resident memory of the run, MB"),
    Column("trainable_params", "trainable params", False, "count", _key("trainable_parameters"),
           "number of trainable parameters"),
)

VARIANT_COLUMNS: dict[str, Column] = {  # inserted right after the column of the same name
    "forgetting": Column(
        "forgetting_avalanche", "forgetting (Avalanche)", False, "fraction",
        lambda run: avalanche_forgetting(run.accuracy_matrix),
        "Avalanche's forgetting, mean_{j<T-1} (R[j][j] - R[T-1][j]) = -BWT (Lomonaco et al. 2021, "
        "avalanche/evaluation/metrics/forgetting_bwt.py)", forgetting_like=True),
    "BWT": Column(
        "BWT_diaz_rodriguez", "BWT (Díaz-Rodríguez)", True, "fraction",
        lambda run: diaz_rodriguez_bwt(run.accuracy_matrix),
        "BWT over all pairs, sum_{i>=1} sum_{j<i} (R[i][j] - R[j][j]) / (T(T-1)/2) (Díaz-Rodríguez "
        "et al. 2018, \"Don't forget, there is more than forgetting\")", forgetting_like=True),
}


def table_columns(metric_variant: bool = False) -> list[Column]:
    """The metric columns in display order, with the variants beside their counterparts."""
    columns = []
    for column in COLUMNS:
        columns.append(column)
        if metric_variant and column.key in VARIANT_COLUMNS:
            columns.append(VARIANT_COLUMNS[column.key])
    return columns


def strategy_sort_key(strategy: str) -> tuple:
    """``naive`` (the lower bound) first, ``joint`` (the upper bound) last, the rest by name."""
    return (0 if strategy == "naive" else 2 if strategy == "joint" else 1, strategy)


def group_runs(runs: Sequence[Run]) -> dict[tuple[str, str], list[Run]]:
    """Runs by (stream, strategy): streams by name, strategies naive first and joint last;
    inside a group by (seed, order)."""
    groups: dict[tuple[str, str], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.stream, run.strategy), []).append(run)
    ordered = sorted(groups, key=lambda k: (k[0], strategy_sort_key(k[1])))
    return {k: sorted(groups[k], key=lambda r: (r.seed if r.seed is not None else -1, r.order))
            for k in ordered}


def _ids(values) -> str:
    return " ".join(str(v) for v in sorted({v for v in values if v is not None}))


def comparison_table(runs: Sequence[Run], metric_variant: bool = False):
    """One row per (stream, strategy); for each metric ``<M>_mean, <M>_std, <M>_ci95`` (the 95%
    CI half-width: the interval is mean ± ci95), ``<M>_n`` (runs with a value) and ``<M>_best``."""
    import pandas as pd

    columns = table_columns(metric_variant)
    rows = []
    for (stream, strategy), group in group_runs(runs).items():
        scenarios = sorted({str(r.metrics.get("scenario")) for r in group if r.metrics.get("scenario")})
        experiences = sorted({r.n_experiences for r in group})
        row = {"stream": stream, "scenario": "/".join(scenarios) or None, "strategy": strategy,
               "experiences": "/".join(map(str, experiences)), "n": len(group),
               "seeds": _ids(r.seed for r in group), "orders": _ids(r.order for r in group)}
        for column in columns:
            applies = not (column.forgetting_like and strategy in NO_FORGETTING)
            stats = describe([column.extract(r) for r in group] if applies else [])
            for field, value in stats.items():
                row[f"{column.key}_{field}"] = value
            row[f"{column.key}_best"] = False
        rows.append(row)
    table = pd.DataFrame(rows)
    for column in columns:  # best per stream, among the strategies that have a value
        for _, index in table.groupby("stream").groups.items():
            means = table.loc[index, f"{column.key}_mean"].dropna().astype(float)
            if len(means) < 2:
                continue
            best = means.max() if column.higher_is_better else means.min()
            winners = means.index[np.isclose(means.to_numpy(), best, rtol=1e-12, atol=1e-12)]
            if len(winners) < len(means):  # a column where every strategy ties has no best
                table.loc[winners, f"{column.key}_best"] = True
    for column in columns:
        table[f"{column.key}_n"] = table[f"{column.key}_n"].astype(int)
        table[f"{column.key}_best"] = table[f"{column.key}_best"].astype(bool)
    return table


# ---------------------------------------------------------------------------------------------
# Rendering: markdown, LaTeX, terminal
# ---------------------------------------------------------------------------------------------

THIN_SPACE = "\u2009"


def format_value(value: Optional[float], unit: str) -> str:
    """Fractions to 3 decimals, seconds to 1, MB and counts whole; thousands grouped by a thin
    space (SI style), so a comma only ever separates the two ends of an interval."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if unit == "fraction":
        return f"{value:.3f}"
    text = f"{value:,.1f}" if unit == "seconds" else f"{value:,.0f}"
    return text.replace(",", THIN_SPACE)


def _cell_parts(row, column: Column) -> tuple[str, str]:
    """('mean ± std', '[low, high]') as text; n/a where undefined; a single value alone."""
    mean, std, ci = (row[f"{column.key}_{f}"] for f in ("mean", "std", "ci95"))
    if _missing(mean):
        return "n/a", ""
    if _missing(std):  # one run: the value alone (the n column says so), no std or interval
        return format_value(mean, column.unit), ""
    main = f"{format_value(mean, column.unit)} ± {format_value(std, column.unit)}"
    if _missing(ci):
        return main, "[n/a]"
    return main, f"[{format_value(mean - ci, column.unit)}, {format_value(mean + ci, column.unit)}]"


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _n_note(row, column: Column) -> str:
    n = int(row[f"{column.key}_n"])
    return f" (n={n})" if 0 < n < int(row["n"]) else ""


def _arrow(column: Column) -> str:
    return "↑" if column.higher_is_better else "↓"


def _stream_title(rows) -> str:
    first = rows.iloc[0]
    scenario = SCENARIO_NAMES.get(first["scenario"], first["scenario"] or "scenario unknown")
    return f"{first['stream']} ({scenario}, {first['experiences']} experiences)"


def _runs_phrase(runs: Sequence[Run]) -> str:
    streams = len({r.stream for r in runs})
    strategies = len({(r.stream, r.strategy) for r in runs})
    return (f"{len(runs)} run{'s' * (len(runs) != 1)}, {strategies} strategy row"
            f"{'s' * (strategies != 1)}, {streams} stream{'s' * (streams != 1)}")


def to_markdown(table, columns: Sequence[Column], sources: Sequence[Path], runs: Sequence[Run]) -> str:
    lines = [
        "# Comparison of continual-learning strategies", "",
        f"From {_runs_phrase(runs)} read from the metrics.json files under "
        f"{', '.join(f'`{s}`' for s in sources)} (`python -m continual.compare`).", "",
        "Each cell: mean ± std (ddof=1) [95% confidence interval, Student t] over seeds and class "
        "orders; n = runs behind the row ((n=k) in a cell: only k of them have that value). "
        "**Bold**: best in its column for the stream (↑ higher is better, ↓ lower). "
        "A cell from one run shows its value alone (no std or CI). "
        "n/a: not defined (forgetting and BWT mean nothing for joint and "
        "zero-shot; FWT is null in class-incremental runs; macro-F1 is absent from older runs). "
        "Accuracies are fractions in [0, 1].", "",
    ]
    header = ["strategy", "n"] + [f"{c.label} {_arrow(c)}" for c in columns]
    for _, rows in table.groupby("stream", sort=False):
        lines += [f"## {_stream_title(rows)}", "",
                  "| " + " | ".join(header) + " |",
                  "|" + "|".join([":---", "---:"] + [":---:"] * len(columns)) + "|"]
        for _, row in rows.iterrows():
            cells = [row["strategy"], str(row["n"])]
            for column in columns:
                main, ci = _cell_parts(row, column)
                if row[f"{column.key}_best"]:
                    main = f"**{main}**"
                cells.append(f"{main} {ci}".strip() + _n_note(row, column))
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["## Definitions", "",
              "R[i][j]: accuracy on the test set of experience j after training through experience i; "
              "b[j]: accuracy before any training.", ""]
    lines += [f"- **{c.label}**: {c.definition}." for c in columns]
    return "\n".join(lines) + "\n"


_TEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def tex_escape(text: str) -> str:
    return "".join(_TEX_SPECIAL.get(ch, ch) for ch in str(text))


def to_latex(table, columns: Sequence[Column]) -> str:
    def tex(text: str) -> str:
        return (tex_escape(text).replace("±", r"\textpm{}").replace("í", r"\'{\i}")
                .replace(THIN_SPACE, r"\,"))

    lines = [
        "% Written by python -m continual.compare. Needs \\usepackage{booktabs,graphicx}.",
        "% Cells: mean \\textpm{} std [95% CI, Student t] over seeds and orders; bold: best per column.",
    ]
    arrows = {True: r"$\uparrow$", False: r"$\downarrow$"}
    for _, rows in table.groupby("stream", sort=False):
        lines += [
            r"\begin{table*}[t]", r"\centering",
            rf"\caption{{{tex(_stream_title(rows))}: mean \textpm{{}} std {{\scriptsize[95\% CI]}} over "
            r"seeds and class orders; $n$ runs per row; best per column in bold; "
            r"$\uparrow$/$\downarrow$: higher/lower is better.}",
            r"\resizebox{\textwidth}{!}{%",
            r"\begin{tabular}{l r " + " ".join("c" for _ in columns) + "}", r"\toprule",
            " & ".join(["strategy", "$n$"] + [f"{tex(c.label)} {arrows[c.higher_is_better]}" for c in columns])
            + r" \\", r"\midrule",
        ]
        for _, row in rows.iterrows():
            cells = [tex(row["strategy"]), str(row["n"])]
            for column in columns:
                main, ci = _cell_parts(row, column)
                main = tex(main)
                if row[f"{column.key}_best"]:
                    main = rf"\textbf{{{main}}}"
                cell = main + (rf" {{\scriptsize{tex(ci)}}}" if ci else "")
                n_note = _n_note(row, column)
                cells.append(cell + (rf" {{\scriptsize{tex(n_note.strip())}}}" if n_note else ""))
            lines.append(" & ".join(cells) + r" \\")
        lines += [r"\bottomrule", r"\end{tabular}}", r"\end{table*}", ""]
    return "\n".join(lines)


def to_terminal(table, columns: Sequence[Column]) -> str:
    """A compact fixed-width table (mean ± std only; the CIs are in the files)."""
    out = []
    for _, rows in table.groupby("stream", sort=False):
        header = ["strategy", "n"] + [f"{c.label} {_arrow(c)}" for c in columns]
        body = []
        for _, row in rows.iterrows():
            cells = [row["strategy"], str(row["n"])]
            for column in columns:
                main, _ = _cell_parts(row, column)
                cells.append(("*" + main if row[f"{column.key}_best"] else main) + _n_note(row, column))
            body.append(cells)
        widths = [max(len(line[i]) for line in [header] + body) for i in range(len(header))]
        out.append(_stream_title(rows))
        for k, line in enumerate([header] + body):
            out.append("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                                 for i, (cell, w) in enumerate(zip(line, widths))))
            if k == 0:
                out.append("  ".join("-" * w for w in widths))
        out.append("")
    out.append("mean ± std over seeds and orders; * = best in column; 95% CIs in comparison.md/.csv/.tex")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# Library entry point and CLI
# ---------------------------------------------------------------------------------------------

def _as_dirs(dirs) -> list[Path]:
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


def compare(dirs: Union[PathLike, Sequence[PathLike]], out: Optional[PathLike] = None,
            metric_variant: bool = False, *, plots: bool = True,
            warn: Callable[[str], None] = _warn):
    """Compare every run under ``dirs`` and write the tables (and plots) into ``out``.

    ``out`` defaults to the results folder when there is one. Returns the table written to
    comparison.csv as a pandas DataFrame (one row per stream and strategy). Raises
    :class:`~continual.errors.UserError` when there is nothing to compare or ``out`` is not
    writable; corrupt metrics.json files are skipped through ``warn``.
    """
    paths = _as_dirs(dirs)
    if out is None:
        if len(paths) > 1:
            raise UserError("several results folders given: say where to write with --out DIR")
        out = paths[0]
    out = Path(out)
    runs = load_runs(paths, warn=warn)
    columns = table_columns(metric_variant)
    table = comparison_table(runs, metric_variant)
    for (stream, strategy), group in group_runs(runs).items():
        sizes = {r.n_experiences for r in group}
        if len(sizes) > 1:
            warn(f"{strategy} on {stream}: runs with different numbers of experiences ({sorted(sizes)}); "
                 "the plots use the most common one")
    try:
        atomic_write(out / "comparison.md", lambda h: h.write(to_markdown(table, columns, paths, runs)))
        atomic_write(out / "comparison.csv", lambda h: table.to_csv(h, index=False))
        atomic_write(out / "comparison.tex", lambda h: h.write(to_latex(table, columns)))
        if plots:
            from .report import plots as plotting

            plotting.plot_comparison({k: [r.metrics for r in g] for k, g in group_runs(runs).items()}, out)
    except OSError as err:
        raise UserError(f"cannot write into {out} ({err.strerror or err}): give a writable folder with --out") from None
    return table


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m continual.compare",
                description="Compare continual-learning strategies across saved runs: tables "
                "(markdown, CSV, LaTeX) and plots from every metrics.json under DIR.")
    p.add_argument("dirs", nargs="+", metavar="DIR",
                   help="results folder(s) to read recursively; a 'reference' folder inside is "
                   "skipped unless named directly")
    p.add_argument("--out", default=None, help="folder for the tables and plots (default: DIR)")
    p.add_argument("--metric-variant", action="store_true",
                   help="add columns for other published definitions of forgetting (Avalanche) "
                   "and BWT (Díaz-Rodríguez et al. 2018)")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    def body() -> int:
        args = build_parser().parse_args(argv)
        table = compare(args.dirs, args.out, args.metric_variant)
        print(to_terminal(table, table_columns(args.metric_variant)))
        out = Path(args.out) if args.out else Path(args.dirs[0])
        print(f"wrote comparison.md, comparison.csv, comparison.tex and the plots into {out}", file=sys.stderr)
        return 0

    return exit_code(body)


if __name__ == "__main__":
    sys.exit(main())
