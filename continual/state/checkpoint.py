"""Checkpoints between experiences: the whole training state as tensors and plain values.

After each finished experience (and its evaluation) the run saves ``<run>/checkpoint/state.pt``
(DESIGN.md section 9): model and optimizer state, Avalanche's clock, and every plugin's state
(EWC/SI/MAS importances, replay/GEM/A-GEM/DER/iCaRL buffers, LwF and iCaRL teachers), together
with the rows of the accuracy matrix measured so far. Only tensors, numbers, strings, lists,
tuples and dicts go in, so ``torch.load(path, weights_only=True)`` reads it: Avalanche's own
checkpointing pickles whole objects with dill, which runs code on load and is not used here.

A resumed run rebuilds everything it can from the configuration (benchmark, model, strategy),
then :func:`regrow` replays the architecture changes of the finished experiences (growing heads,
added LoRA adapters, task heads) so that :func:`restore` can load the saved values into a model
of the same shape. The run reseeds every global generator from (seed, experience) before each
experience, so the saved random state is there for the record, not needed to continue exactly.

The file is written to a temporary name and renamed over the old one (a kill leaves the previous
checkpoint whole), carries a SHA-256 digest of its content (a flipped byte is refused, not used)
and a ``meta`` block (configuration, package versions, device, data fingerprint) that must match
the resuming run.
"""
from __future__ import annotations

import copy
import hashlib
import random
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from ..errors import UserError
from .files import atomic_write

FORMAT = "continual-medical-checkpoint"
FORMAT_VERSION = 1
FILE = "state.pt"
FOLDER = "checkpoint"

#: Plugins with no state that outlives an experience: nothing to save.
STATELESS_PLUGINS = {"EvaluationPlugin", "EarlyStoppingPlugin", "PeriodicEval", "PredictionCollector", "Progress",
                     "FreezeOldHeadUnits", "ExemplarMeans"}


class CheckpointError(UserError):
    """A checkpoint that cannot be used: corrupt, or made by another configuration or versions."""


class NotCapturable(Exception):
    """The strategy holds state this module does not know how to save (an unknown plugin)."""


# --------------------------------------------------------------------------- file, digest

def checkpoint_path(run_dir: Path) -> Path:
    return Path(run_dir) / FOLDER / FILE


def digest(tree: Any) -> str:
    """SHA-256 over every value of a checkpoint tree, tensors by dtype, shape and bytes."""
    h = hashlib.sha256()

    def walk(node, path):
        if isinstance(node, torch.Tensor):
            flat = node.detach().cpu().contiguous().reshape(-1)
            h.update(f"{path}|tensor|{flat.dtype}|{tuple(node.shape)}|".encode())
            h.update(flat.view(torch.uint8).numpy().data if flat.numel() else b"")
        elif isinstance(node, dict):
            h.update(f"{path}|dict|{len(node)}|".encode())
            for key, value in node.items():
                walk(value, f"{path}/{key!r}")
        elif isinstance(node, (list, tuple)):
            h.update(f"{path}|{type(node).__name__}|{len(node)}|".encode())
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]")
        else:
            h.update(f"{path}|{type(node).__name__}|{node!r}|".encode())

    walk(tree, "")
    return h.hexdigest()


def save(run_dir: Path, payload: dict) -> Path:
    """Write ``payload`` (plus its digest) to ``<run_dir>/checkpoint/state.pt`` atomically.

    The file is private (mode 0600): replay buffers hold token ids of the training texts.
    """
    path = Path(run_dir) / FOLDER / FILE
    payload = {**payload, "digest": digest(payload)}
    atomic_write(path, lambda handle: torch.save(payload, handle), binary=True, private=True)
    return path


def load(run_dir: Path) -> dict:
    """Read and verify ``<run_dir>/checkpoint/state.pt``; :class:`CheckpointError` if unusable."""
    path = checkpoint_path(run_dir)
    fix = f"delete {path.parent} or add --overwrite to start the run over"
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, bad pickle opcode, disallowed type, I/O error
        raise CheckpointError(f"checkpoint {path} is corrupt or unreadable ({type(err).__name__}): {fix}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a checkpoint of this program: {fix}")
    if payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {path} has format version {payload.get('format_version')!r}, "
                              f"this program reads {FORMAT_VERSION}: {fix}")
    stored = payload.pop("digest", None)
    if stored != digest(payload):
        raise CheckpointError(f"checkpoint {path} is corrupt (its content does not match its digest): {fix}")
    return payload


