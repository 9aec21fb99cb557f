"""Long reading sessions must not crash: thousands of slice steps in a child process.

PySide6 6.12.0 + pyqtgraph 0.14 on CPython 3.11 aborted after ~1,500 repaints ("Fatal Python
error: bool_dealloc"). Cause (see :mod:`mscc_desktop.gui.selfcheck`): 6.12.0 returns
borrowed references to ``True`` (``SignalInstance.emit``/``disconnect``) and ``None``
(overloaded void methods such as ``QTimer.start``), so each call drops a refcount until
CPython frees the singleton and aborts. With 6.12.0 this soak child aborts within 2,000 steps
("none_dealloc"). The project pins PySide6 < 6.12; these tests fail loudly if the pin is lost
or a similar leak appears.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mscc_desktop.gui.selfcheck import signal_emit_leaks_true, void_call_leaks_none

ROOT = Path(__file__).resolve().parents[2]


def run_soak(steps: int, timeout_s: float) -> dict[str, object]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-m", "tests.gui.soak_child", "--steps", str(steps)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=timeout_s,
    )
    tail = (proc.stderr or "")[-2000:]
    assert proc.returncode == 0, f"soak child died (exit {proc.returncode}) after:\n{tail}"
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"soak child printed no result:\n{proc.stdout[-2000:]}\n{tail}"
    return dict(json.loads(lines[-1]))


def test_qt_wrappers_keep_references_to_true_and_none(qapp) -> None:  # type: ignore[no-untyped-def]
    assert not signal_emit_leaks_true(256)
    assert not void_call_leaks_none(256)


def test_two_thousand_slice_steps_without_refcount_drift() -> None:
    result = run_soak(2_000, timeout_s=300)
    assert result["steps"] == 2_000
    # Every step emits several signals and repaints three viewports: a leak of one reference
    # per emit or per repaint would show as thousands here.
    assert abs(int(result["true_refcount_drift"])) <= 5, result
    # None is referenced by caches that legitimately grow a little; a defect loses one
    # reference per call, i.e. thousands here.
    assert abs(int(result["none_refcount_drift"])) <= 2_000 // 20, result


@pytest.mark.slow
def test_ten_thousand_slice_steps_survive() -> None:
    result = run_soak(10_000, timeout_s=900)
    assert result["steps"] == 10_000
    assert abs(int(result["true_refcount_drift"])) <= 5, result
    assert abs(int(result["none_refcount_drift"])) <= 10_000 // 20, result
