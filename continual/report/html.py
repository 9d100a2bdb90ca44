"""``report.html``: the comparison in one self-contained file a clinical team can open from an
email: the tables (the cells of comparison.md), every figure embedded as an image, the metric
definitions and the configuration behind each row. No script, no external file or font."""
from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Sequence

from .render import (
    PAIRED_COLUMNS,
    _blocks,
    _cell_parts,
    _diff_label,
    _diff_note,
    _diff_parts,
    _header,
    _n_note,
    _runs_phrase,
    _sources_phrase,
    _stream_title,
    rows_score,
    scores_phrase,
    table_scores,
)
from .runs import Run
from .scores import MIXED, Score, matrix_definition
from .tables import BASELINE, Column

STYLE = """
body { font-family: Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { font-size: 1.3em; margin-top: 2em; border-bottom: 1px solid #ccc; }
h3 { font-size: 1.05em; color: #555; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.55em; text-align: center; vertical-align: top; }
th { background: #f2f2f2; } td.name { text-align: left; white-space: nowrap; }
td.best { font-weight: bold; background: #eef6ee; }
.ci { color: #666; font-size: 0.85em; display: block; }
figure { margin: 1.2em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }
.note { color: #555; font-size: 0.92em; }
details { margin: 0.3em 0; } summary { cursor: pointer; }
"""

#: figures in the order they are shown, with a caption each; {score} and {Score} stand for the
#: score R[i][j] holds (:func:`figure_captions`)
FIGURES = (
    ("forgetting_curves.png", "Average {score} on the experiences seen so far, after each experience (bands: "
                              "± std over seeds)."),
    ("accuracy_matrices.png", "{Score} matrices R[i][j]: {score} on experience j (columns) after training "
                              "through experience i (rows)."),
    ("cost_frontier.png", "Final {score} against training time, peak memory, trainable parameters and "
                          "stored bytes (upper left is best)."),
)
#: the caption of experience_curves_<row>.png
EXPERIENCE_CURVES = "{Score} on each experience after each training step: {row}."


def figure_captions(scores: Sequence[Score]) -> dict[str, str]:
    """Each figure's caption, naming the one score every stream holds, or, where streams hold
    different ones, each stream's score (named in the figure's panels)."""
    kinds = list(dict.fromkeys(scores))
    if len(kinds) == 1 and kinds[0] is not MIXED:
        words = {"score": kinds[0].short, "Score": kinds[0].title}
        suffix = ""
    else:
        words = {"score": "score", "Score": "Score"}
        named = ", ".join(k.name for k in kinds if k is not MIXED)
        suffix = " Each stream's score is named in its panels" + (f" ({named})." if named else ".")
    captions = {name: text.format(**words) + suffix for name, text in FIGURES}
    captions["experience_curves"] = EXPERIENCE_CURVES.replace("{Score}", words["Score"]) + suffix
    return captions


def _cell(row, column: Column) -> str:
    main, ci = _cell_parts(row, column)
    best = ' class="best"' if row[f"{column.key}_best"] else ""
    ci_html = f'<span class="ci">{html.escape(ci)}</span>' if ci else ""
    return f"<td{best}>{html.escape(main + _n_note(row, column))}{ci_html}</td>"


def _diff_cell(row, column: Column) -> str:
    value, interval, near = _diff_parts(row, column)
    interval_html = f'<span class="ci">{html.escape(interval)}</span>' if interval else ""
    return f"<td>{html.escape(' '.join(p for p in (value, near) if p) + _diff_note(row, column))}{interval_html}</td>"


def _table(rows, columns: Sequence[Column], score: Score) -> list[str]:
    header = ["strategy", "n"] + [_header(c, score) for c in columns] + [_diff_label(c, score) for c in PAIRED_COLUMNS]
    out = ["<table>", "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"]
    for _, row in rows.iterrows():
        cells = [f'<td class="name">{html.escape(str(row["strategy"]))}</td>', f"<td>{int(row['n'])}</td>"]
        cells += [_cell(row, c) for c in columns] + [_diff_cell(row, c) for c in PAIRED_COLUMNS]
        out.append("<tr>" + "".join(cells) + "</tr>")
    return out + ["</table>"]


