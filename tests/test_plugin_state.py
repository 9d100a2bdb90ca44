"""Every stateful plugin's (and DER's template's) state survives torch.save and
torch.load(weights_only=True) and loads into a freshly built one, which then saves the same state."""
import io
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from continual.state.checkpoint import digest
from continual.state.plugin_state import state_of


def _dataset(y, task=0):
    from avalanche.benchmarks.utils.classification_dataset import (
        _make_taskaware_classification_dataset,
    )

    from streams.tokenization import PackedTextDataset

    y = torch.tensor(y)
    x = torch.arange(len(y) * 2 * 3).reshape(len(y), 2, 3)
    return _make_taskaware_classification_dataset(PackedTextDataset(x, y), task_labels=task, targets=y.tolist())


EXPERIENCES = [[1, 0, 1, 0, 1, 1], [3, 2, 2, 3, 2, 3]]


def _context(model=None):
    from strategies.state import RestoreContext

    benchmark = SimpleNamespace(train_stream=[SimpleNamespace(dataset=_dataset(y)) for y in EXPERIENCES])
    strategy = SimpleNamespace(model=model if model is not None else nn.Linear(3, 2), device=torch.device("cpu"))
    return RestoreContext(benchmark=benchmark, finished=len(EXPERIENCES), strategy=strategy)


def _fill(policy, context):
    for experience in context.benchmark.train_stream:
        policy.post_adapt(None, experience)
    return policy


def _params(model, scale):
    from avalanche.training.utils import ParamData

    return {n: ParamData(n, init_tensor=torch.rand(p.shape) * scale) for n, p in model.named_parameters()}


def _ewc(mode):
    from strategies.ewc_plugin import TextEWCPlugin

    def build():
        return TextEWCPlugin(ewc_lambda=2.0, mode=mode, decay_factor=0.5 if mode == "online" else None)

    def fill(plugin, context):
        for experience in range(2):
            plugin.saved_params[experience] = _params(context.strategy.model, 1.0)
            plugin.importances[experience] = _params(context.strategy.model, 0.1)
        plugin._fold()  # separate mode: two experiences folded into the two sums
        return plugin

    return build, fill


def _si():
    from strategies.importance_plugins import TextSIPlugin

    def fill(plugin, context):
        strategy = SimpleNamespace(model=context.strategy.model)
        plugin.before_training_exp(strategy)
        with torch.no_grad():
            strategy.model.weight.add_(0.5)
        plugin.after_training_exp(strategy)
        return plugin

    return lambda: TextSIPlugin(si_lambda=1.0, eps=1e-7), fill


def _mas():
    from strategies.importance_plugins import TextMASPlugin

    def fill(plugin, context):
        plugin.params, plugin.importance = _params(context.strategy.model, 1.0), _params(context.strategy.model, 0.1)
        return plugin

    return lambda: TextMASPlugin(lambda_reg=1.0), fill


def _replay(kind):
    from avalanche.training.storage_policy import ParametricBuffer

    from strategies.replay import make_buffer
    from strategies.replay_plugin import BucketedReplayPlugin

    def build():
        policy = ParametricBuffer(5, groupby="class") if kind == "parametric" else make_buffer(kind, 5)
        return BucketedReplayPlugin(mem_size=5, storage_policy=policy)

    return build, lambda plugin, context: (_fill(plugin.storage_policy, context), plugin)[1]


def _lwf():
    from strategies.lwf_plugin import EvalTeacherLwFPlugin

    def fill(plugin, context):
        plugin.lwf.expcount = 2
        plugin.lwf.prev_model = nn.Linear(3, 2)
        plugin.lwf.prev_classes_by_task = {0: {0, 1, 2, 3}}
        return plugin

    return lambda: EvalTeacherLwFPlugin(1.0, 2.0), fill


def _icarl_loss():
    from strategies.icarl_parts import EvalDropoutICaRLLoss

    def fill(plugin, context):
        plugin.old_classes, plugin.old_model = [1, 0, 3], nn.Linear(3, 2)
        return plugin

    return EvalDropoutICaRLLoss, fill


def _gem():
    from avalanche.training.plugins import GEMPlugin

    def fill(plugin, context):
        for t in range(2):
            plugin.memory_x[t], plugin.memory_y[t] = torch.rand(4, 3), torch.arange(4)
            plugin.memory_tid[t] = torch.zeros(4)
        return plugin

    return lambda: GEMPlugin(patterns_per_experience=4, memory_strength=0.5), fill


def _agem():
    from avalanche.training.plugins import AGEMPlugin

    def fill(plugin, context):
        plugin.buffers = [e.dataset for e in context.benchmark.train_stream]
        return plugin

    return lambda: AGEMPlugin(patterns_per_experience=4, sample_size=4), fill


def _clock():
    from avalanche.training.plugins.clock import Clock

    def fill(plugin, context):
        plugin.train_exp_counter, plugin.train_iterations = 2, 17
        return plugin

    return Clock, fill


def _der():
    from strategies.der_template import MaskedLogitsDER
    from strategies.state import dataset

    def build():
        model = nn.Linear(3, 4)
        return MaskedLogitsDER(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), mem_size=6)

    def fill(strategy, context):
        from avalanche.training.storage_policy import ReservoirSamplingBuffer

        policy = strategy.storage_policy
        for label in (0, 1):
            group = ReservoirSamplingBuffer(3)
            group.buffer = dataset({"n": 2, "x": torch.rand(2, 2, 3), "y": torch.tensor([label] * 2),
                                    "t": torch.zeros(2, dtype=torch.long), "logits": torch.rand(2, 4)})
            group._buffer_weights = torch.rand(2)
            policy.buffer_groups[label] = group
            policy.seen_classes.add(label)
        return strategy

    return build, fill


CASES = {"ewc": lambda: _ewc("separate"), "online-ewc": lambda: _ewc("online"), "si": _si, "mas": _mas,
         "replay-experience-balanced": lambda: _replay("experience-balanced"),
         "replay-class-balanced": lambda: _replay("class-balanced"), "replay-reservoir": lambda: _replay("reservoir"),
         "replay-parametric": lambda: _replay("parametric"), "lwf": _lwf, "icarl-loss": _icarl_loss, "gem": _gem,
         "agem": _agem, "clock": _clock, "der": _der}


@pytest.mark.parametrize("name", list(CASES))
def test_state_round_trips_through_a_weights_only_load(name):
    build, fill = CASES[name]()
    torch.manual_seed(0)
    context = _context()
    saved = state_of(fill(build(), context)).state_dict()
    assert saved["kind"] != "stateless"
    handle = io.BytesIO()
    torch.save(saved, handle)
    handle.seek(0)
    loaded = torch.load(handle, weights_only=True)
    fresh = build()
    state_of(fresh).load_state_dict(loaded, context)
    assert digest(state_of(fresh).state_dict()) == digest(saved)


def test_state_without_examples_leaves_the_buffer_out():
    build, fill = _replay("class-balanced")
    context = _context()
    saved = state_of(fill(build(), context)).state_dict(examples=False)
    assert all(group["data"] is None for _, group in saved["storage"]["groups"])
    fresh = build()
    state_of(fresh).load_state_dict(saved, context)
    assert len(fresh.storage_policy.buffer) == 0 and list(fresh.storage_policy.seen_classes) == [0, 1, 2, 3]
