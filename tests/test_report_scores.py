"""Reports name what R[i][j] holds: accuracy (runs with ``score`` accuracy, or none: written before
the key existed), entity F1 (token streams) or micro-F1 (multi-label streams), in the tables, the
figures' labels and the run summary; experiences' class names on the ticks; accuracy_matrices.png
readable at one column width. Runs are hand-written metrics.json folders, as in test_compare.py;
figures are checked on the matplotlib objects the plot functions build."""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pandas as pd
import pytest

from continual.compare import main
from continual.evaluation import metrics as M
from continual.report import plots
from continual.report.scores import (experience_class_names, experience_tick_labels, matrix_definition,
                                     score_named, score_of, short_class_names)
from continual.report.summary import summary_table

ICD = ["Certain infectious and parasitic diseases", "Neoplasms", "Diseases of the blood",
       "Endocrine, nutritional and metabolic diseases", "Mental and behavioural disorders", "Diseases of the eye"]
ENTITIES = [["Disease", "Chemical"], ["Gene"], ["Species", "Mutation", "CellLine"]]
LABELS = [["fever"], ["cough", "dyspnea"], ["rash"]]
MATRIX = [[0.90, 0.0, 0.0], [0.40, 0.80, 0.0], [0.30, 0.50, 0.85]]

# (stream, score as written, or None for a run written before the key existed, class names per experience)
STREAMS = [("icd-chapters", None, [ICD[0:2], ICD[2:4], ICD[4:6]]),
           ("bc5-ner", "entity_f1", ENTITIES),
           ("symptoms", "micro_f1", LABELS)]


def run_metrics(stream: str, strategy: str, seed: int, score, names, matrix=MATRIX) -> dict:
    t = len(matrix)
    data = {"stream": stream, "strategy": strategy, "seed": seed, "order": 0, "scenario": "class",
            "experiences": [{"id": j, "classes": [2 * j, 2 * j + 1], "task": 0, "n_train": 10, "n_test": 4,
                             **({"class_names": names[j]} if names else {})} for j in range(t)],
            "accuracy_matrix": matrix, "initial_accuracy": [0.0] * t}
    data.update(M.summarize(matrix, [0.0] * t, fwt_defined=False))
    data.update({"train_seconds": [1.0 + seed] * t, "eval_seconds": [1.0] * t, "peak_rss_mb": 100.0 + seed,
                 "trainable_parameters": 500, "macro_f1": 0.5})
    if score is not None:
        data["score"] = score
    return data


def write_run(root: Path, metrics: dict) -> None:
    run_dir = root / metrics["stream"] / metrics["strategy"] / f"seed-{metrics['seed']}"
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "metrics.json").write_text(json.dumps(metrics))


def mixed_groups(streams=STREAMS) -> dict:
    """``plot_comparison``'s groups for naive and replay on each stream, two seeds each."""
    groups = {}
    for stream, score, names in streams:
        for strategy in ("naive", "replay"):
            groups[(stream, strategy)] = [run_metrics(stream, strategy, seed, score, names) for seed in (0, 1)]
    return groups


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """One `python -m continual.compare` over an accuracy stream (no ``score`` key), an entity-F1
    stream and a micro-F1 stream; its outputs and stdout."""
    root = tmp_path_factory.mktemp("results")
    for runs in mixed_groups().values():
        for metrics in runs:
            write_run(root, metrics)
    out = tmp_path_factory.mktemp("comparison")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert main([str(root), "--out", str(out)]) == 0
    return {"out": out, "stdout": stdout.getvalue()}


# ---------------------------------------------------------------------------------------------
# The words
# ---------------------------------------------------------------------------------------------

def test_score_names_and_runs_without_the_key_read_as_accuracy():
    assert score_of({}).key == "accuracy" and score_of({"score": None}).name == "accuracy (top-1)"
    assert score_named("entity_f1").name == "entity F1 (strict, micro)"
    assert score_named("micro_f1").name == "micro-F1" and score_named("micro_f1").title == "Micro-F1"
    unknown = score_named("span_f1")  # a score of a later version: shown as itself, never as accuracy
    assert not unknown.is_accuracy and "accuracy" not in unknown.name
    from continual.report.scores import MIXED, common_score

    assert common_score([{"score": "entity_f1"}, {}]) is MIXED and score_named(MIXED.key) is MIXED
    assert common_score([{"score": "micro_f1"}, {"score": "micro_f1"}]).key == "micro_f1"


