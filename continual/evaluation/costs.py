"""Measured costs of a run (the memory side; wall seconds are timed by the loop)."""
from __future__ import annotations

import threading


class PeakMemory:
    """Peak resident memory of this process while the context is open (sampled every 20 ms)."""

    def __init__(self, interval: float = 0.02):
        self.interval = interval
        self.peak_bytes = 0

    def __enter__(self):
        import psutil

        self._process = psutil.Process()
        self.peak_bytes = self._process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(self.interval):
            self.peak_bytes = max(self.peak_bytes, self._process.memory_info().rss)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak_bytes = max(self.peak_bytes, self._process.memory_info().rss)

    @property
    def peak_mb(self) -> float:
        return self.peak_bytes / 2**20
