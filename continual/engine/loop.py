"""One run: stream -> benchmark -> strategy -> accuracy matrix -> metrics -> results files.

:func:`run_experiment` takes the run folder (lock, finished or interrupted run), then the steps
run over one :class:`RunProgress`: assemble (or restore from a checkpoint), evaluate the untrained
model, train and evaluate each experience (checkpointing after each), write the results.
"""
from __future__ import annotations

import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from ..config import ExperimentConfig, run_identity
from ..errors import UserError
from .assemble import (Assembled, assemble, check_scenario, deterministic_algorithms, hyperparameters, load_stream,
                       reorder, resolve_device)


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


@dataclass
class RunProgress:
    """What a run has measured so far: the rows of its matrices, the pooled confusion counts
    after each step and its costs. A checkpoint saves it (``asdict``) and a resumed run continues
    from it.

    ``seen_classes[i]`` holds the class ids seen through experience i and ``confusion[i]`` the
    counts of the pooled predictions over them (per_class.confusion_counts): every F1 value and
    per_class.csv row is computed from these plain lists of ints.
    """

    started: str
    finished: int = 0
    initial: list = field(default_factory=list)
    initial_avalanche: list = field(default_factory=list)
    matrix: list = field(default_factory=list)
    matrix_avalanche: list = field(default_factory=list)
    seen_classes: list = field(default_factory=list)
    confusion: list = field(default_factory=list)
    train_seconds: list = field(default_factory=list)
    eval_seconds: list = field(default_factory=list)
    validation_matrix: list = field(default_factory=list)
    resumes: list = field(default_factory=list)
    peak_rss_mb: float = 0.0  # before this process: the peak of the runs it resumes
    stored_bytes: list = field(default_factory=list)  # what the method keeps, after each experience
    #: token and multi-label runs: the confusion rows of the last step (``confusion`` then holds
    #: [tp, fp, fn] per seen class, not a confusion matrix)
    class_confusion: list = field(default_factory=list)

    def add_row(self, row, row_avalanche, pooled: tuple, train_s: float, eval_s: float, stored: int = 0) -> None:
        self.matrix.append(row)
        self.matrix_avalanche.append(row_avalanche)
        classes, counts = pooled
        self.seen_classes.append(list(classes))
        self.confusion.append([list(r) for r in counts])
        self.train_seconds.append(train_s)
        self.eval_seconds.append(eval_s)
        self.stored_bytes.append(int(stored))


@dataclass
class Run:
    """One run's fixed facts: configuration, stream, where it writes (``run_dir`` None: nowhere)."""

    config: ExperimentConfig
    stream: object
    device: object
    params: dict
    identity: dict
    components: list
    run_dir: Optional[Path]

    @property
    def n_experiences(self) -> int:
        return len(self.stream.experiences)


def run_experiment(config: ExperimentConfig, *, stream=None, data=None, progress: bool = True,
                   write: bool = True, extra_plugins: Sequence = ()) -> RunResult:
    """Train one strategy through the stream and measure the accuracy matrix.

    The untrained model is evaluated once on every test experience (``initial_accuracy``, the b of
    forward transfer); after each training experience the model is evaluated on all of them.
    ``stream`` replaces the configured stream (tests pass small synthetic ones); ``data`` (a
    pandas DataFrame or a datasets Dataset) replaces ``--data``: its texts and labels are read
    with the configuration's column names and scenario;
    ``extra_plugins`` join the strategy's Avalanche plugins (the benchmark times epochs with one).

    With ``write`` the run holds ``<run>/.lock`` while it works, saves ``<run>/checkpoint/`` after
    each experience and its evaluation, and writes the results files at the end (then drops the
    checkpoint unless ``config.control.keep_checkpoint``). ``config.control.resume`` continues
    from a checkpoint; a folder with a finished run of the same configuration is not redone
    unless ``config.control.overwrite`` (the stored metrics are returned, ``skipped=True``).
    """
    from strategies import parse_strategy

    from ..state.run_folder import RunLock, run_dir_for
    from .template import reseed_global

    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    config.strategy, components = parse_strategy(config.strategy)
    device = resolve_device(config.training.device)
    reseed_global(config.seed, "run-start")
    if stream is None:
        stream = load_stream(config, data)
        if config.order:
            stream = reorder(config, stream)
    check_scenario(components, stream)
    params = hyperparameters(config)
    run_dir = run_dir_for(config.out, stream.name, config.strategy, config.seed, config.order) if write else None
    run = Run(config, stream, device, params, run_identity(config.to_dict(), params), components, run_dir)
    if run_dir is None:
        return _measure(run, None, RunProgress(started), progress, extra_plugins)
    with RunLock(run_dir):
        found = _open_folder(run)
        if isinstance(found, RunResult):
            return found
        return _measure(run, found, RunProgress(started), progress, extra_plugins)


