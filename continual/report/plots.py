"""Plots drawn from saved results only (metrics.json contents), so any old run can be re-plotted:
a run's forgetting curve, and the comparison plots across runs.

Every comparison plot takes ``groups``: a mapping ``(stream, strategy) -> [metrics dict, ...]`` (one dict
per run, as read from its metrics.json) and writes one PNG atomically. Several streams in one
results folder become facets (one panel, or one block of panels, per stream) in the same file, so
the file names stay fixed. Colours come from seaborn's colour-blind-safe palette; each strategy
keeps its colour and marker in every figure. Bands and error bars are ± one standard deviation
over the runs (seeds and class orders) behind a strategy.

What R[i][j] holds is named wherever a figure shows it (:mod:`.scores`): top-1 accuracy,
entity F1 (strict, micro) or micro-F1, as each run's metrics.json ``score`` says. Streams
holding different scores are never pooled: each stream's panels name their own score on their
axes and titles, and a figure's overall title or shared colour bar names the one score, or
refers to the panels' where the streams differ. Experiences on an axis are numbered from 0, with
their class names (shortened) beside the number where metrics.json has them.

Figures are built on ``matplotlib.figure.Figure`` directly (no pyplot), so plotting neither
changes the caller's backend nor leaks open figures.
"""
from __future__ import annotations

import io
import math
import re
from collections import Counter
from pathlib import Path
from typing import Mapping, Optional, Sequence

import numpy as np

from ..state.files import atomic_write
from .scores import (MIXED, Score, common_score, experience_class_names, experience_tick_labels,
                     score_named, score_of, short_class_names)

Groups = Mapping[tuple, Sequence[dict]]
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")
#: one convention for experiences in every figure: their index from 0, as in the run folders,
#: metrics.json and the accuracy matrices' rows and columns
EXPERIENCE_AXIS = "after training experience"


def _libs():
    import pandas as pd
    import seaborn as sns
    from matplotlib.figure import Figure

    return pd, sns, Figure


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


#: an x axis with more experiences than this slants its tick labels and puts names beside numbers
CROWDED_AFTER = 5


def _experience_ticks(ax, axis: str, class_names: Sequence[Sequence[str]], offset: float = 0.0,
                      fontsize=None, **shortening) -> None:
    """Experience j's tick: its number and its class names, shortened (:func:`short_class_names`),
    one a line below the number on an x axis with few experiences; beside it (slanted on a
    crowded x axis) otherwise."""
    crowded = axis == "x" and len(class_names) > CROWDED_AFTER
    stacked = axis == "x" and not crowded
    if crowded:  # slanted labels take height from the plot: one name each
        shortening = {"keep": 1, **shortening}
    labels = experience_tick_labels(class_names, "\n" if stacked else ": ",
                                    **({"joiner": "\n"} if stacked else {}), **shortening)
    size = {"fontsize": fontsize} if fontsize else {}
    if axis == "x":
        slant = crowded and any(class_names)
        ax.set_xticks(np.arange(len(class_names)) + offset, labels, rotation=40 if slant else 0,
                      ha="right" if slant else "center", rotation_mode="anchor" if slant else "default", **size)
    else:
        ax.set_yticks(np.arange(len(class_names)) + offset, labels, rotation=0, **size)


def experience_label(j: int, class_names: Sequence[str]) -> str:
    """A legend entry for experience j: ``experience 2: Neoplasms, Diseases… +3``."""
    names = short_class_names(list(class_names))
    return f"experience {j}: {names}" if names else f"experience {j}"