def check_meta(meta: dict, expected: dict, path: Path) -> None:
    """Refuse a checkpoint whose configuration, versions, device or data differ from this run."""
    from ..config import identity_differences

    fix = "resume with the original command and environment, or add --overwrite to start over"
    if meta.get("identity") != expected["identity"]:
        raise CheckpointError(f"checkpoint {path} was made by another configuration (differs in: "
                              f"{identity_differences(meta.get('identity') or {}, expected['identity'])}): {fix}")
    old, new = meta.get("versions") or {}, expected["versions"]
    changed = [f"{name} {old.get(name)} -> {new.get(name)}" for name in sorted(set(old) | set(new))
               if old.get(name) != new.get(name)]
    if changed:
        raise CheckpointError(f"checkpoint {path} was made with other package versions ({', '.join(changed[:3])}): {fix}")
    if meta.get("device") != expected["device"]:
        raise CheckpointError(f"checkpoint {path} was made on device {meta.get('device')}, this run uses "
                              f"{expected['device']}: resume with --device {str(meta.get('device')).split(':')[0]} "
                              "or add --overwrite to start over")
    if meta.get("data_fingerprint") != expected["data_fingerprint"]:
        raise CheckpointError(f"checkpoint {path} was made from other data (the stream's texts or labels "
                              f"changed since): {fix}")


def stream_fingerprint(stream) -> str:
    """A digest of the stream's texts, labels and order (no text is kept, only the digest)."""
    h = hashlib.sha256()
    h.update(f"{stream.name}|{stream.scenario}|{len(stream.experiences)}|".encode())
    for e in stream.experiences:
        h.update(f"exp {e.id} task {e.task} classes {list(e.classes)}|".encode())
        for texts, labels in ((e.train_texts, e.train_labels), (e.test_texts, e.test_labels),
                              (e.val_texts, e.val_labels)):
            h.update(f"{len(texts)}|".encode())
            for text, label in zip(texts, labels):
                h.update(text.encode("utf-8"))
                h.update(f"\x00{label}\x00".encode())
    return h.hexdigest()


# --------------------------------------------------------------------------- random state

def capture_random_state() -> dict:
    """torch (CPU and CUDA), numpy and Python generator states, as tensors and ints."""
    kind, keys, position, has_gauss, cached = np.random.get_state()
    version, python_state, gauss_next = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "position": int(position),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": {"version": version, "state": list(python_state), "gauss_next": gauss_next},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = list(torch.cuda.get_rng_state_all())
    return state


def restore_random_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["position"], n["has_gauss"],
                         n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss_next"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# --------------------------------------------------------------------------- plain values

def _cpu(tensor: torch.Tensor) -> torch.Tensor:
    """The tensor on the CPU, without a copy when it is there already: a checkpoint is written
    right after it is captured, and copying a model's worth of state would add to the run's
    measured peak memory."""
    return tensor.detach().cpu()


def _param_data_out(param_data) -> dict:
    return {"name": param_data.name, "shape": list(param_data.shape), "device": str(param_data.device),
            "data": _cpu(param_data.data)}


def _param_data_in(saved: dict):
    from avalanche.training.utils import ParamData

    device = torch.device(saved["device"])
    value = ParamData(saved["name"], init_tensor=saved["data"].to(device), device=device)
    value.shape = torch.Size(saved["shape"])
    return value


def _param_dict_out(values) -> Optional[dict]:
    return None if values is None else {name: _param_data_out(v) for name, v in values.items()}


def _param_dict_in(saved) -> Optional[dict]:
    return None if saved is None else {name: _param_data_in(v) for name, v in saved.items()}


