"""The baselines' own mechanics: joint's optimisation budget against cumulative's, and seq-star's
frozen encoder and frozen head units of earlier experiences (bit-identical under AdamW's weight
decay), on the tiny model and synthetic streams."""
from types import SimpleNamespace

import pytest
import torch
from avalanche.core import SupervisedPlugin

from continual import ExperimentConfig, ModelConfig, StreamConfig, TrainingConfig, run_experiment
from strategies.reference import joint_epochs
from strategies.seq_star import freeze_old_units_plugin

from conftest import TINY_TRAINING, synthetic_stream


def config_for(name, model_dir, tmp_path, **training):
    return ExperimentConfig(
        strategy=name, seed=0, out=str(tmp_path), stream=StreamConfig(no_cache=True, max_length=16),
        model=ModelConfig(model=model_dir), training=TrainingConfig(**{**TINY_TRAINING, **training}, device="cpu"))


class Steps(SupervisedPlugin):
    """Counts optimizer steps and epochs, and keeps a copy of the model after each experience."""

    def __init__(self):
        super().__init__()
        self.steps = self.epochs = 0
        self.snapshots: list[dict] = []

    def after_update(self, strategy, **kwargs):
        self.steps += 1

    def after_training_epoch(self, strategy, **kwargs):
        self.epochs += 1

    def after_training_exp(self, strategy, **kwargs):
        self.snapshots.append({k: v.detach().clone() for k, v in strategy.model.state_dict().items()})


@pytest.mark.parametrize("sizes, epochs, batch_size, expected", [
    # 20, 40, 60 examples seen by cumulative: 2 * 120 = 240 = 4 * 60; steps 2 * (3 + 5 + 8) = 32 = 4 * 8
    ([20, 20, 20], 2, 8, 4),
    # examples: ceil(10 / 4) = 3 epochs, but cumulative makes 4 one-batch steps: 4 epochs of 1 step
    ([1, 1, 1, 1], 1, 8, 4),
    # one experience: joint is cumulative
    ([50], 3, 8, 3),
    # examples: ceil(2 * (100 + 110 + 200) / 200) = 5; steps: ceil(2 * (4 + 4 + 7) / 7) = 5
    ([100, 10, 90], 2, 32, 5),
])
def test_joint_epochs_give_at_least_cumulatives_budget(sizes, epochs, batch_size, expected):
    assert joint_epochs(sizes, epochs, batch_size) == expected
    seen = [sum(sizes[: i + 1]) for i in range(len(sizes))]

    def steps(n):
        return -(-n // batch_size)

    assert expected * seen[-1] >= epochs * sum(seen)
    assert expected * steps(seen[-1]) >= epochs * sum(steps(n) for n in seen)


def test_joint_trains_as_many_steps_as_cumulative(tiny_model_dir, tmp_path):
    counted = {}
    for name in ("joint", "cumulative"):
        spy = Steps()
        run_experiment(config_for(name, tiny_model_dir, tmp_path), stream=synthetic_stream(), progress=False,
                       write=False, extra_plugins=[spy])
        counted[name] = (spy.epochs, spy.steps)
    # 3 experiences of 20 texts, batches of 8, 2 epochs: cumulative 2 * (3 + 5 + 8) = 32 steps;
    # joint 4 epochs of 8 steps on the union
    assert counted == {"joint": (4, 32), "cumulative": (6, 32)}


def _linear(rows=6, features=4):
    from avalanche.models import IncrementalClassifier

    torch.manual_seed(0)
    head = IncrementalClassifier(features, initial_out_features=rows)
    head.active_units[:] = 1
    return head


def test_old_rows_stay_bit_identical_under_adamw_weight_decay():
    """Old rows share their tensor with the trained rows, so they get a (zero) gradient and
    AdamW decays them; the plugin writes them back after each step."""

    class Strategy:
        experience = SimpleNamespace(previous_classes={0, 2}, task_labels=[0])
        model = torch.nn.Module()

    Strategy.model.head = _linear()
    linear = Strategy.model.head.classifier
    before = (linear.weight.detach().clone(), linear.bias.detach().clone())
    plugin = freeze_old_units_plugin()()
    plugin.before_training_exp(Strategy)
    optimizer = torch.optim.AdamW(linear.parameters(), lr=0.1, weight_decay=0.5)
    for _ in range(3):
        logits = Strategy.model.head(torch.randn(8, 4))
        loss = torch.nn.functional.cross_entropy(logits, torch.tensor([1, 3, 4, 5] * 2))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        plugin.after_update(Strategy)
    old, new = [0, 2], [1, 3, 4, 5]
    assert torch.equal(linear.weight[old], before[0][old]) and torch.equal(linear.bias[old], before[1][old])
    assert not torch.equal(linear.weight[new], before[0][new])
    assert plugin.state_dict() == {"kind": "stateless"}


def test_seq_star_keeps_the_encoder_and_earlier_rows_where_naive_moves_them(tiny_model_dir, tmp_path):
    moved = {}
    for name in ("naive", "frozen", "seq-star"):
        stream = synthetic_stream()
        spy = Steps()
        run_experiment(config_for(name, tiny_model_dir, tmp_path, weight_decay=0.5), stream=stream,
                       progress=False, write=False, extra_plugins=[spy])
        first, last = spy.snapshots[0], spy.snapshots[-1]
        rows = sorted(stream.experiences[0].classes)
        encoder = [k for k in first if k.startswith("features.")]
        moved[name] = {
            "encoder": any(not torch.equal(first[k], last[k]) for k in encoder),
            "old rows": not (torch.equal(first["head.classifier.weight"][rows], last["head.classifier.weight"][rows])
                             and torch.equal(first["head.classifier.bias"][rows], last["head.classifier.bias"][rows])),
        }
        if name == "seq-star":  # the second experience's rows too, through the third
            second = sorted(stream.experiences[1].classes)
            assert torch.equal(spy.snapshots[1]["head.classifier.weight"][second],
                               last["head.classifier.weight"][second])
            assert not torch.equal(spy.snapshots[1]["head.classifier.weight"][sorted(stream.experiences[2].classes)],
                                   last["head.classifier.weight"][sorted(stream.experiences[2].classes)])
    assert moved == {"naive": {"encoder": True, "old rows": True},
                     "frozen": {"encoder": False, "old rows": True},
                     "seq-star": {"encoder": False, "old rows": False}}
