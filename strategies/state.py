"""Plugin state as tensors and plain values: what a strategy's plugins save between experiences.

Every stateful plugin of ours has ``state_dict(examples=True)`` and ``load_state_dict(state,
context)``. The state holds only tensors, numbers, strings, lists, tuples and dicts, so a checkpoint
of it loads with ``torch.load(weights_only=True)`` (docs/design.md, Checkpoints). The helpers here
turn the Avalanche structures that several plugins share (``ParamData`` dicts, buffer datasets,
storage policies, class-id sets, teacher models) into such values and back.

This module imports torch and Avalanche: the plugin modules import it, and the strategy builders
import those only when called, so ``import strategies`` stays cheap.
"""
from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass
from typing import Any, Optional

import torch
from avalanche.benchmarks.utils.classification_dataset import (
    _make_taskaware_classification_dataset,
)
from avalanche.benchmarks.utils.utils import concat_datasets
from avalanche.models import NCMClassifier
from avalanche.training.storage_policy import (
    ClassBalancedBuffer,
    ExperienceBalancedBuffer,
    ParametricBuffer,
    ReservoirSamplingBuffer,
    _ParametricSingleBuffer,
)
from avalanche.training.supervised.der import ClassBalancedBufferWithLogits
from avalanche.training.utils import ParamData

from streams.tokenization import PackedTextDataset


class StateError(ValueError):
    """A saved state that cannot be loaded into this plugin (the checkpoint code reports it)."""


class NotCapturable(Exception):
    """The plugin holds state that cannot be saved; the message completes "its plugin X ..."."""


@dataclass
class RestoreContext:
    """What a plugin may need when loading its state into a freshly built strategy."""

    #: the Avalanche benchmark of the run (finished experiences replay set orders from it)
    benchmark: Any
    #: number of finished experiences
    finished: int
    #: the strategy, its model already restored (teachers are copies of it)
    strategy: Any

    @property
    def device(self):
        """The device the resumed run trains on: every restored tensor goes there."""
        return self.strategy.device

    def teacher(self, saved: Optional[dict]):
        """A teacher (LwF's previous model, iCaRL's old model) rebuilt as a copy of the restored
        model with the teacher's saved values, modes and frozen flags."""
        if saved is None:
            return None
        teacher = copy.deepcopy(self.strategy.model)
        load_module_state(teacher, saved)
        return teacher.to(self.strategy.device)


def cpu(tensor: torch.Tensor) -> torch.Tensor:
    """The tensor on the CPU, without a copy when it is there already: a checkpoint is written
    right after it is captured, and copying a model's worth of state would add to the run's
    measured peak memory."""
    return tensor.detach().cpu()


# --------------------------------------------------------------------------- modules

def module_state(model) -> dict:
    """A model's values, train/eval modes, frozen flags and NCM class means."""
    extras = {}
    for name, module in model.named_modules():
        if isinstance(module, NCMClassifier):  # plain attributes its state_dict leaves out
            extras[name] = {"kind": "ncm", "max_class": int(module.max_class),
                            "class_means": [[int(k), cpu(v)] for k, v in module.class_means_dict.items()]}
    return {
        "state": {k: cpu(v) for k, v in model.state_dict().items()},
        "training": {name: m.training for name, m in model.named_modules()},
        "requires_grad": {name: p.requires_grad for name, p in model.named_parameters()},
        "extras": extras,
    }


def load_module_state(model, saved: dict) -> None:
    """Load a :func:`module_state` dict into a model of the same architecture; StateError if
    the shapes or names differ."""
    current = model.state_dict()
    for key, value in saved["state"].items():
        if key not in current:  # a buffer that is None until first set (NCMClassifier.class_means)
            owner_name, _, buffer_name = key.rpartition(".")
            owner = model.get_submodule(owner_name) if owner_name else model
            if buffer_name in owner._buffers and owner._buffers[buffer_name] is None:
                owner._buffers[buffer_name] = value.clone()
    try:
        model.load_state_dict(saved["state"], strict=True)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise StateError(f"the checkpoint's model does not fit the rebuilt model ({first[:160]})") from None
    modules = dict(model.named_modules())
    for name, flag in saved["training"].items():
        if name in modules:
            modules[name].training = flag
    parameters = dict(model.named_parameters())
    for name, flag in saved["requires_grad"].items():
        if name in parameters:
            parameters[name].requires_grad_(flag)
    for name, extra in saved["extras"].items():
        module = modules[name]
        if extra["kind"] == "ncm":
            device = next(iter(module.buffers()), torch.empty(0)).device
            module.class_means_dict = {k: v.to(device) for k, v in extra["class_means"]}
            module.max_class = extra["max_class"]


