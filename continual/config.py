"""Typed configuration: one dataclass per concern, validated on construction.

A run is described by an :class:`ExperimentConfig` (one strategy, one seed); the CLI builds one
per (strategy, seed) of the grid it is given. ``--set section.key=value`` overrides any field of
the stream, model and training sections, and ``--set strategy.key=value`` a strategy's
hyperparameter.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional

from .errors import UserError

PRECISIONS = ("fp32", "bf16")
DEVICES = ("auto", "cpu", "cuda")


def _positive(name: str, value: Optional[float]) -> None:
    if value is not None and value <= 0:
        raise UserError(f"{name} must be positive, got {value}: give a number above 0")


@dataclass
class StreamConfig:
    stream: str = field(default="icd10cm-chapters", metadata={"help": "built-in stream name (see --list-streams)"})
    experiences: Optional[int] = field(default=None, metadata={"help": "number of experiences T (default: the stream's own)"})
    train_per_class: int = field(default=100, metadata={"help": "upper bound on training examples per class"})
    test_per_class: int = field(default=50, metadata={"help": "upper bound on test examples per class"})
    max_length: int = field(default=128, metadata={"help": "tokens per text; longer texts are truncated (share reported)"})
    class_order: Optional[list] = field(default=None, metadata={"help": "explicit class order (class ids), else drawn from the seed"})
    data: Optional[str] = field(default=None, metadata={"help": "CSV/JSONL/Parquet file(s), a folder, a save_to_disk folder or a Hugging Face dataset name"})
    text_col: Optional[str] = field(default=None, metadata={"help": "column holding the text (with --data)"})
    label_col: Optional[str] = field(default=None, metadata={"help": "column holding the label (with --data)"})
    domain_col: Optional[str] = field(default=None, metadata={"help": "column cutting domain experiences"})
    task_col: Optional[str] = field(default=None, metadata={"help": "column cutting task experiences"})
    group_col: Optional[str] = field(default=None, metadata={"help": "column of groups (patients) kept on one side of the split"})
    split_col: Optional[str] = field(default=None, metadata={"help": "column holding an existing train/test split"})
    scenario: Optional[str] = field(default=None, metadata={"help": "class | domain | task (with --data)"})
    name: Optional[str] = field(default=None, metadata={"help": "stream name in results (default <data stem>-<scenario>)"})
    label_names: Optional[str] = field(default=None, metadata={"help": "CSV or JSON file mapping label values to names"})
    domain_order: Optional[list] = field(default=None, metadata={"help": "order of domain values (default sorted)"})
    task_order: Optional[list] = field(default=None, metadata={"help": "order of task values (default sorted or file order)"})
    shots: Optional[int] = field(default=None, metadata={"help": "few-shot: K training examples per class and experience"})
    val_per_class: int = field(default=0, metadata={"help": "validation examples per class held out of training"})
    cache_dir: Optional[str] = field(default=None, metadata={"help": "tokenization cache folder (default ~/.cache/continual-medical)"})
    no_cache: bool = field(default=False, metadata={"help": "keep no tokenization cache on disk"})

    def __post_init__(self) -> None:
        for name in ("experiences", "train_per_class", "test_per_class", "max_length", "shots"):
            _positive(f"--{name.replace('_', '-')}", getattr(self, name))
        if self.val_per_class < 0:
            raise UserError(f"--val-per-class must be 0 or more, got {self.val_per_class}")
        if self.data is not None:
            missing = [f"--{n.replace('_', '-')}" for n in ("text_col", "label_col", "scenario") if getattr(self, n) is None]
            if missing:
                raise UserError(f"--data needs {', '.join(missing)}: name the text and label columns and the scenario")
        if self.scenario is not None and self.scenario not in ("class", "domain", "task"):
            raise UserError(f"--scenario {self.scenario} is unknown: use class, domain or task")
        if self.scenario == "domain" and self.data is not None and not self.domain_col:
            raise UserError("--scenario domain needs --domain-col: the column whose values cut the experiences")
        if self.max_length < 8:
            raise UserError(f"--max-length {self.max_length} is too short: use at least 8 tokens")


@dataclass
class ModelConfig:
    model: Optional[str] = field(default=None, metadata={"help": "Hugging Face name or local folder (default: packaged all-MiniLM-L6-v2)"})
    head: Optional[str] = field(default=None, metadata={"help": "incremental | fixed (default: the scenario's own)"})
    pooling: str = field(default="mean", metadata={"help": "mean | cls"})

    def __post_init__(self) -> None:
        if self.head is not None and self.head not in ("incremental", "multi", "fixed"):
            raise UserError(f"--head {self.head} is unknown: use incremental, multi or fixed")
        if self.pooling not in ("mean", "cls"):
            raise UserError(f"pooling {self.pooling!r} is unknown: use mean or cls")


@dataclass
class TrainingConfig:
    epochs: int = field(default=2, metadata={"help": "training epochs per experience"})
    batch_size: int = field(default=32, metadata={"help": "training batch size"})
    eval_batch_size: int = field(default=128, metadata={"help": "evaluation batch size (at most this many texts and 8 tokens per text on average, padding included)"})
    lr: float = field(default=1e-4, metadata={"help": "AdamW learning rate"})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay"})
    device: str = field(default="auto", metadata={"help": "auto | cpu | cuda"})
    precision: str = field(default="fp32", metadata={"help": "fp32 | bf16 (autocast)"})
    early_stopping: bool = field(default=False, metadata={"help": "stop an experience's training when validation accuracy stops improving (needs --val-per-class)"})
    patience: int = field(default=1, metadata={"help": "epochs without validation improvement before stopping"})
    deterministic: bool = field(default=False, metadata={"help": "torch deterministic algorithms (slower on CUDA; an op without a deterministic version stops the run)"})

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "eval_batch_size", "lr"):
            _positive(f"--{name.replace('_', '-')}", getattr(self, name))
        if self.weight_decay < 0:
            raise UserError("weight_decay must be 0 or more")
        if self.device not in DEVICES:
            raise UserError(f"--device {self.device} is unknown: use auto, cpu or cuda")
        if self.patience < 1:
            raise UserError("patience must be at least 1")
        if self.precision not in PRECISIONS:
            raise UserError(f"--precision {self.precision} is unknown: use fp32 or bf16")


@dataclass
class RunControl:
    """How this invocation treats its run folder: never changes a run's numbers, so it is left
    out when a folder's configuration is compared (:func:`run_identity`)."""

    resume: bool = field(default=False, metadata={"help": "continue an interrupted run from its last finished experience (<run>/checkpoint/)"})
    overwrite: bool = field(default=False, metadata={"help": "redo a finished run, or start an interrupted one over, in place"})
    keep_checkpoint: bool = field(default=False, metadata={"help": "keep <run>/checkpoint/ after the run completes (it may hold replay buffers: token ids)"})
    buffer_checkpoint: bool = field(default=True, metadata={"help": "save replay/GEM/DER/iCaRL buffers in checkpoints (off: --no-buffer-checkpoint; such a run cannot resume its buffers)"})

    def __post_init__(self) -> None:
        if self.resume and self.overwrite:
            raise UserError("--resume and --overwrite contradict each other: --resume continues a run, --overwrite starts it over; give one")


