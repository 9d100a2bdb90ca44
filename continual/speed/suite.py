"""(c), (d) and (e): the suite's own training and evaluation, through ``run_experiment`` and
Avalanche's template, as a run of ``python -m continual.run`` trains and evaluates."""
from __future__ import annotations

import statistics

from ..config import ExperimentConfig, ModelConfig, StreamConfig, TrainingConfig
from .settings import BenchSettings
from .timing import flatness, median_rate, run_to_run_noise
from .workload import Workload, log


def suite_config(settings: BenchSettings, strategy: str, epochs: int, experiences: int) -> ExperimentConfig:
    """A run of ``strategy`` on the benchmark's model, device, precision and batch sizes; nothing
    is cached or written."""
    return ExperimentConfig(
        strategy=strategy, seed=0, out="unused",
        stream=StreamConfig(no_cache=True, experiences=experiences),
        model=ModelConfig(model=settings.model),
        training=TrainingConfig(epochs=epochs, batch_size=settings.batch_size,
                                eval_batch_size=settings.eval_batch_size,
                                device=settings.device, precision=settings.precision))


def measure_suite(work: Workload) -> dict:
    """(c) and (e) on the sample of (a) and (b): ``naive`` through one experience.

    The epochs after the first are the warm measurement, as the plain loops' chunks after their
    warm-up. (e) repeats the run's evaluation on the trained model (the run's own evaluation is
    the first timing). Returns ``rate`` (training examples per second), ``epoch_seconds``,
    ``eval_seconds`` and ``eval_rate``.
    """
    from ..engine.loop import run_experiment
    from .epoch_timer import EpochTimer

    log("(c) the suite through Avalanche, one experience ...")
    plan = work.settings.plan
    timer = EpochTimer()
    result = run_experiment(suite_config(work.settings, "naive", plan["suite_epochs"], 1), stream=work.whole,
                            progress=False, write=False, extra_plugins=[timer])
    warm = timer.seconds[1:] or timer.seconds
    eval_times = [result.metrics["eval_seconds"][0], *timer.eval_seconds(plan["eval_repeats"] - 1)]
    return {"rate": median_rate(timer.examples[-1], warm), "epoch_seconds": timer.seconds,
            "eval_seconds": eval_times, "eval_rate": median_rate(work.whole.experiences[0].n_test, eval_times)}


def measure_strategies(settings: BenchSettings, stream) -> dict:
    """(d): each strategy's training seconds per experience through ``stream``, relative to naive.

    Naive runs first and again last: its two runs' mean is the baseline and their difference
    the run-to-run noise of the machine. Returns the bench.json keys of (d).
    """
    from ..engine.loop import run_experiment

    plan = settings.plan
    per_experience: dict[str, list[float]] = {}
    naive_runs: list[list[float]] = []
    for name in [*settings.strategy_names, "naive"]:
        log(f"(d) {name} through {plan['experiences']} experiences ...")
        config = suite_config(settings, name, plan["strategy_epochs"], plan["experiences"])
        seconds = run_experiment(config, stream=stream, progress=False, write=False).metrics["train_seconds"]
        if name == "naive":
            naive_runs.append(seconds)
        else:
            per_experience[name] = seconds
    per_experience = {"naive": [statistics.fmean(v) for v in zip(*naive_runs)], **per_experience}
    naive = per_experience["naive"]
    relative_per_experience = {n: [s / b for s, b in zip(v, naive)] for n, v in per_experience.items()}
    return {
        "relative_cost": {n: statistics.median(v[1:] or v) for n, v in relative_per_experience.items()},
        "relative_cost_per_experience": relative_per_experience,
        "relative_cost_spread": {n: flatness(v) for n, v in relative_per_experience.items()},
        "train_seconds_per_experience": per_experience,
        "naive_runs": naive_runs,
        "naive_noise": run_to_run_noise(*naive_runs),
    }
