"""The whole benchmark, (a) to (g) in their order, into the dict that bench.json holds."""
from __future__ import annotations

from .default_run import measure_default_run
from .loops import measure_pad128, measure_plain
from .settings import BenchSettings
from .suite import measure_strategies, measure_suite
from .timing import matmul_gflops
from .workload import Workload, build_sample, log


def matmul_peaks(device) -> tuple[float, float]:
    """(f): the dense matmul peak in fp32 and in bf16, GFLOP/s."""
    import torch

    return matmul_gflops(device, torch.float32), matmul_gflops(device, torch.bfloat16)


def run_bench(settings: BenchSettings) -> dict:
    """Measure (a) to (g) (see :mod:`continual.speed`) and return what bench.json holds.

    The matmul peak is measured first and again after the training measurements, keeping the
    better of the two; (g) runs last and alone, so that nothing else runs while it is measured.
    """
    import torch

    from ..engine.assemble import resolve_device

    device = resolve_device(settings.device)
    stream, whole = build_sample(settings.plan)
    results: dict = {"device": str(device), "precision": settings.precision, "threads": torch.get_num_threads(),
                     "batch_size": settings.batch_size, "plan": settings.plan,
                     "strategies": settings.strategy_names}
    log("measuring the matmul peak ...")
    results["matmul_gflops"], results["matmul_gflops_bf16"] = matmul_peaks(device)
    work = Workload.load(settings, device, whole)
    results.update(mean_real_tokens=work.mean_real_tokens, useful_flops_per_example=work.useful_flops_per_example)
    pad128 = measure_pad128(work)
    plain, results["plain_epoch_seconds"] = measure_plain(work)
    suite = measure_suite(work)
    costs = measure_strategies(settings, stream)
    again = matmul_peaks(device)
    results["matmul_gflops"] = max(results["matmul_gflops"], again[0])
    results["matmul_gflops_bf16"] = max(results["matmul_gflops_bf16"], again[1])
    results.update(_throughput(results, work, pad128, plain, suite), **costs)
    results["ratios"] = {
        "suite_over_plain_time": plain / suite["rate"],
        "suite_over_pad128_throughput": suite["rate"] / pad128,
        "eval_over_train_throughput": suite["eval_rate"] / suite["rate"],
    }
    if settings.measures_default_run:
        log("(g) a default run (python -m continual.run --strategy ewc) for its peak memory ...")
        results["default_run"] = measure_default_run(settings)
        results["default_run_peak_mb"] = results["default_run"].get("peak_rss_mb")
    return results


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
