"""continual.compare on hand-written results folders: table values, bold, CSV, reference/ skipping,
metric variants, plots and errors, reference rows apart and paired differences to naive. No model is trained; every number is checked against values
computed here from the matrices and timings written below."""
from __future__ import annotations

import contextlib
import io
import json
import math
import statistics
from pathlib import Path

import pandas as pd
import pytest

from continual import UserError
from continual.compare import compare, main
from continual.evaluation import metrics as M
from continual.evaluation.metrics import avalanche_forgetting, diaz_rodriguez_bwt
from continual.report.tables import describe, t_critical_975

STREAM = "toy-class"
T975_DF2 = 4.302653  # t_{0.975, 2}: three runs
T975_DF1 = 12.706205  # t_{0.975, 1}: two runs

# (strategy, run folder, matrix, train_seconds, peak_rss_mb, trainable_parameters, extra keys)
RUNS = [
    ("naive", "seed-0", [[0.90, 0.0, 0.0], [0.20, 0.80, 0.0], [0.10, 0.30, 0.85]], [10.0, 11.0, 12.0], 1000.0, 500, {"macro_f1": 0.40}),
    ("naive", "seed-1", [[0.92, 0.0, 0.0], [0.25, 0.82, 0.0], [0.15, 0.20, 0.90]], [9.0, 10.5, 12.5], 1010.0, 500, {"macro_f1": 0.42}),
    ("naive", "seed-2", [[0.88, 0.0, 0.0], [0.30, 0.79, 0.0], [0.05, 0.25, 0.87]], [11.0, 10.0, 13.0], 990.0, 500, {"macro_f1": 0.35}),
    ("replay", "seed-0", [[0.90, 0.0, 0.0], [0.80, 0.81, 0.0], [0.70, 0.72, 0.86]], [12.0, 20.0, 25.0], 1200.0, 500,
     {"macro_f1": 0.70, "stored_bytes": [2**20, 2**21, 2 * 2**20]}),
    ("replay", "seed-1", [[0.91, 0.0, 0.0], [0.82, 0.80, 0.0], [0.75, 0.70, 0.88]], [13.0, 21.0, 24.0], 1210.0, 500,
     {"stored_bytes": [2**20, 2**21, 3 * 2**20]}),
    ("replay", "seed-0-order-1", [[0.89, 0.0, 0.0], [0.78, 0.83, 0.0], [0.69, 0.74, 0.84]], [12.5, 19.0, 26.0], 1190.0, 500, {"order": 1}),
    ("replay+ewc", "seed-0", [[0.90, 0.0, 0.0], [0.85, 0.80, 0.0], [0.80, 0.75, 0.83]], [15.0, 25.0, 30.0], 1300.0, 520, {}),
    ("joint", "seed-0", [[0.93, 0.90, 0.91]] * 3, [40.0, 0.0, 0.0], 1100.0, 500, {}),
    ("joint", "seed-1", [[0.95, 0.92, 0.90]] * 3, [41.0, 0.0, 0.0], 1105.0, 500, {}),
]
INITIAL = [0.1, 0.2, 0.3]
FWT_NULL = {"replay+ewc"}  # written with "fwt": null, as in class-incremental runs


def metrics_dict(strategy, folder, matrix, train_seconds, peak, params, extra, stream=STREAM):
    seed = int(folder.split("-")[1])
    data = {"stream": stream, "strategy": strategy, "seed": seed, "scenario": "class",
            "experiences": [{"id": j, "classes": [2 * j, 2 * j + 1], "task": 0, "n_train": 10, "n_test": 4}
                            for j in range(len(matrix))],
            "accuracy_matrix": matrix, "initial_accuracy": INITIAL}
    data.update(M.summarize(matrix, INITIAL, fwt_defined=strategy not in FWT_NULL))
    data.update({"train_seconds": train_seconds, "eval_seconds": [1.0] * len(matrix),
                 "peak_rss_mb": peak, "trainable_parameters": params})
    data.update(extra)
    return data


def write_runs(root: Path, runs=RUNS, stream=STREAM) -> Path:
    for strategy, folder, *rest in runs:
        run_dir = root / stream / strategy / folder
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "metrics.json").write_text(json.dumps(metrics_dict(strategy, folder, *rest, stream=stream)))
    return root