def _open_folder(run: Run):
    """The run folder's verdict: a finished run (its RunResult), a checkpoint to resume (its
    payload, checked against this run), or None for a fresh start."""
    from ..state import checkpoint
    from ..state.files import read_json, remove_stale_temporaries
    from ..state.run_folder import FolderState, package_versions

    run_dir, control = run.run_dir, run.config.control
    remove_stale_temporaries(run_dir)
    action = FolderState.read(run_dir).decide(run.identity, control)
    if action == "done":
        stored = read_json(run_dir / "metrics.json")
        if stored is None:
            raise UserError(f"{run_dir}/metrics.json is unreadable: add --overwrite to run it again")
        stored_config = read_json(run_dir / "config.json") or {}
        if (stored_config.get("resume") or {}).get("checkpoints") == "deleted at completion":
            # killed between writing its results and dropping its checkpoint
            shutil.rmtree(run_dir / checkpoint.FOLDER, ignore_errors=True)
        print(f"   already done: {run_dir} (metrics.json present); add --overwrite to run it again", file=sys.stderr)
        return RunResult(stored, run_dir, skipped=True)
    if action == "resume":
        saved = checkpoint.load(run_dir)
        expected = {"identity": run.identity, "versions": package_versions(),
                    "data_fingerprint": checkpoint.stream_fingerprint(run.stream)}
        checkpoint.check_meta(saved["meta"], expected, checkpoint.checkpoint_path(run_dir))
        return saved
    if control.resume:
        print(f"   nothing to resume in {run_dir}: starting from the first experience", file=sys.stderr)
    return None


def _measure(run: Run, saved: Optional[dict], progress_state: RunProgress, progress: bool,
             extra_plugins: Sequence) -> RunResult:
    """The run proper, with its folder locked and checked: assemble, restore or evaluate the
    untrained model, train and evaluate each remaining experience, write the results."""
    from ..evaluation.costs import PeakMemory

    config = run.config
    with deterministic_algorithms(config.training.deterministic, run.device), PeakMemory() as memory:
        parts = assemble(config, run.stream, device=run.device, params=run.params, components=run.components,
                         run_dir=run.run_dir, progress=progress, extra_plugins=extra_plugins)
        checkpointing = _checkpointing(run, parts, resuming=saved is not None)
        if saved is not None:
            _restore(run, parts, saved, progress_state)
        else:
            progress_state.initial, progress_state.initial_avalanche = _evaluate(run, parts, progress_state)
        _clear_overwritten(run)
        _train(run, parts, progress_state, memory, checkpointing)
    for logger in parts.loggers:
        if hasattr(logger, "close"):
            logger.close()
    progress_state.peak_rss_mb = max(progress_state.peak_rss_mb, memory.peak_mb)
    metrics = _metrics(run, parts, progress_state)
    if run.run_dir is not None:
        _write(run, parts, progress_state, metrics, checkpointing)
    resumes = progress_state.resumes
    return RunResult(metrics, run.run_dir, progress_state.matrix_avalanche, progress_state.initial_avalanche,
                     resumed_from=resumes[-1]["from_experience"] if resumes else None)


def _checkpointing(run: Run, parts: Assembled, *, resuming: bool) -> bool:
    """Whether this run saves checkpoints: only when it writes, and only for strategies whose
    state checkpoints cover (a resumed run of another strategy is refused)."""
    from ..state import checkpoint

    not_capturable = checkpoint.check_capturable(parts.strategy)
    if resuming and not_capturable:
        raise UserError(f"--resume: strategy {run.config.strategy} cannot resume: {not_capturable}; run it "
                        "without --resume (it starts over) or with --overwrite")
    if run.run_dir is not None and not_capturable and not parts.trains_once:
        print(f"   note: no checkpoints for {run.config.strategy}: {not_capturable}", file=sys.stderr)
    checkpointing = run.run_dir is not None and not_capturable is None
    if checkpointing and not run.config.control.buffer_checkpoint and checkpoint.holds_buffers(parts.strategy):
        if not resuming:
            print("   note: --no-buffer-checkpoint: checkpoints leave the stored examples out, so an "
                  "interrupted run cannot resume them exactly", file=sys.stderr)
    return checkpointing