def forgetting_curve_figure(metrics: dict):
    """The Figure of a run's ``forgetting_curve.png``: its score (metrics.json ``score``) on each
    experience after each training step, one line per experience."""
    _, sns, Figure = _libs()
    score = score_of(metrics)
    matrix = metrics["accuracy_matrix"]
    t = len(matrix)
    names = experience_class_names([metrics], t)
    palette = sns.color_palette("colorblind", t)
    fig = Figure(figsize=(7.4 if any(names) else 6.4, 4.2), dpi=120)
    ax = fig.subplots()
    for j in range(t):
        steps = list(range(j, t))
        ax.plot(steps, [matrix[i][j] for i in steps], marker="o", color=palette[j], label=experience_label(j, names[j]))
    _experience_ticks(ax, "x", names)
    ax.set_xlabel(EXPERIENCE_AXIS)
    ax.set_ylabel(f"test {score.name}")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"{metrics['strategy']} on {metrics['stream']} (seed {metrics['seed']})")
    ax.grid(alpha=0.3)
    if any(names):
        ax.legend(title=f"{score.short} on", fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  borderaxespad=0)
    else:
        ax.legend(title=f"{score.short} on", fontsize="small", loc="best")
    fig.tight_layout()
    return fig


def forgetting_curve_png(metrics: dict) -> bytes:
    """A run's ``forgetting_curve.png`` (:func:`forgetting_curve_figure`)."""
    return _png(forgetting_curve_figure(metrics))


#: the columns loop.py gives the confusion matrix of a token run (its last) and of a
#: multi-label run (all of them): how the words are told when the score is not passed
TOKEN_MISSED = "missed (no entity of that span)"
MULTI_LABEL_COLUMNS = ("predicted", "missed")


def confusion_labels(predicted_names: Sequence[str], score: Optional[str] = None) -> dict[str, str]:
    """The words of a confusion_matrix.png: x and y axis, colour bar and what is counted.

    ``score`` is metrics.json's (``accuracy``, ``entity_f1``, ``micro_f1``); when it is None the
    columns tell: a last column :data:`TOKEN_MISSED` is a token run's, exactly
    :data:`MULTI_LABEL_COLUMNS` a multi-label run's, anything else a single-label run's.
    """
    if score is None:
        names = [str(n) for n in predicted_names]
        score = ("entity_f1" if names[-1:] == [TOKEN_MISSED]
                 else "micro_f1" if tuple(names) == MULTI_LABEL_COLUMNS else "accuracy")
    key = score_named(score).key
    if key == "entity_f1":
        return {"x": "predicted entity type", "y": "gold entity type",
                "colour": "share of the gold type's entities",
                "counts": "counts of gold entities, by the type predicted for exactly their span"}
    if key == "micro_f1":
        return {"x": "gold occurrences", "y": "gold label",
                "colour": "share of the label's gold occurrences", "counts": "counts of gold label occurrences"}
    return {"x": "predicted class", "y": "true class", "colour": "share of the true class's test texts",
            "counts": "counts of test texts"}


def confusion_matrix_figure(true_names: Sequence[str], predicted_names: Sequence[str],
                            counts: Sequence[Sequence[int]], title: str, *, score: Optional[str] = None):
    """The Figure of a run's ``confusion_matrix.png`` from the rows of its confusion_matrix.csv:
    true (gold) classes down, the header's columns across, each cell annotated with its count and
    coloured by its share of the row, so rare classes stay as visible as frequent ones. The axes
    name what is counted (:func:`confusion_labels`: texts, gold entities, gold label
    occurrences). The figure grows with the number of classes and long names are shortened, so
    21 ICD-10 chapters read."""
    import textwrap

    _, sns, Figure = _libs()
    words = confusion_labels(predicted_names, score)

    def short(name: str) -> str:
        return name if len(name) <= 32 else name[:31] + "…"

    table = np.array(counts, dtype=float).reshape(len(true_names), len(predicted_names))
    totals = table.sum(axis=1, keepdims=True)
    share = np.divide(table, totals, out=np.zeros_like(table), where=totals > 0)
    n = max(len(true_names), len(predicted_names), 1)
    side = max(5.0, 0.42 * n + 3.2)
    size = 10 if n <= 6 else 8 if n <= 12 else 6.5 if n <= 24 else 5
    with sns.axes_style("white"):
        fig = Figure(figsize=(side + 1.6, side), dpi=120, layout="constrained")
        ax = fig.subplots()
        sns.heatmap(share, vmin=0, vmax=1, cmap="Blues", square=True, annot=table.astype(int) if n <= 40 else False,
                    fmt="d", annot_kws={"size": size}, linewidths=0.3, linecolor="white", ax=ax,
                    cbar_kws={"label": textwrap.fill(words["colour"], 28), "shrink": 0.7 if n > 6 else 1.0})
        ax.set_xticks(np.arange(len(predicted_names)) + 0.5, [short(x) for x in predicted_names],
                      rotation=90, fontsize=size + 1)
        ax.set_yticks(np.arange(len(true_names)) + 0.5, [short(x) for x in true_names], rotation=0, fontsize=size + 1)
        ax.set_xlabel(words["x"])
        ax.set_ylabel(words["y"])
        ax.set_title(f"{title}\n" + textwrap.fill(f"({words['counts']})", 48), fontsize="medium")
    return fig


