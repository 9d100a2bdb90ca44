"""The run: stream -> benchmark -> strategy -> accuracy matrix -> metrics -> results files."""
from __future__ import annotations

import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from .config import ExperimentConfig
from .errors import UserError


@dataclass
class RunResult:
    """What one run returns: the metrics.json content, where it was written, and checks."""

    metrics: dict
    run_dir: Optional[Path]
    avalanche_accuracy: list[list[float]] = field(default_factory=list)
    avalanche_initial_accuracy: list[float] = field(default_factory=list)


def resolve_device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was given but no CUDA device is available: use --device cpu or auto")
    return torch.device(name)


def build_stream(config: ExperimentConfig):
    """The configured stream: a built-in one, or ``--data`` arranged into ``--scenario``."""
    import warnings as _warnings

    from streams import BUILTIN_STREAMS, DataError, build_stream as arrange, load_source
    from strategies.registry import closest

    sc = config.stream
    try:
        with _warnings.catch_warnings(record=True) as caught:
            _warnings.simplefilter("always", UserWarning)
            if sc.data is not None:
                table = load_source(sc.data, text_col=sc.text_col, label_col=sc.label_col,
                                    domain_col=sc.domain_col, task_col=sc.task_col,
                                    group_col=sc.group_col, split_col=sc.split_col,
                                    label_names=sc.label_names)
                stream = arrange(table, scenario=sc.scenario, seed=config.seed, n_experiences=sc.experiences,
                                 train_per_class=sc.train_per_class, test_per_class=sc.test_per_class,
                                 val_per_class=sc.val_per_class, shots=sc.shots, class_order=sc.class_order,
                                 domain_order=sc.domain_order, task_order=sc.task_order, name=sc.name)
            else:
                if sc.stream not in BUILTIN_STREAMS:
                    raise UserError(f"unknown stream {sc.stream!r}{closest(sc.stream, BUILTIN_STREAMS)}: see --list-streams")
                stream = BUILTIN_STREAMS[sc.stream].build(
                    seed=config.seed, n_experiences=sc.experiences, train_per_class=sc.train_per_class,
                    test_per_class=sc.test_per_class, class_order=sc.class_order,
                    val_per_class=sc.val_per_class, shots=sc.shots,
                )
        for warning in caught:  # few-shot shortfalls and the like: one line each, no text
            print(f"warning: {warning.message}", file=sys.stderr)
        return stream
    except (DataError, ValueError) as err:
        raise UserError(str(err)) from None


def run_dir_for(config: ExperimentConfig, stream_name: str) -> Path:
    suffix = f"-order-{config.order}" if config.order else ""
    return Path(config.out) / stream_name / config.strategy / f"seed-{config.seed}{suffix}"


def reorder(config: ExperimentConfig, stream):
    """Order ``config.order`` > 0: the same stream with its experiences in another seeded order
    (classes for class-incremental, domain or task values otherwise)."""
    import dataclasses

    import numpy as np

    rng = np.random.default_rng([config.seed, 3, config.order])
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
    return build_stream(dataclasses.replace(config, stream=changed))


def _default_head(scenario: str) -> str:
    return {"class": "incremental", "domain": "incremental", "task": "multi"}[scenario]