def _restore(run: Run, parts: Assembled, saved: dict, progress_state: RunProgress) -> None:
    """Continue from a checkpoint: the strategy's state and the measurements so far."""
    from ..state import checkpoint

    done = saved["progress"]
    checkpoint.restore(parts.strategy, saved["state"], benchmark=parts.benchmark, finished=done["finished"],
                       validation=parts.has_validation)
    for key, value in done.items():
        setattr(progress_state, key, value)
    missing = progress_state.finished - len(progress_state.stored_bytes)
    if missing > 0:  # a checkpoint from before stored_bytes was measured
        progress_state.stored_bytes = [None] * missing + list(progress_state.stored_bytes)
    left_out = not saved["state"]["buffers"] and checkpoint.holds_buffers(parts.strategy)
    made_on, runs_on = str(saved["meta"].get("device")), str(run.device)
    progress_state.resumes = [*done["resumes"], {
        "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "from_experience": done["finished"],
        "checkpoint_saved": saved["saved"], "buffers_left_out": left_out,
        "device": runs_on if made_on == runs_on else f"{made_on} -> {runs_on}"}]
    print(f"   resuming {run.run_dir}: {done['finished']} of {run.n_experiences} experiences done", file=sys.stderr)
    if made_on != runs_on:
        print(f"   note: the checkpoint was made on {made_on} and the run continues on {runs_on}: its "
              "results match an uninterrupted run within floating-point tolerance, not bit for bit",
              file=sys.stderr)
    if left_out:
        print("   warning: this checkpoint was written with --no-buffer-checkpoint: the stored examples "
              "start empty, so the resumed run will not match an uninterrupted one", file=sys.stderr)


def _clear_overwritten(run: Run) -> None:
    """With --overwrite, the old run's files go once the new run is ready to train (not before:
    a bad input found on the way must leave them as they were)."""
    from ..state import checkpoint
    from ..state.run_folder import RESULT_FILES

    if run.run_dir is None or not run.config.control.overwrite:
        return
    for old in RESULT_FILES:
        (run.run_dir / old).unlink(missing_ok=True)
    shutil.rmtree(run.run_dir / checkpoint.FOLDER, ignore_errors=True)


def _evaluate(run: Run, parts: Assembled, progress_state: RunProgress):
    """Accuracy on every test experience, from the collected predictions and from Avalanche's
    own metric (they must agree); validation accuracy is recorded apart. The collector keeps the
    test predictions for :func:`_pooled`."""
    strategy, collector, n = parts.strategy, parts.collector, run.n_experiences
    if parts.has_validation and strategy.clock.train_exp_counter > 0:
        collector.reset()
        strategy.eval(parts.benchmark.valid_stream)
        progress_state.validation_matrix.append([collector.accuracy(e) for e in range(n)])
    collector.reset()
    reported = strategy.eval(parts.benchmark.test_stream)
    ours = [collector.accuracy(e) for e in range(n)]
    if _task_type(run) != "single-label":  # Avalanche's accuracy metric reads one class per example
        return ours, []
    theirs = [float(reported[f"Top1_Acc_Exp/eval_phase/test_stream/Task{exp.task:03d}/Exp{e:03d}"])
              for e, exp in enumerate(run.stream.experiences)]
    return ours, theirs


def _pooled(run: Run, parts: Assembled, through: int, progress_state: RunProgress) -> tuple:
    """The classes seen through experience ``through`` and the confusion counts of the last
    evaluation's test predictions on experiences 0..through pooled over them (token and
    multi-label runs: their [tp, fp, fn] per class, and the confusion rows kept apart)."""
    from ..evaluation.predictions import ClassSpace

    if _task_type(run) == "single-label":
        return parts.collector.pooled_confusion(ClassSpace.of(run.stream), through)
    classes, counts, confusion = parts.collector.pooled_counts(through)
    progress_state.class_confusion = confusion
    return classes, counts


def _task_type(run: Run) -> str:
    return getattr(run.stream, "task_type", "single-label")


