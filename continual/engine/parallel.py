"""Several runs at once: ``python -m continual.run --jobs N`` (strategies x seeds x orders).

Each of ``N`` worker processes (started with ``spawn``, so no torch state is forked) takes one
run at a time and calls :func:`continual.engine.loop.run_experiment` on it, with
``torch.set_num_threads(threads)``: the cores are shared out, not oversubscribed (2 cores and
``--jobs 2``: one thread per run). On a CPU the gain is what one process cannot use of its
threads (Python between kernels, small kernels that do not split well); on this repository's
2-core machine two one-thread runs at once did 1.27-1.33x the work of one two-thread run.

A run's results do not depend on where it ran, except through the thread count, which
``config.json`` records (``torch_threads``); reproducibility holds for the same thread count.

Stopping: the workers ignore SIGINT, and the parent turns Ctrl-C or SIGTERM into a SIGTERM to
every worker, which stops its run the way a SIGTERM stops a single run (each finished experience
is in the run's checkpoint, ``--resume`` continues). A run refused for bad input (``UserError``)
stops the dispatch of further runs; the runs already going finish, then the error is reported.
"""
from __future__ import annotations

import multiprocessing
import queue
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Optional

from ..errors import UserError, quiet_library_warnings

#: seconds the parent waits for a stopped worker to leave before killing it
STOP_GRACE_SECONDS = 120.0


def threads_per_job(jobs: int, available: Optional[int] = None) -> int:
    """Torch threads for each of ``jobs`` concurrent runs: the available threads shared out,
    at least one each (``available`` defaults to ``torch.get_num_threads()``)."""
    if available is None:
        import torch

        available = torch.get_num_threads()
    return max(1, available // max(1, jobs))


def _worker(worker_id: int, threads: int, tasks, reports) -> None:
    """A worker's life: take (index, config) from ``tasks`` until ``None``; report on ``reports``."""
    from ..state.signals import raise_terminated

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent coordinates the stop
    signal.signal(signal.SIGTERM, raise_terminated)
    try:
        import torch

        from .loop import run_experiment

        quiet_library_warnings()
        torch.set_num_threads(threads)
        while True:
            task = tasks.get()
            if task is None:
                return
            index, config = task
            reports.put(("started", worker_id, index, None))
            try:
                result = run_experiment(config, progress=False)
            except UserError as err:
                reports.put(("error", worker_id, index, str(err)))
            except KeyboardInterrupt:
                reports.put(("interrupted", worker_id, index, None))
                return
            except Exception:  # a bug: the parent prints this worker's traceback
                reports.put(("crashed", worker_id, index, traceback.format_exc()))
            else:
                reports.put(("finished", worker_id, index, result))
    except KeyboardInterrupt:  # stopped between runs (or while importing)
        return


@dataclass
class _Worker:
    process: multiprocessing.Process
    tasks: object
    index: Optional[int] = None  # the run it is working on


@dataclass
class ParallelOutcome:
    """What :func:`run_parallel` gives back: finished results in the configs' order (``None``
    where a run did not finish), and the first problem, if any."""

    results: list = field(default_factory=list)
    error: Optional[str] = None  # a UserError's message
    crash: Optional[str] = None  # a worker's traceback, or why a worker died


def run_parallel(configs: list, jobs: int, *, threads: Optional[int] = None, describe=str) -> ParallelOutcome:
    """Run ``configs`` in ``jobs`` worker processes; return when every dispatched run has ended.

    ``describe(config)`` names a run in the progress lines printed to stderr. An exception here
    (``KeyboardInterrupt`` from Ctrl-C, SIGTERM turned into one by the caller, or a fault) stops
    every worker with SIGTERM, waits for them, and is raised again.
    """
    context = multiprocessing.get_context("spawn")
    count = max(1, min(jobs, len(configs)))
    threads = threads_per_job(count) if threads is None else threads
    reports = context.Queue()
    workers: list[_Worker] = []
    pending = list(enumerate(configs))
    outcome = ParallelOutcome(results=[None] * len(configs))
    print(f"   {len(configs)} runs, {count} at a time, {threads} torch thread(s) each", file=sys.stderr)

    def dispatch(worker: _Worker) -> None:
        if pending and outcome.error is None and outcome.crash is None:
            index, config = pending.pop(0)
            worker.index = index
            worker.tasks.put((index, config))
        else:
            worker.index = None
            worker.tasks.put(None)

    try:
        for worker_id in range(count):
            tasks = context.Queue()
            process = context.Process(target=_worker, args=(worker_id, threads, tasks, reports),
                                      name=f"continual-job-{worker_id}")
            process.start()
            workers.append(_Worker(process, tasks))
            dispatch(workers[-1])
        while any(w.index is not None for w in workers):
            try:
                kind, worker_id, index, payload = reports.get(timeout=1.0)
            except queue.Empty:
                for worker in workers:
                    if worker.index is not None and not worker.process.is_alive():
                        outcome.crash = outcome.crash or (
                            f"the worker running {describe(configs[worker.index])} died (exit code "
                            f"{worker.process.exitcode}; out of memory? fewer --jobs need less); "
                            "its finished experiences are in the run's checkpoint: rerun with --resume")
                        worker.index = None
                continue
            worker = workers[worker_id]
            if kind == "started":
                print(f"== {describe(configs[index])} (job {worker_id + 1})", file=sys.stderr)
                continue
            if kind == "finished":
                outcome.results[index] = payload
                if not payload.skipped:
                    print(f"   wrote {payload.run_dir}", file=sys.stderr)
            elif kind == "error":
                outcome.error = outcome.error or payload
            elif kind == "crashed":
                outcome.crash = outcome.crash or payload
            elif kind == "interrupted":  # a worker stopped by someone else's SIGTERM
                worker.index = None
                raise KeyboardInterrupt
            dispatch(worker)
    except BaseException:  # Ctrl-C, SIGTERM, or a fault here: no worker goes on without a parent
        _stop(workers)
        raise
    finally:
        _join(workers, reports)
    return outcome


def _stop(workers: list[_Worker]) -> None:
    for worker in workers:
        if worker.process.is_alive():
            worker.process.terminate()  # SIGTERM: the run stops as a single run does


def _join(workers: list[_Worker], reports) -> None:
    """Wait for the workers to leave, reading what they still report (a worker cannot exit
    while its last report waits in a full pipe); kill the ones past the grace period."""
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while any(w.process.is_alive() for w in workers) and time.monotonic() < deadline:
        try:
            reports.get(timeout=0.2)
        except queue.Empty:
            pass
    for worker in workers:
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join()
