"""Runs to table rows: one row per (stream, strategy), each metric as mean, std and a 95%
confidence interval over seeds and class orders, the best value per column and stream marked among
the contenders, and each strategy's paired difference to naive in ACC and forgetting.

Reference rows (joint, cumulative, zero-shot: strategies of the registry's "reference" family)
are points of comparison, not continual learners: they are flagged and never marked best. The
metric values come from metrics.json as stored; the two published variants are computed from the
stored matrix by :mod:`continual.evaluation.metrics` (docs/design.md, Metrics).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np

from strategies import is_reference_row

from ..evaluation.metrics import avalanche_forgetting, diaz_rodriguez_bwt
from .runs import Run
from .scores import Score, common_score
from .summary import NO_FORGETTING

#: The strategy every other is compared with, pair by pair (the lower bound).
BASELINE = "naive"
#: The metric columns that get a paired difference to the baseline.
PAIRED_KEYS = ("ACC", "forgetting")


# ---------------------------------------------------------------------------------------------
# Statistics over seeds and orders
# ---------------------------------------------------------------------------------------------

def t_critical_975(df: int) -> float:
    """t_{0.975, df}: the two-sided 95% Student-t critical value for ``df`` degrees of freedom."""
    if df < 1:
        raise ValueError("degrees of freedom must be >= 1")
    from scipy.stats import t  # imported here: the command line checks its arguments first

    return float(t.ppf(0.975, df))


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
# Columns
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Column:
    """One metric column: its name (the CSV stem, and the header of the markdown, LaTeX and
    printed tables, so every file names it alike), which way is better, format and source."""

    key: str
    label: str
    higher_is_better: bool
    unit: str  # "fraction" | "seconds" | "MB" | "count"
    extract: Callable[[Run], Optional[float]]
    definition: str
    forgetting_like: bool = False  # n/a for strategies without forgetting (joint, zero-shot)
    from_matrix: bool = False  # computed from R[i][j]: in the units of the score R holds


def column_header(column: Column, score: Score) -> str:
    """A column's header in a stream's table: its name, and for the columns computed from R the
    score R holds where it is not accuracy (``ACC (entity F1)``), so an F1 never reads as an
    accuracy; accuracy streams keep the plain names other code reads (``ACC``)."""
    if column.from_matrix and not score.is_accuracy:
        return f"{column.label} ({score.short})"
    return column.label


def _key(name: str) -> Callable[[Run], Optional[float]]:
    def get(run: Run) -> Optional[float]:
        value = run.metrics.get(name)
        return None if value is None else float(value)
    return get


def _train_seconds(run: Run) -> Optional[float]:
    seconds = run.metrics.get("train_seconds")
    return None if seconds is None else float(sum(seconds))


def _stored_mb(run: Run) -> Optional[float]:
    stored = run.metrics.get("stored_bytes")
    return None if not stored or stored[-1] is None else stored[-1] / 2**20


COLUMNS: tuple[Column, ...] = (
    Column("ACC", "ACC", True, "fraction", _key("average_accuracy"),
           "average accuracy after the last experience, mean_j R[T-1][j] (Lopez-Paz & Ranzato 2017)",
           from_matrix=True),
    Column("macro_F1", "macro_F1", True, "fraction", _key("macro_f1"),
           "macro-averaged F1 over all classes after the last experience"),
    Column("AIA", "AIA", True, "fraction", _key("average_incremental_accuracy"),
           "average incremental accuracy, mean_i mean_{j<=i} R[i][j] (Rebuffi et al. 2017)", from_matrix=True),
    Column("forgetting", "forgetting", False, "fraction", _key("forgetting"),
           "mean_{j<T-1} (max_{i in j..T-2} R[i][j] - R[T-1][j]) (Chaudhry et al. 2018)",
           forgetting_like=True, from_matrix=True),
    Column("BWT", "BWT", True, "fraction", _key("bwt"),
           "backward transfer, mean_{j<T-1} (R[T-1][j] - R[j][j]) (Lopez-Paz & Ranzato 2017)",
           forgetting_like=True, from_matrix=True),
    Column("FWT", "FWT", True, "fraction", _key("fwt"),
           "forward transfer, mean_{j>=1} (R[j-1][j] - b[j]) (Lopez-Paz & Ranzato 2017); n/a in "
           "class-incremental runs, where R[i][j>i] = 0 by construction", from_matrix=True),
    Column("LA", "LA", True, "fraction", _key("learning_accuracy"),
           "learning accuracy, mean_j R[j][j] (Riemer et al. 2019)", from_matrix=True),
    Column("train_time_s", "train_time_s", False, "seconds", _train_seconds,
           "wall-clock training time summed over experiences, seconds"),
    Column("peak_memory_MB", "peak_memory_MB", False, "MB", _key("peak_rss_mb"),
           "peak resident memory of the run, MB"),
    Column("trainable_params", "trainable_params", False, "count", _key("trainable_parameters"),
           "number of trainable parameters"),
    Column("stored_MB", "stored_MB", False, "MB", _stored_mb,
           "what the method keeps after the last experience besides the model it trains (buffers, "
           "importances, teachers, per-task modules), MB"),
)

VARIANT_COLUMNS: dict[str, Column] = {  # inserted right after the column of the same name
    "forgetting": Column(
        "forgetting_avalanche", "forgetting_avalanche", False, "fraction",
        lambda run: avalanche_forgetting(run.accuracy_matrix),
        "Avalanche's forgetting, mean_{j<T-1} (R[j][j] - R[T-1][j]) = -BWT (Lomonaco et al. 2021, "
        "avalanche/evaluation/metrics/forgetting_bwt.py)", forgetting_like=True, from_matrix=True),
    "BWT": Column(
        "BWT_diaz_rodriguez", "BWT_diaz_rodriguez", True, "fraction",
        lambda run: diaz_rodriguez_bwt(run.accuracy_matrix),
        "BWT over all pairs, sum_{i>=1} sum_{j<i} (R[i][j] - R[j][j]) / (T(T-1)/2) (Díaz-Rodríguez "
        "et al. 2018, \"Don't forget, there is more than forgetting\")", forgetting_like=True,
        from_matrix=True),
}


def table_columns(metric_variant: bool = False) -> list[Column]:
    """The metric columns in display order, with the variants beside their counterparts."""
    columns = []
    for column in COLUMNS:
        columns.append(column)
        if metric_variant and column.key in VARIANT_COLUMNS:
            columns.append(VARIANT_COLUMNS[column.key])
    return columns


# ---------------------------------------------------------------------------------------------
# Rows
# ---------------------------------------------------------------------------------------------

def strategy_sort_key(strategy: str) -> tuple:
    """``naive`` (the lower bound) first, then the other contenders by name, then the reference
    rows by name with ``joint`` (the upper bound) last."""
    if strategy == BASELINE:
        return (0, 0, strategy)
    if is_reference_row(strategy):
        return (2, strategy == "joint", strategy)
    return (1, 0, strategy)


def group_runs(runs: Sequence[Run]) -> dict[tuple[str, str], list[Run]]:
    """Runs by (stream, row): a row is a strategy and one configuration of it (``Run.row``);
    streams by name, strategies naive first and joint last, a strategy's configurations by
    label; inside a group by (seed, order)."""
    groups: dict[tuple[str, str], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.stream, run.row), []).append(run)
    ordered = sorted(groups, key=lambda k: (k[0], strategy_sort_key(groups[k][0].strategy), k[1]))
    return {k: sorted(groups[k], key=lambda r: (r.seed if r.seed is not None else -1, r.order))
            for k in ordered}


def _ids(values) -> str:
    return " ".join(str(v) for v in sorted({v for v in values if v is not None}))


def _row(stream: str, name: str, group: Sequence[Run], columns: Sequence[Column]) -> dict:
    scenarios = sorted({str(r.metrics.get("scenario")) for r in group if r.metrics.get("scenario")})
    experiences = sorted({r.n_experiences for r in group})
    strategy = group[0].strategy
    row = {"stream": stream, "scenario": "/".join(scenarios) or None,
           "score": common_score(r.metrics for r in group).key, "strategy": name,
           "configuration": group[0].label, "fingerprint": group[0].fingerprint,
           "reference": is_reference_row(strategy), "experiences": "/".join(map(str, experiences)), "n": len(group),
           "seeds": _ids(r.seed for r in group), "orders": _ids(r.order for r in group)}
    for column in columns:
        applies = not (column.forgetting_like and strategy in NO_FORGETTING)
        stats = describe([column.extract(r) for r in group] if applies else [])
        for field, value in stats.items():
            row[f"{column.key}_{field}"] = value
        row[f"{column.key}_best"] = False
    return row


def _mark_best(table, columns: Sequence[Column]) -> None:
    """Per stream and column, mark the best mean among the contenders (reference rows are never
    best) that have one; a column where every contender ties has no best."""
    for column in columns:
        for _, index in table[~table["reference"]].groupby("stream").groups.items():
            means = table.loc[index, f"{column.key}_mean"].dropna().astype(float)
            if len(means) < 2:
                continue
            best = means.max() if column.higher_is_better else means.min()
            winners = means.index[np.isclose(means.to_numpy(), best, rtol=1e-12, atol=1e-12)]
            if len(winners) < len(means):
                table.loc[winners, f"{column.key}_best"] = True


# ---------------------------------------------------------------------------------------------
# Paired differences to naive
# ---------------------------------------------------------------------------------------------

def paired_difference(values: dict, baseline: dict) -> dict:
    """The paired difference ``values - baseline`` over the keys (seed, order) both hold a value
    for: mean, 95% CI half-width of a paired Student t (t_{0.975, n-1} * sd(d) / sqrt(n), sd with
    ddof=1, over the per-pair differences d), n pairs, and whether the interval
    [mean - ci95, mean + ci95] includes 0. Under 2 pairs the interval and the flag are None."""
    pairs = sorted(k for k in values if k in baseline and values[k] is not None and baseline[k] is not None)
    stats = describe([float(values[k]) - float(baseline[k]) for k in pairs])
    ci = stats["ci95"]
    includes_zero = None if ci is None else bool(stats["mean"] - ci <= 0.0 <= stats["mean"] + ci)
    return {"mean": stats["mean"], "ci95": ci, "n": stats["n"], "includes_zero": includes_zero}


def _by_pair(group: Sequence[Run], column: Column) -> dict:
    """A metric's values by (seed, order); runs without a seed cannot be paired."""
    return {(r.seed, r.order): column.extract(r) for r in group if r.seed is not None}