def _dataset_out(dataset) -> dict:
    """An Avalanche buffer dataset of (x, y, t[, logits]) items as stacked tensors."""
    n = len(dataset)
    if n == 0:
        return {"n": 0}
    columns = None
    for batch in torch.utils.data.DataLoader(dataset, batch_size=512, shuffle=False):
        if columns is None:
            columns = [[] for _ in batch]
        for column, value in zip(columns, batch):
            column.append(torch.as_tensor(value).cpu())
    stacked = [torch.cat(c) for c in columns]
    out = {"n": n, "x": stacked[0], "y": stacked[1], "t": stacked[2]}
    if len(stacked) > 3:
        out["logits"] = stacked[3]
    return out


def _dataset_in(saved: dict):
    """The buffer dataset back, built the way continual/benchmark.py builds experiences (and,
    for DER, the way Avalanche attaches stored logits)."""
    from avalanche.benchmarks.utils.classification_dataset import _make_taskaware_classification_dataset
    from avalanche.benchmarks.utils.utils import concat_datasets

    from ..engine.benchmark import PackedTextDataset

    if saved is None or saved["n"] == 0:
        return concat_datasets([])
    tasks = saved["t"].tolist()
    # one task: a constant task label, as the experiences have (Avalanche cannot concatenate a
    # constant task-label sequence with a listed one)
    dataset = _make_taskaware_classification_dataset(
        PackedTextDataset(saved["x"], saved["y"]), task_labels=tasks[0] if len(set(tasks)) == 1 else tasks,
        targets=saved["y"].tolist(),
    )
    if "logits" in saved:
        from avalanche.benchmarks.utils import make_avalanche_dataset
        from avalanche.benchmarks.utils.data_attribute import TensorDataAttribute
        from avalanche.benchmarks.utils.flat_data import FlatData

        rows = [torch.clone(row) for row in saved["logits"]]
        dataset = make_avalanche_dataset(dataset, data_attributes=[
            TensorDataAttribute(FlatData([rows], discard_elements_not_in_indices=True), name="logits",
                                use_in_getitem=True)])
    return dataset


def _ordered_set(items: list, history: Optional[list] = None) -> set:
    """A set equal to ``items`` whose iteration order is ``items``' order, if one can be made.

    Avalanche iterates some sets of class ids (which group gets a bigger share of the memory,
    which logits LwF distils first), so a resumed run needs the same order, which depends on how
    the set was built. ``history`` (lists of ids added in turn, replayed from the benchmark) is
    tried first, then insertion orders.
    """
    import itertools

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


# --------------------------------------------------------------------------- model

def _module_extras(model) -> dict:
    """Plain attributes of Avalanche modules that their state_dict leaves out."""
    from avalanche.models import NCMClassifier

    extras = {}
    for name, module in model.named_modules():
        if isinstance(module, NCMClassifier):
            extras[name] = {"kind": "ncm", "max_class": int(module.max_class),
                            "class_means": [[int(k), _cpu(v)] for k, v in module.class_means_dict.items()]}
    return extras


def capture_module(model) -> dict:
    return {
        "state": {k: _cpu(v) for k, v in model.state_dict().items()},
        "training": {name: m.training for name, m in model.named_modules()},
        "requires_grad": {name: p.requires_grad for name, p in model.named_parameters()},
        "extras": _module_extras(model),
    }


def restore_module(model, saved: dict) -> None:
    """Load a :func:`capture_module` dict into a model of the same architecture."""
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
        raise CheckpointError(f"the checkpoint's model does not fit the rebuilt model ({first[:160]}): "
                              "add --overwrite to start the run over") from None
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


