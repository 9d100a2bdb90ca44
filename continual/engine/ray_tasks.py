"""The Ray side of :mod:`.executor`: start or join Ray, dispatch one task per run, report progress,
stop cleanly. Imported only when a command runs on Ray (``import ray`` takes a second)."""
from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from typing import Callable

from ..errors import UserError
from ..state.signals import Terminated
from .executor import (
    OBJECT_STORE_BYTES,
    STOP_GRACE_SECONDS,
    ExecutorOptions,
    Outcome,
    cpus_for,
    ray_temp_dir,
    write_marker,
)


def run_task(config, cpus: float, marker: str) -> dict:
    """One run, in a Ray worker: ``{"result": RunResult}`` or ``{"error": message}`` for bad
    input (returned, not raised, so that Ray does not retry it). Any other failure raises: the
    driver reports it; a dead worker or node makes Ray retry the task, which then resumes."""
    from pathlib import Path

    import torch

    from ..errors import quiet_library_warnings
    from .loop import run_experiment

    quiet_library_warnings()
    if marker and not Path(marker).is_file():
        return {"error": f"--out {config.out} is not shared with this Ray node ({Path(marker).name} written "
                         "by the driver is not there): give an --out on a file system every node mounts"}
    torch.set_num_threads(max(1, int(cpus)))
    if not config.control.overwrite:
        # a retry continues from the checkpoint its first attempt left; the driver's preflight
        # refused an interrupted folder the user did not ask to resume
        config.control.resume = True
    try:
        return {"result": run_experiment(config, progress=False)}
    except UserError as err:
        return {"error": str(err)}


def _connect(options: ExecutorOptions, cpus: float) -> None:
    """Start or join Ray, keeping this process's own SIGINT and SIGTERM handling (Ray's driver
    installs handlers that abort the process, which would leave the tasks running)."""
    import signal

    kept = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        _init(options, cpus)
    finally:
        for sig, handler in kept.items():
            if handler is not None:
                signal.signal(sig, handler)


def _init(options: ExecutorOptions, cpus: float) -> None:
    import ray

    if options.ray_address is not None:
        try:
            ray.init(address=options.ray_address, logging_level="ERROR", log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as err:
            raise UserError(f"cannot join the Ray cluster at {options.ray_address}: {str(err).splitlines()[0][:200]} "
                            "-- start one with `ray start --head`, or use --jobs N for a local instance") from None
        return
    ray.init(num_cpus=int(round(options.jobs * cpus)) or 1, num_gpus=_local_gpus(options),
             include_dashboard=False, object_store_memory=OBJECT_STORE_BYTES, _temp_dir=ray_temp_dir(),
             logging_level="ERROR", log_to_driver=False)


def _local_gpus(options: ExecutorOptions) -> int:
    import torch

    return torch.cuda.device_count() if options.gpus_per_run else 0


def _slots(options: ExecutorOptions, cpus: float) -> int:
    """How many runs fit at once: the local slots, or the cluster's CPUs (and GPUs) shared out."""
    import ray

    if options.jobs is not None:
        return options.jobs
    resources = ray.cluster_resources()
    slots = int(resources.get("CPU", 1) // cpus)
    if options.gpus_per_run:
        slots = min(slots, int(resources.get("GPU", 0) // options.gpus_per_run))
    return max(1, slots)


def run_on_ray(configs: list, options: ExecutorOptions, *, describe: Callable) -> Outcome:
    """Every config as a Ray task, at most as many at once as fit; see :mod:`.executor`."""
    import ray

    started = time.perf_counter()
    cpus = cpus_for(options, options.jobs or 1)
    _connect(options, cpus)
    marker = write_marker(configs[0].out) if options.ray_address is not None else None
    try:
        slots = _slots(options, cpus)
        print(f"   {len(configs)} runs on Ray, {slots} at a time, {cpus:g} CPU(s) each "
              f"(started in {time.perf_counter() - started:.1f} s)", file=sys.stderr)
        task = ray.remote(run_task).options(num_cpus=cpus, num_gpus=options.gpus_per_run,
                                           max_retries=options.max_retries, retry_exceptions=False)
        return _dispatch(configs, task, slots, cpus, str(marker) if marker else "", describe)
    finally:
        if marker is not None:
            marker.unlink(missing_ok=True)
        ray.shutdown()


def _dispatch(configs, task, slots: int, cpus: float, marker: str, describe: Callable) -> Outcome:
    outcome = Outcome(results=[None] * len(configs))
    pending, running = list(range(len(configs))), {}
    with _sigterm_remembered() as seen:
        try:
            _loop(configs, task, slots, cpus, marker, describe, outcome, pending, running)
        except BaseException as stop:  # Ctrl-C, SIGTERM: every running task stops at a resumable point
            _cancel(running)
            if seen and not isinstance(stop, Terminated):
                # Ray's waits turn the signal's exception into a plain KeyboardInterrupt
                raise Terminated(seen[0]) from None
            raise
    return outcome


@contextlib.contextmanager
def _sigterm_remembered():
    """SIGTERM raises :class:`Terminated` and is remembered (main thread only)."""
    seen: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield seen
        return

    def handler(signum, frame):
        seen.append(signum)
        raise Terminated(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield seen
    finally:
        signal.signal(signal.SIGTERM, previous)


def _loop(configs, task, slots, cpus, marker, describe, outcome: Outcome, pending: list, running: dict) -> None:
    """Keep up to ``slots`` tasks going until every config has ended or a problem stops the
    dispatch; ``running`` (task -> config index) is shared with the caller, who cancels it on a stop."""
    import ray

    failed = 0
    while pending or running:
        while pending and len(running) < slots and outcome.error is None and outcome.crash is None:
            index = pending.pop(0)
            running[task.remote(configs[index], cpus, marker)] = index
            print(f"== {describe(configs[index])}", file=sys.stderr)
        if not running:
            break
        ready, _ = ray.wait(list(running), num_returns=1, timeout=1.0)
        for ref in ready:
            index = running.pop(ref)
            failed += _collect(ref, index, configs, outcome, describe)
            done = sum(r is not None for r in outcome.results)
            print(f"   [{done} done, {len(running)} running, {len(pending)} queued, {failed} failed]",
                  file=sys.stderr)


def _collect(ref, index: int, configs, outcome: Outcome, describe: Callable) -> int:
    """Read one finished task into ``outcome``; returns 1 when it failed."""
    import ray
    from ray.exceptions import RayError

    try:
        answer = ray.get(ref)
    except RayError as err:  # its worker or node died for good (retries spent), or a bug
        first = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        outcome.crash = outcome.crash or (
            f"the run {describe(configs[index])} failed on Ray ({type(err).__name__}: {first}); its "
            "finished experiences are in the run's checkpoint: rerun with --resume")
        return 1
    if "error" in answer:
        outcome.error = outcome.error or answer["error"]
        return 1
    result = answer["result"]
    outcome.results[index] = result
    if not result.skipped:
        print(f"   wrote {result.run_dir}", file=sys.stderr)
    return 0


def _cancel(running: dict) -> None:
    """Interrupt every running task (a KeyboardInterrupt in it: the run stops as Ctrl-C stops
    a single run) and wait for them to end."""
    import ray

    for ref in running:
        ray.cancel(ref, force=False)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    left = list(running)
    while left and time.monotonic() < deadline:
        _, left = ray.wait(left, num_returns=len(left), timeout=1.0)