@dataclass
class ExperimentConfig:
    """Everything one run (one strategy, one seed) depends on."""

    strategy: str = "ewc"
    seed: int = 0
    out: str = "results"
    stream: StreamConfig = field(default_factory=StreamConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    strategy_params: dict = field(default_factory=dict)
    #: 0 = the seed's own class/domain/task order; k > 0 = another order drawn from (seed, k)
    order: int = 0
    #: experiment loggers (--log): tensorboard, csv, wandb, mlflow
    log: list = field(default_factory=list)
    #: --resume, --overwrite, --keep-checkpoint, --no-buffer-checkpoint
    control: RunControl = field(default_factory=RunControl)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


#: Configuration fields that never change a run's numbers (where results go, logging, caching,
#: folder handling; the device is compared as resolved, apart).
_NOT_IDENTITY = {("out",), ("log",), ("control",), ("strategy_params",), ("stream", "cache_dir"),
                 ("stream", "no_cache"), ("training", "device")}


def run_identity(config: dict, hyperparameters: dict) -> dict:
    """What makes two runs the same run: the resolved configuration (``config`` as
    :meth:`ExperimentConfig.to_dict` gives it) without the fields that never change the numbers,
    and every strategy's resolved hyperparameters (so ``--set replay.mem_size=500`` and the
    default 500 are one run)."""
    identity = {}
    for key, value in config.items():
        if (key,) in _NOT_IDENTITY:
            continue
        if isinstance(value, dict):
            value = {k: v for k, v in value.items() if (key, k) not in _NOT_IDENTITY}
        identity[key] = value
    identity["strategy_hyperparameters"] = hyperparameters
    return identity


def config_from_dict(data: dict) -> ExperimentConfig:
    """An :class:`ExperimentConfig` from a stored ``config.json`` ``config`` entry; fields it
    lacks (written by an older version) take their defaults, unknown ones are ignored."""

    def build(cls, values):
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in (values or {}).items() if k in names})

    top = {f.name for f in dataclasses.fields(ExperimentConfig)} - {"stream", "model", "training", "control"}
    return ExperimentConfig(
        **{k: v for k, v in data.items() if k in top},
        stream=build(StreamConfig, data.get("stream")), model=build(ModelConfig, data.get("model")),
        training=build(TrainingConfig, data.get("training")), control=RunControl(),
    )