def expected(strategy: str, value) -> list:
    """The values of one metric over the runs of ``strategy``, computed here."""
    return [value(metrics_dict(*run)) for run in RUNS if run[0] == strategy]


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """One CLI run (with --metric-variant) over the hand-written folder; its outputs and stdout."""
    root = write_runs(tmp_path_factory.mktemp("results"))
    out = tmp_path_factory.mktemp("comparison")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert main([str(root), "--out", str(out), "--metric-variant"]) == 0
    csv = pd.read_csv(out / "comparison.csv")
    return {"root": root, "out": out, "stdout": stdout.getvalue(), "csv": csv.set_index("strategy")}


def test_table_mean_std_ci_and_counts(compared):
    table = compared["csv"]
    assert list(table.index) == ["naive", "replay", "replay+ewc", "joint"]  # naive first, joint last
    assert table["n"].to_dict() == {"naive": 3, "replay": 3, "replay+ewc": 1, "joint": 2}
    assert table.loc["replay", "orders"] == "0 1" and table.loc["replay", "seeds"] == "0 1"

    acc = expected("naive", lambda m: m["average_accuracy"])
    assert acc == pytest.approx([(0.10 + 0.30 + 0.85) / 3, (0.15 + 0.20 + 0.90) / 3, (0.05 + 0.25 + 0.87) / 3])
    std = statistics.stdev(acc)
    assert table.loc["naive", "ACC_mean"] == pytest.approx(statistics.mean(acc))
    assert table.loc["naive", "ACC_std"] == pytest.approx(std)
    assert table.loc["naive", "ACC_ci95"] == pytest.approx(T975_DF2 * std / math.sqrt(3))

    time = expected("replay", lambda m: sum(m["train_seconds"]))
    assert time == pytest.approx([57.0, 58.0, 57.5])
    assert table.loc["replay", "train_time_s_mean"] == pytest.approx(57.5)
    assert table.loc["replay", "train_time_s_std"] == pytest.approx(0.5)
    assert table.loc["replay", "train_time_s_ci95"] == pytest.approx(T975_DF2 * 0.5 / math.sqrt(3))

    peak = expected("joint", lambda m: m["peak_rss_mb"])
    assert table.loc["joint", "peak_memory_MB_mean"] == pytest.approx(1102.5)
    assert table.loc["joint", "peak_memory_MB_ci95"] == pytest.approx(T975_DF1 * statistics.stdev(peak) / math.sqrt(2))

    forgetting = expected("naive", lambda m: m["forgetting"])
    assert table.loc["naive", "forgetting_mean"] == pytest.approx(statistics.mean(forgetting))
    assert table.loc["naive", "BWT_std"] == pytest.approx(statistics.stdev(expected("naive", lambda m: m["bwt"])))

    # One run: mean only; std and CI n/a.
    single = table.loc["replay+ewc"]
    assert single["ACC_mean"] == pytest.approx((0.80 + 0.75 + 0.83) / 3)
    assert math.isnan(single["ACC_std"]) and math.isnan(single["ACC_ci95"]) and single["ACC_n"] == 1
    # fwt null -> n/a; macro-F1 only in some runs -> counted separately.
    assert math.isnan(single["FWT_mean"]) and single["FWT_n"] == 0
    assert table.loc["naive", "FWT_n"] == 3
    assert table.loc["replay", "macro_F1_n"] == 1 and table.loc["replay", "macro_F1_mean"] == pytest.approx(0.70)
    assert table.loc["naive", "macro_F1_mean"] == pytest.approx((0.40 + 0.42 + 0.35) / 3)
    # joint: forgetting and BWT (and their variants) do not apply.
    for key in ("forgetting", "BWT", "forgetting_avalanche", "BWT_diaz_rodriguez"):
        assert math.isnan(table.loc["joint", f"{key}_mean"]) and table.loc["joint", f"{key}_n"] == 0
    assert table.loc["joint", "ACC_mean"] == pytest.approx(statistics.mean([(0.93 + 0.90 + 0.91) / 3, (0.95 + 0.92 + 0.90) / 3]))


def test_csv_parses_back_to_numbers(compared):
    table = compared["csv"]
    for key in ("ACC", "macro_F1", "AIA", "forgetting", "BWT", "FWT", "LA", "train_time_s",
                "peak_memory_MB", "trainable_params", "forgetting_avalanche", "BWT_diaz_rodriguez"):
        for field in ("mean", "std", "ci95"):
            assert pd.api.types.is_float_dtype(table[f"{key}_{field}"]), f"{key}_{field}"
        assert pd.api.types.is_integer_dtype(table[f"{key}_n"])
        assert pd.api.types.is_bool_dtype(table[f"{key}_best"])
    assert table.loc["replay+ewc", "trainable_params_mean"] == 520


