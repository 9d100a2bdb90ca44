"""``python -m continual.tune``: choose hyperparameters on validation splits, never on test data.

Each trial (one setting of the grid) trains the strategy through the stream once per tuning seed,
on each experience's training data minus a stratified validation split (``--val-per-class``),
and is scored by a metric of the *validation* accuracy matrix, computed by the same metrics
module as every run. The stream of a trial is the validation view of the configured stream
(:func:`streams.validation_view`): the test texts are left behind when it is built, so no trial
can score, tokenize or cache one. The split itself is fixed by ``--split-seed``, apart from the
run seeds, so validation texts are never test texts under any seed (docs/reproducibility.md,
Validation protocol).

Writes ``OUT/<stream>/<strategy>/tuning.csv`` (one row per trial and seed), ``tuning.json``
(space, protocol, every trial's scores, the winner) and ``best.yaml``, which
``python -m continual.run --config best.yaml`` takes as it is; tuning.csv names each trial's run
folder relative to that folder, so the files move with it. Trials run one after another;
a finished trial is skipped when the command is run again.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import itertools
import json
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

from .config import (SECTIONS, ExperimentConfig, ModelConfig, RunControl, StreamConfig, TrainingConfig,
                     add_config_flags, apply_override, given_flags, load_config_file, read_config_file)
from .engine.executor import add_executor_flags, options_from_args
from .errors import ArgumentParser, UserError

#: Tuning seeds default apart from the reporting seeds (0, 1, 2) of results/reference/.
DEFAULT_SEEDS = "10,11"
#: Validation texts per class when --val-per-class is not given: enough to score an experience.
DEFAULT_VAL_PER_CLASS = 20
#: how the winner is chosen from the ranked trials (--select)
SELECTIONS = {
    "best": "best mean over the tuning seeds",
    "one-se": "the first setting in grid order whose mean is within one standard error of the best mean "
              "(the one-standard-error rule: Breiman et al. 1984; Hastie, Tibshirani & Friedman, The "
              "Elements of Statistical Learning, 7.10), the grid listing a cost knob's values cheapest first",
}
#: metric -> True when larger is better; each is a key of metrics.json.
METRICS = {"average_accuracy": True, "average_incremental_accuracy": True, "learning_accuracy": True,
           "min_learning_accuracy": True, "forgetting": False, "bwt": True, "macro_f1": True}


def build_parser() -> argparse.ArgumentParser:
    from .run import ORDER_FLAGS

    p = ArgumentParser(
        prog="python -m continual.tune",
        description="Choose a strategy's hyperparameters on validation splits held out of the "
        "training data (the test texts are never read) and write best.yaml for continual.run.",
    )
    p.add_argument("--strategy", required=True, help="one strategy (or a '+' composition) to tune")
    p.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...",
                   help="values to try for a strategy hyperparameter (ewc.lambda=1,10,100) or a config "
                   "field (training.lr=1e-4,3e-4); repeat for a grid over several keys")
    p.add_argument("--seed", default=DEFAULT_SEEDS, help="tuning seed(s), comma-separated; keep them apart "
                   f"from the seeds you report (default: {DEFAULT_SEEDS})")
    p.add_argument("--metric", default="average_accuracy", choices=sorted(METRICS),
                   help="what ranks the settings, computed on the validation accuracy matrix (default: average_accuracy)")
    p.add_argument("--select", default="best", choices=sorted(SELECTIONS),
                   help="best: the best mean over the tuning seeds (default); one-se: the first setting in grid "
                   "order within one standard error of the best mean, for a cost knob listed cheapest first "
                   "(fisher_samples=128,256,512): the cheapest setting that validation cannot tell from the best")
    p.add_argument("--out", default="results/tuning", help="folder of the tuning files and trial runs (default: results/tuning)")
    p.add_argument("--config", default=None, help="YAML file with sections stream, model, training, strategies and grid "
                   "(a mapping of key to list of values); flags given on the command line win")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="fix a strategy hyperparameter or config field for every trial")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    stream = p.add_argument_group("stream")
    add_config_flags(stream, "stream", StreamConfig)
    for name in ORDER_FLAGS:
        stream.add_argument("--" + name.replace("_", "-"), default=None, help=argparse.SUPPRESS)
    add_config_flags(p.add_argument_group("model"), "model", ModelConfig)
    add_config_flags(p.add_argument_group("training"), "training", TrainingConfig)
    add_config_flags(p.add_argument_group("run folder"), "control", RunControl)
    add_executor_flags(p)
    return p


@dataclasses.dataclass
class Space:
    """The grid: keys in the order given, each with its values (typed for config fields, text for
    strategy hyperparameters, as ``--set`` takes them)."""

    keys: list[str]
    values: list[list[Any]]

    def trials(self) -> list[dict[str, Any]]:
        return [dict(zip(self.keys, combo)) for combo in itertools.product(*self.values)]


def parse_grid(items: Sequence[str], from_file: dict, strategy_components: Sequence[str]) -> Space:
    """``--grid KEY=V1,V2`` items (after the config file's ``grid`` mapping); each key a config
    field (``section.field``) or a hyperparameter of one of the strategy's components."""
    from strategies import STRATEGIES, resolve_params

    entries: dict[str, list] = {str(k): list(v) if isinstance(v, list) else [v] for k, v in from_file.items()}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or "." not in key or not text.strip():
            raise UserError(f"--grid {item!r} must look like strategy.key=V1,V2 or section.field=V1,V2")
        entries[key.strip()] = [v.strip() for v in text.split(",") if v.strip()]
    if not entries:
        raise UserError("nothing to tune: give --grid KEY=V1,V2,... (or a grid section in --config)")
    space = Space([], [])
    for key, values in entries.items():
        prefix, _, name = key.partition(".")
        if prefix in SECTIONS:
            typed = []
            for value in values:
                holder: dict = {}
                apply_override(holder, key, str(value), origin="--grid")
                typed.append(holder[prefix][name])
            values = typed
        elif prefix in strategy_components:
            for value in values:
                try:
                    resolve_params(prefix, {name: str(value)})
                except ValueError as err:
                    raise UserError(str(err).replace("--set", "--grid")) from None
            values = [str(v) for v in values]
        else:
            hint = "a component of --strategy" if prefix in STRATEGIES else "a strategy or a config section"
            raise UserError(f"--grid {key}: {prefix!r} is not {hint}; use stream., model., training. or "
                            f"{', '.join(p + '.' for p in strategy_components)}")
        if len(set(map(str, values))) != len(values):
            raise UserError(f"--grid {key} names a value twice: give each once")
        space.keys.append(key)
        space.values.append(values)
    return space


def trial_id(values: dict[str, Any]) -> str:
    """A stable folder name for one setting: the same grid point always gets the same name."""
    text = json.dumps({k: str(v) for k, v in sorted(values.items())}, sort_keys=True)
    return "trial-" + hashlib.sha256(text.encode()).hexdigest()[:10]


@dataclasses.dataclass
class Plan:
    """Everything a tuning command runs: the trial configurations per grid point and seed."""

    strategy: str
    components: list[str]
    space: Space
    seeds: list[int]
    metric: str
    out: str
    sections: dict
    strategy_params: dict
    control: RunControl
    options: Any = None  # how the trials run (executor.ExecutorOptions); None: one after another
    select: str = "best"  # a key of SELECTIONS

    def config(self, values: dict[str, Any], seed: int, out: str) -> ExperimentConfig:
        """The run configuration of one trial and seed: scored on validation splits only."""
        sections = {name: dict(entries) for name, entries in self.sections.items()}
        params = {name: dict(entries) for name, entries in self.strategy_params.items()}
        for key, value in values.items():
            prefix, _, name = key.partition(".")
            target = sections if prefix in SECTIONS else params
            target.setdefault(prefix, {})[name] = value
        sections["stream"]["holdout"] = "validation"
        sections["stream"].setdefault("val_per_class", DEFAULT_VAL_PER_CLASS)
        stream, model, training = (StreamConfig(**sections["stream"]), ModelConfig(**sections["model"]),
                                   _training(self.strategy, sections))
        return ExperimentConfig(strategy=self.strategy, seed=seed, out=out, stream=stream, model=model,
                                training=training, strategy_params=params, control=self.control)


def _training(strategy: str, sections: dict) -> TrainingConfig:
    """The training section of a trial, with the strategy's own training defaults underneath."""
    from .run import training_for

    return training_for(strategy, sections)


def build_plan(argv: Optional[Sequence[str]] = None) -> Plan:
    """Parse and check the command, the grid and the seeds; no heavy import, nothing written."""
    from strategies import parse_strategy

    from .run import _int_list, section_values

    args = build_parser().parse_args(argv)
    try:
        strategy, components = parse_strategy(args.strategy.strip())
    except ValueError as err:
        raise UserError(str(err)) from None
    data = read_config_file(args.config) if args.config else {}
    grid = data.pop("grid", None) or {}
    if not isinstance(grid, dict):
        raise UserError(f"config file {args.config}: section grid must map each key to a list of values")
    file_sections, file_params = load_config_file(args.config, data) if args.config else ({}, {})
    config_path, args.config = args.config, None
    sections, strategy_params = section_values(args)
    args.config = config_path
    for name in SECTIONS:
        sections[name] = {**file_sections.get(name, {}), **sections[name]}
    for name, values in file_params.items():
        strategy_params[name] = {**values, **strategy_params.get(name, {})}
    if sections["training"].get("early_stopping"):
        raise UserError("--early-stopping uses the validation split that tuning scores: tune without it")
    if sections["stream"].get("val_per_class") == 0:
        raise UserError("--val-per-class 0 leaves nothing to score: tuning needs a validation split (default 20)")
    space = parse_grid(args.grid, grid, components)
    seeds = _int_list("--seed", args.seed)
    if args.select == "one-se" and len(seeds) < 2:
        raise UserError("--select one-se needs a standard error: give two tuning seeds or more (--seed 10,11)")
    plan = Plan(strategy, components, space, seeds, args.metric, args.out, sections, strategy_params,
                RunControl(**given_flags(args, "control")), options_from_args(args), select=args.select)
    plan.config(space.trials()[0], plan.seeds[0], args.out)  # every section value checked now
    return plan


def score(metrics: dict, metric: str) -> Optional[float]:
    """A trial's value of ``metric``; ``min_learning_accuracy`` is the worst diagonal entry (the
    experience learned least well)."""
    if metric == "min_learning_accuracy":
        matrix = metrics["accuracy_matrix"]
        return float(min(matrix[i][i] for i in range(len(matrix))))
    value = metrics.get(metric)
    return None if value is None else float(value)


def run_trials(plan: Plan, *, progress: bool, options=None) -> tuple[str, list[dict]]:
    """Run every trial and seed (one after another, or as Ray tasks with ``--jobs`` or
    ``--ray-address``; finished ones are read back, not redone); returns the stream's name and
    one row per trial and seed."""
    from .engine.executor import ExecutorOptions, run_configs
    from .engine.launch import confine_library_files, preflight

    trials = plan.space.trials()
    confine_library_files(plan.sections["stream"].get("cache_dir"))
    stream_name = preflight([plan.config(trials[0], plan.seeds[0], plan.out)])
    root = Path(plan.out) / stream_name / plan.strategy
    configs, labels = [], {}
    for number, values in enumerate(trials, start=1):
        name = trial_id(values)
        trial_configs = [plan.config(values, seed, str(root / "trials" / name)) for seed in plan.seeds]
        preflight(trial_configs)
        shown = ", ".join(f"{k}={v}" for k, v in values.items())
        for config in trial_configs:
            labels[id(config)] = (f"trial {number}/{len(trials)} ({shown}), seed {config.seed}", name, values)
            configs.append(config)
    outcome = run_configs(configs, options or ExecutorOptions(), describe=lambda c: labels[id(c)][0],
                          progress=progress)
    if outcome.crash:
        raise TrialsFailed(outcome.crash)
    if outcome.error:
        raise UserError(outcome.error)
    rows = []
    for config, result in zip(configs, outcome.results):
        _, name, values = labels[id(config)]
        rows.append({"trial": name, **{k: values[k] for k in plan.space.keys}, "seed": config.seed,
                     plan.metric: score(result.metrics, plan.metric),
                     **{m: score(result.metrics, m) for m in METRICS if m != plan.metric},
                     "run_dir": str(Path(result.run_dir).relative_to(root))})
    return stream_name, rows


class TrialsFailed(Exception):
    """A trial failed for a reason other than bad input (its worker died for good): exit 1."""


def rank(plan: Plan, rows: list[dict]) -> list[dict]:
    """Per trial: its values, its scores per seed, their mean and standard deviation; best first
    (ties keep grid order)."""
    import numpy as np

    trials = []
    for values in plan.space.trials():
        name = trial_id(values)
        scores = [r[plan.metric] for r in rows if r["trial"] == name]
        valid = [s for s in scores if s is not None]
        mean = float(np.mean(valid)) if valid else None
        std = float(np.std(valid, ddof=1)) if len(valid) > 1 else None
        trials.append({"trial": name, "values": {k: _plain(v) for k, v in values.items()},
                       "scores": scores, "mean": mean, "std": std})
    sign = 1 if METRICS[plan.metric] else -1
    return sorted(trials, key=lambda t: float("inf") if t["mean"] is None else -sign * t["mean"])


def choose(plan: Plan, ranked: list[dict]) -> dict:
    """The winner among ``ranked`` (best first) by ``plan.select``: the best mean, or the first
    setting in grid order whose mean is within one standard error (the best setting's standard
    deviation over the tuning seeds over the square root of their number) of the best."""
    best = ranked[0]
    if plan.select == "best" or best["mean"] is None:
        return best
    margin = (best["std"] or 0.0) / len(best["scores"]) ** 0.5
    sign = 1 if METRICS[plan.metric] else -1
    order = {trial_id(values): i for i, values in enumerate(plan.space.trials())}
    close = [t for t in ranked if t["mean"] is not None and sign * (best["mean"] - t["mean"]) <= margin]
    return min(close, key=lambda t: order[t["trial"]])


def _plain(value: Any) -> Any:
    """A grid value as YAML and JSON write it: numbers as numbers."""
    if isinstance(value, str):
        for kind in (int, float):
            try:
                return kind(value)
            except ValueError:
                pass
        if value.lower() in ("true", "false"):
            return value.lower() == "true"
    return value


def best_yaml(plan: Plan, winner: dict, stream_name: str) -> str:
    """``best.yaml``: the winning values in continual.run's config format, with where they came from."""
    import yaml

    data: dict = {}
    for key, value in winner["values"].items():
        prefix, _, name = key.partition(".")
        if prefix in SECTIONS:
            data.setdefault(prefix, {})[name] = value
        else:
            data.setdefault("strategies", {}).setdefault(prefix, {})[name] = value
    how = "the best" if plan.select == "best" else "by the one-standard-error rule, the first in grid order"
    header = (f"# {plan.strategy} on {stream_name}: {how} of {len(plan.space.trials())} settings by validation "
              f"{plan.metric}\n# (mean {winner['mean']:.4f} over tuning seeds {', '.join(map(str, plan.seeds))}); "
              "see tuning.json. Use: python -m continual.run --config best.yaml\n")
    return header + yaml.safe_dump(data, sort_keys=False)


def write_tuning(plan: Plan, stream_name: str, rows: list[dict]) -> Path:
    """tuning.csv, tuning.json and best.yaml in OUT/<stream>/<strategy>/, each written atomically."""
    import pandas as pd

    from .state.files import atomic_write, write_json

    root = Path(plan.out) / stream_name / plan.strategy
    ranked = rank(plan, rows)
    if ranked[0]["mean"] is None:
        raise UserError(f"no trial has a value of {plan.metric} (for example, forgetting of a one-experience stream): "
                        "choose another --metric")
    winner = choose(plan, ranked)
    atomic_write(root / "tuning.csv", lambda h: pd.DataFrame(rows).to_csv(h, index=False))
    stream = plan.sections["stream"]
    write_json(root / "tuning.json", {
        "strategy": plan.strategy, "stream": stream_name,
        "space": {k: [_plain(v) for v in vs] for k, vs in zip(plan.space.keys, plan.space.values)},
        "fixed": {"sections": plan.sections, "strategies": plan.strategy_params},
        "protocol": {"scored_on": "validation", "val_per_class": stream.get("val_per_class", DEFAULT_VAL_PER_CLASS),
                     "split_seed": stream.get("split_seed", 0), "seeds": plan.seeds, "metric": plan.metric,
                     "larger_is_better": METRICS[plan.metric], "selection": SELECTIONS[plan.select]},
        "trials": ranked, "winner": winner,
    })
    atomic_write(root / "best.yaml", lambda h: h.write(best_yaml(plan, winner, stream_name)))
    return root


def command(argv: Sequence[str]) -> int:
    plan = build_plan(argv)
    try:
        stream_name, rows = run_trials(plan, progress="--no-progress" not in argv, options=plan.options)
    except TrialsFailed as failure:
        print(str(failure).rstrip(), file=sys.stderr)
        return 1
    root = write_tuning(plan, stream_name, rows)
    ranked = rank(plan, rows)
    winner = choose(plan, ranked)
    for trial in ranked:
        values = ", ".join(f"{k}={v}" for k, v in trial["values"].items())
        shown = "n/a" if trial["mean"] is None else f"{trial['mean']:.4f}"
        spread = "" if trial["std"] is None else f" ± {trial['std']:.4f}"
        mark = "  <- chosen" if trial is winner and plan.select != "best" else ""
        print(f"{shown}{spread}  {values}{mark}")
    print(f"wrote {root / 'tuning.csv'}, tuning.json and best.yaml", file=sys.stderr)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    from .engine.launch import program_main

    return program_main(command, argv, "continual.tune")


if __name__ == "__main__":
    sys.exit(main())
