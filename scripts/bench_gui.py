"""Benchmark the reading workstation: slice-step time and launch-to-usable-window time.

Usage::

    python scripts/bench_gui.py [--steps 300] [--slices 120] [--size 512] [--launches 5]

1. **Slice step**: the full main window (1600×950, findings shown, overlays on) on a
   ``slices``×``size``² phantom; one step = ``ViewerState.step_slice(1)`` followed by
   ``processEvents()`` until the three viewports have repainted (checked by counting paints).
   Reports the median and 95th percentile of wall time over ``--steps`` steps, and the median
   CPU time of the GUI thread per step (the work itself, less sensitive to other processes on
   a shared machine). The same run also times a
   lower bound: three bare pyqtgraph ImageItems (same data, pre-windowed uint8) in one plain
   widget with no overlays, strip, slider or docks — what the workstation's extras cost is
   the difference, measured on the same (shared, noisy) machine in the same run.
2. **Launch to usable window**: a fresh interpreter imports the app, builds and shows the main
   window and processes its first paint; the parent measures from ``Popen`` to the child's
   "ready" line. The child also reports which heavy libraries were imported by then
   (onnxruntime, torch, torchvision, reportlab, highdicom: none should be — the model loads
   afterwards on the inference thread, the reporting layer on the first export).

Runs offscreen (``QT_QPA_PLATFORM=offscreen``) unless a display is set. Targets: ≤ 10 ms per
slice step, ≤ 2 s to a usable window.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHILD = r"""
import atexit, os, shutil, sys, json, time, tempfile
from pathlib import Path
start = time.perf_counter()
from mscc_desktop.core.config import AppConfig
from mscc_desktop.gui.app import application, create_main_window
data = Path(tempfile.mkdtemp(prefix="mscc-bench-"))
atexit.register(shutil.rmtree, data, True)
config = AppConfig.default().with_changes(data_dir=data, db_path=data / "store.sqlite")
window = create_main_window(config, prepare_model=False)
window.show()
app = application()
app.processEvents()
window.viewer.viewports[0].viewport().repaint()
ready = time.perf_counter() - start
heavy = ("onnxruntime", "torch", "torchvision", "reportlab", "highdicom")
print(json.dumps({"ready_in_child_s": ready,
                  "deferred": [m for m in heavy if m not in sys.modules],
                  "imported": [m for m in heavy if m in sys.modules]}), flush=True)
