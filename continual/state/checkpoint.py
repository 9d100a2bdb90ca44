"""Checkpoints between experiences: the whole training state as tensors and plain values.

After each finished experience (and its evaluation) the run saves ``<run>/checkpoint/state.pt``
(docs/design.md, Checkpoints): model and optimizer state (module_state.py), the template's and
every plugin's own state (EWC/SI/MAS importances, replay/GEM/A-GEM/DER/iCaRL buffers, LwF and
iCaRL teachers: each plugin's ``state_dict``, or an adapter from plugin_state.py), together with
the rows of the accuracy matrix measured so far. Only tensors, numbers, strings, lists,
tuples and dicts go in, so ``torch.load(path, weights_only=True)`` reads it: Avalanche's own
checkpointing pickles whole objects with dill, which runs code on load and is not used here.

A resumed run rebuilds everything it can from the configuration (benchmark, model, strategy),
then ``module_state.regrow`` replays the architecture changes of the finished experiences
(growing heads, added LoRA adapters, task heads) so that :func:`restore` can load the saved values into a model
of the same shape. The run reseeds every global generator from (seed, experience) before each
experience, so the saved random state is there for the record, not needed to continue exactly.

The file is written to a temporary name and renamed over the old one (a kill leaves the previous
checkpoint whole), carries a SHA-256 digest of its content (a flipped byte is refused, not used)
and a ``meta`` block (configuration, package versions, device, data fingerprint) that must match
the resuming run.
"""
from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any, Optional

import torch

from ..errors import UserError
from .files import atomic_write

FORMAT = "continual-medical-checkpoint"
FORMAT_VERSION = 3
FILE = "state.pt"
FOLDER = "checkpoint"


class CheckpointError(UserError):
    """A checkpoint that cannot be used: corrupt, or made by another configuration or versions."""


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
    """Refuse a checkpoint whose configuration, versions or data differ from this run. Another
    device is no reason: the state loads onto this run's device (see ``loop._restore``)."""
    from ..config import identity_differences

    fix = "resume with the original command and environment, or add --overwrite to start over"
    if meta.get("identity") != expected["identity"]:
        raise CheckpointError(f"checkpoint {path} was made by another configuration (differs in: "
                              f"{identity_differences(meta.get('identity') or {}, expected['identity'])}): {fix}")
    old, new = meta.get("versions") or {}, expected["versions"]
    changed = [f"{name} {old.get(name)} -> {new.get(name)}" for name in sorted(set(old) | set(new))
               if old.get(name) != new.get(name)]
    if changed:
        raise CheckpointError(f"checkpoint {path} was made with other package versions "
                              f"({', '.join(changed[:3])}): {fix}")
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
                # a token stream's text is its list of words: joined by a separator no word holds
                h.update((text if isinstance(text, str) else "\x01".join(text)).encode("utf-8"))
                h.update(f"\x00{label}\x00".encode())
    return h.hexdigest()


# --------------------------------------------------------------------------- strategy

def check_capturable(strategy) -> Optional[str]:
    """None when :func:`capture` can save this strategy, else what stops it (for messages)."""
    from strategies.state import NotCapturable

    for target in (strategy, *strategy.plugins):
        try:
            state = _state_of(target)
            if hasattr(state, "check_state"):
                state.check_state()
        except NotCapturable as err:
            return f"its {'template' if target is strategy else 'plugin'} {type(target).__name__} {err}"
    return None


def _state_of(target):
    """What saves and loads ``target``'s state (plugin_state.state_of)."""
    from .plugin_state import state_of

    return state_of(target)


def holds_buffers(strategy) -> bool:
    """Whether the strategy stores training examples (what --no-buffer-checkpoint leaves out)."""
    from strategies.state import NotCapturable

    def holds(target) -> bool:
        try:
            return getattr(_state_of(target), "holds_examples", False)
        except NotCapturable:  # not saved at all (check_capturable says why)
            return False

    return any(holds(target) for target in (strategy, *strategy.plugins))


def capture(strategy, *, buffers: bool = True) -> dict:
    """The strategy's state between experiences, as tensors and plain values.

    ``buffers=False`` leaves out every stored example (replay, GEM, A-GEM, DER, iCaRL): a run
    resumed from such a checkpoint continues with empty memories and says so.
    """
    from strategies.state import module_state

    from .module_state import capture_random_state, optimizer_state

    return {
        "model": module_state(strategy.model),
        "optimizer": optimizer_state(strategy),
        "template": _state_of(strategy).state_dict(examples=buffers),
        "plugins": [{"class": type(p).__name__, **_state_of(p).state_dict(examples=buffers)}
                    for p in strategy.plugins],
        "buffers": buffers,
        "random": capture_random_state(),
    }


def restore(strategy, state: dict, *, benchmark, finished: int, validation: bool) -> None:
    """Put a :func:`capture` state back into a freshly built strategy after ``finished``
    experiences (regrowing the model first)."""
    from strategies.state import RestoreContext, StateError, load_module_state

    from .module_state import load_optimizer_state, regrow, restore_random_state

    classes = [type(p).__name__ for p in strategy.plugins]
    saved_classes = [p["class"] for p in state["plugins"]]
    if classes != saved_classes:
        raise CheckpointError(f"the checkpoint's plugins ({', '.join(saved_classes)}) differ from this run's "
                              f"({', '.join(classes)}): add --overwrite to start over")
    context = RestoreContext(benchmark=benchmark, finished=finished, strategy=strategy)
    try:
        regrow(strategy, benchmark, finished, validation=validation)
        load_module_state(strategy.model, state["model"])
        strategy.model.to(strategy.device)
        load_optimizer_state(strategy, state["optimizer"])
        _state_of(strategy).load_state_dict(state["template"], context)
        for plugin, saved in zip(strategy.plugins, state["plugins"]):
            _state_of(plugin).load_state_dict(saved, context)
    except StateError as err:
        raise CheckpointError(f"{err}: add --overwrite to start the run over") from None
    restore_random_state(state["random"])


def payload(*, meta: dict, progress: dict, state: dict) -> dict:
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "saved": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "meta": meta, "progress": progress, "state": state}
