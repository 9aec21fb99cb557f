"""Wall-clock and CPU seconds of named steps (the recipe and the protocol report their cost)."""

from __future__ import annotations

import json
import logging
import resource
import time
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger(__name__)


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


class Clock:
    """Wall and CPU seconds of named steps.

    With a ``ledger`` (a JSON file), every step is also written there as it finishes and the
    steps recorded by earlier processes are read back: a run that was interrupted and resumed
    (its finished steps skipped) still reports what every step cost.
    """

    def __init__(self, ledger: Path | None = None) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.ledger = ledger
        if ledger is not None and ledger.exists():
            try:
                for name, step in json.loads(ledger.read_text()).items():
                    self.wall[name] = float(step["wall_s"])
                    self.cpu[name] = float(step["cpu_s"])
            except (ValueError, KeyError, TypeError, AttributeError):
                logger.warning("step ledger %s unreadable; starting a new one", ledger)

    def record(self, name: str, wall_start: float, cpu_start: float) -> None:
        """Record step ``name`` begun at ``wall_start`` (``time.perf_counter``) and
        ``cpu_start`` (:func:`cpu_seconds`), and print it."""
        self.wall[name] = round(time.perf_counter() - wall_start, 1)
        self.cpu[name] = round(cpu_seconds() - cpu_start, 1)
        print(f"=== {name} took {self.wall[name]:.0f} s (CPU {self.cpu[name]:.0f} s)", flush=True)
        if self.ledger is not None:
            self.ledger.parent.mkdir(parents=True, exist_ok=True)
            self.ledger.write_text(json.dumps(self.steps(), indent=1) + "\n")

    def run(self, name: str, action: Callable[[], None]) -> None:
        """Run ``action`` as step ``name``."""
        wall, cpu = time.perf_counter(), cpu_seconds()
        action()
        self.record(name, wall, cpu)

    def steps(self) -> dict[str, dict[str, float]]:
        return {name: {"wall_s": self.wall[name], "cpu_s": self.cpu[name]} for name in self.wall}

    def totals(self) -> dict[str, float]:
        """Wall and CPU seconds over every recorded step."""
        return {
            "wall_s": round(sum(self.wall.values()), 1),
            "cpu_s": round(sum(self.cpu.values()), 1),
        }
