"""Is anything else running? The CPU time other processes take while the benchmark measures.

A timing on a shared machine measures the machine, not the code: two runs side by side on 2
cores each run at half speed or worse, and a ratio of two timings taken at different loads means
nothing. The load average cannot tell: it counts the benchmark's own threads. Linux's
``/proc/stat`` gives the CPU time all processes used, ``/proc/self/stat`` the benchmark's own
(its threads, and its children once they have ended); the difference over a phase, divided by
the phase's wall time, is how many cores others kept busy meanwhile.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Optional

#: others using more than this many cores on average during a phase make the machine busy: an
#: idle Linux machine's background stays near 0.05, one other single-threaded job reads 1.0
BUSY_CORES = 0.25
#: seconds of the idle probe before the first measurement
PROBE_SECONDS = 1.0


def _ticks_per_second() -> int:
    try:
        return os.sysconf("SC_CLK_TCK")
    except (AttributeError, ValueError, OSError):
        return 100


def _busy_ticks_all() -> Optional[int]:
    """CPU ticks every process used (user, nice, system, irq, softirq, steal), or None off Linux."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    values = [int(v) for v in fields[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (values + [0] * 8)[:8]
    return user + nice + system + irq + softirq + steal


def _own_ticks() -> Optional[int]:
    """CPU ticks of this process's threads and of its ended children."""
    try:
        with open("/proc/self/stat") as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # after the command name, which may hold spaces
    return sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime


@dataclass
class _Mark:
    wall: float
    all_ticks: Optional[int]
    own_ticks: Optional[int]

    @classmethod
    def now(cls) -> "_Mark":
        return cls(time.perf_counter(), _busy_ticks_all(), _own_ticks())


def other_cores(start: _Mark, end: _Mark, ticks_per_second: int) -> Optional[float]:
    """Cores other processes kept busy on average between two marks; None where unknown."""
    wall = end.wall - start.wall
    if None in (start.all_ticks, end.all_ticks, start.own_ticks, end.own_ticks) or wall <= 0:
        return None
    others = (end.all_ticks - start.all_ticks) - (end.own_ticks - start.own_ticks)
    return max(others, 0) / ticks_per_second / wall


@dataclass
class LoadMonitor:
    """Records, phase by phase, how many cores other processes used while the benchmark ran.

    ``probe()`` measures an idle second before anything starts; ``phase(name)`` closes the
    phase that ran since the previous call under ``name``. ``busy`` is True when any phase saw
    others use more than ``threshold`` cores, None where the platform cannot tell.
    """

    threshold: float = BUSY_CORES
    phases: dict = field(default_factory=dict)  # name -> cores used by others (None: unknown)
    _last: _Mark = field(default_factory=_Mark.now, repr=False)
    _tick: int = field(default_factory=_ticks_per_second, repr=False)

    def probe(self, seconds: float = PROBE_SECONDS) -> Optional[float]:
        self._last = _Mark.now()
        time.sleep(seconds)
        return self.phase("idle probe")

    def phase(self, name: str) -> Optional[float]:
        mark = _Mark.now()
        cores = other_cores(self._last, mark, self._tick)
        self.phases[name] = cores
        self._last = mark
        return cores

    def restart(self) -> None:
        """Start the next phase now (what ran since the last phase is not counted)."""
        self._last = _Mark.now()

    @property
    def busy(self) -> Optional[bool]:
        known = [v for v in self.phases.values() if v is not None]
        if not known:
            return None
        return max(known) > self.threshold

    def report(self) -> dict:
        """What bench.json holds: ``machine_busy`` and the load seen in each phase."""
        return {"machine_busy": self.busy,
                "machine_load": {"other_cores_by_phase": {k: None if v is None else round(v, 3)
                                                          for k, v in self.phases.items()},
                                 "busy_above_cores": self.threshold}}
