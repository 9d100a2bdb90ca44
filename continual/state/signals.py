"""Stop requests (Ctrl-C, SIGTERM) that land at a point from which the run can resume."""
from __future__ import annotations

import contextlib
import signal
import threading


class Terminated(KeyboardInterrupt):
    """SIGTERM turned into an exception, so the run stops the way Ctrl-C stops it."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def raise_terminated(signum, frame):
    """SIGTERM handler (the CLI's and each ``--jobs`` worker's): stop as Ctrl-C stops."""
    raise Terminated(signum)


@contextlib.contextmanager
def sigterm_stops():
    """SIGTERM raises :class:`Terminated` while the context is open (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def signals_deferred():
    """Hold SIGINT/SIGTERM while a checkpoint or the results are written, so a stop request
    lands just after the write instead of throwing it away."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
