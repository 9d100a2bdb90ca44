"""``python -m continual.bench --ray-overhead``: what running many runs on Ray costs and buys here.

Outside the benchmark's default run (the comparison alone takes two times the default
8-strategy command). Measures, in this order, alone on the machine:

- Ray's start-up and shutdown: a local instance as ``--jobs`` starts it;
- the per-task overhead: the round trip of an empty task (submit, schedule, run, return), the
  median of ``TASK_REPEATS`` after a warm-up;
- the default 8-strategy comparison (one seed) run one after another, then with ``--jobs 2
  --cpus-per-run 1``: wall seconds of each command, each in a process of its own, into a
  temporary folder.
"""
from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Sequence

#: the default comparison of the README: naive and the seven strategies it is read against
COMPARISON = ["naive", "ewc", "online-ewc", "si", "replay", "der", "lwf", "expanding-heads"]
TASK_REPEATS = 20


def _noop() -> int:
    return 0


def ray_overhead() -> dict:
    """Start-up, per-task and shutdown seconds of a local Ray instance with 2 slots."""
    import ray

    from ..engine.executor import OBJECT_STORE_BYTES, ray_temp_dir

    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=OBJECT_STORE_BYTES,
             _temp_dir=ray_temp_dir(), logging_level="ERROR", log_to_driver=False)
    startup = time.perf_counter() - start
    try:
        task = ray.remote(_noop).options(num_cpus=1)
        ray.get([task.remote() for _ in range(2)])  # workers started
        times = []
        for _ in range(TASK_REPEATS):
            begin = time.perf_counter()
            ray.get(task.remote())
            times.append(time.perf_counter() - begin)
    finally:
        begin = time.perf_counter()
        ray.shutdown()
        shutdown = time.perf_counter() - begin
    return {"startup_seconds": startup, "task_overhead_seconds": statistics.median(times),
            "task_overhead_max_seconds": max(times), "shutdown_seconds": shutdown}


def comparison_command(out: str, jobs: bool, extra: Sequence[str] = ()) -> list[str]:
    command = [sys.executable, "-m", "continual.run", "--strategy", ",".join(COMPARISON), "--no-progress",
               "--out", out]
    if jobs:
        command += ["--jobs", "2", "--cpus-per-run", "1"]
    return [*command, *extra]


def time_comparison(extra: Sequence[str] = ()) -> dict:
    """Wall seconds of the default comparison one after another and with ``--jobs 2``."""
    seconds = {}
    for name, jobs in (("one_after_another", False), ("jobs_2", True)):
        folder = tempfile.mkdtemp(prefix="continual-bench-ray-")
        try:
            begin = time.perf_counter()
            done = subprocess.run(comparison_command(folder, jobs, extra), capture_output=True, text=True)
            seconds[name] = time.perf_counter() - begin
            if done.returncode != 0:
                lines = done.stderr.strip().splitlines() or [f"exit code {done.returncode}"]
                return {"command": comparison_command("OUT", jobs, extra)[1:], "error": lines[-1]}
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    seconds["speedup"] = seconds["one_after_another"] / seconds["jobs_2"]
    seconds["strategies"] = list(COMPARISON)
    return seconds


def format_ray(r: dict) -> list[str]:
    """The table's lines for bench.json's ``ray`` object."""
    ray = r.get("ray")
    if not ray:
        return []
    o = ray["overhead"]
    lines = ["", f"{'Ray: start-up / shutdown of a local instance (s)':<46} {o['startup_seconds']:>12.2f}  / "
             f"{o['shutdown_seconds']:.2f}",
             f"{'Ray: per-task overhead, median (max) (s)':<46} {o['task_overhead_seconds']:>12.4f}  "
             f"({o['task_overhead_max_seconds']:.4f})"]
    comparison = ray.get("comparison")
    if comparison and "error" not in comparison:
        lines.append(f"{'default comparison, one after another (s)':<46} {comparison['one_after_another']:>12.0f}")
        lines.append(f"{'default comparison, --jobs 2 --cpus-per-run 1 (s)':<46} {comparison['jobs_2']:>12.0f}  "
                     f"speed-up {comparison['speedup']:.2f}")
    elif comparison:
        lines.append(f"default comparison failed: {comparison['error']}")
    return lines
