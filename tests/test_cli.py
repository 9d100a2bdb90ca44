"""The CLI in-process through main(argv): bad input, listings, and a small real run."""
import json

import pytest

from continual.check import main as check_main
from continual.run import main

METRIC_KEYS = ["stream", "strategy", "seed", "order", "scenario", "experiences", "accuracy_matrix",
               "initial_accuracy", "average_accuracy", "average_incremental_accuracy", "forgetting",
               "bwt", "fwt", "learning_accuracy", "per_experience", "train_seconds", "eval_seconds",
               "peak_rss_mb", "stored_bytes", "trainable_parameters", "macro_f1_matrix", "macro_f1", "macro_f1_by_step",
               "score", "notes"]


@pytest.mark.parametrize("argv, needle", [
    (["--strategy", "ewcc"], "did you mean 'ewc'"),
    (["--stream", "icd10-chapters"], "did you mean 'icd10cm-chapters'"),
    (["--bogus-flag"], "unrecognized arguments"),
    (["--epochs", "0"], "--epochs must be positive"),
    (["--train-per-class", "-3"], "--train-per-class must be positive"),
    (["--batch-size", "x"], "invalid int value"),
    (["--set", "ewc.lamda=3"], "no hyperparameter 'lamda'"),
    (["--set", "ewc.lambda=big"], "expects a float"),
    (["--set", "nothing"], "must look like"),
    (["--set", "foo.bar=1"], "neither a strategy nor a config section"),
    (["--seed", "a"], "comma-separated integers"),
    (["--config", "/nonexistent/file.yaml"], "cannot read config file"),
    (["--strategy", "naive+ewc"], "adds nothing"),
])
def test_bad_input_one_line_exit_2(argv, needle, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert not any(tmp_path.iterdir())  # nothing written


def test_more_experiences_than_classes_is_refused(capsys, tmp_path, tiny_model_dir):
    code = main(["--strategy", "naive", "--experiences", "22", "--model", tiny_model_dir,
                 "--out", str(tmp_path), "--no-cache"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "21 classes into 22 experiences" in err[0]


def test_list_strategies_shows_hyperparameters(capsys):
    assert main(["--list-strategies"]) == 0
    out = capsys.readouterr().out
    for name in ["naive", "ewc", "replay", "lwf", "expanding-heads"]:
        assert f"\n{name}  [" in "\n" + out
    assert "--set ewc.lambda=" in out and "paper:" in out


def test_list_streams_shows_the_card(capsys):
    assert main(["--list-streams"]) == 0
    out = capsys.readouterr().out
    assert "icd10cm-chapters" in out and "21 classes" in out
    assert "licence:" in out and "version: ICD-10-CM 2026" in out and "1000 train / 250 test" in out and "texts:" in out
    assert "caps 200 train / 50 test texts per class" in out  # the builders' own defaults
    tags = out[out.index("icd10cm-tags"):].split("\n\n")[0]
    assert "token" in tags and "8 entity types" in tags and "synthetic" in tags and "real ICD-10-CM terms" in tags


def test_small_run_writes_the_contract(tmp_path, tiny_model_dir, capsys):
    argv = ["--strategy", "naive,replay", "--model", tiny_model_dir, "--experiences", "3",
            "--train-per-class", "3", "--test-per-class", "2", "--batch-size", "16",
            "--out", str(tmp_path), "--cache-dir", str(tmp_path / "cache"), "--no-progress",
            "--set", "replay.mem_size=20"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "naive" in out and "replay" in out and "ACC" in out
    for strategy in ["naive", "replay"]:
        run = tmp_path / "icd10cm-chapters" / strategy / "seed-0"
        assert {p.name for p in run.iterdir()} == {"config.json", "metrics.json", "accuracy_matrix.csv", "forgetting_curve.png",
                                                  "per_class.csv", "confusion_matrix.csv", "confusion_matrix.png"}
        metrics = json.loads((run / "metrics.json").read_text())
        assert list(metrics) == METRIC_KEYS
        assert metrics["strategy"] == strategy and metrics["fwt"] is None
        assert [e["n_train"] for e in metrics["experiences"]] == [21, 21, 21]
        config = json.loads((run / "config.json").read_text())
        assert config["versions"]["avalanche-lib"] == "0.6.0"
        assert config["config"]["seed"] == 0 and "started" in config
        assert check_main([str(run)]) == 0  # the results contract (python -m continual.check)
    assert any((tmp_path / "cache" / "tokenized").iterdir())  # the tokenization cache is outside results


def test_set_overrides_reach_the_run(tmp_path, tiny_model_dir):
    argv = ["--strategy", "replay", "--model", tiny_model_dir, "--experiences", "2",
            "--train-per-class", "2", "--test-per-class", "1", "--out", str(tmp_path), "--no-cache",
            "--no-progress", "--set", "replay.mem_size=7", "--set", "training.weight_decay=0"]
    assert main(argv) == 0
    config = json.loads((tmp_path / "icd10cm-chapters" / "replay" / "seed-0" / "config.json").read_text())
    assert config["strategy_hyperparameters"]["replay"]["mem_size"] == 7
    assert config["config"]["training"]["weight_decay"] == 0.0


def test_orders_and_loggers(tmp_path, tiny_model_dir):
    argv = ["--strategy", "naive", "--model", tiny_model_dir, "--experiences", "3", "--train-per-class", "2",
            "--test-per-class", "1", "--out", str(tmp_path), "--no-cache", "--no-progress", "--orders", "2",
            "--log", "csv", "--log", "tensorboard"]
    assert main(argv) == 0
    base = tmp_path / "icd10cm-chapters" / "naive"
    first = json.loads((base / "seed-0" / "metrics.json").read_text())
    second = json.loads((base / "seed-0-order-1" / "metrics.json").read_text())
    assert (first["order"], second["order"]) == (0, 1)
    assert [e["classes"] for e in first["experiences"]] != [e["classes"] for e in second["experiences"]]
    assert sorted(c for e in second["experiences"] for c in e["classes"]) == list(range(21))
    logs = base / "seed-0" / "logs"
    assert any((logs / "csv").iterdir()) and any((logs / "tensorboard").iterdir())
    csv_text = "".join(p.read_text() for p in (logs / "csv").iterdir())
    assert "Top1_Acc" in csv_text or "acc" in csv_text.lower()


def test_unknown_logger_package_is_refused(capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    assert main(["--log", "mlflow"]) == 2
    assert "pip install mlflow" in capsys.readouterr().err


def test_bf16_runs_end_to_end(tmp_path, tiny_model_dir):
    argv = ["--strategy", "naive", "--model", tiny_model_dir, "--experiences", "2", "--train-per-class", "2",
            "--test-per-class", "1", "--out", str(tmp_path), "--no-cache", "--no-progress", "--precision", "bf16"]
    assert main(argv) == 0
    run = tmp_path / "icd10cm-chapters" / "naive" / "seed-0"
    assert json.loads((run / "config.json").read_text())["config"]["training"]["precision"] == "bf16"
    assert len(json.loads((run / "metrics.json").read_text())["accuracy_matrix"]) == 2


def test_peft_reading_a_deprecated_transformers_property_is_quiet_other_warnings_kept():
    import warnings

    from transformers import BertConfig, BertModel

    from continual.errors import quiet_library_warnings

    model = BertModel(BertConfig(vocab_size=30, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                 intermediate_size=16))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        model.is_gradient_checkpointing  # what peft reads in get_peft_model
        assert [w.category for w in seen] == [FutureWarning]  # transformers does warn
        seen.clear()
        quiet_library_warnings()
        model.is_gradient_checkpointing
        warnings.warn("another future change", FutureWarning)
    assert [str(w.message) for w in seen] == ["another future change"]


def test_avalanche_deprecations_are_dropped_other_warnings_kept():
    import os
    import warnings

    from continual.errors import silence_avalanche_deprecations

    seen = []
    with warnings.catch_warnings():
        warnings.simplefilter("always")  # as Avalanche's decorator does ("once"), ahead of any filter
        warnings.showwarning = lambda message, category, *rest, **kw: seen.append(category)
        silence_avalanche_deprecations()
        silence_avalanche_deprecations()  # idempotent
        avalanche_file = os.path.join(os.sep, "site-packages", "avalanche", "training", "plugins", "replay.py")
        warnings.warn_explicit("update is deprecated", DeprecationWarning, avalanche_file, 123)
        warnings.warn_explicit("ours", DeprecationWarning, os.path.join(os.sep, "work", "continual", "x.py"), 1)
        warnings.warn_explicit("a user warning", UserWarning, avalanche_file, 124)
    assert seen == [DeprecationWarning, UserWarning]


def test_summary_table_shows_no_forgetting_for_zero_shot_and_joint_as_compare_does():
    from continual.report.summary import summary_table

    def run(strategy):
        return {"strategy": strategy, "seed": 0, "order": 0, "average_accuracy": 0.45, "forgetting": 0.094,
                "bwt": -0.094, "fwt": None, "learning_accuracy": 0.5, "train_seconds": [1.0], "peak_rss_mb": 100.0}

    lines = summary_table([run("naive"), run("zero-shot"), run("joint")]).splitlines()[2:]
    assert "0.094" in lines[0] and "-0.094" in lines[0]
    for line in lines[1:]:
        assert "0.094" not in line and line.split()[4:6] == ["n/a", "n/a"]


def test_head_multi_is_accepted_and_reaches_the_model(tmp_path, tiny_model_dir, monkeypatch):
    import continual.model

    from continual.run import build_configs

    assert {c.model.head for c in build_configs(["--head", "multi"])[1]} == {"multi"}
    built = []
    real = continual.model.build_model
    monkeypatch.setattr(continual.model, "build_model", lambda encoder, *, head, **kw: built.append(head)
                        or real(encoder, head=head, **kw))
    argv = ["--strategy", "naive", "--head", "multi", "--model", tiny_model_dir, "--experiences", "2",
            "--train-per-class", "2", "--test-per-class", "1", "--out", str(tmp_path), "--no-cache", "--no-progress"]
    assert main(argv) == 0
    assert built == ["multi"]
    config = json.loads((tmp_path / "icd10cm-chapters" / "naive" / "seed-0" / "config.json").read_text())
    assert config["config"]["model"]["head"] == "multi"


def _configs(tmp_path, yaml_text, *argv):
    from continual.run import build_configs

    path = tmp_path / "run.yaml"
    path.write_text(yaml_text)
    return build_configs(["--config", str(path), *argv])[1][0]


def test_yaml_values_keep_their_types(tmp_path):
    config = _configs(tmp_path, "stream:\n  class_order: [3, 1, 2]\n  no_cache: true\n  domain_order: [b, 7]\n"
                                "  experiences: null\ntraining:\n  lr: 1e-3\n  weight_decay: 0\n  patience: 3\n"
                                "model:\n  head: multi\n")
    assert config.stream.class_order == [3, 1, 2] and all(type(c) is int for c in config.stream.class_order)
    assert config.stream.domain_order == ["b", 7] and config.stream.no_cache is True
    assert config.stream.experiences is None
    assert type(config.training.lr) is float and config.training.lr == 1e-3  # PyYAML reads 1e-3 as text
    assert type(config.training.weight_decay) is float and config.training.patience == 3
    assert config.model.head == "multi"


@pytest.mark.parametrize("yaml_text, needle", [
    ("training:\n  epochs: two\n", "training.epochs expects an integer, got 'two'"),
    ("training:\n  epochs: 2.5\n", "training.epochs expects an integer, got 2.5"),
    ("training:\n  lr: fast\n", "training.lr expects a number, got 'fast'"),
    ("stream:\n  no_cache: 1\n", "stream.no_cache expects true or false, got 1"),
    ("stream:\n  class_order: [1, 2.5]\n", "stream.class_order expects a list of integers or text, got [1, 2.5]"),
    ("stream:\n  class_order: 3\n", "stream.class_order expects a list of integers or text, got 3"),
    ("model:\n  model: [a]\n", "model.model expects text, got ['a']"),
    ("stream:\n  epochs: 3\n", "the stream section has no field 'epochs'"),
    ("training: 3\n", "section training must be a mapping"),
    ("model:\n  head: multy\n", "--head multy is unknown: use incremental, multi or fixed"),
    ("training:\n  optimizer: adam\n", "training.optimizer adam is unknown: use adamw or sgd"),
])
def test_yaml_value_of_the_wrong_type_is_one_line_naming_file_and_key(yaml_text, needle, tmp_path, capsys):
    path = tmp_path / "x.yaml"
    path.write_text(yaml_text)
    # --jobs 0 is refused after the file is read: a check that lets the value through fails here
    # instead of starting a default run
    assert main(["--config", str(path), "--out", str(tmp_path / "out"), "--jobs", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err, err
    if "section has no field" not in needle and "unknown" not in needle:
        assert err.startswith(f"error: config file {path}: ")


def test_precedence_defaults_yaml_flags_set(tmp_path):
    yaml_text = "training:\n  epochs: 5\n  batch_size: 8\nstream:\n  class_order: [2, 1]\n  no_cache: true\n"
    config = _configs(tmp_path, yaml_text)
    assert (config.training.epochs, config.training.batch_size, config.stream.class_order) == (5, 8, [2, 1])
    assert config.training.lr == 1e-4 and config.stream.no_cache is True  # a default, and YAML kept
    config = _configs(tmp_path, yaml_text, "--epochs", "3", "--class-order", "4,x")
    assert (config.training.epochs, config.training.batch_size, config.stream.class_order) == (3, 8, [4, "x"])
    config = _configs(tmp_path, yaml_text, "--epochs", "3", "--set", "training.epochs=4")
    assert config.training.epochs == 4


@pytest.mark.parametrize("setting, field, expected", [
    ("stream.class_order=3,1,2", ("stream", "class_order"), [3, 1, 2]),
    ("stream.domain_order=north,2019", ("stream", "domain_order"), ["north", 2019]),
    ("stream.experiences=none", ("stream", "experiences"), None),
    ("stream.name=none", ("stream", "name"), "none"),
    ("training.lr=1e-3", ("training", "lr"), 1e-3),
    ("training.early_stopping=yes", ("training", "early_stopping"), True),
    ("model.pooling=cls", ("model", "pooling"), "cls"),
])
def test_set_text_is_converted_by_the_declared_type(setting, field, expected):
    from continual.run import build_configs

    extra = ["--val-per-class", "1"] if "early_stopping" in setting else []
    config = build_configs(["--set", setting, *extra])[1][0]
    value = getattr(getattr(config, field[0]), field[1])
    assert value == expected and type(value) is type(expected)


def test_set_value_of_the_wrong_type_names_the_flag_and_key(capsys):
    assert main(["--set", "training.epochs=two", "--jobs", "0"]) == 2  # --jobs 0: never a run
    assert capsys.readouterr().err.strip() == "error: --set training.epochs expects an integer, got 'two'"


def _help_entries(monkeypatch) -> dict[str, str]:
    """Each option of --help with the text that follows it, up to the next option (unwrapped)."""
    import re

    from continual.run import build_parser

    monkeypatch.setenv("COLUMNS", "1000")
    text = build_parser().format_help()
    body = re.sub(r"\n\n[^\n]+:\n", "\n", text.split("options:", 1)[1])  # without group headings
    parts = re.split(r"\n  (--[a-z-]+)", body)
    return {flag: " ".join(rest.split()) for flag, rest in zip(parts[1::2], parts[2::2])}


def test_every_config_field_with_a_flag_is_in_help_with_its_default(monkeypatch):
    import dataclasses

    from continual.config import ModelConfig, RunControl, StreamConfig, TrainingConfig, flag_of

    entries = _help_entries(monkeypatch)
    flagged = 0
    for cls in (StreamConfig, ModelConfig, TrainingConfig, RunControl):
        for f in dataclasses.fields(cls):
            flag = flag_of(cls, f.name)
            if flag is None:
                continue
            flagged += 1
            assert flag in entries, flag
            help_text = " ".join(f.metadata["help"].split())
            assert help_text in entries[flag]
            if isinstance(f.default, bool) or f.default is None or "default" in help_text:
                # an on/off switch, a value its text explains: no "(default: None)" or "(default: False)"
                assert "(default:" not in entries[flag].replace(help_text, ""), (flag, entries[flag])
            else:
                assert entries[flag].endswith(f"(default: {f.default})"), (flag, entries[flag])
    assert flagged >= 30
    assert "--no-buffer-checkpoint" in entries and "--buffer-checkpoint" not in entries
    assert all("(default: None)" not in text and "(default: False)" not in text and "(default: [])" not in text
               for text in entries.values())


def test_every_config_field_declares_its_help():
    import dataclasses

    from continual.config import ModelConfig, RunControl, StreamConfig, TrainingConfig

    for cls in (StreamConfig, ModelConfig, TrainingConfig, RunControl):
        for f in dataclasses.fields(cls):
            assert len(f.metadata.get("help", "")) > 10, f"{cls.__name__}.{f.name} has no help: declare it with option()"


def test_a_flag_without_help_is_refused_when_the_parser_is_built():
    import argparse
    import dataclasses

    from continual.config import add_config_flags

    @dataclasses.dataclass
    class Section:
        undocumented: int = 3

    with pytest.raises(TypeError, match="Section.undocumented has a flag but no help"):
        add_config_flags(argparse.ArgumentParser(), "section", Section)


def test_strategy_training_defaults_sit_between_the_dataclass_and_the_user(tmp_path):
    """Per strategy: TrainingConfig's defaults, then the strategy's training defaults, then the
    YAML file, the flags and --set training.x=; an explicit --lr always wins."""
    from continual.config import TrainingConfig
    from continual.run import build_configs, training_for
    from strategies import STRATEGIES

    def trainings(*argv):
        return {c.strategy: c.training for c in build_configs(["--strategy", "naive,frozen,lora,seq-star", *argv])[1]}

    frozen_lr = next(d.value for d in STRATEGIES["frozen"].training_defaults if d.field == "lr")
    frozen_epochs = next(d.value for d in STRATEGIES["frozen"].training_defaults if d.field == "epochs")
    default = trainings()
    plain = TrainingConfig()
    assert (default["naive"].lr, default["naive"].epochs) == (plain.lr, plain.epochs)  # the dataclass defaults
    assert (default["frozen"].lr, default["frozen"].epochs) == (frozen_lr, frozen_epochs)
    own = {name: {d.field: d.value for d in STRATEGIES[name].training_defaults} for name in ("seq-star", "lora")}
    assert (default["seq-star"].lr, default["seq-star"].epochs) == (own["seq-star"]["lr"], own["seq-star"]["epochs"])
    assert default["lora"].lr == own["lora"]["lr"] and default["lora"].epochs == plain.epochs
    assert {t.lr for t in trainings("--lr", "0.02").values()} == {0.02}
    assert {t.epochs for t in trainings("--set", "training.epochs=3").values()} == {3}
    path = tmp_path / "run.yaml"
    path.write_text("training:\n  lr: 0.005\n")
    from_file = trainings("--config", str(path))
    assert {t.lr for t in from_file.values()} == {0.005} and from_file["frozen"].epochs == frozen_epochs
    assert {t.lr for t in trainings("--config", str(path), "--lr", "0.3").values()} == {0.3}
    # the function another command (continual.tune) builds its trials with
    assert training_for("frozen", {"training": {"batch_size": 4}}).lr == frozen_lr
    assert training_for("replay+seq-star", {"training": {}}).epochs == own["seq-star"]["epochs"]
    # A-GEM declares its paper's optimizer: plain SGD without weight decay; --set gives AdamW back
    agem = training_for("agem", {"training": {}})
    assert (agem.optimizer, agem.weight_decay, plain.optimizer) == ("sgd", 0.0, "adamw")
    assert training_for("agem", {"training": {"optimizer": "adamw"}}).optimizer == "adamw"


def test_components_with_different_training_defaults_are_refused(monkeypatch, capsys):
    import dataclasses

    from continual.run import training_for
    from strategies import STRATEGIES, TrainingDefault

    ewc = STRATEGIES["ewc"]
    monkeypatch.setitem(STRATEGIES, "ewc", dataclasses.replace(
        ewc, training_defaults=(TrainingDefault("lr", 0.5, "a test"),)))
    assert main(["--strategy", "replay+ewc+seq-star", "--jobs", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'ewc' and 'seq-star' declare different training defaults for lr" in err
    assert "--set training.lr=" in err
    assert training_for("replay+ewc+seq-star", {"training": {"lr": 0.1}}).lr == 0.1  # the user's value settles it
    assert training_for("replay+ewc", {"training": {}}).lr == 0.5


def test_list_strategies_shows_training_defaults_with_their_source(capsys):
    assert main(["--list-strategies"]) == 0
    out = capsys.readouterr().out
    blocks = {block.split()[0]: block for block in out.split("\n\n")}
    assert "--set training.lr=0.001: this strategy's training default" in blocks["frozen"]
    assert "--set training.epochs=2" in blocks["frozen"]
    assert "--set training.lr=0.0003: this strategy's training default" in blocks["seq-star"]
    assert "--set training.epochs=5" in blocks["seq-star"]
    for name in ("frozen", "seq-star"):
        assert "validation of icd10cm-chapters, tuning seeds 10-11" in blocks[name]
    assert "--set training.lr=0.001" in blocks["lora"] and "validation of icd10cm-chapters" in blocks["lora"] and "training." not in blocks["naive"]
    assert "--set replay.mem_size=500" in blocks["replay"]  # hyperparameter defaults beside them
    for name in ("joint", "cumulative", "zero-shot"):
        assert "a point of reference" in blocks[name]
    assert "a point of reference" not in blocks["naive"] and "[baseline]" in blocks["seq-star"]


def test_wandb_and_mlflow_loggers_record_the_runs_metrics(tmp_path, tiny_model_dir, monkeypatch):
    """--log wandb (offline, files in the run's log folder) and --log mlflow (a file store there)
    both run a whole run and hold its accuracy values; nothing of the input text reaches them."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # the adapter sets it too; the reading below needs it
    argv = ["--strategy", "naive", "--model", tiny_model_dir, "--experiences", "2", "--train-per-class", "2",
            "--test-per-class", "1", "--out", str(tmp_path), "--no-cache", "--no-progress",
            "--log", "wandb", "--log", "mlflow"]
    assert main(argv) == 0
    logs = tmp_path / "icd10cm-chapters" / "naive" / "seed-0" / "logs"
    history = list((logs / "wandb").rglob("*.wandb"))
    assert history and history[0].stat().st_size > 0
    import mlflow

    mlflow.set_tracking_uri((logs / "mlflow").resolve().as_uri())
    runs = mlflow.search_runs(experiment_names=["continual-medical"])
    assert len(runs) == 1
    metrics = json.loads((logs.parent / "metrics.json").read_text())
    first = "metrics.Top1_Acc_Exp.eval_phase.test_stream.Task000.Exp000"  # its last value: after training
    assert runs[first].iloc[0] == pytest.approx(metrics["accuracy_matrix"][-1][0], abs=1e-6)


@pytest.mark.parametrize("argv, needle", [
    (["--strategy", "naive,icarl", "--stream", "icd10cm-blocks"],
     "strategy 'icarl' does not support the task-incremental scenario"),
    (["--strategy", "ewc", "--set", "replay.mem_size=100"], "replay is not among the strategies run"),
    (["--strategy", "ewc", "--set", "ewc.lambda=-5"], "--set ewc.lambda must be at least 0, got '-5'"),
    (["--strategy", "replay", "--set", "replay.mem_size=-1"], "must be at least 1"),
    (["--strategy", "lwf", "--set", "lwf.temperature=0"], "--set lwf.temperature must be above 0, got '0'"),
    (["--strategy", "online-ewc", "--set", "online-ewc.decay=1.5"], "must be at most 1"),
])
def test_bad_grids_are_refused_before_the_first_run(argv, needle, tmp_path, capsys):
    """Every strategy's scenario, every --set key's strategy and every value's range are checked
    before anything runs: one line, exit 2, no folder."""
    assert main([*argv, "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_an_offline_hub_name_fails_at_once_in_one_line_and_never_suggests_itself(tmp_path, capsys, monkeypatch):
    import time

    import continual.config as config

    monkeypatch.setattr(config, "hub_reachable", lambda timeout=3.0: False)
    started = time.monotonic()
    assert main(["--model", "bert-base-uncased", "--out", str(tmp_path / "out")]) == 2
    assert time.monotonic() - started < 10  # no retries against an unreachable hub
    err = capsys.readouterr().err.strip()
    assert "not in the Hugging Face cache, and the hub cannot be reached" in err and len(err.splitlines()) == 1
    assert "did you mean 'bert-base-uncased'" not in err
    assert not (tmp_path / "out").exists()
    monkeypatch.undo()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the hub's own offline switch: never even a connection
    assert config.hub_reachable() is False


@pytest.mark.parametrize("text, needle", [
    ("training:\n  epochs: two\n", "training.epochs expects an integer, got 'two'"),
    ("strategies:\n  ewc:\n    lambda: lots\n", "strategies.ewc.lambda expects a float, got 'lots'"),
    ("strategies:\n  ewc:\n    lambda: [1, 2]\n", "strategies.ewc.lambda must be a single value, got a list"),
    ("strategies:\n  ewc:\n    lambda: -1\n", "strategies.ewc.lambda must be at least 0"),
])
def test_a_wrong_value_in_a_config_file_names_the_file_and_the_key(text, needle, tmp_path, capsys):
    path = tmp_path / "study.yaml"
    path.write_text(text)
    assert main(["--config", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: config file {path}: ") and needle in err and "--set" not in err


def test_without_a_terminal_a_run_logs_a_line_per_experience_not_progress_frames(tmp_path, tiny_model_dir, capsys):
    argv = ["--strategy", "naive", "--model", tiny_model_dir, "--experiences", "2", "--train-per-class", "2",
            "--test-per-class", "1", "--out", str(tmp_path), "--no-cache"]  # progress asked for; stderr is a pipe here
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and "it/s" not in err and "batch/s" not in err
    assert [line.split(":")[0].strip() for line in err.splitlines() if "trained in" in line] == \
        ["experience 0", "experience 1"]


def test_metrics_name_each_experiences_classes(tmp_path, tiny_model_dir):
    argv = ["--strategy", "naive", "--model", tiny_model_dir, "--experiences", "2", "--train-per-class", "2",
            "--test-per-class", "1", "--out", str(tmp_path), "--no-cache", "--no-progress"]
    assert main(argv) == 0
    metrics = json.loads((tmp_path / "icd10cm-chapters" / "naive" / "seed-0" / "metrics.json").read_text())
    first = metrics["experiences"][0]
    assert len(first["class_names"]) == len(first["classes"])
    assert all(name.startswith("Chapter ") for e in metrics["experiences"] for name in e["class_names"])


def test_a_built_in_stream_s_training_defaults_sit_below_the_strategy_s_and_the_user_s(monkeypatch, capsys):
    import dataclasses

    from continual.run import build_configs
    from streams.registry import BUILTIN_STREAMS

    spec = BUILTIN_STREAMS["icd10cm-chapters"]
    monkeypatch.setitem(BUILTIN_STREAMS, "icd10cm-chapters", dataclasses.replace(
        spec, training_defaults=(("epochs", 3, "a test's budget"), ("lr", 3e-4, "a test's rate"))))
    _, configs = build_configs(["--strategy", "naive,frozen"])
    naive, frozen = configs
    assert (naive.training.epochs, naive.training.lr) == (3, 3e-4)
    assert frozen.training.lr == 1e-3 and frozen.training.epochs == 2  # the probe's own defaults win
    _, configs = build_configs(["--strategy", "naive", "--epochs", "5"])
    assert (configs[0].training.epochs, configs[0].training.lr) == (5, 3e-4)
    _, configs = build_configs(["--strategy", "naive", "--stream", "icd10cm-views"])
    assert (configs[0].training.epochs, configs[0].training.lr) == (2, 1e-4)  # another stream: none
    assert main(["--list-streams"]) == 0
    assert "training defaults: epochs 3 (a test's budget); lr 0.0003 (a test's rate)" in capsys.readouterr().out
