"""The step clock: a resumed run still reports what every step cost."""

from __future__ import annotations

import json
import time
from pathlib import Path

from mscc_desktop.training.timing import Clock, cpu_seconds


def test_a_ledger_keeps_the_cost_of_steps_an_earlier_process_ran(tmp_path: Path) -> None:
    ledger = tmp_path / "steps.json"
    first = Clock(ledger=ledger)
    first.run("fold0 detector", lambda: time.sleep(0.05))
    # A new process (the run was interrupted) skips fold0 and runs fold1.
    resumed = Clock(ledger=ledger)
    resumed.run("fold1 detector", lambda: None)
    steps = resumed.steps()
    assert set(steps) == {"fold0 detector", "fold1 detector"}
    assert steps["fold0 detector"]["wall_s"] >= 0.05
    assert resumed.totals()["wall_s"] == round(
        steps["fold0 detector"]["wall_s"] + steps["fold1 detector"]["wall_s"], 1
    )
    assert json.loads(ledger.read_text()) == steps


def test_without_a_ledger_nothing_is_written_and_a_bad_ledger_is_replaced(tmp_path: Path) -> None:
    clock = Clock()
    clock.record("step", time.perf_counter(), cpu_seconds())
    assert list(tmp_path.iterdir()) == []
    ledger = tmp_path / "steps.json"
    ledger.write_text("{not json")
    clock = Clock(ledger=ledger)
    assert clock.steps() == {}
    clock.run("step", lambda: None)
    assert set(json.loads(ledger.read_text())) == {"step"}