def regrow(strategy, benchmark, finished: int, *, validation: bool) -> None:
    """Replay the architecture changes of the run so far on a freshly built model.

    The uninterrupted run adapted the model (Avalanche ``DynamicModule.adaptation``: heads grow,
    adapters and task heads are added) to every test experience in the first evaluation, then
    to each training experience and again to the evaluated ones. The same calls in the same
    order give the same parameter names, shapes and order, which ``load_state_dict`` and the
    optimizer mapping need. The values drawn for new units are overwritten by :func:`restore`.
    """
    from avalanche.models.utils import avalanche_model_adaptation

    model = strategy.model
    was_training = model.training

    def adapt(experience, training: bool) -> None:
        model.train(training)
        avalanche_model_adaptation(model, experience)

    for experience in benchmark.test_stream:
        adapt(experience, False)
    for exp_id in range(finished):
        adapt(benchmark.train_stream[exp_id], True)
        if validation:
            for experience in benchmark.valid_stream:
                adapt(experience, False)
        for experience in benchmark.test_stream:
            adapt(experience, False)
    model.to(strategy.device)
    model.train(was_training)


# --------------------------------------------------------------------------- optimizer

def _optimizer_out(strategy) -> dict:
    """Optimizer state keyed by parameter name (its index order depends on the run's history).

    A parameter that Avalanche replaced since the optimizer last saw it (a head grown during
    evaluation) is saved with no state: Avalanche resets its state when it next updates the
    optimizer, and the resumed run then does the same.
    """
    optimizer = strategy.optimizer
    optimized = getattr(strategy, "optimized_param_id", None) or {}
    name_of = {id(p): n for n, p in optimized.items()}
    if not name_of:  # never mapped by Avalanche yet: the parameters as the model lists them
        name_of = {id(p): n for n, p in strategy.model.named_parameters()}
    current = dict(strategy.model.named_parameters())
    state_dict = optimizer.state_dict()
    groups, state = [], {}
    index = 0
    for group, saved_group in zip(optimizer.param_groups, state_dict["param_groups"]):
        names = []
        for parameter in group["params"]:
            name = name_of.get(id(parameter))
            if name is not None and name in current:  # else orphaned: never gets a gradient
                names.append(name)
                if current[name] is parameter and index in state_dict["state"]:
                    state[name] = {k: _cpu(v) if isinstance(v, torch.Tensor) else v
                                   for k, v in state_dict["state"][index].items()}
            index += 1
        groups.append({**{k: v for k, v in saved_group.items() if k != "params"}, "params": names})
    return {"class": type(optimizer).__name__, "groups": groups, "state": state,
            "mapped": getattr(strategy, "optimized_param_id", None) is not None}


def _optimizer_in(strategy, saved: dict) -> None:
    optimizer = strategy.optimizer
    if type(optimizer).__name__ != saved["class"] or len(optimizer.param_groups) != len(saved["groups"]):
        raise CheckpointError("the checkpoint's optimizer does not fit this run: add --overwrite to start over")
    parameters = dict(strategy.model.named_parameters())
    missing = [n for g in saved["groups"] for n in g["params"] if n not in parameters]
    if missing:
        raise CheckpointError(f"the checkpoint's optimizer names parameter {missing[0]!r}, which the rebuilt "
                              "model lacks: add --overwrite to start over")
    for group, saved_group in zip(optimizer.param_groups, saved["groups"]):
        group["params"] = [parameters[n] for n in saved_group["params"]]
    optimizer.state = defaultdict(dict)
    order = [n for g in saved["groups"] for n in g["params"]]
    position = {n: i for i, n in enumerate(order)}
    groups, start = [], 0
    for saved_group in saved["groups"]:
        count = len(saved_group["params"])
        groups.append({**{k: v for k, v in saved_group.items() if k != "params"},
                       "params": list(range(start, start + count))})
        start += count
    optimizer.load_state_dict({"state": {position[n]: dict(v) for n, v in saved["state"].items()},
                               "param_groups": groups})
    strategy.optimized_param_id = ({n: parameters[n] for n in order} if saved["mapped"] else None)


# --------------------------------------------------------------------------- buffers

def _reservoir_out(buffer, with_data: bool) -> dict:
    return {"max_size": buffer.max_size, "weights": _cpu(buffer._buffer_weights),
            "data": _dataset_out(buffer.buffer) if with_data else None}


def _reservoir_in(saved: dict):
    from avalanche.training.storage_policy import ReservoirSamplingBuffer

    buffer = ReservoirSamplingBuffer(saved["max_size"])
    if saved["data"] is not None:
        buffer.buffer = _dataset_in(saved["data"])
        buffer._buffer_weights = saved["weights"].clone()
    return buffer


