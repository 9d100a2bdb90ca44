"""The comparison table as text: markdown (comparison.md), LaTeX (comparison.tex) and the
terminal. Each renders the DataFrame of :func:`continual.report.tables.comparison_table`;
comparison.csv is that DataFrame itself.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Optional, Sequence

from .runs import Run
from .tables import Column

SCENARIO_NAMES = {"class": "class-incremental", "domain": "domain-incremental", "task": "task-incremental"}
THIN_SPACE = "\u2009"


def format_value(value: Optional[float], unit: str) -> str:
    """Fractions to 3 decimals, seconds to 1, MB and counts whole; thousands grouped by a thin
    space (SI style), so a comma only ever separates the two ends of an interval."""
    if _missing(value):
        return "n/a"
    if unit == "fraction":
        return f"{value:.3f}"
    text = f"{value:,.1f}" if unit == "seconds" else f"{value:,.0f}"
    return text.replace(",", THIN_SPACE)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


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


# ---------------------------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------------------------

def _markdown_stream(rows, columns: Sequence[Column]) -> list[str]:
    header = ["strategy", "n"] + [f"{c.label} {_arrow(c)}" for c in columns]
    lines = [f"## {_stream_title(rows)}", "",
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
    return lines + [""]


def to_markdown(table, columns: Sequence[Column], sources: Sequence[Path], runs: Sequence[Run]) -> str:
    """comparison.md: how to read the cells, one table per stream, then every column's definition."""
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
    for _, rows in table.groupby("stream", sort=False):
        lines += _markdown_stream(rows, columns)
    lines += ["## Definitions", "",
              "R[i][j]: accuracy on the test set of experience j after training through experience i; "
              "b[j]: accuracy before any training.", ""]
    lines += [f"- **{c.label}**: {c.definition}." for c in columns]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# LaTeX
# ---------------------------------------------------------------------------------------------

_TEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_TEX_ARROWS = {True: r"$\uparrow$", False: r"$\downarrow$"}


def tex_escape(text: str) -> str:
    return "".join(_TEX_SPECIAL.get(ch, ch) for ch in str(text))


def _tex(text: str) -> str:
    """Escaped, with the few non-ASCII characters of the table written as LaTeX commands."""
    return (tex_escape(text).replace("±", r"\textpm{}").replace("í", r"\'{\i}")
            .replace(THIN_SPACE, r"\,"))


def _latex_cell(row, column: Column) -> str:
    main, ci = _cell_parts(row, column)
    main = _tex(main)
    if row[f"{column.key}_best"]:
        main = rf"\textbf{{{main}}}"
    cell = main + (rf" {{\scriptsize{_tex(ci)}}}" if ci else "")
    n_note = _n_note(row, column)
    return cell + (rf" {{\scriptsize{_tex(n_note.strip())}}}" if n_note else "")


def _latex_stream(rows, columns: Sequence[Column]) -> list[str]:
    lines = [
        r"\begin{table*}[t]", r"\centering",
        rf"\caption{{{_tex(_stream_title(rows))}: mean \textpm{{}} std {{\scriptsize[95\% CI]}} over "
        r"seeds and class orders; $n$ runs per row; best per column in bold; "
        r"$\uparrow$/$\downarrow$: higher/lower is better.}",
        r"\resizebox{\textwidth}{!}{%",
        r"\begin{tabular}{l r " + " ".join("c" for _ in columns) + "}", r"\toprule",
        " & ".join(["strategy", "$n$"] + [f"{_tex(c.label)} {_TEX_ARROWS[c.higher_is_better]}" for c in columns])
        + r" \\", r"\midrule",
    ]
    for _, row in rows.iterrows():
        cells = [_tex(row["strategy"]), str(row["n"])] + [_latex_cell(row, c) for c in columns]
        lines.append(" & ".join(cells) + r" \\")
    return lines + [r"\bottomrule", r"\end{tabular}}", r"\end{table*}", ""]


def to_latex(table, columns: Sequence[Column]) -> str:
    """comparison.tex: one booktabs table* per stream."""
    lines = [
        "% Written by python -m continual.compare. Needs \\usepackage{booktabs,graphicx}.",
        "% Cells: mean \\textpm{} std [95% CI, Student t] over seeds and orders; bold: best per column.",
    ]
    for _, rows in table.groupby("stream", sort=False):
        lines += _latex_stream(rows, columns)
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Terminal
# ---------------------------------------------------------------------------------------------

def _terminal_stream(rows, columns: Sequence[Column]) -> list[str]:
    header = ["strategy", "n"] + [f"{c.label} {_arrow(c)}" for c in columns]
    body = []
    for _, row in rows.iterrows():
        cells = [row["strategy"], str(row["n"])]
        for column in columns:
            main, _ = _cell_parts(row, column)
            cells.append(("*" + main if row[f"{column.key}_best"] else main) + _n_note(row, column))
        body.append(cells)
    widths = [max(len(line[i]) for line in [header] + body) for i in range(len(header))]
    out = [_stream_title(rows)]
    for k, line in enumerate([header] + body):
        out.append("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                             for i, (cell, w) in enumerate(zip(line, widths))))
        if k == 0:
            out.append("  ".join("-" * w for w in widths))
    return out + [""]


def to_terminal(table, columns: Sequence[Column]) -> str:
    """A compact fixed-width table (mean ± std only; the CIs are in the files)."""
    out = []
    for _, rows in table.groupby("stream", sort=False):
        out += _terminal_stream(rows, columns)
    out.append("mean ± std over seeds and orders; * = best in column; 95% CIs in comparison.md/.csv/.tex")
    return "\n".join(out)
