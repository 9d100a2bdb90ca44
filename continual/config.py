"""Typed configuration: one dataclass per concern, validated on construction.

A run is described by an :class:`ExperimentConfig` (one strategy, one seed); the CLI builds one
per (strategy, seed) of the grid it is given. Each field of the stream, model, training and run
control sections declares, with :func:`option`, its help text and choices and whether it is a
command-line flag, so ``python -m continual.run`` generates those flags from the fields
(:func:`add_config_flags`). Values come from the defaults, then a YAML file
(:func:`load_config_file`), then the flags given, then ``--set section.key=value``
(:func:`apply_override`); YAML values keep their YAML types and are checked against the field's
declared type, ``--set`` text is converted by it. See docs/design.md, section Architecture.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import re
import typing
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from .errors import UserError, closest

#: ``option(flag=...)`` default: the flag is ``--`` and the field name with hyphens.
FLAG_FROM_NAME = "from name"


def option(default: Any, help: str, *, choices: Optional[tuple] = None, flag: Optional[str] = FLAG_FROM_NAME):
    """A config field with what its command-line flag needs: ``help`` (shown with the default in
    ``--help``), ``choices`` (offered by the flag and checked on construction) and ``flag``
    (``None``: no flag of its own). A bool field defaulting to True has an inverted flag
    (``flag="--no-..."``) that sets it to False; its ``help`` says what giving that flag does."""
    name_flag = {} if flag == FLAG_FROM_NAME else {"flag": flag}
    return field(default=default, metadata={"help": help, "choices": choices, **name_flag})


def flag_of(cls: type, name: str) -> Optional[str]:
    """The command-line flag of field ``name`` of ``cls`` (``--train-per-class``), or None."""
    metadata = next(f.metadata for f in dataclasses.fields(cls) if f.name == name)
    return metadata.get("flag", "--" + name.replace("_", "-"))


def _label(instance: Any, name: str) -> str:
    """How an error names a field: its flag, or, when it has none, the key ``--set`` and the
    YAML file take (``training.weight_decay``)."""
    section = _SECTIONS.get(type(instance).__name__)
    return flag_of(type(instance), name) or (f"{section}.{name}" if section else name)


_SECTIONS = {"StreamConfig": "stream", "ModelConfig": "model", "TrainingConfig": "training"}


def _positive(instance: Any, *names: str) -> None:
    for name in names:
        value = getattr(instance, name)
        if value is not None and value <= 0:
            raise UserError(f"{_label(instance, name)} must be positive, got {value}: give a number above 0")


def _check_choices(instance: Any) -> None:
    for f in dataclasses.fields(instance):
        choices, value = f.metadata.get("choices"), getattr(instance, f.name)
        if choices and value is not None and value not in choices:
            options = ", ".join(choices[:-1]) + f" or {choices[-1]}"
            raise UserError(f"{_label(instance, f.name)} {value} is unknown: use {options}")


PRECISIONS = ("fp32", "bf16")
#: adamw: the fine-tuning default; sgd: plain SGD without momentum, for methods whose guarantee is
#: about the gradient step itself (A-GEM: a projected gradient keeps the memory loss from rising
#: only when the step follows it)
OPTIMIZERS = ("adamw", "sgd")
DEVICES = ("auto", "cpu", "cuda")
#: Class, domain and task orders: an item that reads as an integer is a class id or value, any
#: other is a label value or name.
Order = Optional[list[Union[int, str]]]


@dataclass
class StreamConfig:
    stream: str = option("icd10cm-chapters", "built-in stream (see --list-streams)")
    experiences: Optional[int] = option(None, "number of experiences T; default: the stream's own (5 for icd10cm-chapters)")
    train_per_class: int = option(200, "upper bound on training examples per class; the default, with 2 epochs, is the cheapest budget at which naive learns every experience of icd10cm-chapters (validation accuracy >= 0.8 on tuning seeds 10 and 11; results/reference/tuning/)")
    test_per_class: int = option(50, "upper bound on test examples per class")
    max_length: int = option(128, "maximum tokens per text (longer ones are truncated; their share is reported)")
    class_order: Order = option(None, "class order: class ids, or label values with --data; default: drawn from the seed", flag=None)
    data: Optional[str] = option(None, "your own labelled texts: CSV / JSON Lines / Parquet file, a folder of them, a datasets save_to_disk folder, a,b.csv (one task each) or a Hugging Face dataset name")
    text_col: Optional[str] = option(None, "text column of --data")
    label_col: Optional[str] = option(None, "label column of --data (integer or string labels)")
    domain_col: Optional[str] = option(None, "domain column (hospital, year, specialty): one experience per value")
    task_col: Optional[str] = option(None, "task column: one experience (and head) per value")
    group_col: Optional[str] = option(None, "group column (patient, admission): a group stays wholly in train or in test")
    split_col: Optional[str] = option(None, "column with an existing train/test split to honour")
    scenario: Optional[str] = option(None, "scenario over --data", choices=("class", "domain", "task"))
    name: Optional[str] = option(None, "stream name in results; default <data stem>-<scenario>")
    label_names: Optional[str] = option(None, "CSV or JSON file mapping label values to readable names")
    encoding: str = option("utf-8", "text encoding of --data CSV, TSV and JSON files (latin-1, cp1252, ...)")
    domain_order: Order = option(None, "domain values in experience order; default: sorted", flag=None)
    task_order: Order = option(None, "task values in experience order; default: sorted, or the files' order", flag=None)
    task_type: Optional[str] = option(None, "what a label is: one class per text, a BIO tag per word (token) or a set of labels per text (multi-label); default: read from --data (a .conll file, a two-column token/tag TSV or JSON Lines with tokens and tags mean token; --label-sep means multi-label), else the built-in stream's own",
                                      choices=("single-label", "token", "multi-label"))
    label_sep: Optional[str] = option(None, "multi-label --data: the separator of the labels in a delimited label column (e.g. ';'); a column holding lists needs none with --task-type multi-label")
    stride: int = option(32, "token streams: word pieces shared by the consecutive windows of a sentence longer than --max-length, so no entity is lost to truncation", flag=None)
    shots: Optional[int] = option(None, "few-shot: keep K training examples per class in each experience")
    val_per_class: int = option(0, "validation examples per class held out of training (early stopping, tuning)")
    split_seed: int = option(0, "seed of the train / validation / test split; fixed apart from --seed, so every run seed is scored on the same test texts")
    holdout: str = option("test", "what the accuracy matrix scores: the test splits, or the validation splits (continual.tune sets it; the test texts are then never read)",
                          choices=("test", "validation"), flag=None)
    cache_dir: Optional[str] = option(None, "tokenization cache folder; default ~/.cache/continual-medical ($XDG_CACHE_HOME respected)")
    no_cache: bool = option(False, "keep no tokenization cache on disk")

    def __post_init__(self) -> None:
        _positive(self, "experiences", "train_per_class", "test_per_class", "max_length", "shots")
        _check_choices(self)
        if self.val_per_class < 0:
            raise UserError(f"--val-per-class must be 0 or more, got {self.val_per_class}")
        if self.data is not None:
            # token data names its columns itself (CoNLL, tokens/tags): without --task-type the
            # columns are checked once the data is read and its task type known
            known = self.task_type in ("single-label", "multi-label") or self.label_sep is not None
            needed = ("text_col", "label_col", "scenario") if known else ("scenario",)
            missing = [_label(self, n) for n in needed if getattr(self, n) is None]
            if missing:
                raise UserError(f"--data needs {', '.join(missing)}: name the text and label columns and the scenario")
        if self.scenario == "domain" and self.data is not None and not self.domain_col:
            raise UserError("--scenario domain needs --domain-col: the column whose values cut the experiences")
        if self.label_sep is not None and self.task_type not in (None, "multi-label"):
            raise UserError(f"--label-sep is for multi-label data, not --task-type {self.task_type}: leave one of them out")
        if self.stride < 0:
            raise UserError(f"stream.stride {self.stride} must be 0 or more (windows overlap by at most half a window)")
        if self.max_length < 8:
            raise UserError(f"--max-length {self.max_length} is too short: use at least 8 tokens")


@dataclass
class ModelConfig:
    model: Optional[str] = option(None, "Hugging Face name or local folder; default: the packaged all-MiniLM-L6-v2")
    head: Optional[str] = option(None, "classification head; default: the scenario's own (multi for task, else incremental)",
                                 choices=("incremental", "multi", "fixed"))
    pooling: str = option("mean", "sentence vector from the encoder: mean of the tokens or [CLS]", choices=("mean", "cls"), flag=None)
    attention: str = option("sdpa", "attention kernel: sdpa (PyTorch's fused kernel, transformers' default) or eager (matmul and softmax, for models without sdpa)",
                            choices=("sdpa", "eager"), flag=None)
    attention_dropout: Optional[float] = option(
        None, "dropout on the attention weights in training; default: the model's own (0.1 for BERT and MiniLM). "
        "0 lets sdpa keep its fused kernel in training: on CPU at 300+ tokens a step costs a quarter less "
        "(docs/benchmarks.md), and the model trains without that regularization", flag=None)

    def __post_init__(self) -> None:
        _check_choices(self)
        if self.attention_dropout is not None and not 0 <= self.attention_dropout < 1:
            raise UserError(f"model.attention_dropout must be in [0, 1), got {self.attention_dropout}: give a "
                            "probability such as 0 or 0.1, or leave it out for the model's own")


@dataclass
class TrainingConfig:
    epochs: int = option(2, "training epochs per experience (the default budget: see --train-per-class)")
    batch_size: int = option(32, "training batch size")
    eval_batch_size: int = option(128, "evaluation batch size (at most this many texts and 8 tokens per text on average, padding included)", flag=None)
    lr: float = option(1e-4, "learning rate")
    optimizer: str = option("adamw", "adamw, or sgd (plain SGD, no momentum; L2 weight decay)", choices=OPTIMIZERS, flag=None)
    weight_decay: float = option(0.01, "weight decay (AdamW: decoupled; SGD: L2)", flag=None)
    device: str = option("auto", "auto uses CUDA when present", choices=DEVICES)
    precision: str = option("fp32", "bf16 runs the encoder under autocast (CPU and CUDA); fp32 stays the default", choices=PRECISIONS)
    early_stopping: bool = option(False, "stop each experience's training when validation accuracy stops improving (needs --val-per-class)")
    patience: int = option(1, "epochs without validation improvement before stopping", flag=None)
    deterministic: bool = option(False, "use torch's deterministic algorithms (slower on CUDA; an operation without a deterministic version stops the run)")

    def __post_init__(self) -> None:
        _positive(self, "epochs", "batch_size", "eval_batch_size", "lr")
        _check_choices(self)
        if self.weight_decay < 0:
            raise UserError("weight_decay must be 0 or more")
        if self.patience < 1:
            raise UserError("patience must be at least 1")


@dataclass
class RunControl:
    """How this invocation treats its run folder: never changes a run's numbers, so it is left
    out when a folder's configuration is compared (:func:`run_identity`)."""

    resume: bool = option(False, "continue an interrupted run from its last finished experience (<run>/checkpoint/)")
    overwrite: bool = option(False, "redo a finished run, or start an interrupted one over, in place; without it a finished run is skipped")
    keep_checkpoint: bool = option(False, "keep <run>/checkpoint/ after the run completes (it may hold replay buffers: token ids)")
    save_model: bool = option(False, "write the trained model to <run>/model/ at the end (the encoder with save_pretrained, the suite's own tensors as safetensors); continual.load_model(run_dir) reads it back")
    buffer_checkpoint: bool = option(True, "leave stored examples (replay, GEM, A-GEM, DER, iCaRL buffers: token ids) out of checkpoints; such a run cannot resume its buffers exactly",
                                     flag="--no-buffer-checkpoint")

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


