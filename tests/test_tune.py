"""The validation protocol: a split fixed apart from the run seed, and a tuner that never reads a
test text."""
from __future__ import annotations

import dataclasses
import json

import pytest
import yaml

from continual.run import build_configs
from continual.tune import main as tune_main
from streams import BUILTIN_STREAMS, ExperienceData, validation_view
from streams.registry import StreamSpec

from conftest import TINY_TRAINING, synthetic_stream

TINY_FLAGS = ["--batch-size", str(TINY_TRAINING["batch_size"]), "--epochs", "1", "--no-progress"]


def _pairs(stream, side: str) -> set:
    return {(text, stream.class_names[label]) for e in stream.experiences
            for text, label in zip(getattr(e, f"{side}_texts"), getattr(e, f"{side}_labels"))}


def test_the_test_split_does_not_depend_on_the_run_seed():
    first, other = synthetic_stream(seed=0), synthetic_stream(seed=5, val_per_class=3)
    assert [e.classes for e in first.experiences] != [e.classes for e in other.experiences]
    assert _pairs(first, "test") == _pairs(other, "test")
    assert not _pairs(other, "val") & _pairs(first, "test")


def test_the_split_seed_moves_the_test_split():
    first = BUILTIN_STREAMS["icd10cm-chapters"].build(seed=0, n_experiences=3, train_per_class=5, test_per_class=4)
    again = BUILTIN_STREAMS["icd10cm-chapters"].build(seed=7, n_experiences=3, train_per_class=5, test_per_class=4)
    moved = BUILTIN_STREAMS["icd10cm-chapters"].build(seed=0, n_experiences=3, train_per_class=5, test_per_class=4,
                                                       split_seed=1)
    assert _pairs(first, "test") == _pairs(again, "test")
    assert _pairs(first, "test") != _pairs(moved, "test")


def test_the_validation_view_scores_validation_texts_and_drops_the_test_texts():
    stream = synthetic_stream(val_per_class=3)
    view = validation_view(stream)
    assert _pairs(view, "test") == _pairs(stream, "val")
    assert not _pairs(view, "val") and _pairs(view, "train") == _pairs(stream, "train")
    with pytest.raises(ValueError, match="--val-per-class"):
        validation_view(synthetic_stream())


class PoisonedExperience(ExperienceData):
    """An experience whose test set fails loudly when anything reads it."""

    def __getattribute__(self, name):
        if name in ("test_texts", "test_labels"):
            raise AssertionError(f"{name} was read")
        return super().__getattribute__(name)


def _poisoned_build(*, seed, val_per_class=0, **_):
    stream = synthetic_stream(seed=seed, val_per_class=val_per_class)
    stream.experiences = [PoisonedExperience(**{f.name: getattr(e, f.name) for f in dataclasses.fields(e)})
                          for e in stream.experiences]
    return stream


@pytest.fixture
def poisoned_stream(monkeypatch):
    spec = StreamSpec("poisoned", "class", "synthetic stream whose test sets raise when read", 3, _poisoned_build)
    monkeypatch.setitem(BUILTIN_STREAMS, "poisoned", spec)
    return "poisoned"


def test_a_whole_tuning_run_never_reads_a_test_set(poisoned_stream, tiny_model_dir, tmp_path, capsys):
    argv = ["--strategy", "naive", "--stream", poisoned_stream, "--model", tiny_model_dir,
            "--grid", "training.lr=0.01,0.001", "--seed", "10,11", "--val-per-class", "3",
            "--out", str(tmp_path), "--no-cache", *TINY_FLAGS]
    assert tune_main(argv) == 0, capsys.readouterr().err
    root = tmp_path / "synthetic-class" / "naive"
    rows = (root / "tuning.csv").read_text().splitlines()
    assert rows[0].startswith("trial,training.lr,seed,average_accuracy") and len(rows) == 1 + 2 * 2
    assert all(row.split(",")[-1].startswith("trials/trial-") for row in rows[1:])
    tuning = json.loads((root / "tuning.json").read_text())
    assert tuning["protocol"]["scored_on"] == "validation" and tuning["protocol"]["seeds"] == [10, 11]
    winner = tuning["winner"]
    assert winner["mean"] == max(t["mean"] for t in tuning["trials"])
    assert yaml.safe_load((root / "best.yaml").read_text()) == {"training": {"lr": winner["values"]["training.lr"]}}
    run_dir = tmp_path / "synthetic-class" / "naive" / "trials" / winner["trial"] / "synthetic-class" / "naive" / "seed-10"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert [e["n_test"] for e in metrics["experiences"]] == [6, 6, 6]  # 3 validation texts x 2 classes
    # the poison is real: an ordinary run of the same stream reads its test sets and fails
    from continual.run import main as run_main

    with pytest.raises(AssertionError, match="test_"):
        run_main(["--strategy", "naive", "--stream", poisoned_stream, "--model", tiny_model_dir,
                  "--out", str(tmp_path / "run"), "--no-cache", *TINY_FLAGS])