def test_matrix_definition_keeps_the_accuracy_wording_and_names_each_streams_score():
    accuracy = score_named("accuracy")
    assert matrix_definition({"a": accuracy}) == ("R[i][j]: accuracy on the test set of experience j after "
                                                  "training through experience i; b[j]: accuracy before any training.")
    text = matrix_definition({"a": accuracy, "ner": score_named("entity_f1"), "ml": score_named("micro_f1")})
    assert "top-1 accuracy on the test set of experience j (a)" in text
    assert "entity-level micro-F1 (seqeval, strict BIO)" in text and "(ner)" in text
    assert "micro-F1 over experience j's labels" in text and "(ml)" in text
    assert "computed from R the same way" in text


def test_class_names_shortened_for_ticks():
    assert short_class_names(["Neoplasms", "Diseases of the blood", "x", "y"]) == "Neoplasms, Diseases of… +2"
    assert short_class_names(["Gene"]) == "Gene" and short_class_names([]) == ""
    assert short_class_names(ICD[:3], keep=1, width=14) == "Certain infec… +2"
    assert experience_tick_labels([("Gene",), (), ("A", "B")]) == ["0\nGene", "1", "2\nA, B"]
    assert experience_tick_labels([("A", "B", "C")], ": ", joiner="\n") == ["0: A\nB +1"]


def test_class_names_only_where_the_runs_agree_and_tell_experiences_apart():
    first = run_metrics("s", "naive", 0, None, ENTITIES)
    assert experience_class_names([first, first], 3) == [tuple(n) for n in ENTITIES]
    reordered = run_metrics("s", "naive", 1, None, [ENTITIES[1], ENTITIES[0], ENTITIES[2]])
    assert experience_class_names([first, reordered], 3) == [(), (), tuple(ENTITIES[2])]
    domain = run_metrics("s", "naive", 0, None, [ICD[:2]] * 3)  # every experience has every class
    assert experience_class_names([domain], 3) == [()] * 3
    assert experience_class_names([run_metrics("s", "naive", 0, None, None)], 3) == [()] * 3


# ---------------------------------------------------------------------------------------------
# Tables: comparison.md / .csv / .tex, report.html, runs.csv, the terminal
# ---------------------------------------------------------------------------------------------

def _md_headers(text: str) -> dict[str, list[str]]:
    """Each stream's (first) table header, by the stream's heading."""
    headers, stream = {}, None
    for line in text.splitlines():
        if line.startswith("## "):
            stream = line[3:]
        elif line.startswith("| strategy") and stream not in headers:
            headers[stream] = [c.strip() for c in line.strip("|").split("|")]
    return headers


def test_markdown_names_each_streams_score_and_keeps_accuracy_headers(mixed):
    text = (mixed["out"] / "comparison.md").read_text()
    headers = _md_headers(text)
    titles = {title.split(" ")[0]: title for title in headers}
    assert titles["icd-chapters"].endswith("score: accuracy (top-1))")
    assert titles["bc5-ner"].endswith("score: entity F1 (strict, micro))")
    assert titles["symptoms"].endswith("score: micro-F1)")
    accuracy, entity, micro = (headers[titles[s]] for s in ("icd-chapters", "bc5-ner", "symptoms"))
    assert {"ACC ↑", "AIA ↑", "forgetting ↓", "BWT ↑", "LA ↑", "Δ ACC vs naive ↑"} <= set(accuracy)
    assert {"ACC (entity F1) ↑", "AIA (entity F1) ↑", "forgetting (entity F1) ↓", "LA (entity F1) ↑",
            "Δ ACC (entity F1) vs naive ↑"} <= set(entity)
    assert "ACC ↑" not in entity and "macro_F1 ↑" in entity and "train_time_s ↓" in entity
    assert {"ACC (micro-F1) ↑", "BWT (micro-F1) ↑"} <= set(micro)
    definitions = text.split("## Definitions")[1]
    assert "entity-level micro-F1 (seqeval, strict BIO) over experience j's entity types on its test set (bc5-ner)" in definitions
    assert "top-1 accuracy on the test set of experience j (icd-chapters)" in definitions
    assert "Accuracies are fractions" not in text and "Scores are fractions in [0, 1]" in text