@functools.lru_cache(maxsize=None)
def field_types(cls: type) -> dict[str, Any]:
    """The declared type of each field of ``cls``, evaluated (the annotations are strings)."""
    return typing.get_type_hints(cls)


_WHAT = {int: "an integer", float: "a number", bool: "true or false", str: "text"}
_INTEGER = re.compile(r"[+-]?\d+")


def _expected(kind: Any) -> str:
    """'an integer', 'a list of integers or text', ...: what a value of type ``kind`` looks like."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is Union:
        return " or ".join(_expected(a) for a in args if a is not type(None))
    if origin is list:
        return "a list of " + _expected(args[0]).replace("an integer", "integers").replace("a number", "numbers")
    return _WHAT.get(kind, getattr(kind, "__name__", str(kind)))


def from_text(kind: Any, text: str) -> Any:
    """``text`` (a ``--set`` value) as a value of the declared type ``kind``; ValueError if it is
    not one. A list is comma-separated; 'none' or 'null' is None for an Optional non-text field."""
    text = text.strip()
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is Union:
        members = [a for a in args if a is not type(None)]
        if len(members) < len(args) and str not in members and text.lower() in ("none", "null"):
            return None
        for member in members:
            try:
                return from_text(member, text)
            except ValueError:
                continue
        raise ValueError(_expected(kind))
    if origin is list:
        return [from_text(args[0], item) for item in text.split(",") if item.strip()]
    if kind is bool:
        if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(_expected(kind))
        return text.lower() in ("true", "1", "yes")
    if kind is int:
        if not _INTEGER.fullmatch(text):
            raise ValueError(_expected(kind))
        return int(text)
    if kind is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError(_expected(kind)) from None
    return text


def checked(kind: Any, value: Any) -> Any:
    """``value`` (as YAML gave it) if it is of the declared type ``kind``, else ValueError. An
    integer is a valid float; so is a string in float syntax, which PyYAML reads as text when it
    has no decimal point ('1e-4')."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is Union:
        if value is None and type(None) in args:
            return None
        for member in (a for a in args if a is not type(None)):
            try:
                return checked(member, value)
            except ValueError:
                continue
    elif origin is list:
        if isinstance(value, list):
            return [checked(args[0], item) for item in value]
    elif kind is float and not isinstance(value, bool) and isinstance(value, (int, float, str)):
        try:
            return float(value)
        except ValueError:
            pass
    elif kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    elif kind in (bool, str) and isinstance(value, kind):
        return value
    raise ValueError(_expected(kind))


