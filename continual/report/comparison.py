"""Compare strategies across saved runs: the library behind ``python -m continual.compare``.

Reads every ``metrics.json`` under the folders given (:mod:`.runs`), groups the runs by
(stream, strategy) (:mod:`.tables`) and writes into ``out``:

- ``comparison.md``, ``comparison.csv``, ``comparison.tex`` (:mod:`.render`): one row per
  (stream, strategy); each metric as mean ± std (ddof=1) with a Student-t 95% confidence interval
  over seeds and class orders, the number of runs behind it, the best value of each column (per
  stream, among the contenders) in bold; the reference rows (joint, cumulative, zero-shot) apart
  and never bold; each strategy's paired difference to naive in ACC and forgetting, with its
  95% interval and whether that includes 0;
- ``forgetting_curves.png``, ``accuracy_matrices.png``, ``experience_curves_<strategy>.png`` and
  ``cost_frontier.png`` (:mod:`.plots`).

Runs hold one of three scores in R[i][j] (metrics.json ``score``: top-1 accuracy, entity F1,
micro-F1; :mod:`.scores`); every metric reads R alike. Streams are never pooled, and each
stream's tables, panels and their labels name its score, so a comparison of a tagging stream
beside a classification stream never shows an F1 as an accuracy.

See docs/design.md, Results.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence, Union

from ..errors import UserError
from ..state.files import atomic_write
from .render import to_latex, to_markdown
from .runs import Run, Warn, as_result_dirs, load_runs, warn_on_stderr
from .scores import score_of
from .tables import comparison_table, group_runs, table_columns

PathLike = Union[str, os.PathLike]


def compare(dirs: Union[PathLike, Sequence[PathLike]], out: Optional[PathLike] = None,
            metric_variant: bool = False, *, plots: bool = True, warn: Warn = warn_on_stderr,
            filters: Sequence[str] = (), group_by: Optional[Sequence[str]] = None):
    """Compare every run under ``dirs`` and write the tables (and plots) into ``out``.

    ``out`` defaults to the results folder when there is one. ``metric_variant`` adds columns
    for published definitions of forgetting and BWT that differ from ours. Returns the table
    written to comparison.csv as a pandas DataFrame (one row per stream and strategy). Raises
    :class:`~continual.errors.UserError` when there is nothing to compare or ``out`` is not
    writable; corrupt metrics.json files are skipped through ``warn``.
    """
    paths = as_result_dirs(dirs)
    if out is None:
        if len(paths) > 1:
            raise UserError("several results folders given: say where to write with --out DIR")
        out = paths[0]
    out = Path(out)
    runs = load_runs(paths, warn=warn, filters=filters, group_by=group_by)
    table = comparison_table(runs, metric_variant)
    groups = group_runs(runs)
    _warn_mixed_lengths(groups, warn)
    try:
        _write(out, table, table_columns(metric_variant), paths, runs)
        if plots:
            from . import plots as plotting

            plotting.plot_comparison({k: [r.metrics for r in g] for k, g in groups.items()}, out)
        from .html import to_html  # after the plots: it embeds them

        html_text = to_html(table, table_columns(metric_variant), paths, runs, out)
        atomic_write(out / "report.html", lambda h: h.write(html_text))
    except OSError as err:
        raise UserError(f"cannot write into {out} ({err.strerror or err}): give a writable folder with --out") from None
    return table


def _warn_mixed_lengths(groups: dict[tuple[str, str], list[Run]], warn: Warn) -> None:
    for (stream, strategy), group in groups.items():
        sizes = {r.n_experiences for r in group}
        if len(sizes) > 1:
            warn(f"{strategy} on {stream}: runs with different numbers of experiences ({sorted(sizes)}); "
                 "the plots use the most common one")


def _write(out: Path, table, columns, sources: Sequence[Path], runs: Sequence[Run]) -> None:
    atomic_write(out / "comparison.md", lambda h: h.write(to_markdown(table, columns, sources, runs)))
    atomic_write(out / "comparison.csv", lambda h: table.to_csv(h, index=False))
    atomic_write(out / "comparison.tex", lambda h: h.write(to_latex(table, columns)))
    atomic_write(out / "runs.csv", lambda h: runs_table(runs, columns).to_csv(h, index=False))


def runs_table(runs: Sequence[Run], columns):
    """runs.csv: one row per run, its configuration's settings beside its metrics (long format:
    ``pandas.read_csv("runs.csv")`` gives a frame to filter and plot)."""
    import pandas as pd

    rows = []
    for run in runs:
        row = {"stream": run.stream, "strategy": run.strategy, "row": run.row, "configuration": run.label,
               "score": score_of(run.metrics).key,
               "fingerprint": run.fingerprint, "seed": run.seed, "order": run.order,
               "run_dir": str(run.path.parent)}
        row.update({column.key: column.extract(run) for column in columns})
        row.update({f"setting.{k}": (v if not isinstance(v, (list, dict)) else str(v)) for k, v in run.settings.items()})
        rows.append(row)
    return pd.DataFrame(rows)
