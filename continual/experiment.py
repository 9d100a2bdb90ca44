"""The run: stream -> benchmark -> strategy -> accuracy matrix -> metrics -> results files."""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from .config import (ExperimentConfig, RunControl, config_from_dict, identity_differences, model_suggestion,
                     run_identity)
from .errors import UserError


@dataclass
class RunResult:
    """What one run returns: the metrics.json content, where it was written, and checks.

    ``skipped`` marks a run found finished in its folder (its stored metrics are returned).
    """

    metrics: dict
    run_dir: Optional[Path]
    avalanche_accuracy: list[list[float]] = field(default_factory=list)
    avalanche_initial_accuracy: list[float] = field(default_factory=list)
    skipped: bool = False
    resumed_from: Optional[int] = None


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


def hyperparameters(config: ExperimentConfig) -> dict:
    """Every component's resolved hyperparameters (defaults, then ``--set`` values)."""
    from strategies import parse_strategy, resolve_params

    _, components = parse_strategy(config.strategy)
    return {name: resolve_params(name, config.strategy_params.get(name, {})) for name in components}


@dataclass
class FolderState:
    """What a run folder holds: a finished run (metrics.json) and/or a checkpoint."""

    run_dir: Path
    finished: bool
    stored_identity: Optional[dict]
    has_checkpoint: bool

    @classmethod
    def read(cls, run_dir: Path) -> "FolderState":
        from . import checkpoint, results

        run_dir = Path(run_dir)
        stored = results.read_json(run_dir / "config.json")
        identity = None
        if stored is not None and isinstance(stored.get("config"), dict):
            try:
                identity = run_identity(config_from_dict(stored["config"]).to_dict(),
                                        stored.get("strategy_hyperparameters") or {})
            except (UserError, TypeError):
                identity = {"unreadable": True}
        return cls(run_dir, (run_dir / "metrics.json").is_file(), identity,
                   checkpoint.checkpoint_path(run_dir).is_file())

    def decide(self, identity: dict, control: RunControl) -> str:
        """``'done'``, ``'resume'`` or ``'fresh'``; a UserError when the folder must not be used."""
        if self.finished and not control.overwrite:
            if self.stored_identity is not None and self.stored_identity != identity:
                raise UserError(
                    f"{self.run_dir} holds a finished run of another configuration (differs in: "
                    f"{identity_differences(self.stored_identity, identity)}): choose another --out, "
                    "or add --overwrite to replace it")
            return "done"
        if self.has_checkpoint and not control.overwrite:
            if not control.resume:
                raise UserError(f"{self.run_dir} holds an interrupted run (its checkpoint/ folder): add --resume "
                                "to continue it, or --overwrite to start it over")
            return "resume"
        return "fresh"


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


