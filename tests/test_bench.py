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
    assert "target <= 2.0: missed by 0.50" in lines["replay"] and "spread 50% (missed by 35%)" in lines["replay"]
    assert "target <= 1.3: met" in lines["lwf"] and "spread 4% (met)" in lines["lwf"]
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
    # naive first, then two strategies at a time, each pair followed by naive again
    assert result["order"] == ["naive", "online-ewc", "replay", "naive"]
    runs = result["naive_runs"]
    assert len(runs) == result["order"].count("naive") and all(len(r) == 3 for r in runs)
    assert result["train_seconds_per_experience"]["naive"] == pytest.approx([sum(v) / len(v) for v in zip(*runs)])
    assert result["naive_noise"] == pytest.approx(run_to_run_noise(*runs))
    # each strategy's ratio is read against the naive runs around it
    first, second = runs[0], runs[1]
    replay = result["train_seconds_per_experience"]["replay"]
    assert result["relative_cost_per_experience"]["replay"] == pytest.approx(
        [s / ((a + b) / 2) for s, a, b in zip(replay, first, second)])
    # the kernels every path ran, sdpa against eager, the long-text workload and the floors
    assert set(result["attention"].values()) == {"sdpa"}
    assert set(result["attention"]) == {"pad128", "plain", "suite training", "suite evaluation"}
    assert result["eager"]["kernels"] == {"training": "eager", "evaluation": "eager"}
    assert result["sdpa_speedup"]["train"] > 0
    long = result["long_text"]
    low, high = QUICK["long_tokens"]
    assert long["max_length"] == high and low <= long["lengths"]["min"] <= long["lengths"]["max"] <= high
    assert long["train_documents"] == QUICK["long_chapters"] * QUICK["long_train_per_class"]
    assert long["kernels"] == {"training": "sdpa", "evaluation": "sdpa"}
    assert long["eager"]["kernels"] == {"training": "eager", "evaluation": "eager"}
    assert long["train_tokens_per_s"] == pytest.approx(long["train_examples_per_s"] * long["mean_train_tokens"])
    assert long["eval_tokens_per_s"] == pytest.approx(long["eval_examples_per_s"] * long["mean_test_tokens"])
    assert long["utilization"] > 0 and long["sdpa_speedup"]["eval"] > 0
    assert set(result["strategy_floor"]) == {"naive", "online-ewc", "replay"}
    assert result["strategy_floor"]["naive"]["floor"] == 1.0
    ratio = result["primitives"]["memory_tokens_ratio"]  # the memory's texts against the experience's
    assert ratio > 0 and result["strategy_floor"]["replay"]["floor"] == pytest.approx(1 + ratio)
    assert result["cost_over_floor"]["replay"] == pytest.approx(result["relative_cost"]["replay"] / (1 + ratio))
    assert isinstance(result["machine_busy"], bool)
    assert "(f) matmul peak" in result["machine_load"]["other_cores_by_phase"]
    peak = result["matmul_peak"]["fp32"]
    assert result["matmul_gflops"] == peak["gflops"] == max(peak["start_and_end"])
    assert 0 <= peak["spread"] < 1 and str(peak["size"]) in peak["by_size"]
    out = capsys.readouterr().out
    assert "(c) train, suite through Avalanche" in out and "run-to-run noise" in out
    assert "long texts:" in out


