"""The comparison table as text: markdown (comparison.md), LaTeX (comparison.tex) and the
terminal. Each renders the DataFrame of :func:`continual.report.tables.comparison_table`;
comparison.csv is that DataFrame itself. In each, a stream's contenders come first and its
reference rows (joint, cumulative, zero-shot) after them in a block of their own, never in bold.

Each stream has its own table, titled with the score its R[i][j] holds (accuracy, entity F1,
micro-F1); where that is not accuracy, the headers of the columns computed from R name it too
(``ACC (entity F1)``, :func:`~continual.report.tables.column_header`), and the Definitions say
what R holds per stream. comparison.csv keeps one set of column names for every stream and a
``score`` column beside ``scenario``.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Optional, Sequence

from .runs import Run
from .scores import MIXED, Score, matrix_definition, score_named
from .tables import BASELINE, COLUMNS, PAIRED_KEYS, Column, column_header

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
    if _missing(std) or std == 0:  # one run, or the same value in every run: the value alone
        return format_value(mean, column.unit), ""
    main = f"{format_value(mean, column.unit)} ± {format_value(std, column.unit)}"
    if _missing(ci):
        return main, "[n/a]"
    return main, f"[{format_value(mean - ci, column.unit)}, {format_value(mean + ci, column.unit)}]"


def _n_note(row, column: Column) -> str:
    n = int(row[f"{column.key}_n"])
    return f" (n={n})" if 0 < n < int(row["n"]) else ""


#: The columns of the paired differences to naive, in display order.
PAIRED_COLUMNS = [c for c in COLUMNS if c.key in PAIRED_KEYS]
NEAR_BASELINE = f"≈ {BASELINE}"
REFERENCE_HEADING = "Reference points (not ranked)"


def _diff_label(column: Column, score: Optional[Score] = None) -> str:
    name = column_header(column, score) if score else column.label
    return f"Δ {name} vs {BASELINE} {_arrow(column)}"


def _header(column: Column, score: Score) -> str:
    return f"{column_header(column, score)} {_arrow(column)}"


def rows_score(rows) -> Score:
    """The score of a stream's rows (comparison.csv's ``score``; accuracy for a table without
    the column); :data:`~continual.report.scores.MIXED` where they differ."""
    if "score" not in rows:
        return score_named(None)
    keys = set(rows["score"].fillna("accuracy"))
    return score_named(keys.pop()) if len(keys) == 1 else MIXED


def table_scores(table) -> dict[str, Score]:
    """Each stream's score, streams in table order."""
    return {stream: rows_score(rows) for stream, rows in table.groupby("stream", sort=False)}


def scores_phrase(table) -> str:
    """The intro's last sentence: what the fractions are."""
    if all(s.is_accuracy for s in table_scores(table).values()):
        return "Accuracies are fractions in [0, 1]."
    return ("Scores are fractions in [0, 1]; what R[i][j] holds (accuracy, entity F1, micro-F1) is named in each "
            "stream's heading, and in the headers of the columns computed from it where it is not accuracy.")


def _diff_parts(row, column: Column) -> tuple[str, str, str]:
    """('+mean', '[low, high]', '≈ naive' or '') of a paired difference; '—' for naive itself,
    n/a where there is none; an interval from fewer than 2 pairs is n/a."""
    prefix = f"{column.key}_vs_naive_"
    if row["strategy"] == BASELINE:
        return "—", "", ""
    mean, ci, near = row[prefix + "mean"], row[prefix + "ci95"], row[prefix + "includes_zero"]
    if _missing(mean):
        return "n/a", "", ""
    if _missing(ci):
        return f"{mean:+.3f}", "[n/a]", ""
    return f"{mean:+.3f}", f"[{mean - ci:+.3f}, {mean + ci:+.3f}]", NEAR_BASELINE if near is True else ""


def _diff_note(row, column: Column) -> str:
    pairs = int(row[f"{column.key}_vs_naive_n"])
    return f" (n={pairs})" if 0 < pairs < int(row["n"]) else ""


def _blocks(rows) -> list[tuple[str, object]]:
    """A stream's rows as (heading, rows) blocks: the contenders (no heading), then the reference
    rows; an empty block is left out."""
    reference = rows["reference"].astype(bool)
    blocks = [("", rows[~reference]), (REFERENCE_HEADING, rows[reference])]
    return [(heading, block) for heading, block in blocks if len(block)]


def _arrow(column: Column) -> str:
    return "↑" if column.higher_is_better else "↓"


def _stream_title(rows) -> str:
    first = rows.iloc[0]
    scenario = SCENARIO_NAMES.get(first["scenario"], first["scenario"] or "scenario unknown")
    return f"{first['stream']} ({scenario}, {first['experiences']} experiences; score: {rows_score(rows).name})"


