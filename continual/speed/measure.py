"""The whole benchmark, (a) to (g) in their order, into the dict that bench.json holds."""
from __future__ import annotations

import math

from .default_run import measure_default_run
from .floors import Primitives, cost_over_floor, floors
from .load import LoadMonitor
from .long_text import measure_long_text
from .loops import measure_pad128, measure_plain, plain_attention
from .settings import BenchSettings
from .suite import measure_strategies, measure_suite
from .timing import matmul_peak, param_pass_seconds
from .workload import Workload, build_sample, log


def matmul_peaks(device) -> dict:
    """(f): the dense matmul peak in fp32 and in bf16 (:func:`.timing.matmul_peak`)."""
    import torch

    return {"fp32": matmul_peak(device, torch.float32), "bf16": matmul_peak(device, torch.bfloat16)}


def run_bench(settings: BenchSettings) -> dict:
    """Measure (a) to (g) (see :mod:`continual.speed`) and return what bench.json holds.

    The matmul peak is measured first and again after the training measurements, keeping the
    better of the two; (g) runs last and alone, so that nothing else runs while it is measured.
    The load of other processes is read before anything starts and after every phase
    (``machine_busy``).
    """
    import torch

    from ..engine.assemble import resolve_device

    monitor = LoadMonitor()
    device = resolve_device(settings.device)
    stream, whole = build_sample(settings.plan)
    results: dict = {"device": str(device), "precision": settings.precision, "threads": torch.get_num_threads(),
                     "batch_size": settings.batch_size, "plan": settings.plan,
                     "strategies": settings.strategy_names}
    monitor.probe()
    log("measuring the matmul peak ...")
    first = matmul_peaks(device)
    monitor.phase("(f) matmul peak")
    work = Workload.load(settings, device, whole)
    results.update(mean_real_tokens=work.mean_real_tokens, useful_flops_per_example=work.useful_flops_per_example)
    monitor.restart()  # loading and tokenizing are not timed
    pad128 = measure_pad128(work)
    monitor.phase("(a) plain loop, padded")
    plain, results["plain_epoch_seconds"] = measure_plain(work)
    monitor.phase("(b) plain loop, buckets")
    suite = measure_suite(work)
    monitor.phase("(c), (e) suite")
    eager = measure_suite(work, attention="eager")
    monitor.phase("(c), (e) suite, eager attention")
    results["attention"] = {**plain_attention(work), **{f"suite {k}": v for k, v in suite["kernels"].items()}}
    results["eager"] = {"train_examples_per_s": eager["rate"], "eval_examples_per_s": eager["eval_rate"],
                        "kernels": eager["kernels"]}
    results["sdpa_speedup"] = {"train": suite["rate"] / eager["rate"], "eval": suite["eval_rate"] / eager["eval_rate"]}
    costs = measure_strategies(settings, stream, monitor)
    second = matmul_peaks(device)
    monitor.phase("(f) matmul peak, again")
    results.update(_peaks(first, second))
    results["long_text"] = measure_long_text(settings, work.tokenizer, work.non_embedding_parameters,
                                             results["matmul_gflops"])
    monitor.phase("long texts")
    results.update(_throughput(results, work, pad128, plain, suite), **costs)
    results["ratios"] = {
        "suite_over_plain_time": plain / suite["rate"],
        "suite_over_pad128_throughput": suite["rate"] / pad128,
        "eval_over_train_throughput": suite["eval_rate"] / suite["rate"],
    }
    results.update(_floors(settings, work, suite, costs, stream))
    monitor.restart()
    if settings.measures_default_run:
        log("(g) a default run (python -m continual.run --strategy ewc) for its peak memory ...")
        results["default_run"] = measure_default_run(settings)
        results["default_run_peak_mb"] = results["default_run"].get("peak_rss_mb")
        monitor.phase("(g) default run")
    results.update(monitor.report())
    return results


def _peaks(first: dict, second: dict) -> dict:
    """The better of the two measurements of each precision, and how far they differed."""
    out: dict = {"matmul_peak": {}}
    for precision in ("fp32", "bf16"):
        a, b = first[precision], second[precision]
        best = dict(max(a, b, key=lambda m: m["gflops"]))
        best["start_and_end"] = [a["gflops"], b["gflops"]]
        out["matmul_peak"][precision] = best
    out["matmul_gflops"] = out["matmul_peak"]["fp32"]["gflops"]
    out["matmul_gflops_bf16"] = out["matmul_peak"]["bf16"]["gflops"]
    return out


def _floors(settings: BenchSettings, work: Workload, suite: dict, costs: dict, stream) -> dict:
    """Each strategy's floor (:mod:`.floors`), priced on the experience its cost is read from
    (the second, where regularizers first penalize and memories first replay), and the
    measured cost over it."""
    from strategies import resolve_params

    measured = 1 if len(stream.experiences) > 1 else 0
    epochs, bs = settings.plan["strategy_epochs"], settings.batch_size
    n = stream.experiences[measured].n_train
    params = [p for p in work.fresh_model().parameters() if p.requires_grad]
    encoder = [p for p in params if p.dim() < 2 or p.shape[0] != work.tokenizer.vocab_size]
    primitives = Primitives(
        step=costs["train_seconds_per_experience"]["naive"][measured] / (n * epochs),
        forward=1 / suite["eval_rate"],
        param_pass=param_pass_seconds(params, work.device),
        encoder_pass=param_pass_seconds(encoder, work.device),
        examples=n * epochs, steps=math.ceil(n / bs) * epochs, batch_size=bs, past_experiences=measured,
        tokens=work.mean_real_tokens, memory_tokens_ratio=_memory_tokens_ratio(work.tokenizer, stream, measured))
    floor = floors(costs["relative_cost"], primitives, lambda name: resolve_params(name, {}))
    return {"primitives": vars(primitives), "strategy_floor": floor,
            "cost_over_floor": cost_over_floor(costs["relative_cost"], floor)}


def _memory_tokens_ratio(tokenizer, stream, measured: int) -> float:
    """Mean real tokens of the texts before experience ``measured`` (what a memory holds) over
    those of its own training texts; 1 for the first experience."""
    if measured == 0:
        return 1.0

    def mean_tokens(texts) -> float:
        ids = tokenizer(list(texts), truncation=True, max_length=128)["input_ids"]
        return sum(map(len, ids)) / max(len(ids), 1)

    memory = [t for e in stream.experiences[:measured] for t in e.train_texts]
    return mean_tokens(memory) / mean_tokens(stream.experiences[measured].train_texts)


def _throughput(results: dict, work: Workload, pad128: float, plain: float, suite: dict) -> dict:
    """The training and evaluation rates of (a), (b), (c) and (e), and (c)'s utilization of the
    fp32 peak and of the peak of the run's own precision."""
    flops = work.useful_flops_per_example
    peak = results["matmul_gflops_bf16" if work.settings.precision == "bf16" else "matmul_gflops"]
    return {
        "train_examples_per_s": {"pad128": pad128, "plain": plain, "suite": suite["rate"]},
        "suite_epoch_seconds": suite["epoch_seconds"],
        "eval_seconds": suite["eval_seconds"],
        "eval_examples_per_s": suite["eval_rate"],
        "utilization": suite["rate"] * flops / (results["matmul_gflops"] * 1e9),
        "utilization_of_precision_peak": suite["rate"] * flops / (peak * 1e9),
    }