def apply_override(values: dict[str, dict[str, Any]], key: str, value: Any, *, origin: str) -> None:
    """Record ``section.field`` = ``value`` into ``values[section][field]``, typed: a string from
    ``--set`` (``origin`` '--set') is converted by the field's type, a YAML value (``origin``
    'config file F:') is checked against it. Raise a :class:`UserError` naming origin and key."""
    section, _, name = key.partition(".")
    types = field_types(SECTIONS[section])
    if name not in types:
        raise UserError(f"{origin} {key}: the {section} section has no field {name!r}{closest(name, types)}")
    try:
        from_command_line = origin.startswith("--")  # text to convert, not a YAML value to check
        typed = from_text(types[name], value) if from_command_line else checked(types[name], value)
    except ValueError as err:
        raise UserError(f"{origin} {key} expects {err}, got {value!r}") from None
    values.setdefault(section, {})[name] = typed


def read_config_file(path: str) -> dict:
    """A YAML config file as a mapping of sections, or a :class:`UserError` naming the problem."""
    import yaml

    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle) or {}
    except OSError as err:
        raise UserError(f"cannot read config file {path}: {err.strerror}; check the path") from None
    except yaml.YAMLError as err:
        raise UserError(f"config file {path} is not valid YAML ({type(err).__name__}): fix its syntax") from None
    if not isinstance(data, dict):
        raise UserError(f"config file {path} must hold a mapping of sections (stream, model, training, strategies)")
    return data


