"""``python -m continual.run``: parse flags into configs and call :func:`run_experiment`.

The flags of config fields are generated from the config dataclasses
(:func:`continual.config.add_config_flags`); only the flags that are not config fields are declared
here. Arguments are checked before the heavy imports (torch, transformers, Avalanche), so a typo
costs a fraction of a second and prints one line.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any, Optional, Sequence

from .config import (SECTIONS, ExperimentConfig, ModelConfig, RunControl, StreamConfig, TrainingConfig,
                     add_config_flags, apply_override, given_flags, load_config_file)
from .engine.executor import add_executor_flags, options_from_args
from .errors import ArgumentParser, HelpFormatter, UserError, closest

#: Stream fields given on the command line as comma-separated lists (declared here, not generated:
#: their items stay text, except class ids).
ORDER_FLAGS = ("class_order", "domain_order", "task_order")


EXAMPLES = """examples:
  python -m continual.run --strategy ewc                          # the main job, default stream
  python -m continual.run --strategy naive,ewc,replay --seed 0,1,2  # a comparison over 3 seeds
  python -m continual.run --strategy replay+ewc --set ewc.lambda=1e5 --set replay.mem_size=1000
  python -m continual.run --data notes.csv --text-col note --label-col diagnosis --scenario class
  python -m continual.run --list-strategies ewc lora              # what two strategies do