def teacher_state(model) -> Optional[dict]:
    return None if model is None else module_state(model)


# --------------------------------------------------------------------------- ParamData

def param_dict_state(values) -> Optional[dict]:
    """A ``{name: ParamData}`` dict as plain values."""
    if values is None:
        return None
    return {name: {"name": v.name, "shape": list(v.shape), "device": str(v.device), "data": cpu(v.data)}
            for name, v in values.items()}


def param_dict(saved, device=None) -> Optional[dict]:
    """:func:`param_dict_state`'s dict back as ``{name: ParamData}``, on ``device`` (the
    resumed run's, which may differ from the one the checkpoint was made on) or, without one,
    on the saved devices."""
    if saved is None:
        return None
    values = {}
    for name, item in saved.items():
        device = torch.device(device or item["device"])
        value = ParamData(item["name"], init_tensor=item["data"].to(device), device=device)
        value.shape = torch.Size(item["shape"])
        values[name] = value
    return values


# --------------------------------------------------------------------------- datasets

#: the value of a masked head unit (Avalanche's IncrementalClassifier)
MASK_VALUE = -1000.0


def _padded(logits: list) -> list:
    """Batches of stored logits padded to the widest with the mask value (see :func:`collate_padded`)."""
    width = max(part.shape[-1] for part in logits)
    return [torch.nn.functional.pad(part, (0, width - part.shape[-1]), value=MASK_VALUE) for part in logits]


def collate_padded(items):
    """Buffer items collated as torch does, except that stored logits (a fourth column) of
    different widths are first padded to the widest with the mask value: an example stored
    while the head was narrower had those units masked (:func:`strategies.der.logit_targets`)."""
    if len(items[0]) > 3 and len({item[3].shape[-1] for item in items}) > 1:
        padded = _padded([item[3] for item in items])
        items = [(*item[:3], logits, *item[4:]) for item, logits in zip(items, padded)]
    return torch.utils.data.default_collate(items)


def dataset_state(dataset) -> dict:
    """An Avalanche buffer dataset of (x, y, t[, logits]) items as stacked tensors."""
    n = len(dataset)
    if n == 0:
        return {"n": 0}
    columns = None
    for batch in torch.utils.data.DataLoader(dataset, batch_size=512, shuffle=False, collate_fn=collate_padded):
        if columns is None:
            columns = [[] for _ in batch]
        for column, value in zip(columns, batch):
            column.append(torch.as_tensor(value).cpu())
    stacked = [torch.cat(c) for c in columns[:3]] + [torch.cat(_padded(c)) for c in columns[3:]]
    out = {"n": n, "x": stacked[0], "y": stacked[1], "t": stacked[2]}
    if stacked[1].dim() > 1:
        # a tag sequence or a label set: the Avalanche target (the class the example was
        # sampled for, which class-balanced buffers group by) is not its y
        out["targets"] = [int(t) for t in dataset.targets]
    if len(stacked) > 3:
        out["logits"] = stacked[3]
    return out


def dataset(saved: Optional[dict]):
    """The buffer dataset back, built the way continual/engine/benchmark.py builds experiences
    (and, for DER, the way Avalanche attaches stored logits)."""
    if saved is None or saved["n"] == 0:
        return concat_datasets([])
    tasks = saved["t"].tolist()
    # one task: a constant task label, as the experiences have (Avalanche cannot concatenate a
    # constant task-label sequence with a listed one)
    result = _make_taskaware_classification_dataset(
        PackedTextDataset(saved["x"], saved["y"]), task_labels=tasks[0] if len(set(tasks)) == 1 else tasks,
        targets=saved["targets"] if "targets" in saved else saved["y"].tolist(),
    )
    if "logits" in saved:
        from avalanche.benchmarks.utils import make_avalanche_dataset
        from avalanche.benchmarks.utils.data_attribute import TensorDataAttribute
        from avalanche.benchmarks.utils.flat_data import FlatData

        rows = [torch.clone(row) for row in saved["logits"]]
        result = make_avalanche_dataset(result, data_attributes=[
            TensorDataAttribute(FlatData([rows], discard_elements_not_in_indices=True), name="logits",
                                use_in_getitem=True)])
    return result


# --------------------------------------------------------------------------- class-id sets

