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
    train_per_class: int = field(default=200, metadata={"help": "upper bound on training examples per class"})
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
    eval_batch_size: int = field(default=256, metadata={"help": "evaluation batch size"})
    lr: float = field(default=1e-4, metadata={"help": "AdamW learning rate"})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay"})
    device: str = field(default="auto", metadata={"help": "auto | cpu | cuda"})
    precision: str = field(default="fp32", metadata={"help": "fp32 | bf16 (autocast)"})
    early_stopping: bool = field(default=False, metadata={"help": "stop an experience's training when validation accuracy stops improving (needs --val-per-class)"})
    patience: int = field(default=1, metadata={"help": "epochs without validation improvement before stopping"})

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

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


SECTIONS = {"stream": StreamConfig, "model": ModelConfig, "training": TrainingConfig}


def _coerce(field_obj: dataclasses.Field, text: str) -> Any:
    default = field_obj.default
    kind = field_obj.type if isinstance(field_obj.type, str) else getattr(field_obj.type, "__name__", "")
    try:
        if isinstance(default, bool) or "bool" in kind:
            lowered = text.lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return lowered in ("true", "1", "yes")
        if "int" in kind:
            return int(text)
        if "float" in kind:
            return float(text)
        if "list" in kind:
            return [int(v) if v.strip().lstrip("-").isdigit() else v.strip() for v in text.split(",")]
    except ValueError:
        raise UserError(f"--set: {field_obj.name} expects a {kind}, got {text!r}") from None
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
    values.setdefault(section, {})[name] = _coerce(fields[name], text)
