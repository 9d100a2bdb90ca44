"""Assembling one run from its configuration: the device, the stream (and its other orders), the
strategy's hyperparameters, torch's determinism switch, and the model and Avalanche strategy."""
from __future__ import annotations

import contextlib
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

from ..config import ExperimentConfig
from ..errors import UserError, closest


def resolve_device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was given but no CUDA device is available: use --device cpu or auto")
    return torch.device(name)


def load_stream(config: ExperimentConfig, data=None):
    """The configured stream: a built-in one, or ``--data`` (or ``data``, a DataFrame or a
    datasets Dataset handed over by the Python API) arranged into ``--scenario``."""
    import warnings as _warnings

    from streams import BUILTIN_STREAMS, DataError, validation_view

    sc = config.stream
    try:
        with _warnings.catch_warnings(record=True) as caught:
            _warnings.simplefilter("always", UserWarning)
            if sc.data is not None or data is not None:
                stream = _user_stream(config, sc.data if data is None else data)
            else:
                if sc.stream not in BUILTIN_STREAMS:
                    raise UserError(f"unknown stream {sc.stream!r}{closest(sc.stream, BUILTIN_STREAMS)}: see --list-streams")
                own = BUILTIN_STREAMS[sc.stream].task_type
                if sc.task_type not in (None, own):
                    raise UserError(f"stream {sc.stream} is a {own} stream, not {sc.task_type}: leave --task-type out "
                                    "or give --data")
                stream = BUILTIN_STREAMS[sc.stream].build(
                    seed=config.seed, n_experiences=sc.experiences, train_per_class=sc.train_per_class,
                    test_per_class=sc.test_per_class, class_order=sc.class_order,
                    val_per_class=sc.val_per_class, shots=sc.shots, split_seed=sc.split_seed,
                )
        for warning in caught:  # few-shot shortfalls and the like: one line each, no text
            print(f"warning: {warning.message}", file=sys.stderr)
        return validation_view(stream) if sc.holdout == "validation" else stream
    except (DataError, ValueError) as err:
        raise UserError(str(err)) from None


def _user_stream(config: ExperimentConfig, data):
    """``--data`` (or a DataFrame / Dataset) read as its task type and cut into the scenario."""
    from streams import build_stream, load_source
    from streams.multilabel import load_multilabel_source
    from streams.tagging import detect_task_type, load_token_source
    from streams.task_builders import build_multilabel_stream, build_token_stream

    sc = config.stream
    task_type = detect_task_type(data, task_type=sc.task_type, label_sep=sc.label_sep)
    if task_type != "token" and (sc.text_col is None or sc.label_col is None):
        raise UserError("--data needs --text-col and --label-col: name the text and label columns")
    common = dict(domain_col=sc.domain_col, task_col=sc.task_col, split_col=sc.split_col, encoding=sc.encoding)
    sizes = dict(scenario=sc.scenario, seed=config.seed, n_experiences=sc.experiences,
                 train_per_class=sc.train_per_class, test_per_class=sc.test_per_class,
                 val_per_class=sc.val_per_class, class_order=sc.class_order, domain_order=sc.domain_order,
                 task_order=sc.task_order, name=sc.name, split_seed=sc.split_seed)
    if task_type == "token":
        table = load_token_source(data, text_col=sc.text_col, label_col=sc.label_col, **common)
        return _no_shots(sc, task_type) or build_token_stream(table, **sizes)
    if task_type == "multi-label":
        table = load_multilabel_source(data, text_col=sc.text_col, label_col=sc.label_col, label_sep=sc.label_sep,
                                       label_names=sc.label_names, **common)
        return _no_shots(sc, task_type) or build_multilabel_stream(table, **sizes)
    table = load_source(data, text_col=sc.text_col, label_col=sc.label_col, group_col=sc.group_col,
                        label_names=sc.label_names, **common)
    return build_stream(table, shots=sc.shots, **sizes)