"""


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog="python -m continual.run",
        description="Train BERT-family models through a stream of medical tasks with a "
        "continual-learning strategy and measure forgetting and transfer.",
        formatter_class=HelpFormatter, epilog=EXAMPLES,
    )
    strategies = p.add_argument_group("strategies")
    strategies.add_argument("--strategy", default="ewc", help="strategy name(s), comma-separated; compose plugins with '+' (see --list-strategies)")
    strategies.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a strategy hyperparameter (ewc.lambda=1000) or a config field (training.weight_decay=0); repeatable")
    strategies.add_argument("--config", default=None, help="YAML file with sections stream, model, training, strategies (flags given on the command line win)")
    strategies.add_argument("--list-strategies", nargs="*", metavar="NAME", default=None, help="describe the strategies (or only those named) with their hyperparameters, and exit")
    data = p.add_argument_group("data")
    data.add_argument("--seed", default="0", help="seed(s), comma-separated: one run per seed (the class order and the model's initialization)")
    data.add_argument("--orders", type=int, default=1, help="run K experience orders per seed (order 0 is the seed's own; others go to seed-<S>-order-<k>)")
    data.add_argument("--list-streams", action="store_true", help="describe the built-in streams and exit")
    add_config_flags(data, "stream", StreamConfig)
    helps = {f.name: f.metadata["help"] for f in dataclasses.fields(StreamConfig)}
    for name in ORDER_FLAGS:
        data.add_argument("--" + name.replace("_", "-"), default=None, help=f"comma-separated {helps[name]}")
    add_config_flags(p.add_argument_group("model"), "model", ModelConfig)
    add_config_flags(p.add_argument_group("training"), "training", TrainingConfig)
    output = p.add_argument_group("output")
    output.add_argument("--out", default="results", help="results folder; runs go to OUT/<stream>/<strategy>/seed-<S>/")
    output.add_argument("--log", action="append", default=[], choices=["tensorboard", "csv", "wandb", "mlflow"], help="experiment logger (repeatable); logs go to <run>/logs/")
    output.add_argument("--no-progress", action="store_true", help="no progress bars (they are shown only on a terminal anyway)")
    add_config_flags(output, "control", RunControl)
    add_executor_flags(p)
    return p


def _int_list(flag: str, text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"{flag} takes comma-separated integers, got {text!r}") from None
    if not values:
        raise UserError(f"{flag} is empty: give at least one integer")
    return values


def section_values(args: argparse.Namespace) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, str]]]:
    """The stream, model and training values and the strategies' hyperparameter texts, each
    source over the one before: the config file, the flags given, the order lists, ``--set``."""
    from strategies import STRATEGIES

    sections: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
    strategy_params: dict[str, dict[str, str]] = {}
    if args.config:
        from_file, strategy_params = load_config_file(args.config)
        for name in strategy_params:
            if name not in STRATEGIES:
                raise UserError(f"config file {args.config}: unknown strategy {name!r}{closest(name, STRATEGIES)}")
        for section, values in from_file.items():
            sections[section].update(values)
    for section in SECTIONS:
        sections[section].update(given_flags(args, section))
    for name in ORDER_FLAGS:
        text = getattr(args, name)
        if text:
            values = [v.strip() for v in text.split(",") if v.strip()]
            sections["stream"][name] = [int(v) if v.lstrip("-").isdigit() else v for v in values] \
                if name == "class_order" else values
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or "." not in key:
            raise UserError(f"--set {item!r} must look like strategy.key=value or section.field=value")
        prefix, _, name = key.partition(".")
        if prefix in SECTIONS:
            apply_override(sections, key, value, origin="--set")
        elif prefix in STRATEGIES:
            strategy_params.setdefault(prefix, {})[name] = value
        else:
            raise UserError(f"--set {key}: {prefix!r} is neither a strategy nor a config section"
                            f"{closest(prefix, [*STRATEGIES, *SECTIONS])}")
    return sections, strategy_params


def strategy_names(text: str, strategy_params: dict[str, dict[str, str]]) -> list[str]:
    """The canonical names of ``--strategy a,b+c``, once every hyperparameter given has parsed."""
    from strategies import parse_strategy, resolve_params

    try:
        parsed = [parse_strategy(part.strip()) for part in text.split(",")]
        for name, overrides in strategy_params.items():
            resolve_params(name, overrides)
    except ValueError as err:
        raise UserError(str(err)) from None
    return [name for name, _ in parsed]


def check_set_targets(settings: Sequence[str], names: Sequence[str]) -> None:
    """A ``--set strategy.key=value`` for a strategy that is not run would be silently ignored:
    refuse it (a config file may hold settings of strategies a command does not run)."""
    from strategies import STRATEGIES, parse_strategy

    used = {component for name in names for component in parse_strategy(name)[1]}
    for item in settings:
        prefix, _, rest = item.partition("=")[0].partition(".")
        if prefix in STRATEGIES and prefix not in used:
            raise UserError(f"--set {prefix}.{rest}: {prefix} is not among the strategies run "
                            f"(--strategy {','.join(names)}); add {prefix} to --strategy or drop the setting")


def check_combination(args: argparse.Namespace, stream: StreamConfig, training: TrainingConfig) -> None:
    """The checks that span sections or concern the grid of runs rather than one field."""
    from streams import BUILTIN_STREAMS

    from .engine.loggers import check_available

    if training.early_stopping and not stream.val_per_class:
        raise UserError("--early-stopping needs a validation split: add --val-per-class N")
    if stream.data is None and stream.stream not in BUILTIN_STREAMS:
        raise UserError(f"unknown stream {stream.stream!r}{closest(stream.stream, BUILTIN_STREAMS)}: see --list-streams")
    if args.orders < 1:
        raise UserError(f"--orders must be at least 1, got {args.orders}")
    options_from_args(args)  # --jobs and its family checked before anything starts
    if args.orders > 1 and (stream.class_order or stream.domain_order or stream.task_order):
        raise UserError("--orders draws experience orders itself: leave out --class-order/--domain-order/--task-order")
    check_available(args.log)


def training_for(name: str, sections: dict[str, dict[str, Any]]) -> TrainingConfig:
    """The training configuration of strategy ``name`` (canonical, '+' for a composition): the
    dataclass defaults, then the built-in stream's training defaults (a stream that needs another
    budget than the suite's), then the strategy's own (a composition takes its components'), then
    ``sections["training"]`` (the config file, the flags given and ``--set training.x=``, as
    :func:`section_values` gathers them), so a value the user gives always wins.
    A UserError when two components declare different values for a field the user left alone."""
    from strategies import resolve_training_defaults

    given = sections.get("training", {})
    try:
        defaults = resolve_training_defaults(name, given)
    except ValueError as err:
        raise UserError(f"--strategy {name}: {err}") from None
    stream = {field: value for field, value, _ in stream_training_defaults(sections.get("stream", {}))
              if field not in given}
    return TrainingConfig(**{**stream, **{field: d.value for field, d in defaults.items()}, **given})


def stream_training_defaults(stream_section: dict) -> tuple:
    """The (field, value, source) training defaults of the configured built-in stream; none for
    ``--data`` or a stream that keeps the suite's budget."""
    from streams.registry import BUILTIN_STREAMS

    if stream_section.get("data") is not None:
        return ()
    spec = BUILTIN_STREAMS.get(stream_section.get("stream") or StreamConfig.stream)
    return spec.training_defaults if spec is not None else ()


def build_configs(argv: Optional[Sequence[str]] = None) -> tuple[argparse.Namespace, list[ExperimentConfig]]:
    """Parse and validate everything, one config per (strategy, seed, order); no heavy import.
    Each strategy gets its own training configuration (:func:`training_for`)."""
    args = build_parser().parse_args(argv)
    sections, strategy_params = section_values(args)
    names = strategy_names(args.strategy, strategy_params)
    check_set_targets(args.set, names)
    stream, model = StreamConfig(**sections["stream"]), ModelConfig(**sections["model"])
    training = {name: training_for(name, sections) for name in names}
    seeds = _int_list("--seed", args.seed)
    for name in names:
        check_combination(args, stream, training[name])
    control = RunControl(**given_flags(args, "control"))
    configs = [
        ExperimentConfig(strategy=name, seed=seed, out=args.out, stream=stream, model=model,
                         training=training[name], strategy_params=strategy_params, order=order,
                         log=list(args.log), control=control)
        for name in names for seed in seeds for order in range(args.orders)
    ]
    return args, configs


def run_all(args: argparse.Namespace, configs: list[ExperimentConfig]) -> int:
    """Run the configs (as Ray tasks with ``--jobs`` or ``--ray-address``) and print the summary table."""
    from .engine.executor import run_configs
    from .engine.launch import confine_library_files, preflight
    from .report.summary import summary_table

    confine_library_files(configs[0].stream.cache_dir)
    stream_name = preflight(configs)

    def describe(config) -> str:
        order = f", order {config.order}" if config.order else ""
        return f"{config.strategy} on {stream_name}, seed {config.seed}{order}"

    outcome = run_configs(configs, options_from_args(args), describe=describe, progress=not args.no_progress)
    results = [r for r in outcome.results if r is not None]
    if results:
        print(summary_table([r.metrics for r in results]))
    if outcome.crash:
        print(outcome.crash.rstrip(), file=sys.stderr)
        return 1
    if outcome.error:
        raise UserError(outcome.error)
    return 0


def command(argv: Sequence[str]) -> int:
    args, configs = build_configs(argv)
    if args.list_strategies is not None or args.list_streams:
        from .report.listings import list_streams, list_strategies

        print(list_strategies(args.list_strategies) if args.list_strategies is not None else list_streams())
        return 0
    return run_all(args, configs)


def main(argv: Optional[Sequence[str]] = None) -> int:
    from .engine.launch import program_main

    return program_main(command, argv)


if __name__ == "__main__":
    sys.exit(main())
