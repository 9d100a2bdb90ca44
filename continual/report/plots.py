"""Plots drawn from saved results only (metrics.json contents), so any old run can be re-plotted:
a run's forgetting curve, and the comparison plots across runs.

Every comparison plot takes ``groups``: a mapping ``(stream, strategy) -> [metrics dict, ...]`` (one dict
per run, as read from its metrics.json) and writes one PNG atomically. Several streams in one
results folder become facets (one panel, or one block of panels, per stream) in the same file, so
the file names stay fixed. Colours come from seaborn's colour-blind-safe palette; each strategy
keeps its colour and marker in every figure. Bands and error bars are ± one standard deviation
over the runs (seeds and class orders) behind a strategy.

Figures are built on ``matplotlib.figure.Figure`` directly (no pyplot), so plotting neither
changes the caller's backend nor leaks open figures.
"""
from __future__ import annotations

import io
import math
import re
from collections import Counter
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..state.files import atomic_write

Groups = Mapping[tuple, Sequence[dict]]
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")
#: one convention for experiences in every figure: their index from 0, as in the run folders,
#: metrics.json and the accuracy matrices' rows and columns
EXPERIENCE_AXIS = "after training experience"
ACCURACY = "accuracy (top-1, fraction)"


def _libs():
    import pandas as pd
    import seaborn as sns
    from matplotlib.figure import Figure

    return pd, sns, Figure


def forgetting_curve_png(metrics: dict) -> bytes:
    """A run's ``forgetting_curve.png``: accuracy on each experience after each training step,
    one line per experience."""
    _, sns, Figure = _libs()
    matrix = metrics["accuracy_matrix"]
    t = len(matrix)
    palette = sns.color_palette("colorblind", t)
    fig = Figure(figsize=(6.4, 4.2), dpi=120)
    ax = fig.subplots()
    for j in range(t):
        steps = list(range(j, t))
        ax.plot(steps, [matrix[i][j] for i in steps], marker="o", color=palette[j], label=f"experience {j}")
    ax.set_xticks(range(t))
    ax.set_xlabel("after training experience")
    ax.set_ylabel("test accuracy (top-1)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"{metrics['strategy']} on {metrics['stream']} (seed {metrics['seed']})")
    ax.grid(alpha=0.3)
    ax.legend(title="accuracy on", fontsize="small", loc="best")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def confusion_matrix_png(true_names: Sequence[str], predicted_names: Sequence[str],
                         counts: Sequence[Sequence[int]], title: str) -> bytes:
    """A run's ``confusion_matrix.png`` from the rows of its confusion_matrix.csv: true classes
    down, predicted classes across, each cell annotated with its count and coloured by its share
    of the true class's texts, so rare classes stay as visible as frequent ones. The figure
    grows with the number of classes and long names are shortened, so 21 ICD-10 chapters read."""
    _, sns, Figure = _libs()

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
                    cbar_kws={"label": "share of the true class's test texts", "shrink": 0.7})
        ax.set_xticks(np.arange(len(predicted_names)) + 0.5, [short(x) for x in predicted_names],
                      rotation=90, fontsize=size + 1)
        ax.set_yticks(np.arange(len(true_names)) + 0.5, [short(x) for x in true_names], rotation=0, fontsize=size + 1)
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        ax.set_title(f"{title}\n(counts of test texts)", fontsize="medium")
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
    return buffer.getvalue()


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


