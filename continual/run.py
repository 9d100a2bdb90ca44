"""``python -m continual.run``: parse flags into configs and call :func:`run_experiment`.

Arguments are checked before the heavy imports (torch, transformers, Avalanche), so a typo costs
a fraction of a second and prints one line.
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from .config import (SECTIONS, ExperimentConfig, ModelConfig, RunControl, StreamConfig, TrainingConfig,
                     apply_section_override)
from .errors import ArgumentParser, UserError, closest, quiet_library_warnings


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog="python -m continual.run",
        description="Train BERT-family models through a stream of medical tasks with a "
        "continual-learning strategy and measure forgetting and transfer.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--strategy", default="ewc", help="strategy name(s), comma-separated; compose plugins with '+' (see --list-strategies)")
    p.add_argument("--stream", default=StreamConfig.stream, help="built-in stream (see --list-streams)")
    p.add_argument("--data", default=None, help="your own labelled texts: CSV / JSON Lines / Parquet file, a folder of them, a datasets save_to_disk folder, a,b.csv (one task each) or a Hugging Face dataset name")
    p.add_argument("--text-col", default=None, help="text column of --data")
    p.add_argument("--label-col", default=None, help="label column of --data (integer or string labels)")
    p.add_argument("--domain-col", default=None, help="domain column (hospital, year, specialty): one experience per value")
    p.add_argument("--task-col", default=None, help="task column: one experience (and head) per value")
    p.add_argument("--group-col", default=None, help="group column (patient, admission): a group stays wholly in train or in test")
    p.add_argument("--split-col", default=None, help="column with an existing train/test split to honour")
    p.add_argument("--scenario", default=None, choices=["class", "domain", "task"], help="scenario over --data")
    p.add_argument("--name", default=None, help="stream name in results; default <data stem>-<scenario>")
    p.add_argument("--label-names", default=None, help="CSV or JSON file mapping label values to readable names")
    p.add_argument("--domain-order", default=None, help="comma-separated domain values in experience order; default sorted")
    p.add_argument("--task-order", default=None, help="comma-separated task values in experience order; default sorted")
    p.add_argument("--shots", type=int, default=None, help="few-shot: keep K training examples per class in each experience")
    p.add_argument("--val-per-class", type=int, default=0, help="validation examples per class held out of training (early stopping, tuning)")
    p.add_argument("--early-stopping", action="store_true", help="stop each experience's training when validation accuracy stops improving (needs --val-per-class)")
    p.add_argument("--model", default=None, help="Hugging Face name or local folder; default: the packaged all-MiniLM-L6-v2")
    p.add_argument("--head", default=None, choices=["incremental", "fixed"], help="classification head; default: incremental (class scenario)")
    p.add_argument("--experiences", type=int, default=None, help="number of experiences T; default: the stream's own (5 for icd10cm-chapters)")
    p.add_argument("--class-order", default=None, help="comma-separated class ids giving the class order; default: drawn from the seed")
    p.add_argument("--train-per-class", type=int, default=StreamConfig.train_per_class, help="upper bound on training examples per class")
    p.add_argument("--test-per-class", type=int, default=StreamConfig.test_per_class, help="upper bound on test examples per class")
    p.add_argument("--epochs", type=int, default=TrainingConfig.epochs, help="training epochs per experience")
    p.add_argument("--batch-size", type=int, default=TrainingConfig.batch_size, help="training batch size")
    p.add_argument("--lr", type=float, default=TrainingConfig.lr, help="AdamW learning rate")
    p.add_argument("--max-length", type=int, default=StreamConfig.max_length, help="maximum tokens per text (longer ones are truncated)")
    p.add_argument("--seed", default="0", help="seed(s), comma-separated: one run per seed")
    p.add_argument("--orders", type=int, default=1, help="run K experience orders per seed (order 0 is the seed's own; others go to seed-<S>-order-<k>)")
    p.add_argument("--log", action="append", default=[], choices=["tensorboard", "csv", "wandb", "mlflow"], help="experiment logger (repeatable); logs go to <run>/logs/; off by default")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"], help="bf16 runs the encoder under autocast (CPU and CUDA); fp32 stays the default")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="auto uses CUDA when present")
    p.add_argument("--out", default="results", help="results folder; runs go to OUT/<stream>/<strategy>/seed-<S>/")
    p.add_argument("--config", default=None, help="YAML file with sections stream, model, training, strategies (flags given on the command line win)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a strategy hyperparameter (ewc.lambda=1000) or a config field (training.weight_decay=0)")
    p.add_argument("--cache-dir", default=None, help="tokenization cache folder; default ~/.cache/continual-medical ($XDG_CACHE_HOME respected)")
    p.add_argument("--no-cache", action="store_true", help="keep no tokenization cache on disk")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--jobs", type=int, default=1, help="runs (strategies x seeds x orders) at once, each in its own process with an equal share of the torch threads; progress bars are off with more than one")
    p.add_argument("--resume", action="store_true", help=_help(RunControl, "resume"))
    p.add_argument("--overwrite", action="store_true", help=_help(RunControl, "overwrite") + "; without it a finished run is skipped")
    p.add_argument("--keep-checkpoint", action="store_true", help=_help(RunControl, "keep_checkpoint"))
    p.add_argument("--no-buffer-checkpoint", action="store_true", help="leave stored examples (replay, GEM, A-GEM, DER, iCaRL buffers: token ids) out of checkpoints; such a run cannot resume its buffers exactly")
    p.add_argument("--deterministic", action="store_true", help="use torch's deterministic algorithms (slower on CUDA; an operation without a deterministic version stops the run)")
    p.add_argument("--list-streams", action="store_true", help="describe the built-in streams and exit")
    p.add_argument("--list-strategies", action="store_true", help="describe the strategies and their hyperparameters and exit")
    return p


def _help(cls, name: str) -> str:
    import dataclasses

    return next(f.metadata["help"] for f in dataclasses.fields(cls) if f.name == name)


def _int_list(flag: str, text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"{flag} takes comma-separated integers, got {text!r}") from None
    if not values:
        raise UserError(f"{flag} is empty: give at least one integer")
    return values


def _load_yaml(path: str) -> dict:
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
    unknown = set(data) - {*SECTIONS, "strategies"}
    if unknown:
        raise UserError(f"config file {path}: unknown section(s) {', '.join(sorted(unknown))}; use stream, model, training, strategies")
    return data


def build_configs(argv: Optional[Sequence[str]] = None) -> tuple[argparse.Namespace, list[ExperimentConfig]]:
    """Parse and validate everything; no heavy import happens here."""
    from strategies import STRATEGIES, parse_strategy

    parser = build_parser()
    args = parser.parse_args(argv)
    explicit = {a.dest for a in parser._actions if a.option_strings and _given(a, argv)}
    sections: dict[str, dict] = {name: {} for name in SECTIONS}
    strategy_params: dict[str, dict[str, str]] = {}
    if args.config:
        data = _load_yaml(args.config)
        for section in SECTIONS:
            for key, value in (data.get(section) or {}).items():
                apply_section_override(sections, f"{section}.{key}", str(value) if not isinstance(value, list) else ",".join(map(str, value)))
        for name, values in (data.get("strategies") or {}).items():
            if name not in STRATEGIES:
                raise UserError(f"config file: unknown strategy {name!r}{closest(name, STRATEGIES)}")
            strategy_params.setdefault(name, {}).update({k: str(v) for k, v in (values or {}).items()})
    flag_fields = {
        "stream": ("stream", "stream"), "experiences": ("stream", "experiences"),
        "train_per_class": ("stream", "train_per_class"), "test_per_class": ("stream", "test_per_class"),
        "max_length": ("stream", "max_length"), "cache_dir": ("stream", "cache_dir"),
        "no_cache": ("stream", "no_cache"), "model": ("model", "model"), "head": ("model", "head"),
        "epochs": ("training", "epochs"), "batch_size": ("training", "batch_size"),
        "lr": ("training", "lr"), "device": ("training", "device"), "precision": ("training", "precision"),
        "data": ("stream", "data"), "text_col": ("stream", "text_col"), "label_col": ("stream", "label_col"),
        "domain_col": ("stream", "domain_col"), "task_col": ("stream", "task_col"),
        "group_col": ("stream", "group_col"), "split_col": ("stream", "split_col"),
        "scenario": ("stream", "scenario"), "name": ("stream", "name"), "label_names": ("stream", "label_names"),
        "shots": ("stream", "shots"), "val_per_class": ("stream", "val_per_class"),
        "early_stopping": ("training", "early_stopping"), "deterministic": ("training", "deterministic"),
    }
    for dest, (section, name) in flag_fields.items():
        if dest in explicit or name not in sections[section]:
            sections[section][name] = getattr(args, dest)
    if args.class_order:
        values = [v.strip() for v in args.class_order.split(",") if v.strip()]
        sections["stream"]["class_order"] = [int(v) if v.lstrip("-").isdigit() else v for v in values]
    for flag in ("domain_order", "task_order"):
        if getattr(args, flag):
            sections["stream"][flag] = [v.strip() for v in getattr(args, flag).split(",") if v.strip()]
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or "." not in key:
            raise UserError(f"--set {item!r} must look like strategy.key=value or section.field=value")
        prefix = key.split(".", 1)[0]
        if prefix in SECTIONS:
            apply_section_override(sections, key, value)
        elif prefix in STRATEGIES:
            strategy_params.setdefault(prefix, {})[key.split(".", 1)[1]] = value
        else:
            raise UserError(
                f"--set {key}: {prefix!r} is neither a strategy nor a config section"
                f"{closest(prefix, [*STRATEGIES, *SECTIONS])}"
            )
    names = []
    for text in args.strategy.split(","):
        try:
            names.append(parse_strategy(text.strip())[0])
        except ValueError as err:
            raise UserError(str(err)) from None
    from strategies import resolve_params

    for name, overrides in strategy_params.items():
        try:
            resolve_params(name, overrides)
        except ValueError as err:
            raise UserError(str(err)) from None
    try:
        stream, model, training = (StreamConfig(**sections["stream"]), ModelConfig(**sections["model"]),
                                   TrainingConfig(**sections["training"]))
    except TypeError as err:
        raise UserError(f"bad configuration: {err}") from None
    from streams import BUILTIN_STREAMS

    if training.early_stopping and not stream.val_per_class:
        raise UserError("--early-stopping needs a validation split: add --val-per-class N")
    if stream.data is None and stream.stream not in BUILTIN_STREAMS:
        raise UserError(f"unknown stream {stream.stream!r}{closest(stream.stream, BUILTIN_STREAMS)}: see --list-streams")
    seeds = _int_list("--seed", args.seed)
    if args.orders < 1:
        raise UserError(f"--orders must be at least 1, got {args.orders}")
    if args.jobs < 1:
        raise UserError(f"--jobs must be at least 1, got {args.jobs}")
    if args.orders > 1 and (stream.class_order or stream.domain_order or stream.task_order):
        raise UserError("--orders draws experience orders itself: leave out --class-order/--domain-order/--task-order")
    from .engine.loggers import check_available

    check_available(args.log)
    control = RunControl(resume=args.resume, overwrite=args.overwrite, keep_checkpoint=args.keep_checkpoint,
                         buffer_checkpoint=not args.no_buffer_checkpoint)
    configs = [
        ExperimentConfig(strategy=name, seed=seed, out=args.out, stream=stream, model=model,
                         training=training, strategy_params=strategy_params, order=order, log=list(args.log),
                         control=control)
        for name in names for seed in seeds for order in range(args.orders)
    ]
    return args, configs


def _given(action: argparse.Action, argv: Optional[Sequence[str]]) -> bool:
    argv = list(sys.argv[1:] if argv is None else argv)
    return any(a == opt or a.startswith(opt + "=") for a in argv for opt in action.option_strings)


def list_streams() -> str:
    from streams import BUILTIN_STREAMS

    blocks = []
    for spec in BUILTIN_STREAMS.values():
        stream = spec.build(seed=0)
        card = stream.card
        sizes = "; ".join(
            f"exp {e.id}: {len(e.classes)} classes, {e.n_train} train / {e.n_test} test"
            for e in stream.experiences
        )
        blocks.append("\n".join([
            f"{spec.name}  [{spec.scenario}-incremental, {len(stream.experiences)} experiences, {stream.n_classes} classes]",
            f"    {spec.description}",
            f"    sizes (seed 0; caps 100 train / 50 test per class): {sizes}",
            f"    texts: {sum(e.n_train + e.n_test for e in stream.experiences)} in this split",
            f"    source: {card.source}",
            f"    version: {card.version}",
            f"    licence: {card.licence}",
            f"    citation: {card.citation}",
            *[f"    note: {n}" for n in stream.notes],
        ]))
    return "\n\n".join(blocks)


def list_strategies() -> str:
    from strategies import STRATEGIES, describe

    return "\n\n".join(describe(spec) for spec in STRATEGIES.values())


def preflight(configs: list[ExperimentConfig]) -> str:
    """Everything that can be refused before a run starts: the output folder, the model folder,
    the device, the stream, and each run folder (another run busy in it, another configuration
    in it, an interrupted run without --resume, a checkpoint that is corrupt or was made by
    another configuration or versions). Nothing is written. Returns the stream's name."""
    from .config import check_model, run_identity
    from .engine.assemble import hyperparameters, load_stream, resolve_device
    from .state import checkpoint
    from .state.files import check_writable
    from .state.run_folder import FolderState, RunLock, package_versions, run_dir_for

    first = configs[0]
    check_writable(first.out)
    check_model(first.model.model)
    device = resolve_device(first.training.device)
    stream = load_stream(first)  # a bad stream setting fails now, before any run starts
    for config in configs:
        run_dir = run_dir_for(config.out, stream.name, config.strategy, config.seed, config.order)
        holder = RunLock.holder(run_dir)
        if holder:
            raise UserError(f"another run is writing to {run_dir} (process {holder}): wait for it to finish, "
                            "or give this one another --out")
        identity = run_identity(config.to_dict(), hyperparameters(config))
        if FolderState.read(run_dir).decide(identity, config.control) == "resume":
            meta = checkpoint.load(run_dir)["meta"]
            expected = {"identity": identity, "versions": package_versions(), "device": str(device),
                        "data_fingerprint": meta.get("data_fingerprint")}  # the data: checked by the run
            checkpoint.check_meta(meta, expected, checkpoint.checkpoint_path(run_dir))
    return stream.name


