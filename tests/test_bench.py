"""The benchmark (continual.speed) and its command: its arithmetic, its settings, its table and
a quick run on a tiny model.

No timing is asserted: timings depend on the machine and what else runs on it; only that the
measurements exist, are positive and are combined correctly.
"""
import json
import statistics

import pytest

from continual import UserError, bench
from continual.speed.default_run import default_run_command, measure_default_run
from continual.speed.settings import QUICK, BenchSettings
from continual.speed.table import format_table
from continual.speed.timing import flatness, run_to_run_noise


def test_flatness_is_spread_after_the_first_experience():
    assert flatness([5.0, 1.0, 1.1, 1.0]) == pytest.approx(0.1)
    assert flatness([1.0, 2.0]) is None  # one later experience: nothing to compare
    assert flatness([1.0, 1.0, 1.0]) == 0.0


def _fake_result():
    return {
        "device": "cpu", "precision": "fp32", "threads": 2, "batch_size": 32, "mean_real_tokens": 16.0,
        "matmul_gflops": 100.0, "matmul_gflops_bf16": 200.0,
        "train_examples_per_s": {"pad128": 10.0, "plain": 50.0, "suite": 48.0},
        "eval_examples_per_s": 300.0, "utilization": 0.5,
        "ratios": {"suite_over_plain_time": 50 / 48, "suite_over_pad128_throughput": 4.8,
                   "eval_over_train_throughput": 300 / 48},
        "relative_cost": {"naive": 1.0, "replay": 2.5, "lwf": 1.2},
        "relative_cost_per_experience": {"naive": [1.0, 1.0, 1.0], "replay": [1.0, 2.0, 2.5, 3.0],
                                         "lwf": [1.0, 1.2, 1.25]},
        "relative_cost_spread": {"naive": 0.0, "replay": 0.5, "lwf": 1.25 / 1.2 - 1},
    }


def test_table_names_met_and_missed_targets_with_the_gap():
    table = format_table(_fake_result())
    lines = {line.split()[0]: line for line in table.splitlines() if line.strip()}
    assert "(c)/(b) time" in table and "met" in table.split("(c)/(b) time")[1].splitlines()[0]
    pad_line = next(line for line in table.splitlines() if line.startswith("(c)/(a) throughput"))
    assert pad_line.endswith("(missed by 1.20)")  # 4.8 against >= 6
    assert "missed by 0.20" in lines["replay"] and "spread 50% (missed by 35%)" in lines["replay"]
    assert "target <= 1.5: met" in lines["lwf"] and "spread 4% (met)" in lines["lwf"]
    assert "target" not in lines["naive"]