def plot_forgetting_curves(groups: Groups, path: Path) -> Path:
    """Mean accuracy on the experiences seen so far after each training experience, one line per
    strategy, a ± std band over runs; one panel per stream."""
    pd, sns, Figure = _libs()
    styles = _styles(groups)
    streams = _streams(groups)
    ncols = min(2, len(streams))
    with sns.axes_style("whitegrid"):
        fig = Figure(figsize=(7.0 * ncols, 4.6 * math.ceil(len(streams) / ncols)), dpi=120)
        for ax, stream in zip(_grid(fig, len(streams), ncols), streams):
            records = []
            for (s, strategy), runs in groups.items():
                if s != stream:
                    continue
                for k, matrix in enumerate(matrices(runs)):
                    for i, value in enumerate(seen_accuracy_curve(matrix)):
                        records.append({"strategy": strategy, "run": k, EXPERIENCE_AXIS: i, "accuracy": value})
            data = pd.DataFrame(records)
            order = list(dict.fromkeys(data["strategy"]))
            sns.lineplot(data=data, x=EXPERIENCE_AXIS, y="accuracy", hue="strategy",
                         hue_order=order, style="strategy", style_order=order,
                         palette={s: styles[s][0] for s in order},
                         markers={s: styles[s][1] for s in order}, dashes={s: styles[s][2] for s in order},
                         errorbar="sd", err_kws={"alpha": 0.18}, ax=ax)
            last = int(data[EXPERIENCE_AXIS].max())
            ax.set_xticks(range(0, last + 1))
            ax.set_xlim(-0.2, last + 0.2)
            ax.set_ylim(-0.02, 1.02)
            ax.set_xlabel(EXPERIENCE_AXIS)
            ax.set_ylabel(f"mean {ACCURACY}\non experiences seen so far")
            ax.set_title(f"Accuracy on seen experiences: {stream}")
            several = data.groupby("strategy")["run"].nunique().max() > 1
            ax.legend(title="strategy" + (" (band: ± std over runs)" if several else ""),
                      fontsize="small", title_fontsize="small",
                      loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
        fig.tight_layout()
        return _save(fig, path)


def _annotation_size(t: int) -> float:
    return 10 if t <= 4 else 9 if t <= 6 else 7 if t <= 9 else 6


def plot_accuracy_matrices(groups: Groups, path: Path) -> Path:
    """One annotated heatmap per (stream, strategy): the accuracy matrix averaged over runs.

    Cells never reached by any run (R[i][j] = 0 for every j > i in every run, as in
    class-incremental streams whose head cannot predict unseen classes) are left blank.
    """
    pd, sns, Figure = _libs()
    panels = list(groups.items())
    several_streams = len(_streams(groups)) > 1
    ncols = min(4, len(panels))
    t_max = max(matrices(runs).shape[1] for _, runs in panels)
    side = max(3.4, 0.62 * t_max + 1.8)
    nrows = math.ceil(len(panels) / ncols)
    with sns.axes_style("white"):
        fig = Figure(figsize=(side * ncols + 1.2, side * nrows + 1.0), dpi=120, layout="constrained")
        axes = _grid(fig, len(panels), ncols)
        blanked = False
        for ax, ((stream, strategy), runs) in zip(axes, panels):
            stack = matrices(runs)
            mean = stack.mean(axis=0)
            t = mean.shape[0]
            upper = np.triu(np.ones((t, t), dtype=bool), k=1)
            mask = upper if np.all(stack[:, upper] == 0) and t > 1 else np.zeros_like(upper)
            blanked |= bool(mask.any())
            sns.heatmap(mean, mask=mask, vmin=0, vmax=1, cmap="viridis", square=True,
                        annot=t <= 12, fmt=".2f", annot_kws={"size": _annotation_size(t)},
                        cbar=False, linewidths=0.5, linecolor="white", ax=ax)
            ax.set_xlabel("test experience")
            ax.set_ylabel("after training experience")
            ax.set_xticklabels(range(t), rotation=0)
            ax.set_yticklabels(range(t), rotation=0)
            title = f"{strategy} ({_runs_label(len(stack))})"
            ax.set_title(f"{stream}\n{title}" if several_streams else title, fontsize="medium")
        fig.get_layout_engine().set(h_pad=0.3, w_pad=0.15)  # panel titles clear of the row above
        fig.colorbar(axes[0].collections[0], ax=list(axes), shrink=0.8, label=ACCURACY)
        note = ("\nblank cells: experience j not yet trained (j > i), accuracy 0 in every run "
                "(a class-incremental head cannot predict unseen classes)") if blanked else ""
        fig.suptitle("Accuracy matrix R[i][j] (row i: after training experience i; column j: test "
                     "experience j), mean over runs" + note, fontsize="medium")
        return _save(fig, path)


def experience_curves_filename(strategy: str) -> str:
    """``experience_curves_<row>.png``; '+' is kept, as in the run folders (``replay+ewc``), and
    each run of characters outside letters, digits, '+', '.', '_' and '-' becomes one '_'
    (``ewc (λ=1e4)``: ``experience_curves_ewc_lambda_1e4.png``)."""
    name = re.sub(r"[^A-Za-z0-9+._-]+", "_", strategy.replace("λ", "lambda")).strip("_")
    return f"experience_curves_{name}.png"


def plot_experience_curves(groups: Groups, strategy: str, path: Path) -> Path:
    """Accuracy on each single experience j after each training step i >= j, one line per
    experience, a ± std band over runs; one panel per stream the strategy ran on."""
    pd, sns, Figure = _libs()
    streams = [s for s, name in groups if name == strategy]
    ncols = min(2, len(streams))
    with sns.axes_style("whitegrid"):
        fig = Figure(figsize=(7.0 * ncols, 4.6 * math.ceil(len(streams) / ncols)), dpi=120)
        for ax, stream in zip(_grid(fig, len(streams), ncols), streams):
            stack = matrices(groups[(stream, strategy)])
            t = stack.shape[1]
            records = [{"experience": f"experience {j}", "after training experience": i,
                        "accuracy": stack[k, i, j], "run": k}
                       for k in range(len(stack)) for j in range(t) for i in range(j, t)]
            data = pd.DataFrame(records)
            order = [f"experience {j}" for j in range(t)]
            palette = sns.color_palette("colorblind", 10)
            sns.lineplot(data=data, x="after training experience", y="accuracy", hue="experience",
                         hue_order=order, style="experience", style_order=order,
                         palette={name: palette[j % 10] for j, name in enumerate(order)},
                         markers={name: MARKERS[j % len(MARKERS)] for j, name in enumerate(order)},
                         dashes=False, errorbar="sd", err_kws={"alpha": 0.18}, ax=ax)
            ax.set_xticks(range(t))
            ax.set_xlim(-0.2, t - 0.8)
            ax.set_ylim(-0.02, 1.02)
            ax.set_xlabel("after training experience")
            ax.set_ylabel(f"test {ACCURACY}")
            ax.set_title(f"{strategy} on {stream}: accuracy on each experience ({_runs_label(len(stack))})",
                         fontsize="medium")
            ax.legend(title="accuracy on" + ("\n(band: ± std over runs)" if len(stack) > 1 else ""),
                      fontsize="small",
                      title_fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
        fig.tight_layout()
        return _save(fig, path)


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


#: the cost frontier's panels: cost key, x label, title, log-scaled x axis
COST_AXES = (("time", "training time, summed over experiences (s)", "accuracy vs training time", False),
             ("memory", "peak resident memory (MB)", "accuracy vs peak memory", False),
             ("params", "trainable parameters (log scale)", "accuracy vs trainable parameters", True),
             ("stored", "kept after the last experience besides the model (MB, log scale above 0.01)",
              "accuracy vs stored bytes", True))
#: where the stored-bytes axis turns from linear (0, what naive keeps) to logarithmic, MB
STORED_LINEAR_BELOW = 0.01


def plot_cost_frontier(groups: Groups, path: Path) -> Path:
    """Final accuracy against training time, peak memory, trainable parameters and the bytes a
    method keeps (buffers, importances, per-task modules): one point per strategy with ± std
    error bars on both axes, labelled; four panels (two rows of two) per stream."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    pd, sns, Figure = _libs()
    styles = _styles(groups)
    streams = _streams(groups)
    with sns.axes_style("whitegrid"):
        # two panels a row, so that each stays readable at page width
        fig = Figure(figsize=(12.0, 9.6 * len(streams)), dpi=120)
        FigureCanvasAgg(fig)  # a renderer to measure label boxes with
        grid = fig.subplots(2 * len(streams), 2, squeeze=False)
        labels = []
        for index, stream in enumerate(streams):
            row = [*grid[2 * index], *grid[2 * index + 1]]
            points = {strategy: _cost_points(runs) for (s, strategy), runs in groups.items() if s == stream}
            for ax, (key, xlabel, title, log) in zip(row, COST_AXES):
                shown = {s: p for s, p in points.items() if p["acc"][0] is not None and p[key][0] is not None}
                for strategy, p in shown.items():
                    colour, marker, _ = styles[strategy]
                    ax.errorbar(p[key][0], p["acc"][0], xerr=p[key][1], yerr=p["acc"][1], fmt=marker,
                                color=colour, markersize=8, capsize=3, elinewidth=1.2,
                                markeredgecolor="black", markeredgewidth=0.5)
                labels.append((ax, [(s, p[key][0], p["acc"][0], styles[s][0]) for s, p in shown.items()]))
                missing = sorted(set(points) - set(shown))
                if missing:
                    ax.text(0.99, 0.01, f"not measured: {', '.join(missing)}", transform=ax.transAxes,
                            ha="right", va="bottom", fontsize="x-small", color="0.4")
                ax.set_xlabel(xlabel)
                ax.set_ylabel("final average accuracy (ACC, fraction)")
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
                ax.set_title(f"{stream}: {title}", fontsize="medium")
        fig.suptitle("Accuracy against cost, one point per strategy (upper left is best; "
                     "error bars: ± std over runs)", fontsize="medium")
        fig.tight_layout()
        for ax, points in labels:  # after the layout: placement measures the final positions
            _place_labels(ax, fig, points)
        return _save(fig, path)


def plot_comparison(groups: Groups, out: Path) -> list[Path]:
    """All comparison figures into ``out``; returns the paths written."""
    out = Path(out)
    written = [plot_forgetting_curves(groups, out / "forgetting_curves.png"),
               plot_accuracy_matrices(groups, out / "accuracy_matrices.png")]
    for strategy in _strategies(groups):
        written.append(plot_experience_curves(groups, strategy, out / experience_curves_filename(strategy)))
    written.append(plot_cost_frontier(groups, out / "cost_frontier.png"))
    return written