def _scorer(run: Run):
    """Per-class scores from the stored counts: a confusion matrix, or [tp, fp, fn] rows."""
    from ..evaluation import tagging

    return None if _task_type(run) == "single-label" else tagging.scores


def _timed(work) -> tuple:
    start = time.perf_counter()
    value = work()
    return value, time.perf_counter() - start


def _train(run: Run, parts: Assembled, progress_state: RunProgress, memory, checkpointing: bool) -> None:
    """Train each remaining experience and evaluate after it; ``joint`` trains once on the
    union and its matrix gets T identical rows (each pooling every experience's predictions
    over every class, since the one model has seen them all)."""
    from ..evaluation.costs import stored_bytes
    from .template import reseed_global

    strategy, benchmark, n = parts.strategy, parts.benchmark, run.n_experiences
    if parts.trains_once:
        _, train_s = _timed(lambda: strategy.train(benchmark.train_stream))
        (row, row_avalanche), eval_s = _timed(lambda: _evaluate(run, parts, progress_state))
        pooled = _pooled(run, parts, n - 1, progress_state)
        for i in range(n):
            progress_state.add_row(list(row), list(row_avalanche), pooled,
                                   train_s if i == 0 else 0.0, eval_s if i == 0 else 0.0)
        return
    early_stopping = run.config.training.early_stopping
    for exp_id in range(progress_state.finished, n):
        reseed_global(run.config.seed, "experience", exp_id)
        eval_streams = [benchmark.valid_stream[exp_id]] if early_stopping else None
        _, train_s = _timed(lambda: strategy.train(benchmark.train_stream[exp_id], eval_streams=eval_streams))
        (row, row_avalanche), eval_s = _timed(lambda: _evaluate(run, parts, progress_state))
        progress_state.add_row(row, row_avalanche, _pooled(run, parts, exp_id, progress_state), train_s, eval_s,
                               stored_bytes(strategy))
        progress_state.finished = exp_id + 1
        if checkpointing:
            _save_checkpoint(run, parts, progress_state, memory)


def _save_checkpoint(run: Run, parts: Assembled, progress_state: RunProgress, memory) -> None:
    import torch

    from ..state import checkpoint
    from ..state.run_folder import package_versions
    from ..state.signals import signals_deferred

    config = run.config
    state = asdict(progress_state)
    state["peak_rss_mb"] = max(progress_state.peak_rss_mb, memory.peak_mb)
    meta = {"identity": run.identity, "versions": package_versions(), "device": str(run.device),
            "data_fingerprint": checkpoint.stream_fingerprint(run.stream), "n_experiences": run.n_experiences,
            "finished": progress_state.finished, "strategy": config.strategy, "seed": config.seed,
            "order": config.order, "torch_threads": torch.get_num_threads()}
    captured = checkpoint.capture(parts.strategy, buffers=config.control.buffer_checkpoint)
    with signals_deferred():
        checkpoint.save(run.run_dir, checkpoint.payload(meta=meta, progress=state, state=captured))


def _metrics(run: Run, parts: Assembled, progress_state: RunProgress) -> dict:
    """metrics.json: the matrix, the metrics computed from it, the F1 values computed from the
    pooled confusion counts of each step, and the measured costs."""
    from ..evaluation import metrics as metric_functions
    from ..evaluation import per_class
    from ..evaluation.predictions import ClassSpace
    from ..evaluation.task_collectors import SCORE_OF_TASK

    stream, config = run.stream, run.config
    # FWT needs a head that could answer experience j before j: the scenario and the head
    # together say whether it can (docs/design.md, "Metrics").
    fwt_reason = metric_functions.fwt_undefined_reason(stream.scenario, parts.head)
    summary = metric_functions.summarize(progress_state.matrix, progress_state.initial,
                                         fwt_defined=fwt_reason is None)
    own_classes = ClassSpace.of(stream).experience_classes
    steps = list(zip(progress_state.seen_classes, progress_state.confusion))
    scorer = _scorer(run)
    f1_by_step = [per_class.macro_f1(counts, scorer) for _, counts in steps]
    return {
        "stream": stream.name, "strategy": config.strategy, "seed": config.seed, "order": config.order,
        "scenario": stream.scenario, "experiences": stream.experience_summaries(),
        "accuracy_matrix": progress_state.matrix, "initial_accuracy": progress_state.initial, **summary,
        "train_seconds": progress_state.train_seconds, "eval_seconds": progress_state.eval_seconds,
        "peak_rss_mb": progress_state.peak_rss_mb, "stored_bytes": progress_state.stored_bytes,
        "trainable_parameters": sum(p.numel() for p in parts.strategy.model.parameters() if p.requires_grad),
        "macro_f1_matrix": [per_class.experience_f1(counts, classes, own_classes, scorer) for classes, counts in steps],
        "macro_f1": f1_by_step[-1], "macro_f1_by_step": f1_by_step, "score": SCORE_OF_TASK[_task_type(run)],
        "notes": [fwt_reason] if fwt_reason else [],
    }


