"""Timing primitives and the arithmetic over timings: medians, peaks, noise and flatness."""
from __future__ import annotations

import statistics
import time
from typing import Callable, Optional


def timings(device, repeats: int, work: Callable[[], object]) -> list[float]:
    """Wall seconds of each of ``repeats`` calls of ``work()``, the device synchronized around
    each (CUDA runs asynchronously)."""
    import torch

    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        work()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return times


def median_rate(examples: int, seconds: list[float]) -> float:
    """Examples per second at the median timing."""
    return examples / statistics.median(seconds)


#: matrix sizes of the peak: the best size differs between machines (cache sizes, core counts)
PEAK_SIZES = (512, 1024, 2048)
#: a size whose one product would take longer than this (judged from the smaller sizes) is skipped
MAX_PRODUCT_SECONDS = 0.5


def matmul_peak(device, dtype, sizes=PEAK_SIZES, repeats: int = 5) -> dict:
    """Dense matmul peak, GFLOP/s: at each n of ``sizes`` the best of ``repeats`` timings of
    n x n products (2 n^3 FLOPs each), and the best over the sizes. The best, not the median: a
    peak is what the hardware can reach, and on a shared machine single timings can halve.

    Sizes whose single product would take over :data:`MAX_PRODUCT_SECONDS` are skipped. Returns
    ``gflops`` (the peak), ``size`` (where it was reached), ``by_size`` (the best at each
    size measured) and ``spread``: (best - worst) / best of the repeated timings at the peak's size, how
    far one timing can fall from the peak on this machine now.
    """
    best: dict[int, float] = {}
    spread: dict[int, float] = {}
    for n in sorted(sizes):
        if best and 2 * n**3 / (max(best.values()) * 1e9) > MAX_PRODUCT_SECONDS:
            break  # a slow kernel (bf16 without bf16 instructions): larger sizes would take minutes
        rates = _matmul_rates(device, dtype, n, repeats)
        best[n], spread[n] = max(rates), (max(rates) - min(rates)) / max(rates)
    size = max(best, key=best.get)
    return {"gflops": best[size], "size": size, "by_size": {str(n): r for n, r in best.items()},
            "spread": spread[size]}


def _matmul_rates(device, dtype, n: int, repeats: int) -> list[float]:
    """GFLOP/s of each of ``repeats`` timings of n x n products (enough of them to take about
    as long at every size, 2 GFLOP per timing at least)."""
    import torch

    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    products = max(1, round(2e9 / (2 * n**3)))

    def several():
        for _ in range(products):
            a @ b

    return [2 * n**3 * products / t / 1e9 for t in timings(device, repeats, several)]


def non_embedding_parameters(encoder) -> int:
    """Parameters outside the embeddings: the ones each token's forward and backward multiply by."""
    return sum(p.numel() for n, p in encoder.named_parameters() if "embeddings" not in n)


def run_to_run_noise(*runs: list[float]) -> float:
    """How far runs of the same work differ, per experience: the largest (max - min) / mean
    over the experiences."""
    spreads = [(max(v) - min(v)) / (sum(v) / len(v)) for v in zip(*runs) if sum(v) > 0]
    return max(spreads, default=0.0)


def param_pass_seconds(params, device, repeats: int = 5) -> float:
    """Seconds of one fused elementwise pass over tensors shaped like ``params`` (``out +=
    a * b``: three read, one written), the best of ``repeats``: the unit a quadratic
    penalty's value and gradient, or a path-integral update, cost at the least."""
    import torch

    shapes = [p.shape for p in params]
    out, a, b = ([torch.rand(s, device=device) for s in shapes] for _ in range(3))
    torch._foreach_addcmul_(out, a, b)  # warm-up
    return min(timings(device, repeats, lambda: torch._foreach_addcmul_(out, a, b)))


def flatness(per_experience: list[float]) -> Optional[float]:
    """Spread of the relative cost from the second to the last experience: max / min - 1.

    ``None`` with fewer than two experiences after the first (nothing to compare).
    """
    later = per_experience[1:]
    if len(later) < 2 or min(later) <= 0:
        return None
    return max(later) / min(later) - 1