def load_config_file(path: str, data: Optional[dict] = None) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, str]]]:
    """A YAML config file's sections: (stream/model/training values, typed and checked; each
    strategy's hyperparameters, as text for the strategy to parse). ``data`` is the file's
    mapping when the caller has read it already (and taken out sections of its own)."""
    data = read_config_file(path) if data is None else data
    unknown = set(data) - {*SECTIONS, "strategies"}
    if unknown:
        raise UserError(f"config file {path}: unknown section(s) {', '.join(sorted(map(str, unknown)))}; "
                        "use stream, model, training, strategies")
    sections: dict[str, dict[str, Any]] = {}
    for section in SECTIONS:
        entries = _mapping(data.get(section), f"config file {path}: section {section}")
        for key, value in entries.items():
            apply_override(sections, f"{section}.{key}", value, origin=f"config file {path}:")
    strategies = _mapping(data.get("strategies"), f"config file {path}: section strategies")
    params = {str(name): {str(k): _hyperparameter_text(path, name, k, v)
                          for k, v in _mapping(values, f"config file {path}: strategies.{name}").items()}
              for name, values in strategies.items()}
    return sections, params


def _hyperparameter_text(path: str, strategy: Any, key: Any, value: Any) -> str:
    """A strategy hyperparameter of a config file as the text the strategy parses, checked now
    so that a wrong value is reported with its file and key."""
    from strategies import STRATEGIES, resolve_params

    where = f"config file {path}: strategies.{strategy}.{key}"
    if isinstance(value, (list, dict)):
        raise UserError(f"{where} must be a single value, got a {type(value).__name__} ({value!r}); "
                        "to try several values use continual.tune --grid")
    text = str(value)
    if str(strategy) in STRATEGIES:
        try:
            resolve_params(str(strategy), {str(key): text})
        except ValueError as err:
            message = str(err)
            prefix = f"--set {strategy}.{key}"
            raise UserError(f"{where}{message[len(prefix):] if message.startswith(prefix) else ': ' + message}") from None
    return text