def _first_seen_classes(benchmark, finished: int) -> list:
    """Per finished experience, its class ids in the order of first occurrence in its training
    targets: the order in which Avalanche's class-grouped buffers add them to their sets."""
    history = []
    for exp_id in range(finished):
        seen: dict = {}
        for target in benchmark.train_stream[exp_id].dataset.targets:
            seen.setdefault(int(target), None)
        history.append(list(seen))
    return history


def _storage_out(policy, with_data: bool) -> dict:
    from avalanche.training.storage_policy import (
        ClassBalancedBuffer,
        ExperienceBalancedBuffer,
        ParametricBuffer,
        ReservoirSamplingBuffer,
    )
    from avalanche.training.supervised.der import ClassBalancedBufferWithLogits

    if isinstance(policy, ExperienceBalancedBuffer):
        return {"kind": "experience-balanced", "max_size": policy.max_size, "num_exps": policy._num_exps,
                "groups": [[k, _reservoir_out(g, with_data)] for k, g in policy.buffer_groups.items()]}
    if isinstance(policy, (ClassBalancedBuffer, ClassBalancedBufferWithLogits)):
        return {"kind": "class-balanced", "max_size": policy.max_size, "seen": [int(c) for c in policy.seen_classes],
                "groups": [[k, _reservoir_out(g, with_data)] for k, g in policy.buffer_groups.items()]}
    if isinstance(policy, ParametricBuffer):
        if policy.groupby not in (None, "class"):
            raise NotCapturable(f"ParametricBuffer grouped by {policy.groupby}")
        return {"kind": "parametric", "max_size": policy.max_size, "seen": [int(c) for c in policy.seen_groups],
                "groups": [[k, {"max_size": g.max_size, "data": _dataset_out(g.buffer) if with_data else None}]
                           for k, g in policy.buffer_groups.items()]}
    if isinstance(policy, ReservoirSamplingBuffer):
        return {"kind": "reservoir", **_reservoir_out(policy, with_data)}
    raise NotCapturable(f"storage policy {type(policy).__name__}")


def _storage_in(policy, saved: dict, context: dict) -> None:
    from avalanche.training.storage_policy import _ParametricSingleBuffer

    kind = saved["kind"]
    policy.max_size = saved["max_size"]
    if kind == "reservoir":
        restored = _reservoir_in(saved)
        policy.buffer, policy._buffer_weights = restored.buffer, restored._buffer_weights
        return
    # Saved without examples (--no-buffer-checkpoint): the groups start empty, i.e. absent (an
    # empty group would make Avalanche concatenate datasets of different item layouts).
    groups_saved = [(k, g) for k, g in saved["groups"] if g["data"] is not None]
    if kind == "experience-balanced":
        policy._num_exps = saved["num_exps"]
        policy.buffer_groups = {k: _reservoir_in(g) for k, g in groups_saved}
        return
    history = _first_seen_classes(context["benchmark"], context["finished"])
    if kind == "class-balanced":
        policy.seen_classes = _ordered_set(saved["seen"], history)
        policy.buffer_groups = {k: _reservoir_in(g) for k, g in groups_saved}
        return
    policy.seen_groups = _ordered_set(saved["seen"], history)
    groups = {}
    for key, group in groups_saved:
        single = _ParametricSingleBuffer(group["max_size"], policy.selection_strategy)
        single.buffer = _dataset_in(group["data"])
        groups[key] = single
    policy.buffer_groups = groups


# --------------------------------------------------------------------------- plugins

def _teacher_out(model) -> Optional[dict]:
    return None if model is None else capture_module(model)


def _teacher_in(strategy, saved: Optional[dict]):
    """A teacher (LwF's previous model, iCaRL's old model) rebuilt as a copy of the restored
    model with the teacher's saved values, modes and frozen flags."""
    if saved is None:
        return None
    teacher = copy.deepcopy(strategy.model)
    restore_module(teacher, saved)
    return teacher.to(strategy.device)