def confine_library_files(cache_dir: Optional[str]) -> None:
    """Send the side files of libraries (matplotlib's font list, torch inductor's folder) to the
    cache folder instead of ~/.cache, ~/.config and the temporary folder, so a run writes only
    in its output and cache folders. Values the user set are kept. (Avalanche still creates
    ~/.avalanche/config.json on import: a default dataset location, no run data.)"""
    import os
    from pathlib import Path

    if cache_dir:
        base = Path(cache_dir).expanduser()
    else:  # the default of streams.tokenization.default_cache_dir, without importing torch
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "continual-medical"
    os.environ.setdefault("MPLCONFIGDIR", str(base / "matplotlib"))
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(base / "torchinductor"))


def resume_command(argv: Sequence[str]) -> str:
    import shlex

    return "python -m continual.run " + shlex.join([*(a for a in argv if a != "--resume"), "--resume"])


def main(argv: Optional[Sequence[str]] = None) -> int:
    import signal
    import threading

    quiet_library_warnings()
    argv = list(sys.argv[1:] if argv is None else argv)

    previous_handler = None
    if threading.current_thread() is threading.main_thread():
        from .state.signals import raise_terminated

        previous_handler = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        args, configs = build_configs(argv)
        if args.list_strategies:
            print(list_strategies())
            return 0
        if args.list_streams:
            print(list_streams())
            return 0
        from .engine.loop import run_experiment
        from .report.summary import summary_table

        confine_library_files(configs[0].stream.cache_dir)
        stream_name = preflight(configs)

        def describe(config) -> str:
            order = f", order {config.order}" if config.order else ""
            return f"{config.strategy} on {stream_name}, seed {config.seed}{order}"

        if args.jobs > 1 and len(configs) > 1:
            from .engine.parallel import run_parallel

            outcome = run_parallel(configs, args.jobs, describe=describe)
            results = [r for r in outcome.results if r is not None]
            if results:
                print(summary_table([r.metrics for r in results]))
            if outcome.crash:
                print(outcome.crash.rstrip(), file=sys.stderr)
                return 1
            if outcome.error:
                raise UserError(outcome.error)
            return 0
        results = []
        for config in configs:
            print(f"== {describe(config)}", file=sys.stderr)
            result = run_experiment(config, progress=not args.no_progress)
            if not result.skipped:
                print(f"   wrote {result.run_dir}", file=sys.stderr)
            results.append(result)
        print(summary_table([r.metrics for r in results]))
        return 0
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:
        from .state.signals import Terminated

        code = 143 if isinstance(stop, Terminated) else 130
        print(f"interrupted: resume with: {resume_command(argv)}", file=sys.stderr)
        return code
    finally:
        if previous_handler is not None:
            signal.signal(signal.SIGTERM, previous_handler)


if __name__ == "__main__":
    sys.exit(main())