def _no_shots(sc, task_type: str) -> None:
    """Few-shot caps count texts per class, which a token or multi-label text does not have one of."""
    if sc.shots is not None:
        raise UserError(f"--shots applies to single-label streams, not {task_type} data: cap the "
                        "sentences per class with --train-per-class instead")
    if sc.group_col is not None:
        raise UserError(f"--group-col applies to single-label streams, not {task_type} data: leave it out")


def reorder(config: ExperimentConfig, stream):
    """Order ``config.order`` > 0: the same stream with its experiences in another seeded order
    (classes for class-incremental, domain or task values otherwise)."""
    import dataclasses

    from streams.seeds import numpy_rng

    rng = numpy_rng(config.seed, "other-order", config.order)
    sc = config.stream
    if stream.scenario == "class":
        classes = sorted(c for e in stream.experiences for c in e.classes)
        order = [classes[i] for i in rng.permutation(len(classes))]
        if sc.data is not None:  # user data: class_order takes label values or names
            order = [stream.class_names[c] for c in order]
        changed = dataclasses.replace(sc, class_order=order)
    elif sc.data is None:
        raise UserError(f"--orders > 1 on the built-in {stream.scenario}-incremental stream {stream.name} "
                        "is not available: its experiences have a fixed meaning (chapters, views)")
    else:
        key = "domains" if stream.scenario == "domain" else "tasks"
        values = list(stream.extra[key])
        permuted = [values[i] for i in rng.permutation(len(values))]
        changed = dataclasses.replace(sc, **{f"{key[:-1]}_order": permuted})
    return load_stream(dataclasses.replace(config, stream=changed))


def default_head(scenario: str) -> str:
    """One growing head in the class and domain scenarios, one head per task in the task scenario."""
    return {"class": "incremental", "domain": "incremental", "task": "multi"}[scenario]


def hyperparameters(config: ExperimentConfig) -> dict:
    """Every component's resolved hyperparameters (defaults, then ``--set`` values)."""
    from strategies import parse_strategy, resolve_params

    _, components = parse_strategy(config.strategy)
    return {name: resolve_params(name, config.strategy_params.get(name, {})) for name in components}


@contextlib.contextmanager
def deterministic_algorithms(enabled: bool, device):
    """torch's deterministic algorithms for the duration of a run, restored afterwards."""
    import torch

    if not enabled:
        yield
        return
    before = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
              torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    workspace = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    if device.type == "cuda" and workspace is None:
        # cuBLAS is only deterministic with a fixed workspace (CUDA docs, "Reproducibility")
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    except RuntimeError as err:
        if "deterministic" in str(err):
            first = str(err).strip().splitlines()[0]
            raise UserError(f"--deterministic: {first[:200]}; run without --deterministic") from None
        raise
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = before[2], before[3]
        if workspace is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)




#: the strategies that train a token or multi-label stream's one-head-per-task model: their method
#: never reads the head's outputs (LwF and DER++ distil or store the outputs of one shared head)
TASK_HEADS_STRATEGIES = ("naive", "joint", "cumulative", "replay", "ewc", "lora", "bitfit", "adapters", "ia3",
                         "prompt-tuning", "prefix-tuning")


def check_scenario(components: Sequence[str], stream) -> None:
    """Refuse a strategy that does not support the stream's scenario or task type, before
    anything is built."""
    from strategies import STRATEGIES, unsupported_task_type

    reason = unsupported_task_type(list(components), task_type_of(stream))
    if reason:
        raise UserError(f"{reason} (stream {stream.name!r})")
    task_type = task_type_of(stream)
    if task_type != "single-label" and stream.scenario == "task":
        lacking = [name for name in components if name not in TASK_HEADS_STRATEGIES]
        if lacking:
            raise UserError(
                f"strategy {lacking[0]!r} does not support the task-incremental scenario of {task_type} stream "
                f"{stream.name!r}: its method reads one shared head; use one of {', '.join(TASK_HEADS_STRATEGIES)} "
                "or --scenario class")
    for name in components:
        if stream.scenario not in STRATEGIES[name].scenarios:
            raise UserError(
                f"strategy {name!r} does not support the {stream.scenario}-incremental scenario of "
                f"stream {stream.name!r} (it supports: {', '.join(STRATEGIES[name].scenarios)})")