def _stateful_plugin_types() -> tuple:
    """The Avalanche plugins whose state :func:`_plugin_out` saves, in the order it unpacks them."""
    from avalanche.training.losses import ICaRLLossPlugin
    from avalanche.training.plugins import (
        AGEMPlugin,
        EWCPlugin,
        GEMPlugin,
        LwFPlugin,
        MASPlugin,
        ReplayPlugin,
        SynapticIntelligencePlugin,
    )
    from avalanche.training.plugins.clock import Clock

    return (Clock, EWCPlugin, SynapticIntelligencePlugin, MASPlugin, ReplayPlugin, GEMPlugin, AGEMPlugin,
            LwFPlugin, ICaRLLossPlugin)


def _plugin_out(plugin, with_buffers: bool) -> dict:
    (Clock, EWCPlugin, SynapticIntelligencePlugin, MASPlugin, ReplayPlugin, GEMPlugin, AGEMPlugin,
     LwFPlugin, ICaRLLossPlugin) = _stateful_plugin_types()

    name = type(plugin).__name__
    if isinstance(plugin, Clock):
        return {"kind": "clock", "counters": {k: v for k, v in vars(plugin).items() if isinstance(v, int)}}
    if isinstance(plugin, EWCPlugin):
        return {"kind": "ewc",
                "saved_params": {int(k): _param_dict_out(v) for k, v in plugin.saved_params.items()},
                "importances": {int(k): _param_dict_out(v) for k, v in plugin.importances.items()},
                # strategies.ewc's separate mode: past experiences folded into sums
                "total_importance": _param_dict_out(getattr(plugin, "total_importance", {})),
                "weighted_anchor": _param_dict_out(getattr(plugin, "weighted_anchor", {})),
                "folded_square": float(getattr(plugin, "folded_square", 0.0))}
    if isinstance(plugin, SynapticIntelligencePlugin):
        return {"kind": "si", "ewc_data": [_param_dict_out(d) for d in plugin.ewc_data],
                "syn_data": {k: _param_dict_out(v) for k, v in plugin.syn_data.items()}}
    if isinstance(plugin, MASPlugin):
        return {"kind": "mas", "params": _param_dict_out(plugin.params),
                "importance": _param_dict_out(plugin.importance)}
    if isinstance(plugin, ReplayPlugin):
        return {"kind": "replay", "storage": _storage_out(plugin.storage_policy, with_buffers)}
    if isinstance(plugin, GEMPlugin):
        memory = {"x": plugin.memory_x, "y": plugin.memory_y, "tid": plugin.memory_tid} if with_buffers else None
        return {"kind": "gem", "memory": None if memory is None else
                {part: {int(t): _cpu(v) for t, v in values.items()} for part, values in memory.items()},
                "experiences": len(plugin.memory_x)}
    if isinstance(plugin, AGEMPlugin):
        return {"kind": "agem", "buffers": [_dataset_out(b) for b in plugin.buffers] if with_buffers else None}
    if isinstance(plugin, LwFPlugin):
        lwf = plugin.lwf
        return {"kind": "lwf", "expcount": lwf.expcount, "teacher": _teacher_out(lwf.prev_model),
                "prev_classes": [[int(t), [int(c) for c in classes]] for t, classes in lwf.prev_classes_by_task.items()]}
    if isinstance(plugin, ICaRLLossPlugin):
        return {"kind": "icarl-loss", "old_classes": [int(c) for c in plugin.old_classes],
                "teacher": _teacher_out(plugin.old_model)}
    if name in STATELESS_PLUGINS:
        return {"kind": "stateless", "class": name}
    raise NotCapturable(f"plugin {name}")


def _lwf_class_history(benchmark, finished: int) -> dict:
    """``prev_classes_by_task`` rebuilt with LearningWithoutForgetting.post_adapt's own set
    operations over the finished experiences (their iteration order is then the same)."""
    classes: dict = {}
    for exp_id in range(finished):
        dataset = benchmark.train_stream[exp_id].dataset
        for task_id in dataset.targets_task_labels.uniques:
            found = set(dataset.task_set[task_id].targets.uniques)
            classes[task_id] = found if task_id not in classes else classes[task_id].union(found)
    return classes