def test_csv_keeps_its_columns_and_says_the_score(mixed):
    table = pd.read_csv(mixed["out"] / "comparison.csv")
    assert {"ACC_mean", "AIA_mean", "forgetting_mean", "LA_mean"} <= set(table.columns)
    assert not [c for c in table.columns if "F1" in c and c.startswith(("ACC", "AIA", "LA"))]
    assert list(table.columns[:4]) == ["stream", "scenario", "score", "strategy"]
    assert dict(zip(table["stream"], table["score"])) == {"bc5-ner": "entity_f1", "icd-chapters": "accuracy",
                                                          "symptoms": "micro_f1"}
    runs = pd.read_csv(mixed["out"] / "runs.csv")
    assert set(zip(runs["stream"], runs["score"])) == {("bc5-ner", "entity_f1"), ("icd-chapters", "accuracy"),
                                                       ("symptoms", "micro_f1")}


def test_latex_and_terminal_name_the_score(mixed):
    tex = (mixed["out"] / "comparison.tex").read_text()
    blocks = {block.split("(")[0].strip(): block for block in tex.split("\\caption{")[1:]}
    assert "score: accuracy (top-1)" in blocks["icd-chapters"] and "ACC $\\uparrow$" in blocks["icd-chapters"]
    assert "score: entity F1 (strict, micro)" in blocks["bc5-ner"]
    assert "ACC (entity F1) $\\uparrow$" in blocks["bc5-ner"] and "ACC $\\uparrow$" not in blocks["bc5-ner"]
    assert "ACC (micro-F1) $\\uparrow$" in blocks["symptoms"]
    stdout = mixed["stdout"]
    assert "ACC (entity F1) ↑" in stdout and "ACC (micro-F1) ↑" in stdout and "score: accuracy (top-1)" in stdout


def test_report_html_headers_captions_and_definitions(mixed):
    text = (mixed["out"] / "report.html").read_text()
    assert "<th>ACC ↑</th>" in text and "<th>ACC (entity F1) ↑</th>" in text and "<th>ACC (micro-F1) ↑</th>" in text
    assert "<h2>bc5-ner (class-incremental, 3 experiences; score: entity F1 (strict, micro))</h2>" in text
    captions = [part.split("</figcaption>")[0] for part in text.split("<figcaption>")[1:]]
    assert captions and all("accuracy" not in c.lower().replace("accuracy (top-1)", "") for c in captions)
    assert all("named in its panels" in c for c in captions)
    assert "Score matrices R[i][j]" in text
    assert "entity-level micro-F1 (seqeval, strict BIO)" in text.split("<h2>Definitions</h2>")[1]


def test_accuracy_only_comparison_reads_as_before(tmp_path):
    root = tmp_path / "results"
    for strategy in ("naive", "replay"):
        write_run(root, run_metrics("icd-chapters", strategy, 0, "accuracy", STREAMS[0][2]))
    with contextlib.redirect_stdout(io.StringIO()):
        assert main([str(root), "--out", str(tmp_path / "out")]) == 0
    text = (tmp_path / "out" / "comparison.md").read_text()
    assert "Accuracies are fractions in [0, 1]." in text and "ACC (" not in text
    assert "R[i][j]: accuracy on the test set of experience j after training through experience i" in text
    html = (tmp_path / "out" / "report.html").read_text()
    assert "Average accuracy on the experiences seen so far" in html and "Accuracy matrices R[i][j]" in html
    assert "Accuracy on each experience after each training step: naive." in html


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------

