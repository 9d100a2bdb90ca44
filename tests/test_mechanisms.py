"""One test per mechanism that no accuracy number shows by itself: atomic writes, the replay
buffer's size, balance and policy, the expanding head reaching the optimizer, early stopping,
EWC's configured lambda and LwF's teacher. Training mechanisms are watched during a real tiny run
through an Avalanche plugin passed as ``extra_plugins`` (the hook the benchmark uses too)."""
import json
import pytest
import torch
from avalanche.core import SupervisedPlugin

from continual import ExperimentConfig, ModelConfig, StreamConfig, TrainingConfig, run_experiment
from continual.run import main
from continual.state.files import atomic_write

from conftest import SYNTHETIC_STREAMS, TINY_TRAINING, synthetic_stream, write_notes


def tiny_config(strategy, model_dir, tmp_path, params=None, stream=None, **training):
    return ExperimentConfig(
        strategy=strategy, seed=0, out=str(tmp_path),
        stream=StreamConfig(no_cache=True, max_length=16, **(stream or {})), model=ModelConfig(model=model_dir),
        training=TrainingConfig(device="cpu", **{**TINY_TRAINING, **training}),
        strategy_params=params or {})


def run_watched(config, spy, scenario="class"):
    return run_experiment(config, stream=SYNTHETIC_STREAMS[scenario](), progress=False, write=False,
                          extra_plugins=[spy])


def plugin_of(strategy, kind: str):
    return next(p for p in strategy.plugins if type(p).__name__ == kind)


# ------------------------------------------------------------------ atomic writes

def test_an_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text('{"old": true}')

    def half_then_fail(handle):
        handle.write('{"new": ')
        handle.flush()
        raise KeyboardInterrupt  # a kill midway

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, half_then_fail)
    assert json.loads(target.read_text()) == {"old": True}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]
    atomic_write(target, lambda handle: handle.write('{"new": true}'))
    assert json.loads(target.read_text()) == {"new": True}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


# ------------------------------------------------------------------ replay buffer

class BufferWatch(SupervisedPlugin):
    """Group sizes and targets of the replay buffer after each experience."""

    def __init__(self):
        super().__init__()
        self.after = []

    def after_training_exp(self, strategy, **kwargs):
        storage = plugin_of(strategy, "BucketedReplayPlugin").storage_policy
        groups = getattr(storage, "buffer_groups", {"all": storage})
        self.after.append({key: [int(t) for t in group.buffer.targets] for key, group in groups.items()})


MEM_SIZE = 12