def confusion_matrix_png(true_names: Sequence[str], predicted_names: Sequence[str],
                         counts: Sequence[Sequence[int]], title: str, *, score: Optional[str] = None) -> bytes:
    """A run's ``confusion_matrix.png`` (:func:`confusion_matrix_figure`); pass ``score`` (the
    run's metrics.json ``score``) so the axes name entity types or labels whatever the columns."""
    return _png(confusion_matrix_figure(true_names, predicted_names, counts, title, score=score))


def _save(fig, path: Path) -> Path:
    """The figure as PNG at ``path`` and as PDF beside it (vector, for a paper)."""
    for target, kind in ((path, "png"), (path.with_suffix(".pdf"), "pdf")):
        buffer = io.BytesIO()
        fig.savefig(buffer, format=kind, bbox_inches="tight")
        atomic_write(target, lambda h, data=buffer.getvalue(): h.write(data), binary=True)
    return path


def _streams(groups: Groups) -> list[str]:
    return list(dict.fromkeys(stream for stream, _ in groups))


def _strategies(groups: Groups) -> list[str]:
    return list(dict.fromkeys(strategy for _, strategy in groups))


#: line dashes by round of the palette: solid for the first 10 strategies, then dashed, dotted ...
DASHES = ["", (4, 2), (1, 1.5), (6, 2, 1, 2)]


#: the reference points' look: greys, dotted, so that they read as context rather than contenders
REFERENCE_GREYS = ("0.35", "0.55", "0.7")
REFERENCE_DASHES = (1, 1.5)


