"""``--save-model``: the trained model in ``<run>/model/``, and :func:`load_model` to get it back.

``<run>/model/`` holds

- ``encoder/``: the encoder as Hugging Face or peft write it (``save_pretrained``), so that other
  tools can load it: the whole fine-tuned encoder with its tokenizer (``kind`` ``"full"``:
  full fine-tuning, BitFit, a frozen probe), the peft adapters (``"peft"``: LoRA, IA3, prompt
  and prefix tuning, O-LoRA's adapters), one adapter folder per task (``"per-task"`` with peft:
  ``encoder/task<t>/``), or the pretrained encoder as it was (``"base"``: hand-written adapters
  and per-task BitFit leave its weights alone and keep theirs in ``suite.safetensors``);
- ``suite.safetensors``: every tensor of the model that the encoder folder and the pretrained
  model do not already give back (the head, hand-written adapters, each task's tensors, O-LoRA's
  frozen adapters, masks), found by rebuilding the model as :func:`load_model` does and keeping
  what differs;
- ``model.json``: what the files are (format, strategy, encoder kind and source, tensor names).

:func:`load_model` rebuilds the model from the run's ``config.json`` (the same encoder, head,
strategy and architecture changes, replayed from the experiences' classes and tasks) and loads
those tensors: the same logits as the trained model.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Optional

FORMAT, FORMAT_VERSION = "continual-model", 1
FOLDER = "model"


def encoder_kind(model) -> str:
    """How ``model``'s encoder is saved: per-task, peft, base (hand-written adapters) or full."""
    from strategies.efficient_models import AdaptedLinear, PerTaskClassifier

    encoder = model.features.encoder
    if isinstance(model, PerTaskClassifier):
        return "per-task" if _peft_model(encoder) is not None else "base"
    if _peft_model(encoder) is not None:
        return "peft"
    if any(isinstance(m, AdaptedLinear) for m in encoder.modules()):
        return "base"
    return "full"


def _peft_model(encoder):
    from peft import PeftModel

    if isinstance(encoder, PeftModel):
        return encoder
    inner = getattr(encoder, "peft_model", None)
    return inner if isinstance(inner, PeftModel) else None


def save_model(run_dir: Path, config, summary: dict, model) -> Path:
    """Write ``<run_dir>/model/`` for the trained ``model`` of a run of ``config`` on a stream
    described by ``summary`` (config.json's ``stream``); returns the folder."""
    from safetensors.torch import save_file

    folder = Path(run_dir) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    kind = encoder_kind(model)
    _save_encoder(model, kind, folder / "encoder", config)
    skeleton = _rebuild(config, summary, folder, kind)
    fresh = skeleton.state_dict()
    own = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()
           if k not in fresh or fresh[k].shape != v.shape or not _equal(fresh[k], v)}
    save_file(own, str(folder / "suite.safetensors"))
    info = {"format": FORMAT, "format_version": FORMAT_VERSION, "strategy": config.strategy,
            "encoder": {"kind": kind, "folder": "encoder", "base_model": config.model.model or "packaged all-MiniLM-L6-v2"},
            "suite": {"file": "suite.safetensors", "tensors": sorted(own)}}
    (folder / "model.json").write_text(json.dumps(info, indent=2) + "\n")
    return folder


def _equal(a, b) -> bool:
    import torch

    return torch.equal(a.detach().cpu(), b.detach().cpu())


def _save_encoder(model, kind: str, folder: Path, config) -> None:
    from ..model import load_encoder_and_tokenizer

    encoder = model.features.encoder
    if kind == "full":
        encoder.save_pretrained(folder)
        load_encoder_and_tokenizer(config.model.model)[1].save_pretrained(folder)
    elif kind == "peft":
        _peft_model(encoder).save_pretrained(folder)
    elif kind == "per-task":
        for task in model.tasks:
            model._use(task)
            _peft_model(encoder).save_pretrained(folder / f"task{task}")
    else:  # the pretrained encoder: the suite's modules and each task's tensors are in suite.safetensors
        pretrained, tokenizer = load_encoder_and_tokenizer(config.model.model)
        pretrained.save_pretrained(folder)
        tokenizer.save_pretrained(folder)