def _add_paired_differences(table, groups: dict[tuple[str, str], list[Run]]) -> None:
    """Columns ``<M>_vs_naive_mean, _ci95, _n, _includes_zero`` for M in PAIRED_KEYS: each
    strategy's paired difference to naive on its stream; None where naive has no run to pair
    with, for naive itself, and where the metric does not apply (forgetting of joint)."""
    columns = {c.key: c for c in COLUMNS if c.key in PAIRED_KEYS}
    for key, column in columns.items():
        cells = []
        for (stream, name), group in groups.items():
            strategy = group[0].strategy
            baseline = _baseline(groups, stream, group[0])
            applies = not (column.forgetting_like and strategy in NO_FORGETTING)
            if baseline is None or strategy == BASELINE or not applies:
                cells.append({"mean": None, "ci95": None, "n": 0, "includes_zero": None})
            else:
                cells.append(paired_difference(_by_pair(group, column), _by_pair(baseline, column)))
        for field in ("mean", "ci95", "n", "includes_zero"):
            table[f"{key}_vs_naive_{field}"] = [cell[field] for cell in cells]


def _baseline(groups: dict[tuple[str, str], list[Run]], stream: str, run: Run) -> Optional[list[Run]]:
    """The naive runs a row is paired with: naive on the same stream with the same model and
    stream settings (its configuration's context); None where there is no such naive row, or
    several."""
    context = {k: v for k, v in run.settings.items() if k.startswith(("model.", "stream."))}
    candidates = [g for (s, _), g in groups.items() if s == stream and g[0].strategy == BASELINE
                  and all(g[0].settings.get(k) == v for k, v in context.items())]
    return candidates[0] if len(candidates) == 1 else None