def _sources_phrase(sources: Sequence[Path]) -> str:
    """The folders read: named when few, else their common folder and how many."""
    if len(sources) <= 3:
        return ", ".join(f"`{s}`" for s in sources)
    import os

    try:
        common = os.path.commonpath([str(s) for s in sources])
    except ValueError:
        common = ""
    return f"{len(sources)} folders" + (f" in `{common}`" if common else "")


def _runs_phrase(runs: Sequence[Run]) -> str:
    streams = len({r.stream for r in runs})
    strategies = len({(r.stream, r.strategy) for r in runs})
    return (f"{len(runs)} run{'s' * (len(runs) != 1)}, {strategies} strategy row"
            f"{'s' * (strategies != 1)}, {streams} stream{'s' * (streams != 1)}")


# ---------------------------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------------------------

def _markdown_table(rows, columns: Sequence[Column], score: Score) -> list[str]:
    header = (["strategy", "n"] + [_header(c, score) for c in columns]
              + [_diff_label(c, score) for c in PAIRED_COLUMNS])
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join([":---", "---:"] + [":---:"] * (len(columns) + len(PAIRED_COLUMNS))) + "|"]
    for _, row in rows.iterrows():
        cells = [row["strategy"], str(row["n"])]
        for column in columns:
            main, ci = _cell_parts(row, column)
            if row[f"{column.key}_best"]:
                main = f"**{main}**"
            cells.append(f"{main} {ci}".strip() + _n_note(row, column))
        for column in PAIRED_COLUMNS:
            cells.append(" ".join(part for part in _diff_parts(row, column) if part) + _diff_note(row, column))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _markdown_stream(rows, columns: Sequence[Column]) -> list[str]:
    lines = [f"## {_stream_title(rows)}", ""]
    for heading, block in _blocks(rows):
        lines += ([f"### {heading}", ""] if heading else []) + _markdown_table(block, columns, rows_score(rows)) + [""]
    return lines


def to_markdown(table, columns: Sequence[Column], sources: Sequence[Path], runs: Sequence[Run]) -> str:
    """comparison.md: how to read the cells, one table per stream, then every column's definition."""
    lines = [
        "# Comparison of continual-learning strategies", "",
        f"From {_runs_phrase(runs)} read from the metrics.json files under {_sources_phrase(sources)} "
        "(`python -m continual.compare`).", "",
        "Each cell: mean ± std (ddof=1) [95% confidence interval, Student t] over seeds and class "
        "orders; n = runs behind the row ((n=k) in a cell: only k of them have that value). "
        "**Bold**: best in its column among the stream's contenders (↑ higher is better, ↓ lower). "
        f"{REFERENCE_HEADING}: joint and cumulative (which train on earlier experiences' data "
        "again) and zero-shot (which does not train) are listed apart and never bold. "
        f"Δ … vs {BASELINE}: the mean paired difference to {BASELINE} over the (seed, order) pairs "
        f"both have runs for [95% interval of a paired Student t; n/a under 2 pairs]; {NEAR_BASELINE}: "
        "the interval includes 0. "
        "A cell from one run, or the same in every run, shows its value alone (no std or CI). "
        "n/a: not defined (forgetting and BWT mean nothing for joint and "
        "zero-shot; FWT is null in class-incremental runs; macro-F1 is absent from older runs). "
        + scores_phrase(table), "",
    ]
    for _, rows in table.groupby("stream", sort=False):
        lines += _markdown_stream(rows, columns)
    lines += ["## Definitions", "", matrix_definition(table_scores(table)), ""]
    lines += [f"- **{c.label}**: {c.definition}." for c in columns]
    lines += [f"- **{_diff_label(c)[:-2]}**: mean over pairs (seed s, order k) of {c.label}(strategy, s, k) - "
              f"{c.label}({BASELINE}, s, k), ± t_{{0.975, n-1}} sd / sqrt(n) over the n pairs." for c in PAIRED_COLUMNS]
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
            .replace(THIN_SPACE, r"\,").replace("Δ", r"$\Delta$").replace("≈", r"$\approx$")
            .replace("—", "---"))


def _latex_cell(row, column: Column) -> str:
    main, ci = _cell_parts(row, column)
    main = _tex(main)
    if row[f"{column.key}_best"]:
        main = rf"\textbf{{{main}}}"
    cell = main + (rf" {{\scriptsize{_tex(ci)}}}" if ci else "")
    n_note = _n_note(row, column)
    return cell + (rf" {{\scriptsize{_tex(n_note.strip())}}}" if n_note else "")