def identity_differences(old: dict, new: dict, limit: int = 3) -> str:
    """``'training.lr 0.001 -> 0.0001, seed 0 -> 1'``: the first differing fields, dotted."""

    def flatten(value, prefix=""):
        if isinstance(value, dict):
            items = {}
            for k, v in value.items():
                items.update(flatten(v, f"{prefix}{k}."))
            return items
        return {prefix[:-1]: value}

    before, after = flatten(old), flatten(new)
    changed = [f"{k} {before.get(k, '(absent)')!r} -> {after.get(k, '(absent)')!r}"
               for k in sorted(set(before) | set(after)) if before.get(k, object()) != after.get(k, object())]
    shown = ", ".join(changed[:limit]) + (f" and {len(changed) - limit} more" if len(changed) > limit else "")
    return shown or "nothing"


SECTIONS = {"stream": StreamConfig, "model": ModelConfig, "training": TrainingConfig}


def _coerce(field_obj: dataclasses.Field, text: str, key: str) -> Any:
    default = field_obj.default
    kind = field_obj.type if isinstance(field_obj.type, str) else getattr(field_obj.type, "__name__", "")
    try:
        if isinstance(default, bool) or "bool" in kind:
            lowered = text.lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError("true or false")
            return lowered in ("true", "1", "yes")
        if "int" in kind:
            try:
                return int(text)
            except ValueError:
                raise ValueError("an integer") from None
        if "float" in kind:
            try:
                return float(text)
            except ValueError:
                raise ValueError("a number") from None
        if "list" in kind:
            return [int(v) if v.strip().lstrip("-").isdigit() else v.strip() for v in text.split(",")]
    except ValueError as err:
        raise UserError(f"--set {key} expects {err}, got {text!r}") from None
    return text


