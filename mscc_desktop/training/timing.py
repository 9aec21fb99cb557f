"""Wall-clock and CPU seconds of named steps (the recipe and the protocol report their cost)."""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


class Clock:
    """Wall and CPU seconds of named steps."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def record(self, name: str, wall_start: float, cpu_start: float) -> None:
        """Record step ``name`` begun at ``wall_start`` (``time.perf_counter``) and
        ``cpu_start`` (:func:`cpu_seconds`), and print it."""
        self.wall[name] = round(time.perf_counter() - wall_start, 1)
        self.cpu[name] = round(cpu_seconds() - cpu_start, 1)
        print(f"=== {name} took {self.wall[name]:.0f} s (CPU {self.cpu[name]:.0f} s)", flush=True)

    def run(self, name: str, action: Callable[[], None]) -> None:
        """Run ``action`` as step ``name``."""
        wall, cpu = time.perf_counter(), cpu_seconds()
        action()
        self.record(name, wall, cpu)

    def steps(self) -> dict[str, dict[str, float]]:
        return {name: {"wall_s": self.wall[name], "cpu_s": self.cpu[name]} for name in self.wall}