def test_stored_bytes_after_the_last_experience_in_megabytes(compared):
    table = compared["csv"]
    assert table.loc["replay", "stored_MB_mean"] == pytest.approx(2.5)  # 2 and 3 MiB; seed-0-order-1 has none
    assert table.loc["replay", "stored_MB_n"] == 2
    assert table.loc["naive", "stored_MB_n"] == 0 and math.isnan(table.loc["naive", "stored_MB_mean"])


def test_cost_frontier_points_include_parameters_and_stored_bytes():
    from continual.report.plots import COST_AXES, _cost_points

    runs = [metrics_dict(*run) for run in RUNS if run[0] == "replay"]
    points = _cost_points(runs)
    assert points["params"] == (500.0, 0.0)
    assert points["stored"][0] == pytest.approx(2.5)
    assert [axis[0] for axis in COST_AXES] == ["time", "memory", "params", "stored"]


def _md_rows(text: str) -> tuple[list[str], dict[str, list[str]]]:
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = {}
    for line in lines[1:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = cells
    return header, rows


def _tex_rows(text: str) -> dict[str, list[str]]:
    """The rows of every block (contenders, reference points) by strategy."""
    body = text.split("\\midrule", 1)[1].split("\\bottomrule")[0]
    rows = {}
    for line in body.strip().splitlines():
        if line.startswith(("\\midrule", "\\multicolumn")):
            continue
        cells = [c.strip() for c in line.rstrip("\\ ").split(" & ")]
        rows[cells[0].replace("\\_", "_")] = cells
    return rows


@pytest.mark.parametrize("key, label, higher", [
    ("ACC", "ACC ↑", True), ("forgetting", "forgetting ↓", False), ("BWT", "BWT ↑", True),
    ("train_time_s", "train_time_s ↓", False), ("trainable_params", "trainable_params ↓", False),
])
def test_best_in_bold(compared, key, label, higher):
    table = compared["csv"]
    means = table.loc[~table["reference"], f"{key}_mean"].dropna()  # joint, a reference row, never competes
    best = set(means.index[means == (means.max() if higher else means.min())])
    assert set(table.index[table[f"{key}_best"]]) == best
    header, md_rows = _md_rows((compared["out"] / "comparison.md").read_text())
    tex_rows = _tex_rows((compared["out"] / "comparison.tex").read_text())
    column = header.index(label)
    for strategy in table.index:
        is_best = strategy in best
        assert md_rows[strategy][column].startswith("**") == is_best, (strategy, md_rows[strategy][column])
        assert tex_rows[strategy][column].startswith("\\textbf{") == is_best, (strategy, tex_rows[strategy][column])
    if key == "trainable_params":
        assert best == {"naive", "replay"}  # ties are all bold
    if key == "ACC":
        assert best == {"replay+ewc"}  # joint's higher ACC is not a contender's


def test_markdown_cells_and_na(compared):
    header, rows = _md_rows((compared["out"] / "comparison.md").read_text())
    acc = rows["naive"][header.index("ACC ↑")]
    values = expected("naive", lambda m: m["average_accuracy"])
    mean, std = statistics.mean(values), statistics.stdev(values)
    ci = T975_DF2 * std / math.sqrt(3)
    assert acc.replace("**", "") == f"{mean:.3f} ± {std:.3f} [{mean - ci:.3f}, {mean + ci:.3f}]"
    assert rows["replay+ewc"][header.index("ACC ↑")].replace("**", "") == f"{(0.80 + 0.75 + 0.83) / 3:.3f}"
    assert rows["replay+ewc"][header.index("FWT ↑")] == "n/a"
    assert rows["joint"][header.index("forgetting ↓")] == "n/a"
    assert rows["replay"][header.index("macro_F1 ↑")].endswith("(n=1)")
    assert rows["naive"][header.index("n")] == "3"
    assert "Díaz-Rodríguez" in (compared["out"] / "comparison.md").read_text()


def test_terminal_table_printed(compared):
    stdout = compared["stdout"]
    assert STREAM in stdout and "replay+ewc" in stdout and "forgetting_avalanche" in stdout


def test_plots_written(compared):
    names = ["forgetting_curves.png", "accuracy_matrices.png", "cost_frontier.png",
             "experience_curves_naive.png", "experience_curves_replay.png",
             "experience_curves_replay+ewc.png", "experience_curves_joint.png"]
    for name in names:
        path = compared["out"] / name
        assert path.is_file() and path.stat().st_size > 1000, name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    assert not list(compared["out"].glob(".*.tmp"))  # atomic writes leave no temporaries


def test_metric_variant_columns(compared):
    table = compared["csv"]
    matrices = [run[2] for run in RUNS if run[0] == "naive"]
    assert table.loc["naive", "BWT_diaz_rodriguez_mean"] == pytest.approx(
        statistics.mean(diaz_rodriguez_bwt(m) for m in matrices))
    assert table.loc["naive", "forgetting_avalanche_std"] == pytest.approx(
        statistics.stdev(avalanche_forgetting(m) for m in matrices))


def test_without_metric_variant_no_variant_columns(tmp_path):
    root = write_runs(tmp_path / "results", RUNS[:4])
    table = compare(root, tmp_path / "out", plots=False)
    assert "BWT_diaz_rodriguez_mean" not in table.columns and "ACC_mean" in table.columns
    assert (tmp_path / "out" / "comparison.md").is_file()
    assert not list(root.rglob("comparison.md"))  # --out respected


def test_reference_skipped_unless_named(tmp_path, capsys):
    root = write_runs(tmp_path / "results", RUNS[:3])
    write_runs(root / "reference", [("naive", "seed-9", *RUNS[0][2:])])
    table = compare(root, plots=False).set_index("strategy")
    assert table.loc["naive", "n"] == 3 and table.loc["naive", "seeds"] == "0 1 2"
    assert (root / "comparison.csv").is_file()  # --out defaults to DIR
    named = compare(root / "reference", tmp_path / "ref-out", plots=False).set_index("strategy")
    assert named.loc["naive", "n"] == 1 and named.loc["naive", "seeds"] == "9"
    inside = compare(root / "reference" / STREAM, tmp_path / "ref-out2", plots=False)
    assert inside["n"].tolist() == [1]
    only_reference = tmp_path / "only"
    write_runs(only_reference / "reference", RUNS[:1])
    assert main([str(only_reference)]) == 2
    err = capsys.readouterr().err.strip()
    assert "reference" in err and len(err.splitlines()) == 1


def test_several_streams_are_separate_rows(tmp_path):
    root = write_runs(tmp_path / "results", RUNS[:4])
    write_runs(root, RUNS[:2], stream="toy-domain")
    table = compare(root, plots=False)
    assert list(zip(table["stream"], table["strategy"], table["n"])) == [
        ("toy-class", "naive", 3), ("toy-class", "replay", 1), ("toy-domain", "naive", 2)]
    md = (root / "comparison.md").read_text()
    assert "## toy-class" in md and "## toy-domain" in md


@pytest.mark.parametrize("setup, needle", [
    (lambda p: p / "missing", "does not exist"),
    (lambda p: p, "no metrics.json under"),
])
def test_no_runs_one_line_exit_2(tmp_path, capsys, setup, needle):
    assert main([str(setup(tmp_path))]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not list(tmp_path.iterdir())  # nothing written


def test_corrupt_file_skipped_with_warning(tmp_path, capsys):
    root = write_runs(tmp_path / "results", RUNS[:3])
    broken = root / STREAM / "naive" / "seed-7" / "metrics.json"
    broken.parent.mkdir(parents=True)
    broken.write_text('{"stream": "toy-class", "strat')
    no_matrix = root / STREAM / "naive" / "seed-8" / "metrics.json"
    no_matrix.parent.mkdir(parents=True)
    no_matrix.write_text(json.dumps({"stream": STREAM, "strategy": "naive", "seed": 8}))
    table = compare(root, plots=False)
    assert table["n"].tolist() == [3]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("warning: skipping") for line in err)
    assert str(broken) in err[0] + err[1] and str(no_matrix) in err[0] + err[1]
    for path in root.rglob("metrics.json"):
        if "seed-7" not in str(path) and "seed-8" not in str(path):
            path.write_text("not json")
    assert main([str(root)]) == 2
    assert "no readable metrics.json" in capsys.readouterr().err


def test_bad_flag_one_line(capsys, tmp_path):
    assert main([str(tmp_path), "--bogus"]) == 2
    err = capsys.readouterr().err.strip()
    assert "unrecognized arguments" in err and len(err.splitlines()) == 1


def test_statistics_helpers():
    assert describe([]) == {"mean": None, "std": None, "ci95": None, "n": 0}
    assert describe([0.5, None]) == {"mean": 0.5, "std": None, "ci95": None, "n": 1}
    stats = describe([1.0, 2.0, 3.0, 4.0])
    assert stats["std"] == pytest.approx(statistics.stdev([1, 2, 3, 4]))
    assert stats["ci95"] == pytest.approx(3.182446 * stats["std"] / 2)


# Two-sided 95% Student-t critical values from published tables (NIST/SEMATECH e-Handbook of
# Statistical Methods, section 1.3.6.7.2), and the normal quantile as df grows.
T975_TABLE = {1: 12.706, 2: 4.303, 3: 3.182, 5: 2.571, 10: 2.228, 20: 2.086, 30: 2.042,
              60: 2.000, 100: 1.984}


@pytest.mark.parametrize("df, value", sorted(T975_TABLE.items()))
def test_t_critical_matches_published_table(df, value):
    assert t_critical_975(df) == pytest.approx(value, abs=5e-4)


def test_t_critical_precise_values_and_limit():
    # closed forms: df = 1 is the Cauchy quantile, df = 2 has t^2 = 2 / (4 p (1 - p)) - 2
    assert t_critical_975(1) == pytest.approx(math.tan(0.475 * math.pi), abs=1e-9)
    assert t_critical_975(2) == pytest.approx(math.sqrt(2 / (4 * 0.975 * 0.025) - 2), abs=1e-9)
    assert t_critical_975(10**7) == pytest.approx(1.959964, abs=1e-6)  # the normal quantile
    with pytest.raises(ValueError):
        t_critical_975(0)


def test_duplicate_runs_counted_once_and_order_from_folder(tmp_path, capsys):
    root = tmp_path / "results"
    write_runs(root / "old", RUNS[:2])
    write_runs(root / "new", RUNS[:1])  # the same stream, strategy, configuration, seed and order again
    write_runs(root / "new", [("naive", "seed-0-order-2", *RUNS[0][2:])])  # no "order" key: from the folder
    table = compare(root, plots=False)
    assert table["n"].tolist() == [3] and table["orders"].tolist() == ["0 2"]
    err = capsys.readouterr().err
    assert "same stream, strategy, configuration, seed and order" in err and len(err.strip().splitlines()) == 1


# Paired differences to naive and reference rows: naive and three contenders over seeds 0-2, and
# the three reference points. Only the last row of each matrix matters for ACC (its mean).
def _last_row_matrix(last):
    return [[0.9, 0.0, 0.0], [0.5, 0.9, 0.0], list(last)]


PAIRED_RUNS = [
    ("naive", "seed-0", _last_row_matrix([0.10, 0.20, 0.90]), [1.0] * 3, 900.0, 500, {}),
    ("naive", "seed-1", _last_row_matrix([0.20, 0.10, 0.90]), [1.0] * 3, 900.0, 500, {}),
    ("naive", "seed-2", _last_row_matrix([0.15, 0.15, 0.84]), [1.0] * 3, 900.0, 500, {}),
    # lwf: close to naive, up on one seed and down on another: its interval includes 0
    ("lwf", "seed-0", _last_row_matrix([0.16, 0.20, 0.90]), [1.0] * 3, 900.0, 500, {}),
    ("lwf", "seed-1", _last_row_matrix([0.15, 0.10, 0.90]), [1.0] * 3, 900.0, 500, {}),
    ("lwf", "seed-2", _last_row_matrix([0.18, 0.15, 0.84]), [1.0] * 3, 900.0, 500, {}),
    ("lwf", "seed-0-order-1", _last_row_matrix([0.90, 0.90, 0.90]), [1.0] * 3, 900.0, 500, {"order": 1}),
    # replay: far above naive on every seed
    ("replay", "seed-0", _last_row_matrix([0.70, 0.75, 0.90]), [2.0] * 3, 990.0, 500, {}),
    ("replay", "seed-1", _last_row_matrix([0.72, 0.70, 0.88]), [2.0] * 3, 990.0, 500, {}),
    ("replay", "seed-2", _last_row_matrix([0.69, 0.71, 0.86]), [2.0] * 3, 990.0, 500, {}),
    # ewc: one run, one pair: no interval
    ("ewc", "seed-1", _last_row_matrix([0.30, 0.30, 0.90]), [1.5] * 3, 950.0, 500, {}),
    # reference points, better than every contender in ACC, time and memory: never bold
    ("joint", "seed-0", [[0.95, 0.95, 0.95]] * 3, [0.5, 0.0, 0.0], 800.0, 500, {}),
    ("joint", "seed-1", [[0.96, 0.94, 0.95]] * 3, [0.5, 0.0, 0.0], 800.0, 500, {}),
    ("cumulative", "seed-0", _last_row_matrix([0.90, 0.92, 0.93]), [0.5] * 3, 800.0, 500, {}),
    ("cumulative", "seed-1", _last_row_matrix([0.91, 0.92, 0.90]), [0.5] * 3, 800.0, 500, {}),
    ("zero-shot", "seed-0", [[0.99, 0.0, 0.0], [0.99, 0.99, 0.0], [0.99, 0.99, 0.99]], [0.0] * 3, 700.0, 0, {}),
]


@pytest.fixture(scope="module")
def paired(tmp_path_factory):
    root = write_runs(tmp_path_factory.mktemp("paired"), PAIRED_RUNS)
    out = tmp_path_factory.mktemp("paired-out")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert main([str(root), "--out", str(out)]) == 0
    return {"out": out, "stdout": stdout.getvalue(), "csv": pd.read_csv(out / "comparison.csv").set_index("strategy")}


def _by_seed(strategy: str, key: str) -> dict[int, float]:
    return {int(folder.split("-")[1]): metrics_dict(name, folder, *rest)[key]
            for name, folder, *rest in PAIRED_RUNS if name == strategy and "order" not in folder}


@pytest.mark.parametrize("strategy", ["lwf", "replay"])
@pytest.mark.parametrize("key, metric", [("ACC", "average_accuracy"), ("forgetting", "forgetting")])
def test_paired_difference_to_naive_by_hand(paired, strategy, key, metric):
    naive, other = _by_seed("naive", metric), _by_seed(strategy, metric)
    differences = [other[s] - naive[s] for s in (0, 1, 2)]  # lwf's order-1 run has no naive pair
    mean = sum(differences) / 3
    sd = math.sqrt(sum((d - mean) ** 2 for d in differences) / 2)
    half = T975_DF2 * sd / math.sqrt(3)
    row = paired["csv"].loc[strategy]
    assert row[f"{key}_vs_naive_mean"] == pytest.approx(mean)
    assert row[f"{key}_vs_naive_ci95"] == pytest.approx(half)
    assert row[f"{key}_vs_naive_n"] == 3
    assert bool(row[f"{key}_vs_naive_includes_zero"]) == (mean - half <= 0 <= mean + half)


def test_includes_zero_flag_and_marker(paired):
    table = paired["csv"]
    assert bool(table.loc["lwf", "ACC_vs_naive_includes_zero"]) is True
    assert bool(table.loc["replay", "ACC_vs_naive_includes_zero"]) is False
    header, rows = _md_rows((paired["out"] / "comparison.md").read_text())
    column = header.index("Δ ACC vs naive ↑")
    assert rows["lwf"][column].endswith("≈ naive (n=3)")  # 4 runs, 3 of them paired
    assert "≈" not in rows["replay"][column] and rows["replay"][column].startswith("+0.")
    assert rows["naive"][column] == "—"
    tex = _tex_rows((paired["out"] / "comparison.tex").read_text())
    assert "$\\approx$ naive" in tex["lwf"][-2] and "approx" not in tex["replay"][-2]


def test_fewer_than_two_pairs_no_interval(paired):
    row = paired["csv"].loc["ewc"]
    assert row["ACC_vs_naive_n"] == 1
    assert row["ACC_vs_naive_mean"] == pytest.approx(
        _by_seed("ewc", "average_accuracy")[1] - _by_seed("naive", "average_accuracy")[1])
    assert math.isnan(row["ACC_vs_naive_ci95"]) and pd.isna(row["ACC_vs_naive_includes_zero"])
    header, rows = _md_rows((paired["out"] / "comparison.md").read_text())
    assert rows["ewc"][header.index("Δ ACC vs naive ↑")].endswith("[n/a]")
    naive = paired["csv"].loc["naive"]
    assert naive["ACC_vs_naive_n"] == 0 and math.isnan(naive["ACC_vs_naive_mean"])
    # forgetting does not apply to joint or zero-shot, so neither does its difference
    assert math.isnan(paired["csv"].loc["joint", "forgetting_vs_naive_mean"])
    assert paired["csv"].loc["joint", "ACC_vs_naive_n"] == 2


def test_reference_rows_apart_and_never_best(paired):
    table = paired["csv"]
    reference = {"joint", "cumulative", "zero-shot"}
    assert set(table.index[table["reference"]]) == reference
    assert list(table.index) == ["naive", "ewc", "lwf", "replay", "cumulative", "zero-shot", "joint"]
    best_columns = [c for c in table.columns if c.endswith("_best")]
    assert not table.loc[sorted(reference), best_columns].to_numpy().any()
    assert table.loc["replay", "ACC_best"] and table.loc["naive", "peak_memory_MB_best"]
    md = (paired["out"] / "comparison.md").read_text()
    contenders, apart = md.split("### Reference points (not ranked)")
    for strategy in reference:
        assert f"| {strategy} |" in apart and f"| {strategy} |" not in contenders
    assert "| replay |" in contenders and "| replay |" not in apart
    assert "**" not in apart.split("## Definitions")[0]
    tex = (paired["out"] / "comparison.tex").read_text()
    tex_contenders, tex_apart = tex.split("\\textit{Reference points (not ranked)}")
    assert "\\textbf" not in tex_apart and "joint &" in tex_apart and "joint &" not in tex_contenders
    terminal_apart = paired["stdout"].split("Reference points (not ranked):")[1]
    assert "joint" in terminal_apart and "replay" not in terminal_apart and "*" not in terminal_apart.split("mean ±")[0]


def test_paired_difference_helper_by_hand():
    from continual.report.tables import paired_difference

    values = {(0, 0): 0.50, (1, 0): 0.55, (2, 0): 0.70, (3, 0): None, (4, 1): 0.9}
    baseline = {(0, 0): 0.30, (1, 0): 0.30, (2, 0): 0.40, (3, 0): 0.1, (5, 0): 0.2}
    stats = paired_difference(values, baseline)  # pairs (0,0), (1,0), (2,0): d = 0.2, 0.25, 0.3
    assert stats["n"] == 3 and stats["mean"] == pytest.approx(0.25)
    assert stats["ci95"] == pytest.approx(T975_DF2 * 0.05 / math.sqrt(3))  # 0.124: [0.126, 0.374]
    assert stats["includes_zero"] is False
    wide = paired_difference({**values, (1, 0): 0.40}, baseline)  # d = 0.2, 0.1, 0.3: ± 0.248
    assert wide["ci95"] == pytest.approx(T975_DF2 * 0.1 / math.sqrt(3)) and wide["includes_zero"] is True
    assert paired_difference({(0, 0): 0.5}, {(0, 0): 0.1}) == pytest.approx(
        {"mean": 0.4, "ci95": None, "n": 1, "includes_zero": None})
    assert paired_difference({}, baseline)["n"] == 0


def _configured_run(root: Path, strategy: str, seed: int, params: dict, model=None, folder="seed"):
    """A run folder with metrics.json and the config.json a run of these settings writes."""
    from continual import ExperimentConfig, ModelConfig

    run_dir = root / STREAM / strategy / f"{folder}-{seed}"
    run_dir.mkdir(parents=True)
    matrix = RUNS[seed % 3][2]
    (run_dir / "metrics.json").write_text(json.dumps(metrics_dict(strategy, f"seed-{seed}", matrix, [1.0] * 3,
                                                                   100.0, 10, {})))
    config = ExperimentConfig(strategy=strategy, seed=seed, model=ModelConfig(model=model)).to_dict()
    (run_dir / "config.json").write_text(json.dumps({"config": config, "strategy_hyperparameters": {strategy: params}}))
    return run_dir


def test_rows_follow_the_configuration_labelled_by_what_differs(tmp_path):
    """Two lambda values of ewc are two rows, each named by its lambda; two seeds of one
    configuration are one row of n=2; naive (one configuration) keeps its plain name; runs.csv
    has one row per run with its settings."""
    root = tmp_path / "results"
    for seed in (0, 1):
        _configured_run(root, "ewc", seed, {"lambda": 10000.0, "fisher_samples": 512})
        _configured_run(root, "naive", seed, {})
    _configured_run(root, "ewc", 2, {"lambda": 100.0, "fisher_samples": 512}, folder="weak")
    table = compare(root, tmp_path / "out", plots=False).set_index("strategy")
    assert set(table.index) == {"naive", "ewc (λ=1e4)", "ewc (λ=100)"}
    assert table.loc["ewc (λ=1e4)", "n"] == 2 and table.loc["ewc (λ=100)", "n"] == 1
    assert table.loc["ewc (λ=1e4)", "configuration"] == "λ=1e4"
    assert table.loc["ewc (λ=1e4)", "ACC_vs_naive_n"] == 2  # paired with naive over seeds 0 and 1
    runs = pd.read_csv(tmp_path / "out" / "runs.csv")
    assert len(runs) == 5 and {"setting.ewc.lambda", "setting.training.lr", "ACC"} <= set(runs.columns)
    assert sorted(runs.loc[runs["strategy"] == "ewc", "setting.ewc.lambda"]) == [100.0, 10000.0, 10000.0]
    # --filter keeps one configuration; --group-by pools the lambda values into one row
    only = compare(root, tmp_path / "filtered", plots=False, filters=["ewc.lambda=100"]).set_index("strategy")
    assert list(only.index) == ["ewc"]  # alone, nothing tells it apart: its plain name
    pooled = compare(root, tmp_path / "pooled", plots=False, group_by=["model.model"]).set_index("strategy")
    assert set(pooled.index) == {"naive", "ewc"} and pooled.loc["ewc", "n"] == 3


def test_a_model_comparison_labels_every_row_with_its_model(tmp_path):
    root = tmp_path / "results"
    for seed in (0, 1):
        _configured_run(root, "naive", seed, {})
        _configured_run(root, "naive", seed, {}, model="/models/Bio_ClinicalBERT", folder="clinical")
    table = compare(root, tmp_path / "out", plots=False).set_index("strategy")
    assert set(table.index) == {"naive (packaged MiniLM)", "naive (Bio_ClinicalBERT)"}
    assert (table["n"] == 2).all()
    with pytest.raises(UserError, match="no run has the setting 'temperature'"):
        compare(root, tmp_path / "x", plots=False, filters=["temperature=2"])


def test_report_html_is_one_self_contained_file_with_tables_figures_definitions_and_configurations(tmp_path):
    from html.parser import HTMLParser

    root = tmp_path / "results"
    for seed in (0, 1):
        _configured_run(root, "ewc", seed, {"lambda": 10000.0, "fisher_samples": 512})
        _configured_run(root, "naive", seed, {})
    compare(root, tmp_path / "out")
    text = (tmp_path / "out" / "report.html").read_text()

    class Structure(HTMLParser):
        def __init__(self):
            super().__init__()
            self.tags, self.sources, self.rows_named = [], [], []
            self._in_name = False

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            self.tags.append(tag)
            if tag in ("img", "script", "link"):
                self.sources.append(attrs.get("src") or attrs.get("href") or "")
            self._in_name = tag == "td" and attrs.get("class") == "name"

        def handle_data(self, data):
            if self._in_name and data.strip():
                self.rows_named.append(data.strip())
                self._in_name = False

    page = Structure()
    page.feed(text)
    assert "script" not in page.tags and "link" not in page.tags  # nothing to fetch, nothing to run
    images = [s for s in page.sources]
    assert len(images) >= 4 and all(s.startswith("data:image/png;base64,") for s in images)
    assert page.tags.count("table") >= 3  # the comparison, and each configuration's settings
    assert {"naive", "ewc"} <= set(page.rows_named)
    assert "<h2>Definitions</h2>" in text and "forward transfer" in text
    assert "<h2>Configurations</h2>" in text and "ewc.lambda" in text and "10000.0" in text
    assert f"<h2>{STREAM}" in text


def test_csv_and_markdown_name_the_columns_alike(compared):
    """Every metric of the markdown header is a column stem of the CSV (<name>_mean, ...)."""
    from continual.report.tables import table_columns

    header, _ = _md_rows((compared["out"] / "comparison.md").read_text())
    csv_stems = {c.rsplit("_", 1)[0] for c in compared["csv"].columns if c.endswith("_mean")}
    for column in table_columns(True):
        assert f"{column.key} {'↑' if column.higher_is_better else '↓'}" in header
        assert column.key in csv_stems