def _mapping(value: Any, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UserError(f"{where} must be a mapping of keys to values, got {value!r}")
    return value


# Command-line flags generated from the fields (as transformers' HfArgumentParser does). A
# generated flag's parser default is argparse.SUPPRESS: only flags given on the command line reach
# the parsed namespace, which is how they win over a YAML file while an absent flag leaves the
# file's value alone; --help still shows each field's default.


def _value_type(kind: Any) -> Any:
    """The argparse ``type`` of a field declared ``kind``: ``Optional[int]`` parses as ``int``."""
    if typing.get_origin(kind) is Union:
        members = [a for a in typing.get_args(kind) if a is not type(None)]
        if len(members) == 1:
            return members[0]
    if kind in (int, float, str):
        return kind
    raise TypeError(f"no command-line flag for a field of type {kind}: declare it with flag=None")


def add_config_flags(parser: Any, section: str, cls: type) -> None:
    """One flag on ``parser`` (a parser or an argument group) per field of ``cls`` that has one;
    its namespace name is ``section.field``. A field without help is a programming error."""
    types = field_types(cls)
    for f in dataclasses.fields(cls):
        flag = flag_of(cls, f.name)
        if flag is None:
            continue
        help_text = f.metadata.get("help")
        if not help_text:
            raise TypeError(f"{cls.__name__}.{f.name} has a flag but no help: declare it with option()")
        dest, kind, choices = f"{section}.{f.name}", types[f.name], f.metadata.get("choices")
        if kind is bool:  # an on/off flag: not giving it is its default
            parser.add_argument(flag, dest=dest, action="store_false" if f.default else "store_true",
                                default=argparse.SUPPRESS, help=_with_default(help_text, False))
            continue
        parser.add_argument(flag, dest=dest, type=_value_type(kind), choices=choices,
                            metavar=None if choices else f.name.upper(), default=argparse.SUPPRESS,
                            help=_with_default(help_text, f.default))


def _with_default(help_text: str, default: Any) -> str:
    """The help text with the field's true default, where the text does not state one and
    there is one to state (an off switch, None and empty say nothing)."""
    if "default" in help_text or default is None or default is False or default in ([], ()):
        return help_text.replace("%", "%%")
    return f"{help_text} (default: {default})".replace("%", "%%")


def given_flags(args: argparse.Namespace, section: str) -> dict[str, Any]:
    """The values of the generated flags of ``section`` that were given on the command line."""
    prefix = section + "."
    return {dest[len(prefix):]: value for dest, value in vars(args).items() if dest.startswith(prefix)}


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


def model_suggestion(name: str) -> str:
    """' (did you mean X?)' for a model name that was not found: sibling folders of a path, or
    known and locally cached Hugging Face names."""
    import os
    from pathlib import Path

    from streams.sources import looks_like_path

    if looks_like_path(name):
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
    return closest(name, [n for n in [*KNOWN_MODELS, *cached] if n != name])


#: how long the check that the Hugging Face hub can be reached waits, seconds
HUB_TIMEOUT = 3.0


def hub_reachable(timeout: float = HUB_TIMEOUT) -> bool:
    """Whether the Hugging Face hub (``HF_ENDPOINT``, default huggingface.co) answers a TCP
    connection within ``timeout``; False when ``HF_HUB_OFFLINE`` is set."""
    import os
    import socket
    from urllib.parse import urlparse

    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    endpoint = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    try:
        with socket.create_connection((endpoint.hostname, endpoint.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def check_hub_name(name: str) -> None:
    """A hub name that is neither in the local cache nor reachable fails now, in one line,
    instead of after the hub client's retries."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # transformers brings it; without it the load below says what is missing
        return
    try:
        cached = try_to_load_from_cache(name, "config.json")
    except Exception:  # an invalid repository id: the load reports it
        return
    if isinstance(cached, str) or hub_reachable():
        return
    raise UserError(f"--model {name}: not a local folder, not in the Hugging Face cache, and the hub cannot be "
                    f"reached (offline?){model_suggestion(name)}; give a local model folder, or leave --model "
                    "out for the packaged MiniLM")


def check_model(name: Optional[str]) -> None:
    """Refuse a --model that is a missing folder, a folder without config.json, or a model that
    is not a BERT-family encoder, reading config.json only (no heavy import). Hub names are
    checked when they are loaded."""
    import json
    from pathlib import Path

    from streams.sources import looks_like_path

    if name is None:
        return
    folder = Path(name).expanduser()
    if not folder.exists():
        if looks_like_path(name):
            raise UserError(f"--model {name}: no such folder{model_suggestion(name)}; give a local model "
                            "folder or a Hugging Face name")
        check_hub_name(name)
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