def run_experiment(config: ExperimentConfig, *, stream=None, progress: bool = True,
                   write: bool = True) -> RunResult:
    """Train one strategy through the stream and measure the accuracy matrix.

    The untrained model is evaluated once on every test experience (``initial_accuracy``, the b of
    forward transfer); after each training experience the model is evaluated on all of them.
    ``stream`` replaces the configured built-in stream (tests pass small synthetic ones).
    """
    import torch
    from avalanche.evaluation.metrics import accuracy_metrics, loss_metrics
    from avalanche.training.plugins import EvaluationPlugin
    from avalanche.training.templates import SupervisedTemplate

    from strategies import STRATEGIES, StrategyContext, parse_strategy, resolve_params
    from streams.tokenization import default_cache_dir

    from . import metrics as metric_functions
    from . import results
    from .benchmark import make_benchmark, tokenize_stream
    from .model import build_model, load_encoder_and_tokenizer
    from .training import (PeakMemory, derived_seed, prediction_collector, progress_plugin,
                           reseed_global, text_template)

    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    canonical, components = parse_strategy(config.strategy)
    config.strategy = canonical
    device = resolve_device(config.training.device)
    reseed_global(config.seed, 0)
    if stream is None:
        stream = build_stream(config)
        if config.order:
            stream = reorder(config, stream)
    for name in components:
        if stream.scenario not in STRATEGIES[name].scenarios:
            raise UserError(
                f"strategy {name!r} does not support the {stream.scenario}-incremental scenario of "
                f"stream {stream.name!r} (it supports: {', '.join(STRATEGIES[name].scenarios)})"
            )
    params = {name: resolve_params(name, config.strategy_params.get(name, {})) for name in components}

    with PeakMemory() as memory:
        encoder, tokenizer = load_encoder_and_tokenizer(config.model.model)
        cache_dir = None if config.stream.no_cache else Path(config.stream.cache_dir or default_cache_dir())
        packed = tokenize_stream(stream, tokenizer, max_length=config.stream.max_length, cache_dir=cache_dir)
        print(f"   {packed.truncated_share:.1%} of texts truncated at {config.stream.max_length} tokens "
              f"(padded length {packed.length})", file=sys.stderr)
        benchmark = make_benchmark(stream, packed)
        head = config.model.head or _default_head(stream.scenario)
        torch.manual_seed(derived_seed(config.seed, 1))
        model = build_model(encoder, head=head, n_classes=stream.n_classes, pooling=config.model.pooling)
        descriptions = stream.class_descriptions or stream.class_names
        if stream.scenario == "task":
            descriptions = [e.label_names or [str(c) for c in e.classes] for e in stream.experiences]
        context = StrategyContext(
            scenario=stream.scenario, batch_size=config.training.batch_size,
            eval_batch_size=config.training.eval_batch_size, epochs=config.training.epochs,
            device=device, n_classes=stream.n_classes, seed=config.seed, tokenizer=tokenizer,
            class_descriptions=descriptions,
        )
        plugins, template, template_kwargs, trains_once = [], None, {}, False
        for name in components:
            parts = STRATEGIES[name].build(params[name], context)
            if parts.prepare_model is not None:  # may add plugins that need the final model
                model = parts.prepare_model(model)
            plugins.extend(parts.plugins)
            template = parts.template or template
            template_kwargs.update(parts.template_kwargs)
            trains_once = trains_once or parts.trains_once
        optimizer = torch.optim.AdamW(model.parameters(), lr=config.training.lr,
                                      weight_decay=config.training.weight_decay)
        collector = prediction_collector()
        has_validation = hasattr(benchmark, "valid_stream")
        if config.training.early_stopping:
            from avalanche.training.plugins import EarlyStoppingPlugin

            # Avalanche watches the stream accuracy of the current experience's validation split
            plugins.append(EarlyStoppingPlugin(config.training.patience, "valid_stream", mode="max"))
        with warnings.catch_warnings():  # "no loggers": we read the metrics ourselves
            warnings.simplefilter("ignore")
            loggers = []
            if config.log and write:
                from .loggers import make_loggers

                loggers = make_loggers(config.log, run_dir_for(config, stream.name),
                                       f"{stream.name}/{canonical}/seed-{config.seed}")
            evaluator = EvaluationPlugin(accuracy_metrics(experience=True, stream=True),
                                         loss_metrics(epoch=True, stream=True), loggers=loggers)
        template_arguments = dict(
            model=model, optimizer=optimizer, criterion=torch.nn.CrossEntropyLoss(),
            train_mb_size=config.training.batch_size, train_epochs=config.training.epochs,
            eval_mb_size=config.training.eval_batch_size, device=device,
            plugins=[*plugins, collector, progress_plugin(progress)], evaluator=evaluator,
            eval_every=1 if config.training.early_stopping else -1,
        )
        template_arguments.update(template_kwargs)
        strategy = text_template(template or SupervisedTemplate)(**template_arguments)
        strategy.run_seed = config.seed

        n_experiences = len(stream.experiences)

        def validation_accuracy() -> list[float]:
            """Accuracy on every experience's validation split (reported apart from the test)."""
            collector.reset()
            strategy.eval(benchmark.valid_stream)
            return [collector.accuracy(e) for e in range(n_experiences)]

        validation_matrix: list[list[float]] = []

        def evaluate() -> tuple[list[float], list[float], list[float]]:
            if has_validation and strategy.clock.train_exp_counter > 0:
                validation_matrix.append(validation_accuracy())
            collector.reset()
            reported = strategy.eval(benchmark.test_stream)
            ours = [collector.accuracy(e) for e in range(n_experiences)]
            f1 = [collector.macro_f1(e) for e in range(n_experiences)]
            theirs = [
                float(reported[f"Top1_Acc_Exp/eval_phase/test_stream/Task{exp.task:03d}/Exp{e:03d}"])
                for e, exp in enumerate(stream.experiences)
            ]
            return ours, theirs, f1

        initial, initial_avalanche, _ = evaluate()
        matrix, matrix_avalanche, f1_matrix, train_seconds, eval_seconds = [], [], [], [], []
        if trains_once:  # joint: one training on the union, one evaluation, T identical rows
            start = time.perf_counter()
            strategy.train(benchmark.train_stream)
            train_seconds = [time.perf_counter() - start] + [0.0] * (n_experiences - 1)
            start = time.perf_counter()
            row, row_avalanche, f1_row = evaluate()
            eval_seconds = [time.perf_counter() - start] + [0.0] * (n_experiences - 1)
            matrix, matrix_avalanche, f1_matrix = ([list(r) for _ in range(n_experiences)]
                                                   for r in (row, row_avalanche, f1_row))
        for exp_id, experience in enumerate([] if trains_once else benchmark.train_stream):
            reseed_global(config.seed, 100 + exp_id)
            start = time.perf_counter()
            strategy.train(experience, eval_streams=[benchmark.valid_stream[exp_id]] if config.training.early_stopping else None)
            train_seconds.append(time.perf_counter() - start)
            start = time.perf_counter()
            row, row_avalanche, f1_row = evaluate()
            eval_seconds.append(time.perf_counter() - start)
            matrix.append(row)
            matrix_avalanche.append(row_avalanche)
            f1_matrix.append(f1_row)

    for logger in loggers:
        if hasattr(logger, "close"):
            logger.close()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    # Class-incremental: classes of later experiences are unseen (and masked), so R[i][j>i] says
    # nothing about transfer; forward transfer is null there (DESIGN.md section 6).
    summary = metric_functions.summarize(matrix, initial, fwt_defined=stream.scenario != "class")
    metrics = {
        "stream": stream.name,
        "strategy": canonical,
        "seed": config.seed,
        "order": config.order,
        "scenario": stream.scenario,
        "experiences": [e.summary() for e in stream.experiences],
        "accuracy_matrix": matrix,
        "initial_accuracy": initial,
        **summary,
        "train_seconds": train_seconds,
        "eval_seconds": eval_seconds,
        "peak_rss_mb": memory.peak_mb,
        "trainable_parameters": trainable,
        "macro_f1_matrix": f1_matrix,
        "macro_f1": sum(f1_matrix[-1]) / len(f1_matrix[-1]),
    }
    run_dir = None
    if write:
        run_dir = run_dir_for(config, stream.name)
        run_config = {
            "config": config.to_dict(),
            "strategy_hyperparameters": params,
            "head": head,
            "device": str(device),
            "stream": stream.summary(),
            "max_length": config.stream.max_length,
            "padded_length": packed.length,
            "truncated_share": packed.truncated_share,
            "validation_accuracy_matrix": validation_matrix or None,
            "started": started,
            "torch_threads": torch.get_num_threads(),
            **results.provenance(),
        }
        results.write_run(run_dir, metrics, run_config)
    return RunResult(metrics, run_dir, matrix_avalanche, initial_avalanche)
