"""Module, optimizer and random-generator state of a run, and the model's regrowth on resume.

The checkpoint code (checkpoint.py) saves these beside the plugins' own state; docs/design.md,
Checkpoints.
"""
from __future__ import annotations

import random
from collections import defaultdict

import numpy as np
import torch

from strategies.state import StateError, cpu


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


# --------------------------------------------------------------------------- model

def regrow(strategy, benchmark, finished: int, *, validation: bool) -> None:
    """Replay the architecture changes of the run so far on a freshly built model.

    The uninterrupted run adapted the model (Avalanche ``DynamicModule.adaptation``: heads grow,
    adapters and task heads are added) to every test experience in the first evaluation, then
    to each training experience and again to the evaluated ones. The same calls in the same
    order give the same parameter names, shapes and order, which ``load_state_dict`` and the
    optimizer mapping need. The values drawn for new units are overwritten when the saved state is loaded.
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

def optimizer_state(strategy) -> dict:
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
                    state[name] = {k: cpu(v) if isinstance(v, torch.Tensor) else v
                                   for k, v in state_dict["state"][index].items()}
            index += 1
        groups.append({**{k: v for k, v in saved_group.items() if k != "params"}, "params": names})
    return {"class": type(optimizer).__name__, "groups": groups, "state": state,
            "mapped": getattr(strategy, "optimized_param_id", None) is not None}


def load_optimizer_state(strategy, saved: dict) -> None:
    optimizer = strategy.optimizer
    if type(optimizer).__name__ != saved["class"] or len(optimizer.param_groups) != len(saved["groups"]):
        raise StateError("the checkpoint's optimizer does not fit this run")
    parameters = dict(strategy.model.named_parameters())
    missing = [n for g in saved["groups"] for n in g["params"] if n not in parameters]
    if missing:
        raise StateError(f"the checkpoint's optimizer names parameter {missing[0]!r}, which the rebuilt "
                         "model lacks")
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