def _latex_diff_cell(row, column: Column) -> str:
    mean, ci, near = _diff_parts(row, column)
    cell = _tex(mean) + (rf" {{\scriptsize{_tex(ci)}}}" if ci else "") + (f" {_tex(near)}" if near else "")
    note = _diff_note(row, column)
    return cell + (rf" {{\scriptsize{_tex(note.strip())}}}" if note else "")


def _latex_stream(rows, columns: Sequence[Column]) -> list[str]:
    width = 2 + len(columns) + len(PAIRED_COLUMNS)
    score = rows_score(rows)
    lines = [
        r"\begin{table*}[t]", r"\centering",
        rf"\caption{{{_tex(_stream_title(rows))}: mean \textpm{{}} std {{\scriptsize[95\% CI]}} over "
        r"seeds and class orders; $n$ runs per row; best per column among the contenders in bold; "
        r"reference points (not ranked) below them; $\Delta$: paired difference to "
        + _tex(BASELINE) + r" [95\% CI, paired t], $\approx$ " + _tex(BASELINE) + r": the interval includes 0; "
        r"$\uparrow$/$\downarrow$: higher/lower is better.}",
        r"\resizebox{\textwidth}{!}{%",
        r"\begin{tabular}{l r " + " ".join("c" for _ in range(width - 2)) + "}", r"\toprule",
        " & ".join(["strategy", "$n$"]
                   + [f"{_tex(column_header(c, score))} {_TEX_ARROWS[c.higher_is_better]}" for c in columns]
                   + [_tex(_diff_label(c, score)[:-2]) + f" {_TEX_ARROWS[c.higher_is_better]}" for c in PAIRED_COLUMNS])
        + r" \\",
    ]
    for heading, block in _blocks(rows):
        lines.append(r"\midrule")
        if heading:
            lines.append(rf"\multicolumn{{{width}}}{{l}}{{\textit{{{_tex(heading)}}}}} \\")
        for _, row in block.iterrows():
            cells = [_tex(row["strategy"]), str(row["n"])] + [_latex_cell(row, c) for c in columns]
            lines.append(" & ".join(cells + [_latex_diff_cell(row, c) for c in PAIRED_COLUMNS]) + r" \\")
    return lines + [r"\bottomrule", r"\end{tabular}}", r"\end{table*}", ""]


def to_latex(table, columns: Sequence[Column]) -> str:
    """comparison.tex: one booktabs table* per stream."""
    lines = [
        "% Written by python -m continual.compare. Needs \\usepackage{booktabs,graphicx}.",
        "% Cells: mean \\textpm{} std [95% CI, Student t] over seeds and orders; bold: best per column among",
        "% the contenders; reference points (joint, cumulative, zero-shot) in a block below, never bold.",
    ]
    for _, rows in table.groupby("stream", sort=False):
        lines += _latex_stream(rows, columns)
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Terminal
# ---------------------------------------------------------------------------------------------

def _terminal_rows(rows, columns: Sequence[Column]) -> list[list[str]]:
    body = []
    for _, row in rows.iterrows():
        cells = [row["strategy"], str(row["n"])]
        for column in columns:
            main, _ = _cell_parts(row, column)
            cells.append(("*" + main if row[f"{column.key}_best"] else main) + _n_note(row, column))
        mean, _, near = _diff_parts(row, PAIRED_COLUMNS[0])
        cells.append(mean + (" ≈" if near else ""))
        body.append(cells)
    return body


def _terminal_stream(rows, columns: Sequence[Column]) -> list[str]:
    score = rows_score(rows)
    header = ["strategy", "n"] + [_header(c, score) for c in columns] + [_diff_label(PAIRED_COLUMNS[0], score)]
    blocks = [(heading, _terminal_rows(block, columns)) for heading, block in _blocks(rows)]
    widths = [max(len(line[i]) for line in [header] + [r for _, body in blocks for r in body])
              for i in range(len(header))]

    def line(cells) -> str:
        return "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(cells, widths)))

    out = [_stream_title(rows), line(header), "  ".join("-" * w for w in widths)]
    for heading, body in blocks:
        out += ([f"{heading}:"] if heading else []) + [line(cells) for cells in body]
    return out + [""]


def to_terminal(table, columns: Sequence[Column]) -> str:
    """A compact fixed-width table (mean ± std only; the CIs are in the files)."""
    out = []
    for _, rows in table.groupby("stream", sort=False):
        out += _terminal_stream(rows, columns)
    out.append(f"mean ± std over seeds and orders; * = best in column among the contenders; "
               f"≈ = the 95% interval of the difference to {BASELINE} includes 0; 95% CIs in comparison.md/.csv/.tex")
    return "\n".join(out)