def _run_config(run: Run, parts: Assembled, progress_state: RunProgress, checkpointing: bool) -> dict:
    """config.json: the resolved configuration and everything run-specific (paths, resumes, host)."""
    import torch

    from ..state.run_folder import provenance

    config, stream, control, resumes = run.config, run.stream, run.config.control, progress_state.resumes
    card = stream.card
    return {
        "config": config.to_dict(), "strategy_hyperparameters": run.params, "head": parts.head,
        "device": str(run.device), "seed": config.seed, "deterministic": config.training.deterministic,
        "data_source": {"name": card.name, "source": card.source, "version": card.version},
        "stream": stream.summary(), "max_length": config.stream.max_length,
        "padded_length": parts.packed.length, "truncated_share": parts.packed.truncated_share,
        "validation_accuracy_matrix": progress_state.validation_matrix or None,
        "started": progress_state.started, "torch_threads": torch.get_num_threads(),
        "resume": {
            "resumed": bool(resumes), "resumes": resumes,
            "exact": not any(r["buffers_left_out"] or "->" in r.get("device", "") for r in resumes),
            "checkpoints": ("none" if not checkpointing else
                            "kept" if control.keep_checkpoint else "deleted at completion"),
            "buffer_checkpoint": control.buffer_checkpoint,
        },
        **provenance(),
    }


def _class_files(run: Run, progress_state: RunProgress, metrics: dict) -> tuple[dict, dict]:
    """per_class.csv and confusion_matrix.csv (file name -> (header, rows)) and
    confusion_matrix.png, from the stored confusion counts: class names and counts, never texts."""
    from ..evaluation import per_class
    from ..evaluation.predictions import ClassSpace
    from ..report.plots import confusion_matrix_png
    from ..state.run_folder import PER_CLASS_HEADER

    names = ClassSpace.of(run.stream).names
    rows = per_class.per_class_rows(progress_state.seen_classes, progress_state.confusion, names, _scorer(run))
    classes = progress_state.seen_classes[-1]
    if _task_type(run) == "multi-label":  # a label set has no single predicted class
        header = ["true \\ predicted", "predicted", "missed"]
        confusion = [[names[c], *map(int, row)] for c, row in zip(classes, progress_state.class_confusion)]
    else:
        outside = "missed (no entity of that span)" if _task_type(run) == "token" else "outside the seen classes"
        last = progress_state.class_confusion or progress_state.confusion[-1]
        header, confusion = per_class.confusion_table(classes, last, names, outside=outside)
    title = f"{metrics['strategy']} on {metrics['stream']} (seed {metrics['seed']}), after the last experience"
    png = confusion_matrix_png([row[0] for row in confusion], header[1:], [row[1:] for row in confusion], title,
                               score=metrics["score"])
    return ({"per_class.csv": (list(PER_CLASS_HEADER), rows), "confusion_matrix.csv": (header, confusion)},
            {"confusion_matrix.png": png})


def _write(run: Run, parts: Assembled, progress_state: RunProgress, metrics: dict, checkpointing: bool) -> None:
    from ..report.plots import forgetting_curve_png
    from ..state import checkpoint
    from ..state.run_folder import write_run
    from ..state.signals import signals_deferred

    run_config = _run_config(run, parts, progress_state, checkpointing)
    tables, class_figures = _class_files(run, progress_state, metrics)
    figures = {"forgetting_curve.png": forgetting_curve_png(metrics), **class_figures}
    with signals_deferred():
        write_run(run.run_dir, metrics, run_config, figures, tables)
        if run.config.control.save_model:
            from ..state.saved_model import save_model

            save_model(run.run_dir, run.config, run_config["stream"], parts.strategy.model)
        if not run.config.control.keep_checkpoint:
            shutil.rmtree(run.run_dir / checkpoint.FOLDER, ignore_errors=True)