def test_rerunning_a_tuning_command_skips_finished_trials(tiny_model_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(BUILTIN_STREAMS, "poisoned", StreamSpec("poisoned", "class", "", 3, _poisoned_build))
    argv = ["--strategy", "ewc", "--stream", "poisoned", "--model", tiny_model_dir, "--grid", "ewc.lambda=1,100",
            "--seed", "10", "--out", str(tmp_path), "--no-cache", *TINY_FLAGS]
    assert tune_main(argv) == 0
    first = (tmp_path / "synthetic-class" / "ewc" / "tuning.csv").read_text()
    capsys.readouterr()
    assert tune_main(argv) == 0
    assert capsys.readouterr().err.count("already done") == 2
    assert (tmp_path / "synthetic-class" / "ewc" / "tuning.csv").read_text() == first


def test_grid_values_take_their_field_types(tmp_path):
    from continual.tune import build_plan

    config = tmp_path / "search.yaml"
    config.write_text("grid:\n  training.lr: [0.001, 0.01]\nstrategies:\n  ewc:\n    lambda: 5\n")
    plan = build_plan(["--strategy", "ewc", "--grid", "stream.train_per_class=5,6", "--config", str(config)])
    assert plan.space.keys == ["training.lr", "stream.train_per_class"]
    assert plan.space.values == [[0.001, 0.01], [5, 6]] and plan.strategy_params == {"ewc": {"lambda": "5"}}
    assert plan.config(plan.space.trials()[-1], 10, "out").stream.train_per_class == 6


def test_best_yaml_is_a_run_config(tmp_path):
    best = tmp_path / "best.yaml"
    best.write_text("# comment\ntraining:\n  lr: 0.001\nstrategies:\n  ewc:\n    lambda: 100.0\n")
    _, configs = build_configs(["--strategy", "ewc", "--config", str(best)])
    assert configs[0].training.lr == 0.001 and configs[0].strategy_params == {"ewc": {"lambda": "100.0"}}


def _scored(plan, scores_by_value: dict) -> list[dict]:
    from continual.tune import trial_id

    key = plan.space.keys[0]
    return [{"trial": trial_id({key: value}), key: value, "seed": seed, plan.metric: score}
            for value, scores in scores_by_value.items() for seed, score in zip(plan.seeds, scores)]


def test_the_one_standard_error_rule_takes_the_first_grid_setting_within_one_se_of_the_best(tmp_path):
    from continual.tune import build_plan, write_tuning

    argv = ["--strategy", "ewc", "--grid", "ewc.fisher_samples=128,256,512,0", "--out", str(tmp_path)]
    # best: 512 at 0.40 with scores 0.39, 0.41 (std 0.01414, standard error 0.01); 256 lies 0.009
    # below it, 128 0.02 below
    scores = {"128": [0.37, 0.39], "256": [0.39, 0.392], "512": [0.39, 0.41], "0": [0.395, 0.40]}
    plan = build_plan([*argv, "--select", "one-se"])
    root = write_tuning(plan, "s", _scored(plan, scores))
    record = json.loads((root / "tuning.json").read_text())
    assert record["winner"]["values"] == {"ewc.fisher_samples": 256}
    assert record["trials"][0]["values"] == {"ewc.fisher_samples": 512}  # the ranking stays best first
    assert "one-standard-error" in record["protocol"]["selection"]
    assert yaml.safe_load((root / "best.yaml").read_text()) == {"strategies": {"ewc": {"fisher_samples": 256}}}
    # a wider spread of the best widens the margin to 128; the default keeps the best mean
    wide = write_tuning(plan, "s", _scored(plan, {**scores, "512": [0.37, 0.43]}))
    assert json.loads((wide / "tuning.json").read_text())["winner"]["values"] == {"ewc.fisher_samples": 128}
    best = build_plan(argv)
    assert json.loads((write_tuning(best, "s", _scored(best, scores)) / "tuning.json").read_text())["winner"]["values"] == {
        "ewc.fisher_samples": 512}


def test_the_one_standard_error_rule_reads_smaller_as_better_for_a_loss_metric(tmp_path):
    from continual.tune import build_plan, write_tuning

    plan = build_plan(["--strategy", "ewc", "--grid", "ewc.lambda=1,10", "--metric", "forgetting",
                       "--select", "one-se", "--out", str(tmp_path)])
    rows = _scored(plan, {"1": [0.32, 0.32], "10": [0.29, 0.31]})  # best 0.30, standard error 0.01
    assert json.loads((write_tuning(plan, "s", rows) / "tuning.json").read_text())["winner"]["values"] == {
        "ewc.lambda": 10}
    rows = _scored(plan, {"1": [0.305, 0.305], "10": [0.29, 0.31]})
    assert json.loads((write_tuning(plan, "s", rows) / "tuning.json").read_text())["winner"]["values"] == {
        "ewc.lambda": 1}


@pytest.mark.parametrize("extra, needle", [
    (["--grid", "nonsense.key=1,2"], "is not a strategy or a config section"),
    (["--grid", "lwf.alpha=1,2"], "not a component of --strategy"),
    (["--grid", "ewc.lambda=a,b"], "--grid ewc.lambda"),
    (["--grid", "ewc.lambda"], "must look like"),
    (["--grid", "ewc.lambda=1,1"], "names a value twice"),
    (["--grid", "ewc.lambda=1", "--val-per-class", "0"], "leaves nothing to score"),
    (["--grid", "ewc.lambda=1", "--early-stopping"], "tune without it"),
    ([], "nothing to tune"),
    (["--grid", "ewc.lambda=1,2", "--select", "one-se", "--seed", "10"], "needs a standard error"),
])
def test_bad_tuning_input_is_one_line_exit_2(extra, needle, tmp_path, capsys):
    assert tune_main(["--strategy", "ewc", "--out", str(tmp_path), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1
    assert not any(tmp_path.iterdir())


def test_trials_on_ray_score_as_trials_one_after_another(tiny_model_dir, tmp_path, capsys):
    """The trials of a grid as Ray tasks (--jobs 2 --cpus-per-run 1) give the tuning.csv of the
    same trials run one after another at one thread."""
    from conftest import write_notes
    from test_ray import ray_processes
    from test_resume import poll_until

    before = {p.pid for p in ray_processes()}
    argv = ["--strategy", "naive", "--data", str(write_notes(tmp_path / "notes.csv")), "--text-col", "text",
            "--label-col", "label", "--scenario", "class", "--experiences", "3", "--val-per-class", "3",
            "--model", tiny_model_dir, "--grid", "training.lr=0.01,0.001", "--seed", "10", "--no-cache",
            "--cpus-per-run", "1", *TINY_FLAGS]
    assert tune_main([*argv, "--jobs", "2", "--out", str(tmp_path / "ray")]) == 0, capsys.readouterr().err
    assert "2 runs on Ray, 2 at a time" in capsys.readouterr().err
    assert tune_main([*argv, "--out", str(tmp_path / "sequential")]) == 0
    on_ray, sequential = ((tmp_path / kind / "notes-class" / "naive" / "tuning.csv").read_text()
                          for kind in ("ray", "sequential"))
    assert on_ray == sequential
    poll_until(lambda: not [p for p in ray_processes() if p.pid not in before and p.is_running()], timeout=30.0,
               what="the Ray processes of the tuning to end")


def test_an_interrupted_tuning_prints_the_tuning_command_that_resumes_it(monkeypatch, capsys):
    import continual.tune as tune

    def interrupted(argv):
        raise KeyboardInterrupt

    monkeypatch.setattr(tune, "command", interrupted)
    assert tune.main(["--strategy", "ewc", "--grid", "ewc.lambda=1,2"]) == 130
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == "interrupted: resume with: python -m continual.tune --strategy ewc --grid ewc.lambda=1,2 --resume"


def _cited_tunings(source: str) -> list:
    """The committed tuning.json files that a default's source cites: ``results/reference/tuning/
    <stream>/<strategy>/`` and the short ``<name>-fine/`` folders after it."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "results" / "reference" / "tuning"
    match = re.search(r"results/reference/tuning/([\w-]+)/([\w-]+)/((?:, [\w-]+/)*)", source)
    if not match:
        return []
    stream, strategy, more = match.groups()
    folders = [root / stream / strategy] + [root / f.strip(", /") / stream / strategy for f in more.split(",") if f.strip()]
    return [folder / "tuning.json" for folder in folders]


def test_every_validated_default_is_the_winner_of_the_grids_its_source_cites():
    """A default whose source says "validation of ..." carries the value that won the committed
    grid it cites (the best winner when it cites a first and a finer grid), so hand-written sources
    and code cannot drift apart from the tuning results."""
    from strategies import STRATEGIES

    checked = 0
    for name, spec in STRATEGIES.items():
        # a per-task variant shares its method's knobs, tuned under the method's name
        base = name.removesuffix("-per-task")
        entries = [(f"{base}.{p.name}", p.default, p.source) for p in spec.hyperparams]
        entries += [(f"training.{d.field}", d.value, d.source) for d in spec.training_defaults]
        for key, value, source in entries:
            if not source.startswith("validation of"):
                continue
            files = _cited_tunings(source)
            assert files and all(f.is_file() for f in files), f"{key}: source cites no committed grid: {source}"
            winners = [json.loads(f.read_text())["winner"] for f in files]
            winners = [w for w in winners if key in w["values"]]
            assert winners, f"{key}: no cited grid tunes it"
            best = max(winners, key=lambda w: w["mean"])
            assert best["values"][key] == pytest.approx(value), f"{name}: {key} = {value}, the grid chose {best['values'][key]}"
            checked += 1
    assert checked >= 15  # every tuned family is covered, not just a few