def _rebuild(config, summary: dict, folder: Path, kind: str):
    """The model as a run of ``config`` builds it, adapted to every experience of ``summary``."""
    import torch
    from avalanche.models.utils import avalanche_model_adaptation

    from streams.seeds import derived_seed
    from strategies import StrategyContext

    from ..engine.assemble import build_parts, default_head, hyperparameters
    from ..model import build_model, load_encoder_and_tokenizer

    source = str(folder / "encoder") if kind == "full" else config.model.model
    encoder, tokenizer = load_encoder_and_tokenizer(source, attention=config.model.attention,
                                          attention_dropout=config.model.attention_dropout)
    n_classes = summary["n_classes"]
    torch.manual_seed(derived_seed(config.seed, "model-init"))
    experiences = summary["experiences"]
    task_type = summary.get("task_type", "single-label")
    head = config.model.head or default_head(summary["scenario"])
    model = build_model(encoder, head=head, n_classes=n_classes, pooling=config.model.pooling,
                        precision=config.training.precision, task_type=task_type,
                        experience_classes=[e["classes"] for e in experiences])
    names = ([[str(c) for c in e["classes"]] for e in experiences] if summary["scenario"] == "task"
             else [str(c) for c in range(n_classes)])
    context = StrategyContext(batch_size=config.training.batch_size, n_classes=n_classes, seed=config.seed,
                              tokenizer=tokenizer, class_descriptions=names, max_length=config.stream.max_length,
                              task_type=task_type)
    model = build_parts(list(hyperparameters(config)), hyperparameters(config), context, model)[0]
    for training in (True, False):
        model.train(training)
        for e in experiences:
            avalanche_model_adaptation(model, SimpleNamespace(
                classes_in_this_experience=list(e["classes"]), task_labels=[e["task"]], current_experience=e["id"]))
    model.tokenizer = tokenizer
    return model.eval()


def load_model(run_dir, device: Optional[str] = None):
    """The model a run saved with ``--save-model``, in eval mode, with the same logits as when
    it finished; ``model.encode(texts)`` packs texts for its forward (``model(model.encode(texts))``,
    task-incremental models ``model(x, task)``)."""
    import torch
    from safetensors.torch import load_file

    from ..config import config_from_dict
    from ..errors import UserError

    run_dir = Path(run_dir)
    folder = run_dir / FOLDER
    if not (folder / "model.json").is_file() or not (run_dir / "config.json").is_file():
        raise UserError(f"{run_dir} holds no saved model: run it with --save-model (it writes {folder}/)")
    info = json.loads((folder / "model.json").read_text())
    if info.get("format") != FORMAT or info.get("format_version") != FORMAT_VERSION:
        raise UserError(f"{folder}/model.json is not a saved model of this program's format {FORMAT_VERSION}")
    stored = json.loads((run_dir / "config.json").read_text())
    config = config_from_dict(stored["config"])
    model = _rebuild(config, stored["stream"], folder, info["encoder"]["kind"])
    state = load_file(str(folder / "suite.safetensors"))
    unexpected = model.load_state_dict(state, strict=False).unexpected_keys
    if unexpected:
        raise UserError(f"{folder}/suite.safetensors does not fit the rebuilt model ({unexpected[0]} ...)")
    words = stored["stream"].get("task_type") == "token"
    model.encode = functools.partial(_encode, model.tokenizer, config.stream.max_length, words=words)
    return model.to(torch.device(device) if device else "cpu").eval()


def _encode(tokenizer, max_length: int, texts, words: bool = False):
    """Packed inputs of texts, or for a tagger of sentences given as lists of words."""
    from streams.tokenization import pack

    ids = tokenizer([list(t) for t in texts] if words else list(texts), truncation=True, max_length=max_length,
                    is_split_into_words=words)["input_ids"]
    return pack(ids, max(len(i) for i in ids), tokenizer.pad_token_id or 0)