def _plugin_in(strategy, plugin, saved: dict, context: dict) -> None:
    kind = saved["kind"]
    if kind == "stateless":
        return
    # strategies.penalty.cached_plan: a penalty planned from the state being replaced goes
    plugin.__dict__.pop("_plan_cache", None)
    if kind == "clock":
        for key, value in saved["counters"].items():
            setattr(plugin, key, value)
    elif kind == "ewc":
        plugin.saved_params = defaultdict(dict, {k: _param_dict_in(v) for k, v in saved["saved_params"].items()})
        plugin.importances = defaultdict(dict, {k: _param_dict_in(v) for k, v in saved["importances"].items()})
        if hasattr(plugin, "total_importance"):
            plugin.total_importance = _param_dict_in(saved.get("total_importance", {}))
            plugin.weighted_anchor = _param_dict_in(saved.get("weighted_anchor", {}))
            plugin.folded_square = float(saved.get("folded_square", 0.0))
    elif kind == "si":
        plugin.ewc_data = tuple(_param_dict_in(d) for d in saved["ewc_data"])
        plugin.syn_data = {k: _param_dict_in(v) for k, v in saved["syn_data"].items()}
    elif kind == "mas":
        plugin.params = _param_dict_in(saved["params"])
        plugin.importance = _param_dict_in(saved["importance"])
    elif kind == "replay":
        _storage_in(plugin.storage_policy, saved["storage"], context)
    elif kind == "gem":
        if saved["memory"] is None and saved["experiences"]:
            raise CheckpointError("gem cannot resume from a checkpoint written with --no-buffer-checkpoint: "
                                  "its gradient constraints need every past experience's memory; add "
                                  "--overwrite to start the run over")
        memory = saved["memory"] or {"x": {}, "y": {}, "tid": {}}
        plugin.memory_x, plugin.memory_y, plugin.memory_tid = (
            {t: v.clone() for t, v in memory[part].items()} for part in ("x", "y", "tid"))
    elif kind == "agem":
        from avalanche.benchmarks.utils.data_loader import GroupBalancedInfiniteDataLoader

        plugin.buffers = [_dataset_in(b) for b in saved["buffers"] or []]
        if plugin.buffers:  # as AGEMPlugin.update_memory leaves it after an experience
            plugin.buffer_dataloader = GroupBalancedInfiniteDataLoader(
                plugin.buffers, batch_size=plugin.sample_size // len(plugin.buffers), num_workers=0,
                pin_memory=False, persistent_workers=False)
            plugin.buffer_dliter = iter(plugin.buffer_dataloader)
    elif kind == "lwf":
        lwf = plugin.lwf
        lwf.expcount = saved["expcount"]
        lwf.prev_model = _teacher_in(strategy, saved["teacher"])
        replayed = _lwf_class_history(context["benchmark"], context["finished"])
        classes = defaultdict(set)
        for task_id, ids in saved["prev_classes"]:
            candidate = replayed.get(task_id)
            classes[task_id] = candidate if candidate is not None and list(candidate) == ids else _ordered_set(ids)
        lwf.prev_classes_by_task = classes
    elif kind == "icarl-loss":
        plugin.old_classes = list(saved["old_classes"])
        plugin.old_model = _teacher_in(strategy, saved["teacher"])
        plugin.old_logits = None
    else:  # pragma: no cover - a checkpoint from a newer program
        raise CheckpointError(f"the checkpoint holds state of unknown kind {kind!r}: add --overwrite to start over")


# --------------------------------------------------------------------------- strategy

def _template_kind(strategy) -> str:
    """Which template the strategy runs on, as far as its own state goes; NotCapturable for one
    this module does not know (its attributes might carry state between experiences)."""
    from avalanche.training import DER, Cumulative, JointTraining
    from avalanche.training.templates import SupervisedTemplate

    if isinstance(strategy, JointTraining):
        raise NotCapturable("JointTraining (it trains once)")
    if isinstance(strategy, DER):
        return "der"
    # continual.engine.template.text_template subclasses the strategy's template: look at that one
    base = type(strategy).__bases__[0] if type(strategy).__name__.startswith("Text") else type(strategy)
    if base is Cumulative:
        return "cumulative"  # its dataset is the union of the finished experiences
    if base is SupervisedTemplate:
        return "plain"
    raise NotCapturable(f"template {base.__name__}")


