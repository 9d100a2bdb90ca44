"""(c), (d) and (e): the suite's own training and evaluation, through ``run_experiment`` and
Avalanche's template, as a run of ``python -m continual.run`` trains and evaluates."""
from __future__ import annotations

import statistics

from ..config import ExperimentConfig, ModelConfig, StreamConfig, TrainingConfig
from .settings import BenchSettings
from .timing import flatness, median_rate, run_to_run_noise
from .workload import Workload, log


def suite_config(settings: BenchSettings, strategy: str, epochs: int, experiences: int, *,
                 attention: str = "sdpa", max_length: int = 128) -> ExperimentConfig:
    """A run of ``strategy`` on the benchmark's model, device, precision and batch sizes; nothing
    is cached or written. The strategy's own training defaults (A-GEM's SGD, a probe's learning
    rate) apply as in ``continual.run``, except epochs and batch sizes: every strategy gets the same
    budget so that its cost per experience compares with naive's."""
    from strategies import resolve_training_defaults

    fixed = {"epochs": epochs, "batch_size": settings.batch_size, "eval_batch_size": settings.eval_batch_size,
             "device": settings.device, "precision": settings.precision}
    own = {field: d.value for field, d in resolve_training_defaults(strategy, fixed).items()}
    return ExperimentConfig(
        strategy=strategy, seed=0, out="unused",
        stream=StreamConfig(no_cache=True, experiences=experiences, max_length=max_length),
        model=ModelConfig(model=settings.model, attention=attention),
        training=TrainingConfig(**own, **fixed))


def measure_suite(work: Workload, attention: str = "sdpa") -> dict:
    """(c) and (e) on the sample of (a) and (b): ``naive`` through one experience.

    The epochs after the first are the warm measurement, as the plain loops' chunks after their
    warm-up. (e) repeats the run's evaluation on the trained model (the run's own evaluation is
    the first timing). Returns ``rate`` (training examples per second), ``epoch_seconds``,
    ``eval_seconds``, ``eval_rate`` and ``kernels`` (the attention kernel that training and
    evaluation ran).
    """
    log(f"(c) the suite through Avalanche, one experience, {attention} attention ...")
    plan = work.settings.plan
    config = suite_config(work.settings, "naive", plan["suite_epochs"], 1, attention=attention)
    return suite_pass(config, work.whole, plan["eval_repeats"])


def suite_pass(config: ExperimentConfig, stream, eval_repeats: int) -> dict:
    """Train ``config`` through the one experience of ``stream``, timing each epoch, then
    evaluate ``eval_repeats`` times in all; see :func:`measure_suite` for what it returns."""
    from ..engine.loop import run_experiment
    from .epoch_timer import EpochTimer

    timer = EpochTimer()
    result = run_experiment(config, stream=stream, progress=False, write=False, extra_plugins=[timer])
    warm = timer.seconds[1:] or timer.seconds
    eval_times = [result.metrics["eval_seconds"][0], *timer.eval_seconds(eval_repeats - 1)]
    return {"rate": median_rate(timer.examples[-1], warm), "epoch_seconds": timer.seconds,
            "eval_seconds": eval_times, "eval_rate": median_rate(stream.experiences[0].n_test, eval_times),
            "kernels": dict(timer.kernels)}


def interleaved(names: list[str]) -> list[str]:
    """The order (d) runs in: naive, then the other strategies two at a time, each pair
    followed by naive again, so that every strategy has a naive run right before or after it
    and drift of the machine over the benchmark cancels in its ratio."""
    others = [n for n in names if n != "naive"]
    order = ["naive"]
    for i, name in enumerate(others):
        order.append(name)
        if i % 2 == 1 or i == len(others) - 1:
            order.append("naive")
    return order


#: how many naive runs a strategy's baseline is the median of: the two around it and the next
#: nearest, so that one transient naive run (20% slow, say, with no other process on the
#: machine) is outvoted instead of averaged in, while the baseline stays local in time
BASELINE_RUNS = 3


def nearest_naive(order: list[str], position: int, count: int = BASELINE_RUNS) -> list[int]:
    """Indices of the ``count`` naive runs of ``order`` nearest ``position`` (the earlier on a
    tie), in order: the runs just before and after it first."""
    naive = [i for i, name in enumerate(order) if name == "naive" and i != position]
    return sorted(sorted(naive, key=lambda i: (abs(i - position), i))[:count])


def measure_strategies(settings: BenchSettings, stream, monitor=None) -> dict:
    """(d): each strategy's training seconds per experience through ``stream``, relative to the
    median of the naive runs nearest it (:func:`interleaved`, :func:`nearest_naive`), per
    experience.

    The spread of all naive runs is the run-to-run noise of the machine. ``monitor`` (a
    :class:`.load.LoadMonitor`) records the load of other processes during each run. Returns
    the bench.json keys of (d).
    """
    from ..engine.loop import run_experiment

    plan = settings.plan
    order = interleaved(settings.strategy_names)
    seconds: list[list[float]] = []
    for name in order:
        log(f"(d) {name} through {len(stream.experiences)} experiences ...")
        config = suite_config(settings, name, plan["strategy_epochs"], len(stream.experiences))
        seconds.append(run_experiment(config, stream=stream, progress=False, write=False).metrics["train_seconds"])
        if monitor is not None:
            monitor.phase(f"(d) {name} #{len(seconds)}")
    naive_runs = [s for name, s in zip(order, seconds) if name == "naive"]
    per_experience = {"naive": [statistics.fmean(v) for v in zip(*naive_runs)]}
    relative_per_experience = {"naive": [1.0] * len(per_experience["naive"])}
    for position, name in enumerate(order):
        if name == "naive":
            continue
        baseline = [statistics.median(runs) for runs in zip(*(seconds[i] for i in nearest_naive(order, position)))]
        per_experience[name] = seconds[position]
        relative_per_experience[name] = [s / b for s, b in zip(seconds[position], baseline)]
    return {
        "order": order,
        "relative_cost": {n: statistics.median(v[1:] or v) for n, v in relative_per_experience.items()},
        "relative_cost_per_experience": relative_per_experience,
        "relative_cost_spread": {n: flatness(v) for n, v in relative_per_experience.items()},
        "train_seconds_per_experience": per_experience,
        "naive_runs": naive_runs,
        "naive_noise": run_to_run_noise(*naive_runs),
        "experience_examples": [e.n_train for e in stream.experiences],
    }
