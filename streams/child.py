"""Run a data-extraction function in a Python process of its own and take back its value.

``simple-icd-10-cm`` parses the whole ICD-10-CM tabular list when it is imported and keeps the
tree for the life of the process: about 175 MB of Python objects, which freeing the module does
not give back to the system (the allocator keeps its fragmented arenas). A built-in stream needs
only the few MB of texts drawn from it. A child process imports the package, draws the texts,
hands them back pickled and exits, so a run, and every Ray worker, holds only the texts.
"""
from __future__ import annotations

import os
import pickle
import subprocess
import sys

from .base import DataError

_CHILD = (
    "import pickle, sys\n"
    "from importlib import import_module\n"
    "value = getattr(import_module(sys.argv[1]), sys.argv[2])()\n"
    "sys.stdout.buffer.write(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))\n"
)


def in_child(module: str, function: str, *, package: str):
    """``module.function()`` run by this interpreter in a child process; its value (which must
    pickle). The child sees this process's import path, so a source checkout works as an
    installed package does. A failure raises :class:`DataError` naming the child's last error
    line and ``package``, the distribution to reinstall."""
    path = [os.path.abspath(entry) if entry else os.getcwd() for entry in sys.path]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    done = subprocess.run([sys.executable, "-c", _CHILD, module, function], capture_output=True, env=env)
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines() or [f"exit code {done.returncode}"]
        raise DataError(f"reading {package} failed ({lines[-1]}): reinstall it with "
                        f"`pip install --force-reinstall {package}`")
    return pickle.loads(done.stdout)