@contextlib.contextmanager
def signals_deferred():
    """Hold SIGINT/SIGTERM while a checkpoint or the results are written, so a stop request
    lands just after the write instead of throwing it away."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def run_experiment(config: ExperimentConfig, *, stream=None, progress: bool = True,
                   write: bool = True, extra_plugins: Sequence = ()) -> RunResult:
    """Train one strategy through the stream and measure the accuracy matrix.

    The untrained model is evaluated once on every test experience (``initial_accuracy``, the b of
    forward transfer); after each training experience the model is evaluated on all of them.
    ``stream`` replaces the configured built-in stream (tests pass small synthetic ones);
    ``extra_plugins`` join the strategy's Avalanche plugins (the benchmark times epochs with one).

    With ``write`` the run holds ``<run>/.lock`` while it works, saves ``<run>/checkpoint/`` after
    each experience and its evaluation, and writes the results files at the end (then drops the
    checkpoint unless ``config.control.keep_checkpoint``). ``config.control.resume`` continues
    from a checkpoint; a folder with a finished run of the same configuration is not redone
    unless ``config.control.overwrite`` (the stored metrics are returned, ``skipped=True``).
    """
    from strategies import STRATEGIES, parse_strategy

    from . import checkpoint, results
    from .training import reseed_global

    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    canonical, components = parse_strategy(config.strategy)
    config.strategy = canonical
    control = config.control
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
    params = hyperparameters(config)
    identity = run_identity(config.to_dict(), params)
    n_experiences = len(stream.experiences)

    run_dir = run_dir_for(config, stream.name) if write else None
    lock = results.RunLock(run_dir) if write else None
    saved = None  # the checkpoint this run continues from
    if write:
        lock.acquire()
    try:
        if write:
            results.remove_stale_temporaries(run_dir)
            action = FolderState.read(run_dir).decide(identity, control)
            if action == "done":
                stored = results.read_json(run_dir / "metrics.json")
                if stored is None:
                    raise UserError(f"{run_dir}/metrics.json is unreadable: add --overwrite to run it again")
                stored_config = results.read_json(run_dir / "config.json") or {}
                if (stored_config.get("resume") or {}).get("checkpoints") == "deleted at completion":
                    # killed between writing its results and dropping its checkpoint
                    shutil.rmtree(run_dir / checkpoint.FOLDER, ignore_errors=True)
                print(f"   already done: {run_dir} (metrics.json present); add --overwrite to run it again",
                      file=sys.stderr)
                return RunResult(stored, run_dir, skipped=True)
            if action == "resume":
                saved = checkpoint.load(run_dir)
                expected_meta = {"identity": identity, "versions": results.package_versions(),
                                 "device": str(device), "data_fingerprint": checkpoint.stream_fingerprint(stream)}
                checkpoint.check_meta(saved["meta"], expected_meta, checkpoint.checkpoint_path(run_dir))
            elif control.resume:
                print(f"   nothing to resume in {run_dir}: starting from the first experience", file=sys.stderr)
        return _train_and_measure(config, stream=stream, progress=progress, write=write, device=device,
                                  params=params, identity=identity, components=components, canonical=canonical,
                                  started=started, run_dir=run_dir, saved=saved, n_experiences=n_experiences,
                                  extra_plugins=extra_plugins)
    finally:
        if lock is not None:
            lock.release()


def _train_and_measure(config, *, stream, progress, write, device, params, identity, components, canonical,
                       started, run_dir, saved, n_experiences, extra_plugins=()) -> RunResult:
    """The run proper, with its folder locked and checked: build the model and strategy (or
    restore them from ``saved``), train and evaluate each remaining experience, checkpoint after
    each, write the results."""
    import torch
    from avalanche.evaluation.metrics import accuracy_metrics, loss_metrics
    from avalanche.training.plugins import EvaluationPlugin
    from avalanche.training.templates import SupervisedTemplate

    from strategies import STRATEGIES, StrategyContext
    from streams.tokenization import default_cache_dir

    from . import checkpoint
    from . import metrics as metric_functions
    from . import results
    from .benchmark import make_benchmark, tokenize_stream
    from .model import build_model, load_encoder_and_tokenizer
    from .training import (PeakMemory, derived_seed, make_optimizer, prediction_collector,
                           progress_plugin, reseed_global, text_template)

    control = config.control
    with deterministic_algorithms(config.training.deterministic, device), PeakMemory() as memory:
        try:
            encoder, tokenizer = load_encoder_and_tokenizer(config.model.model)
        except UserError as err:
            hint = model_suggestion(config.model.model) if config.model.model else ""
            raise UserError(f"{err}{hint}") from None
        cache_dir = None if config.stream.no_cache else Path(config.stream.cache_dir or default_cache_dir())
        packed = tokenize_stream(stream, tokenizer, max_length=config.stream.max_length, cache_dir=cache_dir)
        print(f"   {packed.truncated_share:.1%} of texts truncated at {config.stream.max_length} tokens "
              f"(padded length {packed.length})", file=sys.stderr)
        benchmark = make_benchmark(stream, packed)
        head = config.model.head or _default_head(stream.scenario)
        torch.manual_seed(derived_seed(config.seed, 1))
        model = build_model(encoder, head=head, n_classes=stream.n_classes, pooling=config.model.pooling,
                            precision=config.training.precision)
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
        optimizer = make_optimizer(model.parameters(), lr=config.training.lr,
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
            plugins=[*plugins, collector, progress_plugin(progress), *extra_plugins], evaluator=evaluator,
            eval_every=1 if config.training.early_stopping else -1,
        )
        template_arguments.update(template_kwargs)
        strategy = text_template(template or SupervisedTemplate)(**template_arguments)
        strategy.run_seed = config.seed

        # Checkpoints: only when writing, and only for strategies whose state is covered.
        not_capturable = checkpoint.check_capturable(strategy)
        if saved is not None and not_capturable:
            raise UserError(f"--resume: strategy {canonical} cannot resume: {not_capturable}; run it without "
                            "--resume (it starts over) or with --overwrite")
        checkpointing = write and not_capturable is None
        if write and not_capturable and not trains_once:
            print(f"   note: no checkpoints for {canonical}: {not_capturable}", file=sys.stderr)

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

        resumes: list[dict] = []
        finished = 0
        previous_peak_mb = 0.0
        if saved is not None:
            done = saved["progress"]
            finished = done["finished"]
            checkpoint.restore(strategy, saved["state"], benchmark=benchmark, finished=finished,
                               validation=has_validation)
            initial, initial_avalanche = done["initial"], done["initial_avalanche"]
            matrix, matrix_avalanche, f1_matrix = done["matrix"], done["matrix_avalanche"], done["f1_matrix"]
            train_seconds, eval_seconds = done["train_seconds"], done["eval_seconds"]
            validation_matrix.extend(done["validation_matrix"])
            previous_peak_mb, started = done["peak_rss_mb"], done["started"]
            left_out = not saved["state"]["buffers"] and checkpoint.holds_buffers(strategy)
            resumes = [*done["resumes"], {"at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "from_experience": finished,
                                          "checkpoint_saved": saved["saved"], "buffers_left_out": left_out}]
            print(f"   resuming {run_dir}: {finished} of {n_experiences} experiences done", file=sys.stderr)
            if left_out:
                print("   warning: this checkpoint was written with --no-buffer-checkpoint: the stored examples "
                      "start empty, so the resumed run will not match an uninterrupted one", file=sys.stderr)
            saved = None  # the tensors are in the strategy now; let the payload go
        else:
            initial, initial_avalanche, _ = evaluate()
            matrix, matrix_avalanche, f1_matrix, train_seconds, eval_seconds = [], [], [], [], []
        if write and control.overwrite:
            # The old run's files go now that the new run is ready to train (not before: a bad
            # input found on the way must leave them as they were).
            for old in results.RESULT_FILES:
                (run_dir / old).unlink(missing_ok=True)
            shutil.rmtree(run_dir / checkpoint.FOLDER, ignore_errors=True)
        if checkpointing and not control.buffer_checkpoint and finished == 0:
            if checkpoint.holds_buffers(strategy):
                print("   note: --no-buffer-checkpoint: checkpoints leave the stored examples out, so an "
                      "interrupted run cannot resume them exactly", file=sys.stderr)

        versions = results.package_versions()
        fingerprint = checkpoint.stream_fingerprint(stream) if checkpointing else None

        def save_checkpoint(done_count: int) -> None:
            progress_state = {
                "finished": done_count, "initial": initial, "initial_avalanche": initial_avalanche,
                "matrix": matrix, "matrix_avalanche": matrix_avalanche, "f1_matrix": f1_matrix,
                "train_seconds": train_seconds, "eval_seconds": eval_seconds,
                "validation_matrix": validation_matrix, "started": started, "resumes": resumes,
                "peak_rss_mb": max(previous_peak_mb, memory.peak_mb),
            }
            meta = {"identity": identity, "versions": versions, "device": str(device),
                    "data_fingerprint": fingerprint, "n_experiences": n_experiences,
                    "finished": done_count, "strategy": canonical, "seed": config.seed, "order": config.order,
                    "torch_threads": torch.get_num_threads()}
            state = checkpoint.capture(strategy, buffers=control.buffer_checkpoint)
            with signals_deferred():
                checkpoint.save(run_dir, checkpoint.payload(meta=meta, progress=progress_state, state=state))

        if trains_once:  # joint: one training on the union, one evaluation, T identical rows
            start = time.perf_counter()
            strategy.train(benchmark.train_stream)
            train_seconds = [time.perf_counter() - start] + [0.0] * (n_experiences - 1)
            start = time.perf_counter()
            row, row_avalanche, f1_row = evaluate()
            eval_seconds = [time.perf_counter() - start] + [0.0] * (n_experiences - 1)
            matrix, matrix_avalanche, f1_matrix = ([list(r) for _ in range(n_experiences)]
                                                   for r in (row, row_avalanche, f1_row))
        for exp_id in ([] if trains_once else range(finished, n_experiences)):
            experience = benchmark.train_stream[exp_id]
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
            if checkpointing:
                save_checkpoint(exp_id + 1)

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
        "peak_rss_mb": max(previous_peak_mb, memory.peak_mb),
        "trainable_parameters": trainable,
        "macro_f1_matrix": f1_matrix,
        "macro_f1": sum(f1_matrix[-1]) / len(f1_matrix[-1]),
    }
    if write:
        card = stream.card
        run_config = {
            "config": config.to_dict(),
            "strategy_hyperparameters": params,
            "head": head,
            "device": str(device),
            "seed": config.seed,
            "deterministic": config.training.deterministic,
            "data_source": {"name": card.name, "source": card.source, "version": card.version},
            "stream": stream.summary(),
            "max_length": config.stream.max_length,
            "padded_length": packed.length,
            "truncated_share": packed.truncated_share,
            "validation_accuracy_matrix": validation_matrix or None,
            "started": started,
            "torch_threads": torch.get_num_threads(),
            "resume": {
                "resumed": bool(resumes),
                "resumes": resumes,
                "exact": not any(r["buffers_left_out"] for r in resumes),
                "checkpoints": ("none" if not checkpointing else
                                "kept" if control.keep_checkpoint else "deleted at completion"),
                "buffer_checkpoint": control.buffer_checkpoint,
            },
            **results.provenance(),
        }
        with signals_deferred():
            results.write_run(run_dir, metrics, run_config)
            if not control.keep_checkpoint:
                shutil.rmtree(run_dir / checkpoint.FOLDER, ignore_errors=True)
    return RunResult(metrics, run_dir, matrix_avalanche, initial_avalanche,
                     resumed_from=resumes[-1]["from_experience"] if resumes else None)