def comparison_table(runs: Sequence[Run], metric_variant: bool = False):
    """One row per (stream, strategy): ``score`` (what the runs' R[i][j] holds, metrics.json's
    ``score``: ``accuracy``, ``entity_f1``, ``micro_f1``; the columns computed from R, ACC and
    the rest, keep their names whatever it is, so read them with it); ``reference`` (a reference
    row: shown apart, never best);
    for each metric ``<M>_mean, <M>_std, <M>_ci95`` (the 95% CI half-width: the interval is
    mean ± ci95), ``<M>_n`` (runs with a value) and ``<M>_best`` (best among the contenders);
    for ACC and forgetting ``<M>_vs_naive_mean, _ci95, _n, _includes_zero`` (the paired
    difference to naive over shared (seed, order) pairs, :func:`paired_difference`).

    Returns the pandas DataFrame that comparison.csv holds.
    """
    import pandas as pd

    columns = table_columns(metric_variant)
    groups = group_runs(runs)
    table = pd.DataFrame([_row(stream, strategy, group, columns) for (stream, strategy), group in groups.items()])
    _mark_best(table, columns)
    for column in columns:
        table[f"{column.key}_n"] = table[f"{column.key}_n"].astype(int)
        table[f"{column.key}_best"] = table[f"{column.key}_best"].astype(bool)
    _add_paired_differences(table, groups)
    for key in PAIRED_KEYS:
        table[f"{key}_vs_naive_n"] = table[f"{key}_vs_naive_n"].astype(int)
        table[f"{key}_vs_naive_includes_zero"] = table[f"{key}_vs_naive_includes_zero"].astype("boolean")
    return table
