"""Many runs: one after another in this process, or as Ray tasks (``--jobs N``, ``--ray-address``).

A run is identified by its folder, so a run is idempotent: a finished one is skipped, an
interrupted one resumes from its checkpoint. That makes each (stream, strategy, seed, order,
settings) run one Ray task that Ray may retry: a worker or node lost mid-run is retried
(``max_retries``) and the retry resumes from the run's last checkpoint, to the same numbers as an
uninterrupted run. Bad input (a ``UserError``) is an answer, not a failure: it is not retried, no
further run is dispatched, the running ones finish, and the command exits 2.

``--jobs N`` starts a local Ray instance with N run slots (no dashboard, a small object store,
its logs and sockets in the temporary folder, never in the results) and stops it at the end;
``--ray-address ADDR|auto`` joins a running cluster, whose nodes must all see ``--out`` (checked:
the driver writes a marker there that the first task must read). ``--cpus-per-run C`` is both a
run's torch threads (for runs one after another too) and its Ray CPU resource; ``--gpus-per-run``
its GPU share. Without ``--jobs`` and ``--ray-address`` no Ray starts, and a single run never does.

Ctrl-C or SIGTERM cancels the running tasks (each stops as a single run stops: the finished
experiences are in its checkpoint) and rerunning the command with ``--resume`` continues the grid.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from ..errors import UserError

#: seconds to wait for cancelled tasks to stop before the Ray instance is shut down
STOP_GRACE_SECONDS = 120.0
#: the object store of a local instance: tasks return metrics dicts, nothing large
OBJECT_STORE_BYTES = 80 * 2**20
MARKER_PREFIX = ".continual-shared-"


@dataclass
class ExecutorOptions:
    """How the runs of one command are executed (the ``--jobs`` family of flags)."""

    jobs: Optional[int] = None  # local Ray instance with this many run slots
    ray_address: Optional[str] = None  # join a cluster: an address or "auto"
    cpus_per_run: Optional[float] = None  # torch threads and Ray CPUs per run; None: fill the machine
    gpus_per_run: float = 0.0
    max_retries: int = 3

    def __post_init__(self):
        if self.jobs is not None and self.jobs < 1:
            raise UserError(f"--jobs must be at least 1, got {self.jobs}")
        if self.cpus_per_run is not None and self.cpus_per_run <= 0:
            raise UserError(f"--cpus-per-run must be positive, got {self.cpus_per_run:g}")
        if self.gpus_per_run < 0:
            raise UserError(f"--gpus-per-run must be 0 or more, got {self.gpus_per_run:g}")
        if self.max_retries < 0:
            raise UserError(f"--max-retries must be 0 or more, got {self.max_retries}")
        if self.jobs is not None and self.ray_address is not None:
            raise UserError("--jobs starts a local Ray instance and --ray-address joins a cluster: give one")

    @property
    def uses_ray(self) -> bool:
        return self.jobs is not None or self.ray_address is not None


def add_executor_flags(parser) -> None:
    """The ``--jobs`` family, shared by ``continual.run`` and ``continual.tune``."""
    group = parser.add_argument_group("many runs (Ray)")
    group.add_argument("--jobs", type=int, default=None, help="run N runs at once as tasks of a local Ray instance (no Ray without it)")
    group.add_argument("--ray-address", default=None, help="join a running Ray cluster (an address, or auto) instead; --out must be a folder every node sees")
    group.add_argument("--cpus-per-run", type=float, default=None, help="torch threads of each run, and its Ray CPU resource (default: the machine's cores shared out over --jobs)")
    group.add_argument("--gpus-per-run", type=float, default=0.0, help="GPUs per run as a Ray resource (fractions share a GPU)")
    group.add_argument("--max-retries", type=int, default=3, help="times Ray retries a run whose worker or node died (it resumes from its checkpoint)")


def options_from_args(args) -> ExecutorOptions:
    return ExecutorOptions(jobs=args.jobs, ray_address=args.ray_address, cpus_per_run=args.cpus_per_run,
                           gpus_per_run=args.gpus_per_run, max_retries=args.max_retries)


@dataclass
class Outcome:
    """What :func:`run_configs` gives back: the results in the configs' order (``None`` where a
    run did not finish), and the first problem."""

    results: list = field(default_factory=list)
    error: Optional[str] = None  # a UserError's message: exit 2
    crash: Optional[str] = None  # a run that failed for another reason (its worker died for good)


def cpus_for(options: ExecutorOptions, slots: int) -> float:
    """A run's CPUs: ``--cpus-per-run``, or this machine's cores shared out over ``slots``."""
    if options.cpus_per_run is not None:
        return options.cpus_per_run
    return max(1, (os.cpu_count() or 1) // max(1, slots))


def run_configs(configs: list, options: ExecutorOptions, *, describe: Callable, progress: bool) -> Outcome:
    """Run ``configs``: one after another in this process, or as Ray tasks."""
    if options.uses_ray and len(configs) > 1:
        from .ray_tasks import run_on_ray

        return run_on_ray(configs, options, describe=describe)
    return _one_after_another(configs, options, describe, progress)


def _one_after_another(configs: list, options: ExecutorOptions, describe: Callable, progress: bool) -> Outcome:
    import torch

    from .loop import run_experiment

    before = torch.get_num_threads()
    if options.cpus_per_run is not None:
        torch.set_num_threads(max(1, int(options.cpus_per_run)))
    outcome = Outcome()
    try:
        for config in configs:
            print(f"== {describe(config)}", file=sys.stderr)
            result = run_experiment(config, progress=progress)
            if not result.skipped:
                print(f"   wrote {result.run_dir}", file=sys.stderr)
            outcome.results.append(result)
    finally:  # the caller's process keeps its own thread count (a library call, or a test suite)
        torch.set_num_threads(before)
    return outcome


def ray_temp_dir() -> str:
    """Where a local Ray instance keeps its sockets and logs: the user's temporary folder (Unix
    socket paths are short, so not a cache folder deep in the home directory)."""
    return str(Path(tempfile.gettempdir()) / f"ray-continual-{os.getuid() if hasattr(os, 'getuid') else 'user'}")


def write_marker(out: str) -> Path:
    """A file in ``out`` that every task must see: the check that ``--out`` is shared."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / f"{MARKER_PREFIX}{uuid.uuid4().hex}"
    marker.write_text(f"written by the driver on {os.uname().nodename if hasattr(os, 'uname') else 'this host'} "
                      f"at {time.strftime('%Y-%m-%dT%H:%M:%S')}\n")
    return marker
