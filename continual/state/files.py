"""Files written so that a crash or kill never leaves a torn one: write a temporary file in the
same folder, flush it to disk, rename it over the target, then flush the folder entry."""
from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Callable, Optional

from ..errors import UserError


def atomic_write(path: Path, write: Callable[[io.IOBase], None], *, binary: bool = False,
                 private: bool = False) -> None:
    """Write through a temporary file in the same folder, then rename over ``path``: a reader
    (or a kill midway) sees the old file or the new one, never a torn one.

    ``private`` keeps the file readable by its owner only (mode 0600), for files that hold
    training data such as replay buffers; other files get the usual umask-derived mode.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    if not private:  # mkstemp makes 0600; results are shared like any other file
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"newline": "", "encoding": "utf-8"})) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        fsync_folder(path.parent)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def fsync_folder(folder: Path) -> None:
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


def write_json(path: Path, data: dict) -> None:
    """``data`` as indented JSON, written atomically."""
    atomic_write(path, lambda h: h.write(json.dumps(data, indent=2, sort_keys=False) + "\n"))