window.close()
"""


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def use_pyqtgraph_int16_levels() -> None:
    """Alternative for comparison: let pyqtgraph window the int16 HU itself.

    Levels ``(lo, hi)`` with ``hi - lo = w - 1`` and ``lo`` half a grey step below
    ``c - 0.5 - (w - 1) / 2`` reproduce ``window_to_uint8`` (pyqtgraph truncates); pyqtgraph
    then builds a non-premultiplied ARGB32 image (its int16 path).
    """
    import pyqtgraph as pg

    from mscc_desktop.gui.image_item import HuImageItem

    def render(self: HuImageItem) -> None:
        window = self.window
        if window is not None:
            span = max(window.width - 1.0, 1e-6)
            lo = window.level - 0.5 - span / 2.0 - 0.5 * span / 255.0
            self.levels = (lo, lo + span)
        pg.ImageItem.render(self)

    HuImageItem.render = render  # type: ignore[method-assign]


def bench_steps(n_steps: int, n_slices: int, size: int) -> dict[str, float]:
    import pyqtgraph as pg
    from PySide6 import QtCore

    from mscc_desktop.core.config import AppConfig
    from mscc_desktop.core.windows import PAPER_WINDOWS, WindowPreset, window_to_uint8
    from mscc_desktop.gui.app import application, create_main_window
    from tests.gui.fakes import fake_findings, phantom_volume

    app = application()
    data = Path(tempfile.mkdtemp(prefix="mscc-bench-"))
    atexit.register(shutil.rmtree, data, True)
    config = AppConfig.default().with_changes(data_dir=data, db_path=data / "store.sqlite")
    qsettings = QtCore.QSettings(str(data / "s.ini"), QtCore.QSettings.Format.IniFormat)
    window = create_main_window(config, qsettings=qsettings, prepare_model=False)
    window.resize(1600, 950)
    window.show()
    app.processEvents()
    volume = phantom_volume(n_slices, size)
    state = window.state
    state.set_volume(volume)
    state.set_findings(fake_findings(volume))
    for _ in range(5):
        app.processEvents()

    painted = [0]
    for viewport in window.viewer.viewports:
        original = viewport.drawForeground

        def counted(painter, rect, _original=original):  # type: ignore[no-untyped-def]
            painted[0] += 1
            _original(painter, rect)

        viewport.drawForeground = counted  # type: ignore[method-assign]

    def one_step(target: int) -> tuple[float, float]:
        painted[0] = 0
        t0, c0 = time.perf_counter(), time.thread_time()
        state.set_slice(target)  # one slice away from the current one
        while painted[0] < 3:
            app.processEvents()
            if time.perf_counter() - t0 > 1.0:
                break
        return time.perf_counter() - t0, time.thread_time() - c0

    period = 2 * (n_slices - 1)  # down to the last slice and back up, one slice per step
    times: list[float] = []
    cpu: list[float] = []
    for i in range(1, n_steps + 21):
        phase = i % period
        elapsed, used = one_step(phase if phase < n_slices else period - phase)
        if i > 20:
            times.append(elapsed)
            cpu.append(used)
    window.close()

    # Lower bound: three bare ImageItems, same rendering path, nothing else on screen.
    widget = pg.GraphicsLayoutWidget()
    widget.resize(1300, 700)
    items = []
    for _ in range(3):
        view_box = widget.addViewBox(lockAspect=True, invertY=True)
        item = pg.ImageItem(axisOrder="row-major")
        view_box.addItem(item)
        items.append(item)
    widget.show()
    app.processEvents()
    base: list[float] = []
    hu = volume.hu
    window = PAPER_WINDOWS[WindowPreset.ABDOMEN]
    for i in range(n_steps // 2 + 10):
        t0 = time.perf_counter()
        for item in items:
            item.setImage(window_to_uint8(hu[i % n_slices], window), autoLevels=False)
        widget.viewport().repaint()
        if i >= 10:
            base.append(time.perf_counter() - t0)
    widget.close()
    return {
        "step_cpu_median_ms": statistics.median(cpu) * 1000,
        "step_median_ms": statistics.median(times) * 1000,
        "step_p95_ms": _percentile(times, 0.95) * 1000,
        "bare_images_median_ms": statistics.median(base) * 1000,
    }


def bench_launch(n_launches: int) -> dict[str, object]:
    ready: list[float] = []
    child: dict[str, object] = {}
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    for _ in range(n_launches):
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=ROOT,
            env=env,
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()
        ready.append(time.perf_counter() - t0)
        proc.wait(timeout=60)
        child = json.loads(line)
    return {
        "launch_median_s": statistics.median(ready),
        "launch_max_s": max(ready),
        "imported_before_ready": child.get("imported"),
        "deferred": child.get("deferred"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--slices", type=int, default=120)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--launches", type=int, default=5)
    parser.add_argument(
        "--render",
        choices=("grey8", "pyqtgraph-int16"),
        default="grey8",
        help="grey8: the app's path (window_to_uint8 → Grayscale8); pyqtgraph-int16: compare",
    )
    args = parser.parse_args()
    if args.render == "pyqtgraph-int16":
        use_pyqtgraph_int16_levels()
    import pyqtgraph
    import PySide6

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, PySide6 {PySide6.__version__}, "
        f"pyqtgraph {pyqtgraph.__version__}, QPA {os.environ['QT_QPA_PLATFORM']}, "
        f"load average {os.getloadavg()[0]:.1f} at start"
    )
    steps = bench_steps(args.steps, args.slices, args.size)
    print(
        f"slice step ({args.render}; 3 × {args.size}² viewports redrawn, full window): median "
        f"{steps['step_median_ms']:.2f} ms, p95 {steps['step_p95_ms']:.2f} ms, GUI-thread CPU "
        f"{steps['step_cpu_median_ms']:.2f} ms "
        f"(target ≤ 10 ms) | lower bound, 3 bare ImageItems: "
        f"{steps['bare_images_median_ms']:.2f} ms"
    )
    launch = bench_launch(args.launches)
    print(
        f"launch to usable window: median {launch['launch_median_s']:.2f} s, max "
        f"{launch['launch_max_s']:.2f} s over {args.launches} launches (target ≤ 2 s); "
        f"not imported before the window was usable: {launch['deferred']}; "
        f"imported: {launch['imported_before_ready']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