def _configurations(runs: Sequence[Run]) -> list[str]:
    """Each row's settings (from config.json), folded: what was run, exactly."""
    out = ["<h2>Configurations</h2>",
           '<p class="note">Everything that changes a row\'s results (model, stream, training and the '
           "strategy's hyperparameters), from each run's config.json; seeds, orders, paths, device and "
           "threads are left out.</p>"]
    seen = {}
    for run in runs:
        seen.setdefault((run.stream, run.row), run)
    for (stream, row), run in seen.items():
        if not run.settings:
            continue
        items = "".join(f"<tr><td class=\"name\">{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>"
                        for k, v in run.settings.items())
        out.append(f"<details><summary>{html.escape(row)} on {html.escape(stream)}"
                   f" (configuration {html.escape(run.fingerprint)})</summary><table>{items}</table></details>")
    return out


def _figures(out_dir: Path, scores: Sequence[Score]) -> list[str]:
    parts = ["<h2>Figures</h2>"]
    captions = figure_captions(scores)
    names = [(name, captions[name]) for name, _ in FIGURES if (out_dir / name).is_file()]
    names += [(p.name, captions["experience_curves"].replace("{row}", p.stem[len("experience_curves_"):]))
              for p in sorted(out_dir.glob("experience_curves_*.png"))]
    for name, caption in names:
        data = base64.b64encode((out_dir / name).read_bytes()).decode("ascii")
        parts.append(f'<figure><img alt="{html.escape(name)}" style="width: {_screen_width(out_dir / name)}px" '
                     f'src="data:image/png;base64,{data}"><figcaption>{html.escape(caption)}</figcaption></figure>')
    return parts


#: how much larger than its printed size a figure is shown on a screen of 96 pixels an inch
SCREEN_SCALE = 1.5


def _screen_width(path: Path) -> int:
    """The width a figure is shown at: its printed width (pixels over the dots per inch it was
    saved at) at :data:`SCREEN_SCALE`, never wider than its pixels. A figure drawn for one
    column of a paper at 300 dpi would otherwise fill the page with 20-point text."""
    from PIL import Image

    with Image.open(path) as image:
        width = image.width
        dpi = float((image.info.get("dpi") or (96, 96))[0]) or 96.0
    return int(min(width, width / dpi * 96 * SCREEN_SCALE))


def to_html(table, columns: Sequence[Column], sources: Sequence[Path], runs: Sequence[Run], out_dir: Path) -> str:
    """report.html: how to read it, one table per stream, the figures written into ``out_dir``,
    the definitions and the configurations."""
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>Comparison of continual-learning strategies</title>", f"<style>{STYLE}</style></head><body>",
             "<h1>Comparison of continual-learning strategies</h1>",
             f'<p class="note">From {html.escape(_runs_phrase(runs))} read under '
             f"{html.escape(_sources_phrase(sources).replace('`', ''))}. Each cell: mean ± std over seeds and "
             "class orders, with its 95% confidence interval below (Student t); n = runs behind the row. Bold: "
             "best in its column among the stream's contenders (↑ higher is better, ↓ lower). Reference points "
             "(joint, cumulative, zero-shot) are listed apart and never marked best. Δ … vs "
             f"{BASELINE}: the mean paired difference to {BASELINE} over the seeds both have, with its 95% "
             f"interval; ≈ {BASELINE}: the interval includes 0. {html.escape(scores_phrase(table))}</p>"]
    for _, rows in table.groupby("stream", sort=False):
        parts.append(f"<h2>{html.escape(_stream_title(rows))}</h2>")
        for heading, block in _blocks(rows):
            if heading:
                parts.append(f"<h3>{html.escape(heading)}</h3>")
            parts += _table(block, columns, rows_score(rows))
    scores = table_scores(table)
    parts += _figures(out_dir, list(scores.values()))
    parts += ["<h2>Definitions</h2>", f'<p class="note">{html.escape(matrix_definition(scores))}</p>', "<ul>"]
    parts += [f"<li><b>{html.escape(c.label)}</b>: {html.escape(c.definition)}.</li>" for c in columns]
    parts.append("</ul>")
    parts += _configurations(runs)
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