def ordered_set(items: list, history: Optional[list] = None) -> set:
    """A set equal to ``items`` whose iteration order is ``items``' order, if one can be made.

    Avalanche iterates some sets of class ids (which group gets a bigger share of the memory,
    which logits LwF distils first), so a resumed run needs the same order, which depends on how
    the set was built. ``history`` (lists of ids added in turn, replayed from the benchmark) is
    tried first, then insertion orders.
    """
    items = list(items)
    if history is not None:
        built: set = set()
        for added in history:
            built.update(added)
        if list(built) == items:
            return built
    for order in itertools.islice(itertools.permutations(items), 5040):
        built = set()
        for item in order:
            built.add(item)
        if list(built) == items:
            return built
    return set(items)


def first_seen_classes(benchmark, finished: int) -> list:
    """Per finished experience, its class ids in the order of first occurrence in its training
    targets: the order in which Avalanche's class-grouped buffers add them to their sets."""
    history = []
    for exp_id in range(finished):
        seen: dict = {}
        for target in benchmark.train_stream[exp_id].dataset.targets:
            seen.setdefault(int(target), None)
        history.append(list(seen))
    return history


# --------------------------------------------------------------------------- storage policies

def _reservoir_state(buffer, examples: bool) -> dict:
    return {"max_size": buffer.max_size, "weights": cpu(buffer._buffer_weights),
            "data": dataset_state(buffer.buffer) if examples else None}


def _reservoir(saved: dict) -> ReservoirSamplingBuffer:
    buffer = ReservoirSamplingBuffer(saved["max_size"])
    if saved["data"] is not None:
        buffer.buffer = dataset(saved["data"])
        buffer._buffer_weights = saved["weights"].clone()
    return buffer


def check_storage(policy) -> None:
    """NotCapturable for a storage policy :func:`storage_state` cannot save."""
    if isinstance(policy, ParametricBuffer) and policy.groupby not in (None, "class"):
        raise NotCapturable(f"keeps a ParametricBuffer grouped by {policy.groupby}, which checkpoints do not cover")
    if not isinstance(policy, (ExperienceBalancedBuffer, ClassBalancedBuffer, ClassBalancedBufferWithLogits,
                               ParametricBuffer, ReservoirSamplingBuffer)):
        raise NotCapturable(f"keeps a storage policy {type(policy).__name__}, which checkpoints do not cover")


def storage_state(policy, examples: bool) -> dict:
    """A storage policy's groups, sizes and seen ids; its examples only when ``examples``."""
    check_storage(policy)
    if isinstance(policy, ExperienceBalancedBuffer):
        return {"kind": "experience-balanced", "max_size": policy.max_size, "num_exps": policy._num_exps,
                "groups": [[k, _reservoir_state(g, examples)] for k, g in policy.buffer_groups.items()]}
    if isinstance(policy, (ClassBalancedBuffer, ClassBalancedBufferWithLogits)):
        return {"kind": "class-balanced", "max_size": policy.max_size, "seen": [int(c) for c in policy.seen_classes],
                "groups": [[k, _reservoir_state(g, examples)] for k, g in policy.buffer_groups.items()]}
    if isinstance(policy, ParametricBuffer):
        return {"kind": "parametric", "max_size": policy.max_size, "seen": [int(c) for c in policy.seen_groups],
                "groups": [[k, {"max_size": g.max_size, "data": dataset_state(g.buffer) if examples else None}]
                           for k, g in policy.buffer_groups.items()]}
    return {"kind": "reservoir", **_reservoir_state(policy, examples)}


def load_storage(policy, saved: dict, context: RestoreContext) -> None:
    """Put a :func:`storage_state` dict back into a policy of the same kind."""
    kind = saved["kind"]
    policy.max_size = saved["max_size"]
    if kind == "reservoir":
        restored = _reservoir(saved)
        policy.buffer, policy._buffer_weights = restored.buffer, restored._buffer_weights
        return
    # Saved without examples (--no-buffer-checkpoint): the groups start empty, i.e. absent (an
    # empty group would make Avalanche concatenate datasets of different item layouts).
    groups_saved = [(k, g) for k, g in saved["groups"] if g["data"] is not None]
    if kind == "experience-balanced":
        policy._num_exps = saved["num_exps"]
        policy.buffer_groups = {k: _reservoir(g) for k, g in groups_saved}
        return
    history = first_seen_classes(context.benchmark, context.finished)
    if kind == "class-balanced":
        policy.seen_classes = ordered_set(saved["seen"], history)
        policy.buffer_groups = {k: _reservoir(g) for k, g in groups_saved}
        return
    policy.seen_groups = ordered_set(saved["seen"], history)
    groups = {}
    for key, group in groups_saved:
        single = _ParametricSingleBuffer(group["max_size"], policy.selection_strategy)
        single.buffer = dataset(group["data"])
        groups[key] = single
    policy.buffer_groups = groups
