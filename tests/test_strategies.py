"""Each registered strategy of the skeleton runs through Avalanche on a 3-experience stream."""
import numpy as np
import pytest
import torch

from continual import ExperimentConfig, ModelConfig, StreamConfig, TrainingConfig, run_experiment
from strategies import STRATEGIES, parse_strategy, resolve_params

from conftest import TINY_TRAINING, synthetic_stream

SKELETON = ["naive", "ewc", "replay", "lwf", "expanding-heads"]


def config_for(strategy, model_dir, tmp_path, **params):
    return ExperimentConfig(
        strategy=strategy, seed=0, out=str(tmp_path),
        stream=StreamConfig(no_cache=True, max_length=16),
        model=ModelConfig(model=model_dir),
        training=TrainingConfig(**TINY_TRAINING, device="cpu"),
        strategy_params=params,
    )


@pytest.mark.parametrize("name", SKELETON)
def test_strategy_yields_complete_matrix_matching_avalanche(name, tiny_model_dir, tmp_path):
    stream = synthetic_stream()
    result = run_experiment(config_for(name, tiny_model_dir, tmp_path), stream=stream,
                            progress=False, write=False)
    matrix = result.metrics["accuracy_matrix"]
    assert len(matrix) == 3 and all(len(row) == 3 for row in matrix)
    assert all(0.0 <= v <= 1.0 for row in matrix for v in row)
    # class-incremental with a masked growing head: unseen classes cannot be predicted
    assert all(matrix[i][j] == 0.0 for i in range(3) for j in range(i + 1, 3))
    # our matrix (from collected predictions) agrees with Avalanche's own accuracy metric
    np.testing.assert_allclose(matrix, result.avalanche_accuracy, atol=1e-9)
    assert result.metrics["initial_accuracy"] == pytest.approx(result.avalanche_initial_accuracy, abs=1e-9)
    assert result.metrics["fwt"] is None


def test_registry_names_and_defaults():
    assert set(SKELETON) <= set(STRATEGIES)
    assert resolve_params("ewc", {"lambda": "1000"})["lambda"] == 1000.0
    with pytest.raises(ValueError, match="no hyperparameter"):
        resolve_params("ewc", {"lamda": "1"})
    with pytest.raises(ValueError, match="expects a float"):
        resolve_params("ewc", {"lambda": "big"})
    assert parse_strategy("ewc+replay")[0] == "replay+ewc"
    with pytest.raises(ValueError, match="unknown strategy"):
        parse_strategy("ewk")


def test_expanding_heads_freezes_old_units_and_differs_from_naive(tiny_model_dir, tmp_path):
    from strategies.expanding_heads_plugin import FreezeOldHeadUnits

    class Exp:
        previous_classes = {0, 2}

    class Strategy:
        pass

    linear = torch.nn.Linear(4, 4)
    strategy = Strategy()
    strategy.experience = Exp()
    strategy.model = torch.nn.Module()
    strategy.model.head = torch.nn.Module()
    strategy.model.head.classifier = linear
    plugin = FreezeOldHeadUnits()
    plugin.before_training_exp(strategy)
    before = linear.weight.detach().clone()
    with torch.no_grad():
        linear.weight.add_(1.0)
        linear.bias.add_(1.0)
    plugin.after_update(strategy)
    assert torch.equal(linear.weight[[0, 2]], before[[0, 2]])
    assert torch.equal(linear.weight[[1, 3]], before[[1, 3]] + 1.0)

    # In a real run the head rows of the first experience's classes stay as that experience left
    # them, where naive moves them (the accuracy matrices may agree: both can forget completely
    # on this small stream, since the new classes' logits outgrow the old ones either way).
    from avalanche.core import SupervisedPlugin

    class FirstRows(SupervisedPlugin):
        def __init__(self, rows):
            super().__init__()
            self.rows, self.after_each = rows, []

        def after_training_exp(self, strategy, **kwargs):
            self.after_each.append(strategy.model.head.classifier.weight[self.rows].detach().clone())

    moved = {}
    for name in ("naive", "expanding-heads"):
        stream = synthetic_stream()
        spy = FirstRows(sorted(stream.experiences[0].classes))
        run_experiment(config_for(name, tiny_model_dir, tmp_path), stream=stream, progress=False, write=False,
                       extra_plugins=[spy])
        moved[name] = not torch.equal(spy.after_each[0], spy.after_each[-1])
    assert moved == {"naive": True, "expanding-heads": False}


def test_lwf_teacher_is_in_eval_mode():
    from strategies.lwf_plugin import EvalTeacherLwFPlugin

    plugin = EvalTeacherLwFPlugin(1.0, 2.0)

    class Agent:
        model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Dropout(0.5)).train()

    class Dataset:
        class targets_task_labels:
            uniques = {0}

        class task_set(dict):
            pass

    class Exp:
        dataset = type("D", (), {"targets_task_labels": type("T", (), {"uniques": {0}})(),
                                 "task_set": {0: type("S", (), {"targets": type("U", (), {"uniques": {0, 1}})()})()}})()

    plugin.lwf.post_adapt(Agent(), Exp())
    assert not plugin.lwf.prev_model.training
    assert all(not p.requires_grad for p in plugin.lwf.prev_model.parameters())
    x = torch.randn(5, 3)
    assert torch.equal(plugin.lwf.prev_model(x), plugin.lwf.prev_model(x))  # no dropout noise


def test_same_seed_same_matrix(tiny_model_dir, tmp_path):
    runs = [run_experiment(config_for("replay", tiny_model_dir, tmp_path), stream=synthetic_stream(),
                           progress=False, write=False) for _ in range(2)]
    assert runs[0].metrics["accuracy_matrix"] == runs[1].metrics["accuracy_matrix"]


def test_every_training_default_is_a_valid_training_field_with_a_source():
    import dataclasses

    from continual.config import TrainingConfig

    fields = {f.name for f in dataclasses.fields(TrainingConfig)}
    declared = {name: spec.training_defaults for name, spec in STRATEGIES.items() if spec.training_defaults}
    assert {"frozen", "seq-star", "lora"} <= set(declared)
    for name, defaults in declared.items():
        for default in defaults:
            assert default.field in fields, (name, default.field)
            assert default.source, (name, default.field)
        TrainingConfig(**{d.field: d.value for d in defaults})  # each value passes the field's checks


def test_training_defaults_need_a_source_and_compose():
    from strategies import register_strategy, resolve_training_defaults

    with pytest.raises(ValueError, match=r"must be \(value, source text\)"):
        register_strategy("x", family="baseline", paper="", description="", training_defaults={"lr": 0.1})
    assert set(resolve_training_defaults("replay+seq-star")) == {"lr", "epochs"}
    assert set(resolve_training_defaults("replay+seq-star", given={"lr"})) == {"epochs"}
    assert resolve_training_defaults("naive") == {}


def test_reference_rows_are_the_reference_family():
    from strategies import is_reference_row

    assert {n for n, s in STRATEGIES.items() if s.reference_row} == {"joint", "cumulative", "zero-shot"}
    assert STRATEGIES["naive"].family == STRATEGIES["seq-star"].family == "baseline"
    assert is_reference_row("joint") and not is_reference_row("replay+ewc") and not is_reference_row("retired-method")


@pytest.mark.parametrize("pair", ["seq-star+frozen", "seq-star+lora", "seq-star+expanding-heads", "seq-star+lwf"])
def test_seq_star_refuses_what_it_already_does_or_undoes(pair):
    with pytest.raises(ValueError, match="cannot be combined"):
        parse_strategy(pair)
    assert parse_strategy("seq-star+replay")[0] == "replay+seq-star"