@dataclass
class Assembled:
    """Everything a run trains and measures with, built from its configuration."""

    packed: Any  # engine.benchmark.PackedStream
    benchmark: Any  # Avalanche benchmark: train_stream, test_stream[, valid_stream]
    head: str
    strategy: Any  # the Avalanche template instance
    collector: Any  # evaluation.predictions.PredictionCollector
    loggers: list
    trains_once: bool

    @property
    def has_validation(self) -> bool:
        return hasattr(self.benchmark, "valid_stream")


def strategy_context(config: ExperimentConfig, stream, tokenizer):
    """What a strategy's builder may read about the run (no texts)."""
    from strategies import StrategyContext

    descriptions = stream.class_descriptions or stream.class_names
    if stream.scenario == "task":
        descriptions = [e.label_names or [str(c) for c in e.classes] for e in stream.experiences]
    return StrategyContext(batch_size=config.training.batch_size, n_classes=stream.n_classes, seed=config.seed,
                           tokenizer=tokenizer, class_descriptions=descriptions, max_length=config.stream.max_length,
                           task_type=task_type_of(stream))


def task_type_of(stream) -> str:
    return getattr(stream, "task_type", "single-label")


def load_encoder(config: ExperimentConfig):
    """The configured encoder and tokenizer; a model that is not found gets a suggestion."""
    from ..config import model_suggestion
    from ..model import load_encoder_and_tokenizer

    try:
        return load_encoder_and_tokenizer(config.model.model, attention=config.model.attention,
                                          attention_dropout=config.model.attention_dropout)
    except UserError as err:
        hint = model_suggestion(config.model.model) if config.model.model else ""
        raise UserError(f"{err}{hint}") from None


def build_parts(components: Sequence[str], params: dict, context, model):
    """The strategy's components built into one list of plugins and one template; returns
    (model, plugins, template, template_kwargs, trains_once)."""
    from strategies import STRATEGIES, StrategyInputError

    plugins, template, template_kwargs, trains_once = [], None, {}, False
    for name in components:
        parts = STRATEGIES[name].build(params[name], context)
        if parts.prepare_model is not None:  # may add plugins that need the final model
            try:
                model = parts.prepare_model(model)
            except StrategyInputError as err:
                raise UserError(f"--strategy {name}: {err}") from None
        plugins.extend(parts.plugins)
        template = parts.template or template
        template_kwargs.update(parts.template_kwargs)
        trains_once = trains_once or parts.trains_once
    return model, plugins, template, template_kwargs, trains_once


def make_evaluator(config: ExperimentConfig, run_dir: Optional[Path], run_name: str, accuracy: bool = True):
    """Avalanche's evaluation plugin (accuracy, where a prediction is one class, and loss) with the
    configured loggers, which write only when the run has a folder."""
    from avalanche.evaluation.metrics import accuracy_metrics, loss_metrics
    from avalanche.training.plugins import EvaluationPlugin

    with warnings.catch_warnings():  # "no loggers": the run reads its metrics itself
        warnings.simplefilter("ignore")
        loggers = []
        if config.log and run_dir is not None:
            from .loggers import make_loggers

            loggers = make_loggers(config.log, run_dir, run_name)
        metrics = [accuracy_metrics(experience=True, stream=True)] if accuracy else []
        return EvaluationPlugin(*metrics, loss_metrics(epoch=True, stream=True), loggers=loggers), loggers


