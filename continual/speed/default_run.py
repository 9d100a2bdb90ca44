"""(g): the peak resident memory of a default run, measured in a process of its own."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

from .settings import BenchSettings


def default_run_command(settings: BenchSettings, out_dir: str, extra: Sequence[str] = ()) -> list[str]:
    """(g)'s command: the main job with its defaults, on the benchmark's model, device and
    precision, writing into ``out_dir``; ``extra`` arguments go last (tests shrink the run)."""
    command = [sys.executable, "-m", "continual.run", "--strategy", "ewc", "--no-progress", "--out", out_dir,
               "--device", settings.device, "--precision", settings.precision]
    if settings.model:
        command += ["--model", settings.model]
    return [*command, *extra]


def measure_default_run(settings: BenchSettings, extra: Sequence[str] = ()) -> dict:
    """Run (g) in a process of its own; its metrics.json gives the peak resident memory.

    A process of its own, so that nothing the benchmark loaded counts towards the peak. Returns
    ``command``, ``peak_rss_mb``, ``train_seconds`` and ``wall_seconds``, or ``command`` and
    ``error`` (the run's last line of stderr) when the run failed; nothing of it is kept.
    """
    folder = tempfile.mkdtemp(prefix="continual-bench-")
    try:
        command = default_run_command(settings, folder, extra)
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - start
        found = sorted(Path(folder).glob("*/*/seed-*/metrics.json"))
        if done.returncode != 0 or not found:
            lines = done.stderr.strip().splitlines() or [f"exit code {done.returncode}"]
            return {"command": command[1:], "error": lines[-1]}
        metrics = json.loads(found[0].read_text())
        return {"command": command[1:], "peak_rss_mb": metrics["peak_rss_mb"],
                "train_seconds": sum(metrics["train_seconds"]), "wall_seconds": wall}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