def _texts(fig) -> list:
    """Every visible, non-empty text of ``fig`` once drawn (tick labels exist after a draw)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    FigureCanvasAgg(fig).draw()
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def _tick_texts(ax, axis: str) -> list[str]:
    ticks = ax.get_xticklabels() if axis == "x" else ax.get_yticklabels()
    return [t.get_text() for t in ticks]


@pytest.mark.parametrize("score, ylabel, legend", [
    (None, "test accuracy (top-1)", "accuracy on"),
    ("accuracy", "test accuracy (top-1)", "accuracy on"),
    ("entity_f1", "test entity F1 (strict, micro)", "entity F1 on"),
    ("micro_f1", "test micro-F1", "micro-F1 on"),
])
def test_forgetting_curve_of_a_run_names_its_score(score, ylabel, legend):
    fig = plots.forgetting_curve_figure(run_metrics("bc5-ner", "naive", 0, score, ENTITIES))
    ax = fig.axes[0]
    assert ax.get_ylabel() == ylabel
    assert ax.get_legend().get_title().get_text() == legend
    assert [t.get_text() for t in ax.get_legend().get_texts()][0] == "experience 0: Disease, Chemical"
    assert _tick_texts(ax, "x") == ["0\nDisease\nChemical", "1\nGene", "2\nSpecies\nMutation +1"]
    assert plots.forgetting_curve_png(run_metrics("s", "naive", 0, score, None))[:4] == b"\x89PNG"


def test_forgetting_curves_one_panel_per_stream_each_with_its_score():
    fig = plots.forgetting_curves_figure(mixed_groups())
    panels = {ax.get_title(): ax for ax in fig.axes if ax.get_visible()}
    assert set(panels) == {"Accuracy on seen experiences: icd-chapters", "Entity F1 on seen experiences: bc5-ner",
                           "Micro-F1 on seen experiences: symptoms"}
    assert panels["Accuracy on seen experiences: icd-chapters"].get_ylabel().startswith("mean accuracy (top-1, fraction)")
    assert panels["Entity F1 on seen experiences: bc5-ner"].get_ylabel().startswith("mean entity F1 (strict, micro")
    assert panels["Micro-F1 on seen experiences: symptoms"].get_ylabel().startswith("mean micro-F1 (fraction)")
    assert _tick_texts(panels["Micro-F1 on seen experiences: symptoms"], "x") == [
        "0\nfever", "1\ncough\ndyspnea", "2\nrash"]


def test_experience_curves_and_cost_frontier_name_each_streams_score():
    groups = mixed_groups()
    fig = plots.experience_curves_figure(groups, "replay")
    ylabels = {ax.get_title().split(":")[0]: ax.get_ylabel() for ax in fig.axes if ax.get_visible()}
    assert ylabels == {"replay on icd-chapters": "test accuracy (top-1, fraction)",
                       "replay on bc5-ner": "test entity F1 (strict, micro; fraction)",
                       "replay on symptoms": "test micro-F1 (fraction)"}
    assert "entity F1 on each experience" in [ax.get_title() for ax in fig.axes][1]
    cost = plots.cost_frontier_figure(groups)
    by_title = {ax.get_title(): ax.get_ylabel() for ax in cost.axes}
    assert by_title["icd-chapters: accuracy vs training time"] == "final average accuracy (ACC, fraction)"
    assert by_title["bc5-ner: entity F1 vs peak memory"] == "final average entity F1 (ACC, fraction)"
    assert by_title["symptoms: micro-F1 vs stored bytes"] == "final average micro-F1 (ACC, fraction)"
    assert cost._suptitle.get_text().startswith("Score against cost")
    single = plots.cost_frontier_figure({k: v for k, v in groups.items() if k[0] == "bc5-ner"})
    assert single._suptitle.get_text().startswith("Entity F1 against cost")


def test_accuracy_matrices_name_the_score_per_panel_when_streams_differ():
    fig = plots.accuracy_matrices_figure(mixed_groups())
    titles = [ax.get_title().replace("\n", " ") for ax in fig.axes if ax.get_title()]
    assert "bc5-ner: naive, entity F1 (2 runs)" in titles and "symptoms: replay, micro-F1 (2 runs)" in titles
    assert "icd-chapters: naive, accuracy (2 runs)" in titles
    colour_bar = [ax for ax in fig.axes if not ax.get_title()][-1]
    assert "each panel's title" in colour_bar.get_xlabel()
    assert fig._suptitle.get_text().startswith("Score matrix R[i][j]")
    heatmap = fig.axes[0]
    assert _tick_texts(heatmap, "y") == ["0: Certain infec… +1", "1: Diseases of t… +1", "2: Mental and be… +1"]
    assert _tick_texts(heatmap, "x") == ["0", "1", "2"]
    one = plots.accuracy_matrices_figure({k: v for k, v in mixed_groups().items() if k[0] == "bc5-ner"})
    assert one._suptitle.get_text().startswith("Entity F1 matrix R[i][j]")
    assert [ax for ax in one.axes if not ax.get_title()][-1].get_xlabel() == "entity F1 (strict, micro; fraction)"
    legacy = plots.accuracy_matrices_figure({k: v for k, v in mixed_groups().items() if k[0] == "icd-chapters"})
    assert legacy._suptitle.get_text().startswith("Accuracy matrix R[i][j]")
    assert [ax for ax in legacy.axes if not ax.get_title()][-1].get_xlabel() == "accuracy (top-1, fraction)"


def _square(t: int) -> list[list[float]]:
    return [[0.5 + 0.01 * (i + j) if j <= i else 0.0 for j in range(t)] for i in range(t)]


@pytest.mark.parametrize("t, strategies, named", [(3, 4, False), (3, 2, True), (8, 3, True), (12, 2, False)])
def test_accuracy_matrices_read_at_one_column_width(t, strategies, named):
    names = [[f"class {j}a", f"class {j}b"] for j in range(t)] if named else None
    groups = {("s", f"strategy-{k}"): [run_metrics("s", f"strategy-{k}", 0, "entity_f1", names, _square(t))]
              for k in range(strategies)}
    fig = plots.accuracy_matrices_figure(groups)
    assert fig.get_figwidth() == pytest.approx(plots.COLUMN_WIDTH_IN)
    small = [(t.get_text(), t.get_fontsize()) for t in _texts(fig) if t.get_fontsize() < plots.MATRIX_MIN_FONT]
    assert not small
    values = [text.get_text() for ax in fig.axes for text in ax.texts]
    if t <= plots.ANNOTATE_UP_TO:
        assert values and all(len(v) == 4 and v[1] == "." for v in values)  # two decimals
    else:
        assert values == []  # colour alone
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(panels) == strategies
    columns = len({round(ax.get_position().x0, 3) for ax in panels})
    assert columns == (2 if t <= 4 and not named else 1)


def test_accuracy_matrices_file_is_written_as_png_and_pdf(tmp_path):
    path = plots.plot_accuracy_matrices(mixed_groups(), tmp_path / "accuracy_matrices.png")
    assert path.read_bytes()[:4] == b"\x89PNG" and (tmp_path / "accuracy_matrices.pdf").is_file()


@pytest.mark.parametrize("columns, score, x, y", [
    (["Disease", "Gene", "missed (no entity of that span)"], None, "predicted entity type", "gold entity type"),
    (["Disease", "Gene"], "entity_f1", "predicted entity type", "gold entity type"),  # nothing missed
    (["predicted", "missed"], None, "gold occurrences", "gold label"),
    (["predicted", "missed"], "micro_f1", "gold occurrences", "gold label"),
    (["Disease", "Gene", "outside the seen classes"], None, "predicted class", "true class"),
    (["Disease", "Gene"], "accuracy", "predicted class", "true class"),
])
def test_confusion_matrix_axes_from_the_score_or_the_header(columns, score, x, y):
    rows = ["Disease", "Gene"]
    counts = [[3] * len(columns), [1] * len(columns)]
    fig = plots.confusion_matrix_figure(rows, columns, counts, "naive on s (seed 0)", score=score)
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == (x, y)
    assert _tick_texts(ax, "x") == columns
    colour = fig.axes[1].get_ylabel().replace("\n", " ")
    title = ax.get_title().replace("\n", " ")
    if y == "gold entity type":
        assert colour == "share of the gold type's entities" and "counts of gold entities" in title
    elif y == "gold label":
        assert colour == "share of the label's gold occurrences" and "counts of gold label occurrences" in title
    else:
        assert colour == "share of the true class's test texts" and "counts of test texts" in title


# ---------------------------------------------------------------------------------------------
# The run summary
# ---------------------------------------------------------------------------------------------

def test_summary_table_names_the_score_where_it_is_not_accuracy():
    accuracy = [run_metrics("s", "naive", 0, None, None), run_metrics("s", "replay", 0, "accuracy", None)]
    plain = summary_table(accuracy).splitlines()
    assert "score" not in plain[0] and plain[0].split()[3] == "ACC"
    tagged = summary_table([run_metrics("s", "naive", 0, "entity_f1", None),
                            run_metrics("s", "replay", 0, "micro_f1", None)]).splitlines()
    assert tagged[0].endswith("score (R[i][j] holds)")
    assert tagged[2].endswith("entity F1 (strict, micro)") and tagged[3].endswith("micro-F1")
    assert tagged[2].split()[4:6] == plain[2].split()[4:6]  # the columns before it stay in place


def test_report_html_shows_a_figure_at_its_printed_size_not_its_pixels(tmp_path):
    from PIL import Image

    from continual.report.html import _screen_width

    Image.new("RGB", (1050, 400)).save(tmp_path / "column.png", dpi=(300, 300))  # 3.5 in at 300 dpi
    Image.new("RGB", (840, 400)).save(tmp_path / "page.png", dpi=(120, 120))  # 7 in at 120 dpi
    assert _screen_width(tmp_path / "column.png") == int(3.5 * 96 * 1.5)
    assert _screen_width(tmp_path / "page.png") == 840  # never wider than its pixels
