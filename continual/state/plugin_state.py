"""State adapters for the Avalanche parts that strategies use as they are (and the run's own plugins).

A plugin or template of ours saves itself: it has ``state_dict(examples=True)`` and
``load_state_dict(state, context)`` (strategies/state.py, docs/design.md, Checkpoints). An
Avalanche class used as is (GEM, A-GEM, the clock, the Cumulative template) cannot carry those
methods, so an adapter registered here by type does the same for it. :func:`state_of` finds
the one that applies; the checkpoint code talks only to what it returns.
"""
from __future__ import annotations

import functools
from collections.abc import Callable

from strategies.state import (
    NotCapturable,
    RestoreContext,
    StateError,
    cpu,
    dataset,
    dataset_state,
)


class StateAdapter:
    """Saves and loads the state of one object of a registered type (``self.target``)."""

    #: whether the state includes stored training examples (left out with --no-buffer-checkpoint)
    holds_examples = False

    def __init__(self, target):
        self.target = target

    def check_state(self) -> None:
        """NotCapturable when this object's state cannot be saved."""

    def state_dict(self, examples: bool = True) -> dict:
        return {"kind": "stateless"}

    def load_state_dict(self, state: dict, context: RestoreContext) -> None:
        pass


class ClockState(StateAdapter):
    """Avalanche's Clock: its integer counters."""

    def state_dict(self, examples: bool = True) -> dict:
        return {"kind": "clock", "counters": {k: v for k, v in vars(self.target).items() if isinstance(v, int)}}

    def load_state_dict(self, state: dict, context: RestoreContext) -> None:
        for key, value in state["counters"].items():
            setattr(self.target, key, value)


class GEMState(StateAdapter):
    """GEMPlugin: the examples of every past experience (its constraints need all of them)."""

    holds_examples = True

    def state_dict(self, examples: bool = True) -> dict:
        plugin = self.target
        memory = None
        if examples:
            memory = {part: {int(t): cpu(v) for t, v in values.items()}
                      for part, values in (("x", plugin.memory_x), ("y", plugin.memory_y), ("tid", plugin.memory_tid))}
        return {"kind": "gem", "memory": memory, "experiences": len(plugin.memory_x)}

    def load_state_dict(self, state: dict, context: RestoreContext) -> None:
        if state["memory"] is None and state["experiences"]:
            raise StateError("gem cannot resume from a checkpoint written with --no-buffer-checkpoint: its "
                             "gradient constraints need every past experience's memory")
        memory = state["memory"] or {"x": {}, "y": {}, "tid": {}}
        plugin = self.target
        plugin.memory_x, plugin.memory_y, plugin.memory_tid = (
            {t: v.clone() for t, v in memory[part].items()} for part in ("x", "y", "tid"))


class AGEMState(StateAdapter):
    """AGEMPlugin: one buffer dataset per past experience, and the loader it draws from."""

    holds_examples = True

    def state_dict(self, examples: bool = True) -> dict:
        return {"kind": "agem", "buffers": [dataset_state(b) for b in self.target.buffers] if examples else None}

    def load_state_dict(self, state: dict, context: RestoreContext) -> None:
        from avalanche.benchmarks.utils.data_loader import (
            GroupBalancedInfiniteDataLoader,
        )

        plugin = self.target
        plugin.buffers = [dataset(b) for b in state["buffers"] or []]
        if plugin.buffers:  # as AGEMPlugin.update_memory leaves it after an experience
            plugin.buffer_dataloader = GroupBalancedInfiniteDataLoader(
                plugin.buffers, batch_size=plugin.sample_size // len(plugin.buffers), num_workers=0,
                pin_memory=False, persistent_workers=False)
            plugin.buffer_dliter = iter(plugin.buffer_dataloader)


class PlainTemplateState(StateAdapter):
    """SupervisedTemplate: everything it carries between experiences is the model, optimizer
    and plugins, saved apart."""

    def state_dict(self, examples: bool = True) -> dict:
        return {"kind": "plain"}


class CumulativeState(StateAdapter):
    """Cumulative: its dataset is the union of the finished experiences, rebuilt from the benchmark."""

    def state_dict(self, examples: bool = True) -> dict:
        return {"kind": "cumulative"}

    def load_state_dict(self, state: dict, context: RestoreContext) -> None:
        from avalanche.benchmarks.utils.utils import concat_datasets

        union = None
        for exp_id in range(context.finished):
            part = context.benchmark.train_stream[exp_id].dataset
            union = part if union is None else concat_datasets([union, part])
        self.target.dataset = union


class JointState(StateAdapter):
    """JointTraining: nothing to resume."""

    def check_state(self) -> None:
        raise NotCapturable("trains once on the whole stream: there is no experience boundary to resume from")


@functools.cache
def adapters() -> dict[type, Callable[[object], StateAdapter]]:
    """The registered adapters by type (built on first use: it imports Avalanche)."""
    from avalanche.training import Cumulative, JointTraining
    from avalanche.training.plugins import (
        AGEMPlugin,
        EarlyStoppingPlugin,
        EvaluationPlugin,
        GEMPlugin,
    )
    from avalanche.training.plugins.clock import Clock
    from avalanche.training.templates import SupervisedTemplate
    from avalanche.training.templates.base_sgd import PeriodicEval

    from ..engine.template import Progress
    from ..evaluation.predictions import PredictionCollector
    from ..evaluation.task_collectors import LabelSetCollector, TagCollector

    return {Clock: ClockState, GEMPlugin: GEMState, AGEMPlugin: AGEMState, SupervisedTemplate: PlainTemplateState,
            Cumulative: CumulativeState, JointTraining: JointState,
            # no state that outlives an experience
            EvaluationPlugin: StateAdapter, EarlyStoppingPlugin: StateAdapter, PeriodicEval: StateAdapter,
            Progress: StateAdapter, PredictionCollector: StateAdapter, TagCollector: StateAdapter,
            LabelSetCollector: StateAdapter}


def state_of(target):
    """What saves and loads ``target``'s state: the object itself when its class (or one of
    ours it extends) defines ``state_dict`` and ``load_state_dict``, else the adapter registered
    for the nearest registered class. The nearest Avalanche class decides: a subclass of an
    Avalanche class with no registered adapter (its attributes might carry state between
    experiences) raises NotCapturable, and so does a class that has neither."""
    registered = adapters()
    for cls in type(target).__mro__:
        if "state_dict" in vars(cls) and "load_state_dict" in vars(cls):
            return target
        if cls in registered:
            return registered[cls](target)
        if cls.__module__.startswith("avalanche"):
            break
    raise NotCapturable("holds state that checkpoints do not cover")