def pack_stream(config: ExperimentConfig, stream, tokenizer):
    """The stream tokenized (through the cache) and packed for the model."""
    from streams.tokenization import default_cache_dir

    from .benchmark import tokenize_stream
    from .task_packing import pack_task_stream

    sc = config.stream
    cache_dir = None if sc.no_cache else Path(sc.cache_dir or default_cache_dir())
    if task_type_of(stream) != "single-label":
        return pack_task_stream(stream, tokenizer, max_length=sc.max_length, stride=sc.stride, cache_dir=cache_dir)
    packed = tokenize_stream(stream, tokenizer, max_length=sc.max_length, cache_dir=cache_dir)
    print(f"   {packed.truncated_share:.1%} of texts truncated at {sc.max_length} tokens "
          f"(padded length {packed.length})", file=sys.stderr)
    return packed


def criterion_of(task_type: str):
    """The training loss: cross-entropy over classes, over the tags of tagged words, or binary
    cross-entropy over each label."""
    import torch

    from strategies.task_losses import multilabel_bce, token_cross_entropy

    if task_type == "token":
        return token_cross_entropy
    if task_type == "multi-label":
        return multilabel_bce
    return torch.nn.CrossEntropyLoss()


def make_collector(stream, packed):
    """What keeps the evaluated predictions: classes, or keyed tag sequences or label sets."""
    from ..evaluation.predictions import ClassSpace, PredictionCollector
    from ..evaluation.task_collectors import LabelSetCollector, TagCollector

    task_type = task_type_of(stream)
    if task_type == "single-label":
        return PredictionCollector()
    kind = TagCollector if task_type == "token" else LabelSetCollector
    space = ClassSpace.of(stream)
    return kind({"test": packed.keys["test"], "valid": packed.keys["val"]}, space.experience_classes,
                task_scoped=space.task_scoped)


def assemble(config: ExperimentConfig, stream, *, device, params: dict, components: Sequence[str],
             run_dir: Optional[Path], progress: bool, extra_plugins: Sequence = ()) -> Assembled:
    """Tokenize the stream, build the model and the Avalanche strategy with its plugins."""
    import torch
    from avalanche.training.templates import SupervisedTemplate

    from streams.seeds import derived_seed

    from ..model import build_model
    from .benchmark import make_benchmark
    from .template import Progress, make_optimizer, text_template

    encoder, tokenizer = load_encoder(config)
    packed = pack_stream(config, stream, tokenizer)
    benchmark = make_benchmark(stream, packed)
    if config.training.early_stopping and not hasattr(benchmark, "valid_stream"):
        raise UserError("--early-stopping needs a validation split: add --val-per-class N")
    task_type = task_type_of(stream)
    head = config.model.head or default_head(stream.scenario)
    torch.manual_seed(derived_seed(config.seed, "model-init"))
    model = build_model(encoder, head=head, n_classes=stream.n_classes, pooling=config.model.pooling,
                        precision=config.training.precision, task_type=task_type,
                        experience_classes=[e.classes for e in stream.experiences])
    context = strategy_context(config, stream, tokenizer)
    model, plugins, template, template_kwargs, trains_once = build_parts(components, params, context, model)
    optimizer = make_optimizer(model.parameters(), lr=config.training.lr, weight_decay=config.training.weight_decay,
                               name=config.training.optimizer)
    collector = make_collector(stream, packed)
    if config.training.early_stopping:
        from avalanche.training.plugins import EarlyStoppingPlugin

        # Avalanche watches the stream accuracy of the current experience's validation split
        plugins.append(EarlyStoppingPlugin(config.training.patience, "valid_stream", mode="max"))
    evaluator, loggers = make_evaluator(config, run_dir, f"{stream.name}/{config.strategy}/seed-{config.seed}",
                                        accuracy=task_type == "single-label")
    arguments = dict(
        model=model, optimizer=optimizer, criterion=criterion_of(task_type),
        train_mb_size=config.training.batch_size, train_epochs=config.training.epochs,
        eval_mb_size=config.training.eval_batch_size, device=device,
        plugins=[*plugins, collector, Progress(progress), *extra_plugins], evaluator=evaluator,
        eval_every=1 if config.training.early_stopping else -1) | template_kwargs
    strategy = text_template(template or SupervisedTemplate, config.seed)(**arguments)
    return Assembled(packed, benchmark, head, strategy, collector, loggers, trains_once)