def apply_section_override(values: dict[str, dict[str, Any]], key: str, text: str) -> None:
    """Record ``--set section.field=value`` into ``values[section][field]`` (typed), or raise."""
    section, _, name = key.partition(".")
    fields = {f.name: f for f in dataclasses.fields(SECTIONS[section])}
    if name not in fields:
        from strategies.registry import closest

        raise UserError(
            f"--set {key}: the {section} section has no field {name!r}{closest(name, fields)}"
        )
    values.setdefault(section, {})[name] = _coerce(fields[name], text, key)


#: model_type values of BERT-family encoders (config.json), the models this suite fine-tunes.
ENCODER_TYPES = (
    "albert", "bert", "big_bird", "camembert", "convbert", "data2vec-text", "deberta", "deberta-v2",
    "distilbert", "electra", "ernie", "esm", "flaubert", "fnet", "funnel", "ibert", "longformer", "luke",
    "megatron-bert", "mobilebert", "modernbert", "mpnet", "mra", "nomic_bert", "nystromformer", "rembert",
    "roberta", "roberta-prelayernorm", "roc_bert", "roformer", "squeezebert", "xlm", "xlm-roberta",
    "xlm-roberta-xl", "xmod", "yoso",
)

#: Hugging Face names offered when a --model name is not found (with those in the local cache).
KNOWN_MODELS = (
    "bert-base-uncased", "bert-base-cased", "roberta-base", "distilbert-base-uncased",
    "sentence-transformers/all-MiniLM-L6-v2", "emilyalsentzer/Bio_ClinicalBERT", "dmis-lab/biobert-v1.1",
    "microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract-fulltext", "medicalai/ClinicalBERT",
)


def _looks_like_path(name: str) -> bool:
    """A local path rather than a Hugging Face name ('org/name' is a name unless 'org' is a
    local folder)."""
    from pathlib import Path

    if name.startswith(("/", "./", "../", "~")):
        return True
    return "/" in name and Path(name.split("/")[0]).expanduser().is_dir()


def model_suggestion(name: str) -> str:
    """' (did you mean X?)' for a model name that was not found: sibling folders of a path, or
    known and locally cached Hugging Face names."""
    import os
    from pathlib import Path

    from strategies.registry import closest

    if _looks_like_path(name):
        parent = Path(name).expanduser().parent
        try:
            siblings = [str(parent / p) if str(parent) != "." else p for p in os.listdir(parent)]
        except OSError:
            siblings = []
        return closest(name, siblings)
    cached = []
    hub = Path(os.environ.get("HF_HUB_CACHE") or Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface") / "hub")
    if hub.is_dir():
        cached = [p.name[len("models--"):].replace("--", "/") for p in hub.iterdir() if p.name.startswith("models--")]
    return closest(name, [*KNOWN_MODELS, *cached])


def check_model(name: Optional[str]) -> None:
    """Refuse a --model that is a missing folder, a folder without config.json, or a model that
    is not a BERT-family encoder, reading config.json only (no heavy import). Hub names are
    checked when they are loaded."""
    import json
    from pathlib import Path

    if name is None:
        return
    folder = Path(name).expanduser()
    if not folder.exists():
        if _looks_like_path(name):
            raise UserError(f"--model {name}: no such folder{model_suggestion(name)}; give a local model "
                            "folder or a Hugging Face name")
        return
    if not folder.is_dir():
        raise UserError(f"--model {name} is a file: give the model's folder (config.json, weights, tokenizer)")
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"model folder {name} has no config.json: give a Hugging Face model folder "
                        "(config.json, weights, tokenizer files)") from None
    except (OSError, ValueError) as err:
        raise UserError(f"model folder {name}: config.json is unreadable ({type(err).__name__}): "
                        "give a Hugging Face model folder") from None
    model_type = config.get("model_type") if isinstance(config, dict) else None
    if model_type not in ENCODER_TYPES or config.get("is_encoder_decoder") or config.get("is_decoder"):
        raise UserError(f"model folder {name} holds a {model_type or 'unknown'} model, not a BERT-family "
                        "encoder: give an encoder such as bert, roberta, deberta or a clinical BERT")