def test_bad_batch_size_is_a_one_line_error(tmp_path, capsys):
    assert bench.main(["--batch-size", "0", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "bench.json").exists()


def test_run_to_run_noise_is_the_largest_relative_difference():
    assert run_to_run_noise([1.0, 2.0, 4.0], [1.0, 2.2, 3.0]) == pytest.approx(1.0 / 3.5)
    assert run_to_run_noise([2.0, 2.0], [2.0, 2.0]) == 0.0
    assert run_to_run_noise([1.0, 2.0], [1.0, 2.5], [1.0, 1.5]) == pytest.approx(1.0 / 2.0)


def test_strategies_interleave_with_naive_two_at_a_time():
    from continual.speed.suite import interleaved, nearest_naive

    order = interleaved(["naive", "ewc", "si", "replay", "lwf", "der"])
    assert order == ["naive", "ewc", "si", "naive", "replay", "lwf", "naive", "der", "naive"]
    assert nearest_naive(order, order.index("si")) == [0, 3, 6]
    assert nearest_naive(order, order.index("der")) == [3, 6, 8]
    assert nearest_naive(order, order.index("ewc"), count=2) == [0, 3]
    assert nearest_naive(["naive", "ewc", "naive"], 1) == [0, 2]  # fewer naive runs than asked: all
    assert interleaved(["naive"]) == ["naive"]


def test_a_transient_naive_run_does_not_move_a_strategys_ratio(monkeypatch):
    """Nine runs alone on the machine had one naive run 20% slower than the other eight; the
    median of the three nearest naive runs leaves it out, the mean of two would not."""
    from types import SimpleNamespace

    import continual.engine.loop as loop
    from continual.speed import suite
    from continual.speed.settings import BenchSettings

    order = iter([[10.0, 8.0], [20.0, 16.0], [20.0, 16.0], [10.0, 8.0], [20.0, 16.0], [12.0, 9.6]])
    monkeypatch.setattr(loop, "run_experiment", lambda *a, **k: SimpleNamespace(metrics={"train_seconds": next(order)}))
    monkeypatch.setattr(suite, "suite_config", lambda *a, **k: None)
    settings = BenchSettings(strategies=["naive", "ewc", "si", "replay"])
    stream = SimpleNamespace(experiences=[SimpleNamespace(n_train=100)] * 2)
    got = suite.measure_strategies(settings, stream)
    assert got["order"] == ["naive", "ewc", "si", "naive", "replay", "naive"]  # the last naive run is the slow one
    assert got["relative_cost_per_experience"]["replay"] == [2.0, 2.0]  # not 20 / 11 and 16 / 8.8
    assert got["naive_noise"] > 0.15  # the slow run still counts in the noise


def test_floors_price_each_methods_extra_work():
    from continual.speed.floors import Primitives, cost_over_floor, floors

    p = Primitives(step=0.01, forward=0.003, param_pass=0.02, encoder_pass=0.01, examples=1600, steps=50,
                   batch_size=32, past_experiences=1)
    params = {"ewc": {"fisher_samples": 512}, "agem": {"sample_size": 32}, "replay": {}, "lwf": {}, "si": {},
              "mas": {"importance_samples": 0}}
    got = floors(["naive", "ewc", "agem", "replay", "lwf", "si", "mas", "icarl"], p, params.get)
    naive = 1600 * 0.01
    assert got["naive"]["floor"] == 1.0 and "icarl" not in got  # no floor stated: none priced
    assert got["ewc"]["floor"] == pytest.approx(1 + (512 * (0.01 + 0.01) + 50 * 0.02) / naive)
    assert got["mas"]["floor"] == pytest.approx(1 + (1600 * (0.01 + 0.01) + 50 * 0.02) / naive)  # 0: all
    assert got["replay"]["floor"] == pytest.approx(2.0)
    assert got["agem"]["floor"] == pytest.approx(1 + 50 * (32 * 0.01 + 2 * 0.02) / naive)
    assert got["lwf"]["floor"] == pytest.approx(1 + 1600 * 0.003 / naive)
    assert got["si"]["floor"] == pytest.approx(1 + (50 * 3 * 0.02 + 0.02) / naive)
    assert cost_over_floor({"replay": 2.2, "naive": 1.0}, got) == {"replay": pytest.approx(1.1), "naive": 1.0}
    p.tokens = 16.0  # 20 virtual tokens on 16-token texts: 2.25 times the positions
    peft = floors(["prompt-tuning", "bitfit"], p, lambda name: {"virtual_tokens": 20})
    assert peft["prompt-tuning"]["floor"] == pytest.approx(1 + 20 / 16) and peft["bitfit"]["floor"] == 1.0
    p.memory_tokens_ratio = 1.25  # memory texts a quarter longer than the current ones
    longer = floors(["replay", "der", "agem"], p, lambda name: {"sample_size": 32} if name == "agem" else {})
    assert longer["replay"]["floor"] == pytest.approx(2.25) and longer["der"]["floor"] == pytest.approx(2.25)
    assert longer["agem"]["floor"] == pytest.approx(1 + 50 * (32 * 0.01 * 1.25 + 2 * 0.02) / naive)


def test_load_monitor_counts_other_processes_and_not_its_own(monkeypatch):
    import subprocess
    import sys
    import time

    from continual.speed import load

    if load._busy_ticks_all() is None:
        pytest.skip("no /proc/stat: the monitor reports the load as unknown here")
    # the arithmetic: all processes' ticks minus this process's, per second of wall time
    start, end = load._Mark(0.0, 1000, 50), load._Mark(2.0, 1600, 350)
    assert load.other_cores(start, end, 100) == pytest.approx((600 - 300) / 100 / 2.0)
    assert load.other_cores(start, load._Mark(2.0, None, 350), 100) is None
    # this process's own CPU time is read: a busy second of our own shows in our ticks
    before, cpu = load._own_ticks(), time.process_time()
    while time.process_time() - cpu < 0.5:
        pass
    assert load._own_ticks() - before >= 0.5 * load._ticks_per_second() - 3
    # another process burning a core is seen
    child = subprocess.Popen([sys.executable, "-c", "import time\nt=time.time()\nwhile time.time()-t<3: pass"])
    try:
        monitor = load.LoadMonitor()
        time.sleep(0.3)
        monitor.restart()
        time.sleep(1.0)
        assert monitor.phase("child") > 0.5 and monitor.busy
    finally:
        child.kill()
        child.wait()
    report = monitor.report()
    assert report["machine_busy"] is True and "child" in report["machine_load"]["other_cores_by_phase"]
    assert load.LoadMonitor().busy is None  # nothing measured yet


def test_the_table_warns_first_on_a_busy_machine():
    result = _fake_result()
    assert not format_table(result).startswith("MACHINE BUSY")
    result.update(machine_busy=True, machine_load={"other_cores_by_phase": {"(a) plain loop, padded": 1.2,
                                                                            "(b) plain loop, buckets": 0.01},
                                                   "busy_above_cores": 0.25})
    first = format_table(result).splitlines()[0]
    assert first.startswith("MACHINE BUSY") and "(a) plain loop, padded: 1.20" in first and "(b)" not in first


def test_long_documents_stay_in_their_range_and_share_no_text(tiny_model_dir):
    from continual.model import load_encoder_and_tokenizer
    from continual.speed.long_text import long_text_stream

    _, tokenizer = load_encoder_and_tokenizer(tiny_model_dir)
    stream = long_text_stream(tokenizer, chapters=3, train_per_class=5, test_per_class=2, min_tokens=40,
                              max_tokens=100)
    experience = stream.experiences[0]
    assert (experience.n_train, experience.n_test) == (15, 6) and len(stream.class_names) == 3
    lengths = [len(ids) for ids in tokenizer(experience.train_texts + experience.test_texts)["input_ids"]]
    assert 40 <= min(lengths) and max(lengths) <= 100
    sentences = lambda texts: {t for doc in texts for t in doc.split(". ")}
    assert not sentences(experience.train_texts) & sentences(experience.test_texts)
    again = long_text_stream(tokenizer, chapters=3, train_per_class=5, test_per_class=2, min_tokens=40,
                             max_tokens=100)
    assert again.experiences[0].train_texts == experience.train_texts  # seeded


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
    assert settings.plan == {**QUICK, "train_per_class": 4, "strategy_train_per_class": 4}
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


def test_strategies_are_timed_with_their_own_training_defaults_at_the_shared_budget():
    from continual.speed.suite import suite_config

    settings = BenchSettings(device="cpu", batch_size=16, eval_batch_size=64)
    agem = suite_config(settings, "agem", 3, 3).training
    naive = suite_config(settings, "naive", 3, 3).training
    assert (agem.optimizer, agem.lr, agem.weight_decay) == ("sgd", 0.03, 0.0)  # A-GEM's declared defaults
    assert (naive.optimizer, naive.lr) == ("adamw", 1e-4)
    frozen = suite_config(settings, "frozen", 3, 3).training
    assert frozen.lr == 1e-3  # its own learning rate
    assert frozen.epochs == agem.epochs == naive.epochs == 3  # the bench's budget wins over its 2 epochs
    assert (frozen.batch_size, frozen.eval_batch_size) == (16, 64)