def test_quick_bench_writes_every_contract_key(tiny_model_dir, tmp_path, capsys):
    code = bench.main(["--quick", "--model", str(tiny_model_dir), "--out", str(tmp_path),
                       "--train-per-class", "4", "--strategies", "online-ewc,replay"])
    assert code == 0
    result = json.loads((tmp_path / "bench.json").read_text())
    assert set(result["train_examples_per_s"]) == {"pad128", "plain", "suite"}
    assert all(v > 0 for v in result["train_examples_per_s"].values())
    assert result["eval_examples_per_s"] > 0 and result["matmul_gflops"] > 0
    suite = result["train_examples_per_s"]["suite"]
    expected = suite * result["useful_flops_per_example"] / (result["matmul_gflops"] * 1e9)
    assert result["utilization"] == pytest.approx(expected)
    assert len(result["suite_epoch_seconds"]) == QUICK["suite_epochs"]  # (c): warm epochs timed
    assert len(result["plain_epoch_seconds"]) == QUICK["suite_epochs"]  # (b): the same, epoch by epoch
    assert all(t > 0 for t in result["plain_epoch_seconds"])
    # both rates count the examples of one timed epoch: (c) all the texts, (b) its whole batches
    per_epoch = {name: result["train_examples_per_s"][name] * statistics.median(result[f"{name}_epoch_seconds"][1:])
                 for name in ("suite", "plain")}
    assert per_epoch["suite"] == pytest.approx(round(per_epoch["suite"]))
    bs = result["batch_size"]
    assert per_epoch["plain"] == pytest.approx(round(per_epoch["suite"]) // bs * bs)
    times = result["eval_seconds"]  # (e): a median of repeated evaluations, each of them timed
    assert len(times) == QUICK["eval_repeats"] and all(t > 0 for t in times)
    n_test = result["eval_examples_per_s"] * sorted(times)[len(times) // 2]
    assert n_test == pytest.approx(round(n_test)) and round(n_test) > 0  # the same test set each time
    assert set(result["relative_cost"]) == {"naive", "online-ewc", "replay"}
    assert result["relative_cost"]["naive"] == 1.0
    assert all(len(v) == 3 for v in result["relative_cost_per_experience"].values())
    first, second = result["naive_runs"]  # naive first and last; the baseline is their mean
    assert len(first) == len(second) == 3
    assert result["train_seconds_per_experience"]["naive"] == pytest.approx([(a + b) / 2 for a, b in zip(first, second)])
    assert result["naive_noise"] == pytest.approx(run_to_run_noise(first, second))
    out = capsys.readouterr().out
    assert "(c) train, suite through Avalanche" in out and "naive, 2nd run / 1st (noise)" in out


def test_bad_batch_size_is_a_one_line_error(tmp_path, capsys):
    assert bench.main(["--batch-size", "0", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "bench.json").exists()


def test_run_to_run_noise_is_the_largest_relative_difference():
    assert run_to_run_noise([1.0, 2.0, 4.0], [1.0, 2.2, 3.0]) == pytest.approx(1.0 / 3.5)
    assert run_to_run_noise([2.0, 2.0], [2.0, 2.0]) == 0.0


def test_table_gives_the_default_run_memory_against_2_gib():
    result = _fake_result()
    line = lambda r: next(l for l in format_table(r).splitlines() if l.startswith("(g)"))
    assert "not measured" in line(result)
    result["default_run"] = {"peak_rss_mb": 2600.4, "train_seconds": 160.0, "wall_seconds": 200.0}
    assert "2600  <= 2048 (missed by 552)" in line(result)
    result["default_run"]["peak_rss_mb"] = 1900.0
    assert "(met)" in line(result)
    result["default_run"] = {"error": "error: no space left"}
    assert "failed" in line(result) and "no space left" in line(result)


def test_default_run_is_the_main_job_on_the_benchmarks_model_device_and_precision():
    settings = bench.settings_from_args(
        bench.build_parser().parse_args(["--model", "/models/x", "--device", "cpu", "--precision", "bf16"]))
    command = default_run_command(settings, "/tmp/out")
    assert command[1:6] == ["-m", "continual.run", "--strategy", "ewc", "--no-progress"]
    for flag, value in (("--out", "/tmp/out"), ("--device", "cpu"), ("--precision", "bf16"), ("--model", "/models/x")):
        assert command[command.index(flag) + 1] == value
    assert "--model" not in default_run_command(BenchSettings(), "/tmp/out")


def test_flags_become_settings():
    parse = lambda argv: bench.settings_from_args(bench.build_parser().parse_args(argv))
    settings = parse(["--quick", "--train-per-class", "4", "--strategies", "replay,lwf,replay",
                      "--batch-size", "8", "--eval-batch-size", "16"])
    assert settings.strategy_names == ["naive", "replay", "lwf"]  # naive first (the baseline), each once
    assert settings.plan == {**QUICK, "train_per_class": 4}
    assert (settings.batch_size, settings.eval_batch_size) == (8, 16)
    assert not settings.measures_default_run  # --quick never measures (g)
    full = parse([])
    assert full.strategy_names == full.plan["strategies"] and full.measures_default_run
    assert not parse(["--no-default-run"]).measures_default_run
    assert parse(["--strategies", "ewc,naive"]).strategy_names == ["ewc", "naive"]
    with pytest.raises(UserError, match="batch sizes"):
        BenchSettings(eval_batch_size=0)


def test_default_run_memory_is_read_from_the_runs_own_metrics(tiny_model_dir, tmp_path):
    """The measurement really runs: here shrunk to the tiny model on a small CSV."""
    from conftest import write_notes
    from test_resume import cli_argv

    extra = [a for a in cli_argv(write_notes(tmp_path / "notes.csv"), tiny_model_dir) if a != "--no-progress"]
    settings = BenchSettings(device="cpu")
    run = measure_default_run(settings, extra=extra)
    assert run.get("error") is None and run["peak_rss_mb"] > 100 and run["wall_seconds"] > run["train_seconds"] > 0
    extra[extra.index("--epochs") + 1] = "0"  # refused by the run: reported, not raised
    assert measure_default_run(settings, extra=extra)["error"].startswith("error:")
