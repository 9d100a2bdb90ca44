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


def matmul_gflops(device, dtype, n: int = 1024, repeats: int = 5) -> float:
    """Dense matmul peak: the best GFLOP/s of ``repeats`` timings of four n x n products (2 n^3
    FLOPs each). The best, not the median: a peak is what the hardware can reach, and on a shared
    machine single timings can halve."""
    import torch

    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(2):
        a @ b

    def four_products():
        for _ in range(4):
            a @ b

    times = [t / 4 for t in timings(device, repeats, four_products)]
    return 2 * n**3 / min(times) / 1e9


def non_embedding_parameters(encoder) -> int:
    """Parameters outside the embeddings: the ones each token's forward and backward multiply by."""
    return sum(p.numel() for n, p in encoder.named_parameters() if "embeddings" not in n)


def run_to_run_noise(first: list[float], second: list[float]) -> float:
    """How far two runs of the same work differ, per experience: max |a - b| / mean(a, b)."""
    return max((abs(a - b) / ((a + b) / 2) for a, b in zip(first, second) if a + b > 0), default=0.0)


def flatness(per_experience: list[float]) -> Optional[float]:
    """Spread of the relative cost from the second to the last experience: max / min - 1.

    ``None`` with fewer than two experiences after the first (nothing to compare).
    """
    later = per_experience[1:]
    if len(later) < 2 or min(later) <= 0:
        return None
    return max(later) / min(later) - 1