@pytest.mark.parametrize("policy", ["experience-balanced", "class-balanced", "reservoir"])
def test_replay_buffer_holds_mem_size_split_by_its_policy(policy, tiny_model_dir, tmp_path):
    spy = BufferWatch()
    stream = SYNTHETIC_STREAMS["class"]()
    run_watched(tiny_config("replay", tiny_model_dir, tmp_path, {"replay": {"mem_size": str(MEM_SIZE), "policy": policy}}),
                spy)
    classes = [e.classes for e in stream.experiences]
    assert len(spy.after) == len(classes)
    for k, groups in enumerate(spy.after):
        sizes = {key: len(targets) for key, targets in groups.items()}
        assert sum(sizes.values()) == MEM_SIZE, (k, sizes)  # every experience has more than mem_size texts
        seen = sorted(c for group in classes[: k + 1] for c in group)
        if policy == "experience-balanced":
            assert sorted(sizes) == list(range(k + 1)) and set(sizes.values()) == {MEM_SIZE // (k + 1)}
            assert all(set(groups[e]) <= set(classes[e]) for e in groups)  # each group holds its experience
        elif policy == "class-balanced":
            assert sorted(sizes) == seen and set(sizes.values()) == {MEM_SIZE // len(seen)}
            assert all(set(targets) == {c} for c, targets in groups.items())
        else:
            assert set(groups["all"]) <= set(seen)


# ------------------------------------------------------------------ expanding head and optimizer

class HeadWatch(SupervisedPlugin):
    """Per experience: head rows and active (trainable, unmasked) units, whether the optimizer
    holds every trainable parameter, and the rows of the experience's own classes before and
    after its training. The head may grow before training too: evaluating the untrained model
    on every test experience adapts it to their classes, masked until trained."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def before_training_exp(self, strategy, **kwargs):
        linear = strategy.model.head.classifier
        in_optimizer = {id(p) for group in strategy.optimizer.param_groups for p in group["params"]}
        trainable = [p for p in strategy.model.parameters() if p.requires_grad]
        self.seen.append({"rows": linear.weight.shape[0], "optimized": all(id(p) in in_optimizer for p in trainable),
                          "head_optimized": id(linear.weight) in in_optimizer,
                          "classes": list(strategy.experience.classes_in_this_experience),
                          "before": linear.weight.detach().clone()})

    def after_training_exp(self, strategy, **kwargs):
        self.seen[-1]["after"] = strategy.model.head.classifier.weight.detach().clone()
        active = strategy.model.head.active_units
        self.seen[-1]["active"] = sorted(torch.nonzero(active).flatten().tolist())


def test_expanding_head_grows_and_its_new_rows_are_trained(tiny_model_dir, tmp_path):
    spy = HeadWatch()
    stream = SYNTHETIC_STREAMS["class"]()
    run_watched(tiny_config("expanding-heads", tiny_model_dir, tmp_path), spy)
    assert len(spy.seen) == len(stream.experiences)
    for k, seen in enumerate(spy.seen):
        assert seen["rows"] >= max(seen["classes"]) + 1  # grown to hold this experience's classes
        assert seen["active"] == sorted(c for e in stream.experiences[: k + 1] for c in e.classes)
        assert seen["optimized"] and seen["head_optimized"], k  # the grown head reaches the optimizer
        new = seen["classes"]
        assert not torch.equal(seen["before"][new], seen["after"][new]), k  # and its new rows train


# ------------------------------------------------------------------ early stopping

class IterationCount(SupervisedPlugin):
    def __init__(self):
        super().__init__()
        self.per_experience = []

    def before_training_exp(self, strategy, **kwargs):
        self.per_experience.append(0)

    def after_training_iteration(self, strategy, **kwargs):
        self.per_experience[-1] += 1


def test_early_stopping_stops_when_validation_accuracy_stops_improving(tiny_model_dir, tmp_path):
    epochs = 8
    counts = {}
    for stopping in (False, True):
        spy = IterationCount()
        config = tiny_config("naive", tiny_model_dir, tmp_path, stream={"val_per_class": 2}, epochs=epochs,
                             early_stopping=stopping)
        run_experiment(config, stream=synthetic_stream(val_per_class=2), progress=False, write=False,
                       extra_plugins=[spy])
        counts[stopping] = spy.per_experience
    batches = counts[False][0] // epochs
    assert batches >= 1 and all(n == epochs * batches for n in counts[False])
    assert all(n <= epochs * batches for n in counts[True])
    assert sum(counts[True]) < sum(counts[False]), counts  # stopped before the last epoch


def test_early_stopping_without_a_validation_split_is_one_line(tiny_model_dir, tmp_path):
    from continual import UserError

    config = tiny_config("naive", tiny_model_dir, tmp_path, early_stopping=True)
    with pytest.raises(UserError, match="--early-stopping needs a validation split"):
        run_experiment(config, stream=synthetic_stream(), progress=False, write=False)


# ------------------------------------------------------------------ EWC lambda

def test_configured_lambda_reaches_the_ewc_plugin(tiny_model_dir, tmp_path, monkeypatch):
    from strategies import ewc_plugin

    made = []
    real_init = ewc_plugin.TextEWCPlugin.__init__

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(ewc_plugin.TextEWCPlugin, "__init__", init)
    argv = ["--data", str(write_notes(tmp_path / "notes.csv")), "--text-col", "text", "--label-col", "label",
            "--scenario", "class", "--experiences", "2", "--model", tiny_model_dir, "--max-length", "16",
            "--epochs", "1", "--device", "cpu", "--no-cache", "--no-progress", "--strategy", "ewc",
            "--set", "ewc.lambda=123", "--out", str(tmp_path / "out")]
    assert main(argv) == 0
    assert [plugin.ewc_lambda for plugin in made] == [123.0]


# ------------------------------------------------------------------ LwF teacher

class TeacherWatch(SupervisedPlugin):
    """The model at the end of experience 0, and LwF's teacher during experience 1."""

    def __init__(self):
        super().__init__()
        self.end_of_first, self.teacher_in_second, self.model_in_second = None, None, None

    def after_training_exp(self, strategy, **kwargs):
        if strategy.experience.current_experience == 0:
            self.end_of_first = {k: v.detach().clone() for k, v in strategy.model.state_dict().items()}

    def after_training_iteration(self, strategy, **kwargs):
        if strategy.experience.current_experience == 1 and self.teacher_in_second is None:
            teacher = plugin_of(strategy, "EvalTeacherLwFPlugin").lwf.prev_model
            self.teacher_in_second = {k: v.detach().clone() for k, v in teacher.state_dict().items()}
            self.model_in_second = {k: v.detach().clone() for k, v in strategy.model.state_dict().items()}


def test_lwf_teacher_is_the_model_at_the_end_of_the_previous_experience(tiny_model_dir, tmp_path):
    spy = TeacherWatch()
    run_watched(tiny_config("lwf", tiny_model_dir, tmp_path), spy)
    teacher, before = spy.teacher_in_second, spy.end_of_first
    assert teacher is not None and before is not None
    assert teacher.keys() == before.keys()
    assert [k for k in before if not torch.equal(teacher[k], before[k])] == []
    encoder = [k for k in before if k.startswith("features.")]
    assert any(not torch.equal(spy.model_in_second[k], before[k]) for k in encoder)  # the student moved on