def _template_out(strategy, with_buffers: bool) -> dict:
    kind = _template_kind(strategy)
    if kind == "der":
        return {"kind": "der", "storage": _storage_out(strategy.storage_policy, with_buffers)}
    return {"kind": kind}


def _template_in(strategy, saved: dict, context: dict) -> None:
    if saved["kind"] == "der":
        _storage_in(strategy.storage_policy, saved["storage"], context)
    elif saved["kind"] == "cumulative":
        from avalanche.benchmarks.utils.utils import concat_datasets

        dataset = None
        for exp_id in range(context["finished"]):
            part = context["benchmark"].train_stream[exp_id].dataset
            dataset = part if dataset is None else concat_datasets([dataset, part])
        strategy.dataset = dataset


def check_capturable(strategy) -> Optional[str]:
    """None when :func:`capture` can save this strategy, else what stops it (for messages)."""
    from avalanche.training import JointTraining

    if isinstance(strategy, JointTraining):
        return "joint trains once on the whole stream: there is no experience boundary to resume from"
    try:
        _template_kind(strategy)
        for plugin in strategy.plugins:
            _plugin_kind(plugin)
    except NotCapturable as err:
        return f"its {err} holds state that checkpoints do not cover"
    return None


def _plugin_kind(plugin) -> str:
    """Cheap check that :func:`_plugin_out` knows this plugin (without copying any state)."""
    if isinstance(plugin, _stateful_plugin_types()) or type(plugin).__name__ in STATELESS_PLUGINS:
        return type(plugin).__name__
    raise NotCapturable(f"plugin {type(plugin).__name__}")


def holds_buffers(strategy) -> bool:
    """Whether the strategy stores training examples (what --no-buffer-checkpoint leaves out)."""
    from avalanche.training import DER
    from avalanche.training.plugins import AGEMPlugin, GEMPlugin, ReplayPlugin

    return isinstance(strategy, DER) or any(isinstance(p, (ReplayPlugin, GEMPlugin, AGEMPlugin))
                                            for p in strategy.plugins)


def capture(strategy, *, buffers: bool = True) -> dict:
    """The strategy's state between experiences, as tensors and plain values.

    ``buffers=False`` leaves out every stored example (replay, GEM, A-GEM, DER, iCaRL): a run
    resumed from such a checkpoint continues with empty memories and says so.
    """
    return {
        "model": capture_module(strategy.model),
        "optimizer": _optimizer_out(strategy),
        "template": _template_out(strategy, buffers),
        "plugins": [{"class": type(p).__name__, **_plugin_out(p, buffers)} for p in strategy.plugins],
        "buffers": buffers,
        "random": capture_random_state(),
    }


def restore(strategy, state: dict, *, benchmark, finished: int, validation: bool) -> None:
    """Put a :func:`capture` state back into a freshly built strategy after ``finished``
    experiences (regrowing the model first)."""
    classes = [type(p).__name__ for p in strategy.plugins]
    saved_classes = [p["class"] for p in state["plugins"]]
    if classes != saved_classes:
        raise CheckpointError(f"the checkpoint's plugins ({', '.join(saved_classes)}) differ from this run's "
                              f"({', '.join(classes)}): add --overwrite to start over")
    context = {"benchmark": benchmark, "finished": finished}
    regrow(strategy, benchmark, finished, validation=validation)
    restore_module(strategy.model, state["model"])
    strategy.model.to(strategy.device)
    _optimizer_in(strategy, state["optimizer"])
    _template_in(strategy, state["template"], context)
    for plugin, saved in zip(strategy.plugins, state["plugins"]):
        _plugin_in(strategy, plugin, saved, context)
    restore_random_state(state["random"])


def payload(*, meta: dict, progress: dict, state: dict) -> dict:
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "saved": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "meta": meta, "progress": progress, "state": state}