def _styles(groups: Groups) -> dict[str, tuple]:
    """row -> (colour, marker, dashes): fixed across all figures, unique for up to 120 rows.
    Past 10 contenders colours repeat, so lines of the next round are dashed. Reference rows
    (joint, cumulative, zero-shot) are drawn apart: grey and dotted, outside the palette."""
    import seaborn as sns

    from strategies import is_reference_row

    palette = sns.color_palette("colorblind", 10)
    names = _strategies(groups)
    reference = [n for n in names if is_reference_row(n.split(" (")[0])]
    contenders = [n for n in names if n not in reference]
    styles = {s: (palette[k % 10], MARKERS[(k // 10 + k) % len(MARKERS)], DASHES[(k // 10) % len(DASHES)])
              for k, s in enumerate(contenders)}
    styles.update({s: (REFERENCE_GREYS[k % len(REFERENCE_GREYS)], "X", REFERENCE_DASHES)
                   for k, s in enumerate(reference)})
    return styles


def matrices(runs: Sequence[dict]) -> np.ndarray:
    """The accuracy matrices of ``runs`` as an (n, T, T) array, keeping the runs with the most
    common T (runs of a different length cannot be averaged cell by cell)."""
    sizes = Counter(len(m["accuracy_matrix"]) for m in runs)
    t = max(sizes, key=lambda size: (sizes[size], size))
    return np.array([m["accuracy_matrix"] for m in runs if len(m["accuracy_matrix"]) == t], dtype=float)


def seen_accuracy_curve(matrix: np.ndarray) -> np.ndarray:
    """After each training experience i: mean_{j<=i} R[i][j], the accuracy on what was seen so far."""
    return np.array([matrix[i, : i + 1].mean() for i in range(len(matrix))])


def _grid(fig, n_panels: int, ncols: int):
    nrows = math.ceil(n_panels / ncols)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return axes[:n_panels]


def _runs_label(n: int) -> str:
    return f"{n} run{'s' * (n != 1)}"


def _stream_runs(groups: Groups, stream: str) -> list[dict]:
    return [m for (s, _), runs in groups.items() if s == stream for m in runs]


def stream_scores(groups: Groups) -> dict[str, Score]:
    """Each stream's score (what its runs' R[i][j] holds), streams in order of appearance."""
    return {stream: common_score(_stream_runs(groups, stream)) for stream in _streams(groups)}


def _names_of(runs: Sequence[dict], t: int) -> list[tuple[str, ...]]:
    """The class names of experiences 0..t-1 that the runs with t experiences agree on."""
    return experience_class_names([m for m in runs if len(m["accuracy_matrix"]) == t], t)


def _seen_curve_panel(ax, groups: Groups, stream: str, styles: dict) -> None:
    """One stream's panel of forgetting_curves.png, its y axis naming the stream's score."""
    pd, sns, _ = _libs()
    score = common_score(_stream_runs(groups, stream))
    records = []
    for (s, strategy), runs in groups.items():
        if s != stream:
            continue
        for k, matrix in enumerate(matrices(runs)):
            for i, value in enumerate(seen_accuracy_curve(matrix)):
                records.append({"strategy": strategy, "run": k, EXPERIENCE_AXIS: i, "score": value})
    data = pd.DataFrame(records)
    order = list(dict.fromkeys(data["strategy"]))
    sns.lineplot(data=data, x=EXPERIENCE_AXIS, y="score", hue="strategy",
                 hue_order=order, style="strategy", style_order=order,
                 palette={s: styles[s][0] for s in order},
                 markers={s: styles[s][1] for s in order}, dashes={s: styles[s][2] for s in order},
                 errorbar="sd", err_kws={"alpha": 0.18}, ax=ax)
    last = int(data[EXPERIENCE_AXIS].max())
    _experience_ticks(ax, "x", _names_of(_stream_runs(groups, stream), last + 1))
    ax.set_xlim(-0.2, last + 0.2)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(EXPERIENCE_AXIS)
    ax.set_ylabel(f"mean {score.axis}\non experiences seen so far")
    ax.set_title(f"{score.title} on seen experiences: {stream}")
    several = data.groupby("strategy")["run"].nunique().max() > 1
    ax.legend(title="strategy" + (" (band: ± std over runs)" if several else ""),
              fontsize="small", title_fontsize="small",
              loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)


def forgetting_curves_figure(groups: Groups):
    """The Figure of :func:`plot_forgetting_curves`. Streams holding different scores (accuracy,
    entity F1, micro-F1) are never pooled: each has its own panel, its axis and title naming
    its score."""
    _, sns, Figure = _libs()
    styles = _styles(groups)
    streams = _streams(groups)
    ncols = min(2, len(streams))
    with sns.axes_style("whitegrid"):
        fig = Figure(figsize=(7.0 * ncols, 4.6 * math.ceil(len(streams) / ncols)), dpi=120)
        for ax, stream in zip(_grid(fig, len(streams), ncols), streams):
            _seen_curve_panel(ax, groups, stream, styles)
        fig.tight_layout()
    return fig


def plot_forgetting_curves(groups: Groups, path: Path) -> Path:
    """Mean score on the experiences seen so far after each training experience, one line per
    strategy, a ± std band over runs; one panel per stream."""
    return _save(forgetting_curves_figure(groups), path)


#: accuracy_matrices.png is drawn at the width of one column of a two-column paper, so that its
#: text, printed there unscaled, stays at MATRIX_MIN_FONT points or more
COLUMN_WIDTH_IN = 3.5
MATRIX_MIN_FONT = 7.0
#: cells are annotated with their value (2 decimals) up to this many experiences; above, the
#: colour alone reads at one column width
ANNOTATE_UP_TO = 8
#: the width of an average character in DejaVu Sans, in ems: how long a label runs
CHARACTER_EM = 0.6
#: class names beside a heatmap's rows: one name, cut short, and "+N"; there is no room for more
#: at one column's width
MATRIX_NAMES = {"keep": 1, "width": 14}


def matrix_layout(t: int, n_panels: int, label_chars: int) -> dict:
    """How accuracy_matrices.png fits one column: two panels a row while a panel of ``t``
    experiences keeps cells wide enough for its values at 7 pt (``t`` <= 5, the default stream's
    count; rows labelled by their numbers alone), else one; the figure's size, from the heatmaps' side left beside tick labels
    of ``label_chars`` characters; whether and how big cells are annotated; title widths."""
    ncols = 2 if t <= 5 and label_chars <= 3 and n_panels > 1 else 1
    nrows = math.ceil(n_panels / ncols)
    panel_width = (COLUMN_WIDTH_IN - 0.1) / ncols
    label_room = 0.4 + label_chars * MATRIX_MIN_FONT * CHARACTER_EM / 72  # the y label and tick labels
    side = panel_width - label_room
    cell = side / max(t, 1)
    return {"ncols": ncols, "figsize": (COLUMN_WIDTH_IN, nrows * (side + 0.85) + 1.4),
            "annotate": t <= ANNOTATE_UP_TO, "annotation_size": 8.0 if cell >= 0.36 else MATRIX_MIN_FONT,
            "title_chars": int(panel_width * 72 / (CHARACTER_EM * 8)),
            "suptitle_chars": int((COLUMN_WIDTH_IN - 0.1) * 72 / (CHARACTER_EM * 8))}


def _matrix_panel(ax, title: str, runs: Sequence[dict], layout: dict) -> bool:
    """One annotated heatmap: the matrix averaged over ``runs``, rows and columns numbered, the
    rows with their experiences' class names; True when cells were left blank."""
    import textwrap

    _, sns, _ = _libs()
    stack = matrices(runs)
    mean = stack.mean(axis=0)
    t = mean.shape[0]
    upper = np.triu(np.ones((t, t), dtype=bool), k=1)
    mask = upper if np.all(stack[:, upper] == 0) and t > 1 else np.zeros_like(upper)
    sns.heatmap(mean, mask=mask, vmin=0, vmax=1, cmap="viridis", square=True,
                annot=layout["annotate"], fmt=".2f", annot_kws={"size": layout["annotation_size"]},
                cbar=False, linewidths=0.5, linecolor="white", ax=ax)
    names = _names_of(runs, t)
    ax.set_xlabel("test experience", fontsize=8)
    ax.set_ylabel(EXPERIENCE_AXIS, fontsize=8)
    _experience_ticks(ax, "x", [()] * t, offset=0.5, fontsize=MATRIX_MIN_FONT)
    _experience_ticks(ax, "y", names, offset=0.5, fontsize=MATRIX_MIN_FONT, **MATRIX_NAMES)
    ax.set_title(textwrap.fill(f"{title} ({_runs_label(len(stack))})", layout["title_chars"]), fontsize=8)
    return bool(mask.any())


def accuracy_matrices_figure(groups: Groups):
    """The Figure of :func:`plot_accuracy_matrices`, one column (3.5 in) wide, every text at 7 pt
    or more. Where the streams hold different scores each panel's title names its score and the
    colour bar refers to them; otherwise the title and colour bar name the one score."""
    import textwrap

    _, sns, Figure = _libs()
    panels = list(groups.items())
    scores = stream_scores(groups)
    several_streams = len(scores) > 1
    mixed = len(set(scores.values())) > 1 or MIXED in scores.values()
    t_max = max(matrices(runs).shape[1] for _, runs in panels)
    label_chars = max(len(label) for _, runs in panels
                      for label in experience_tick_labels(_names_of(runs, matrices(runs).shape[1]), ": ", **MATRIX_NAMES))
    layout = matrix_layout(t_max, len(panels), label_chars)
    with sns.axes_style("white"):
        fig = Figure(figsize=layout["figsize"], dpi=300, layout="constrained")
        axes = _grid(fig, len(panels), layout["ncols"])
        blanked = False
        for ax, ((stream, strategy), runs) in zip(axes, panels):
            title = f"{stream}: {strategy}" if several_streams else strategy
            blanked |= _matrix_panel(ax, f"{title}, {scores[stream].short}" if mixed else title, runs, layout)
        fig.get_layout_engine().set(h_pad=0.04, w_pad=0.04)  # panel titles clear of the row above
        score = MIXED if mixed else next(iter(scores.values()))
        label = "R[i][j], fraction: the score in each panel's title" if mixed else score.axis
        height = layout["figsize"][1]  # a bar of fixed height, however many rows of panels
        bar = fig.colorbar(axes[0].collections[0], ax=list(axes), location="bottom", shrink=0.8,
                           fraction=0.3 / height, aspect=30)
        bar.set_label(label, fontsize=8)
        bar.ax.tick_params(labelsize=MATRIX_MIN_FONT)
        note = (f" Blank cells: experience j not yet trained (j > i), {score.short} 0 in every run "
                "(a class-incremental head cannot predict unseen classes).") if blanked else ""
        fig.suptitle(textwrap.fill(f"{score.title} matrix R[i][j] (row i: after training experience i; "
                                   f"column j: test experience j), mean over runs.{note}", layout["suptitle_chars"]),
                     fontsize=8)
    return fig


def plot_accuracy_matrices(groups: Groups, path: Path) -> Path:
    """One annotated heatmap per (stream, strategy): the matrix R (accuracy, entity F1 or
    micro-F1, as the runs' metrics.json ``score`` says) averaged over runs, drawn to be read at
    one column's width (:func:`matrix_layout`).

    Cells never reached by any run (R[i][j] = 0 for every j > i in every run, as in
    class-incremental streams whose head cannot predict unseen classes) are left blank.
    """
    return _save(accuracy_matrices_figure(groups), path)


def experience_curves_filename(strategy: str) -> str:
    """``experience_curves_<row>.png``; '+' is kept, as in the run folders (``replay+ewc``), and
    each run of characters outside letters, digits, '+', '.', '_' and '-' becomes one '_'
    (``ewc (λ=1e4)``: ``experience_curves_ewc_lambda_1e4.png``)."""
    name = re.sub(r"[^A-Za-z0-9+._-]+", "_", strategy.replace("λ", "lambda")).strip("_")
    return f"experience_curves_{name}.png"


def _experience_panel(ax, stack: np.ndarray, names: Sequence[str], strategy: str, stream: str, score: Score) -> None:
    """One stream's panel of experience_curves_<row>.png: a line per experience, named by its
    number and class names, the axis naming the stream's score."""
    pd, sns, _ = _libs()
    t = stack.shape[1]
    order = [experience_label(j, names[j]) for j in range(t)]
    records = [{"experience": order[j], EXPERIENCE_AXIS: i, "score": stack[k, i, j], "run": k}
               for k in range(len(stack)) for j in range(t) for i in range(j, t)]
    palette = sns.color_palette("colorblind", 10)
    sns.lineplot(data=pd.DataFrame(records), x=EXPERIENCE_AXIS, y="score", hue="experience",
                 hue_order=order, style="experience", style_order=order,
                 palette={name: palette[j % 10] for j, name in enumerate(order)},
                 markers={name: MARKERS[j % len(MARKERS)] for j, name in enumerate(order)},
                 dashes=False, errorbar="sd", err_kws={"alpha": 0.18}, ax=ax)
    _experience_ticks(ax, "x", names)
    ax.set_xlim(-0.2, t - 0.8)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(EXPERIENCE_AXIS)
    ax.set_ylabel(f"test {score.axis}")
    ax.set_title(f"{strategy} on {stream}: {score.short} on each experience ({_runs_label(len(stack))})",
                 fontsize="medium")
    ax.legend(title=f"{score.short} on" + ("\n(band: ± std over runs)" if len(stack) > 1 else ""),
              fontsize="small",
              title_fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)


def experience_curves_figure(groups: Groups, strategy: str):
    """The Figure of :func:`plot_experience_curves`; each stream's panel names its own score."""
    _, sns, Figure = _libs()
    streams = [s for s, name in groups if name == strategy]
    ncols = min(2, len(streams))
    with sns.axes_style("whitegrid"):
        fig = Figure(figsize=(7.0 * ncols, 4.6 * math.ceil(len(streams) / ncols)), dpi=120)
        for ax, stream in zip(_grid(fig, len(streams), ncols), streams):
            runs = groups[(stream, strategy)]
            stack = matrices(runs)
            _experience_panel(ax, stack, _names_of(runs, stack.shape[1]), strategy, stream, common_score(runs))
        fig.tight_layout()
    return fig


def plot_experience_curves(groups: Groups, strategy: str, path: Path) -> Path:
    """The score on each single experience j after each training step i >= j, one line per
    experience, a ± std band over runs; one panel per stream the strategy ran on."""
    return _save(experience_curves_figure(groups, strategy), path)


def _cost_points(runs: Sequence[dict]) -> dict:
    """Mean and std (ddof=1, 0 for one run) of final accuracy, training time and peak memory."""
    def stats(values):
        values = [float(v) for v in values if v is not None]
        if not values:
            return None, None
        return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0

    def stored_mb(m):
        stored = m.get("stored_bytes")
        return stored[-1] / 2**20 if stored and stored[-1] is not None else None

    return {"acc": stats(m.get("average_accuracy") for m in runs),
            "time": stats(sum(m["train_seconds"]) if m.get("train_seconds") is not None else None
                          for m in runs),
            "memory": stats(m.get("peak_rss_mb") for m in runs),
            "params": stats(m.get("trainable_parameters") for m in runs),
            "stored": stats(stored_mb(m) for m in runs)}


# Candidate label positions around a point (offset points), tried in order.
_LABEL_OFFSETS = ((7, 5), (7, -13), (-7, 5), (-7, -13), (0, 10), (0, -18), (12, 16), (12, -24),
                  (-12, 16), (-12, -24), (0, 24), (0, -32))


def _place_labels(ax, fig, labels: Sequence[tuple[str, float, float, tuple]]) -> None:
    """Annotate points with names, choosing for each the first nearby position whose text box
    overlaps neither an earlier label nor a marker and stays inside the axes."""
    renderer = fig.canvas.get_renderer()  # an Agg canvas (see plot_cost_frontier)
    inside = ax.get_window_extent(renderer)
    markers = [ax.transData.transform((x, y)) for _, x, y, _ in labels]
    placed = []
    for name, x, y, colour in labels:
        for dx, dy in _LABEL_OFFSETS:
            text = ax.annotate(name, (x, y), xytext=(dx, dy), textcoords="offset points",
                               ha="left" if dx > 0 else "right" if dx < 0 else "center",
                               fontsize="small", color=colour, fontweight="bold")
            box = text.get_window_extent(renderer).expanded(1.05, 1.1)
            clear = (box.x0 >= inside.x0 and box.x1 <= inside.x1 and box.y0 >= inside.y0
                     and box.y1 <= inside.y1 and not any(box.overlaps(other) for other in placed)
                     and not any(box.x0 - 5 <= mx <= box.x1 + 5 and box.y0 - 5 <= my <= box.y1 + 5
                                 for mx, my in markers))
            if clear or (dx, dy) == _LABEL_OFFSETS[-1]:  # nowhere clear: keep the last try
                placed.append(box)
                break
            text.remove()


#: the cost frontier's panels: cost key, x label, what the score is set against, log-scaled x axis
COST_AXES = (("time", "training time, summed over experiences (s)", "training time", False),
             ("memory", "peak resident memory (MB)", "peak memory", False),
             ("params", "trainable parameters (log scale)", "trainable parameters", True),
             ("stored", "kept after the last experience besides the model (MB, log scale above 0.01)",
              "stored bytes", True))
#: where the stored-bytes axis turns from linear (0, what naive keeps) to logarithmic, MB
STORED_LINEAR_BELOW = 0.01


def _cost_panel(ax, points: dict, axis: tuple, styles: dict, stream: str, score: Score) -> list:
    """One panel of the cost frontier: a point per strategy with ± std error bars; returns the
    labels to place once the layout is final."""
    key, xlabel, against, log = axis
    shown = {s: p for s, p in points.items() if p["acc"][0] is not None and p[key][0] is not None}
    for strategy, p in shown.items():
        colour, marker, _ = styles[strategy]
        ax.errorbar(p[key][0], p["acc"][0], xerr=p[key][1], yerr=p["acc"][1], fmt=marker,
                    color=colour, markersize=8, capsize=3, elinewidth=1.2,
                    markeredgecolor="black", markeredgewidth=0.5)
    missing = sorted(set(points) - set(shown))
    if missing:
        ax.text(0.99, 0.01, f"not measured: {', '.join(missing)}", transform=ax.transAxes,
                ha="right", va="bottom", fontsize="x-small", color="0.4")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"final average {score.short} (ACC, fraction)")
    ax.set_ylim(-0.02, 1.02)
    right = max((p[key][0] + p[key][1] for p in shown.values()), default=1.0)
    if key == "stored":  # 0 for naive, kilobytes for per-task biases, 100s of MB for EWC
        ax.set_xscale("symlog", linthresh=STORED_LINEAR_BELOW)
        ax.set_xlim(0, max(right, 1.0) * 4)
    elif log:  # from thousands of parameters (a head) to millions (the encoder)
        ax.set_xscale("log")
        left = min((p[key][0] for p in shown.values() if p[key][0] > 0), default=1.0)
        ax.set_xlim(left / 3, max(right, left) * 4)
    else:
        ax.set_xlim(0, max(right, 1e-9) * 1.25)  # room for labels right of the points
        ax.xaxis.set_major_formatter("{x:,.0f}")
    ax.set_title(f"{stream}: {score.short} vs {against}", fontsize="medium")
    return [(s, p[key][0], p["acc"][0], styles[s][0]) for s, p in shown.items()]


def cost_frontier_figure(groups: Groups):
    """The Figure of :func:`plot_cost_frontier`; each stream's panels name its score on their
    y axes and titles, the overall title the one score, or "score" where streams differ."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    _, sns, Figure = _libs()
    styles = _styles(groups)
    scores = stream_scores(groups)
    with sns.axes_style("whitegrid"):
        # two panels a row, so that each stays readable at page width
        fig = Figure(figsize=(12.0, 9.6 * len(scores)), dpi=120)
        FigureCanvasAgg(fig)  # a renderer to measure label boxes with
        grid = fig.subplots(2 * len(scores), 2, squeeze=False)
        labels = []
        for index, (stream, score) in enumerate(scores.items()):
            row = [*grid[2 * index], *grid[2 * index + 1]]
            points = {strategy: _cost_points(runs) for (s, strategy), runs in groups.items() if s == stream}
            for ax, axis in zip(row, COST_AXES):
                labels.append((ax, _cost_panel(ax, points, axis, styles, stream, score)))
        overall = MIXED if len(set(scores.values())) > 1 else next(iter(scores.values()))
        height = fig.get_figheight()  # the title a fixed distance from the top, however many streams
        fig.suptitle(f"{overall.title} against cost, one point per strategy (upper left is best; "
                     "error bars: ± std over runs)", fontsize="medium", y=1 - 0.12 / height)
        fig.tight_layout()
        for ax, points in labels:  # after the layout: placement measures the final positions
            _place_labels(ax, fig, points)
    return fig


def plot_cost_frontier(groups: Groups, path: Path) -> Path:
    """Final average score (ACC) against training time, peak memory, trainable parameters and
    the bytes a method keeps (buffers, importances, per-task modules): one point per strategy
    with ± std error bars on both axes, labelled; four panels (two rows of two) per stream."""
    return _save(cost_frontier_figure(groups), path)


def plot_comparison(groups: Groups, out: Path) -> list[Path]:
    """All comparison figures into ``out``; returns the paths written."""
    out = Path(out)
    written = [plot_forgetting_curves(groups, out / "forgetting_curves.png"),
               plot_accuracy_matrices(groups, out / "accuracy_matrices.png")]
    for strategy in _strategies(groups):
        written.append(plot_experience_curves(groups, strategy, out / experience_curves_filename(strategy)))
    written.append(plot_cost_frontier(groups, out / "cost_frontier.png"))
    return written
