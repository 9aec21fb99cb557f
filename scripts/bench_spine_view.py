"""How long the workstation's spine view takes on the GUI thread (512 × 512 × 400 volume).

    python scripts/bench_spine_view.py [--slices 400] [--repeats 30]

Times, in a real :class:`~mscc_desktop.gui.spine_view.SpineView` of 480 × 900 pixels
(offscreen Qt), the work done when the reader scrolls one slice (the current-slice line
moves: one paint of the canvas, forced with ``grab()``), when the window is dragged (the
reformat windowed again and painted) and when the reformat is rebuilt (new volume,
centreline or plane: straight sagittal here, as before an analysis). Median milliseconds
after one warm-up.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_reformat import _volume
from PySide6 import QtCore

from mscc_desktop.core.windows import Window
from mscc_desktop.gui.app import application
from mscc_desktop.gui.spine_view import SpineView
from mscc_desktop.gui.state import ViewerState


class _NoLevels(QtCore.QObject):
    """What the view reads from SpineLevels, before any analysis."""

    centreline_changed = QtCore.Signal()
    levels_changed = QtCore.Signal()
    centreline = None
    status_text = ""

    def shown(self) -> None:
        return None


def _median_ms(work: Callable[[int], None], repeats: int) -> float:
    work(0)
    times = []
    for n in range(1, repeats + 1):
        start = time.perf_counter()
        work(n)
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    application()
    state = ViewerState()
    view = SpineView(state, _NoLevels())  # type: ignore[arg-type]
    view.resize(480, 900)
    view.show()
    state.set_volume(_volume(args.slices))
    canvas = view.canvas

    def scroll(n: int) -> None:
        state.set_slice(n % args.slices)
        canvas.grab()  # paints the widget (offscreen repaint() may skip it)

    def window(n: int) -> None:
        view.set_window(Window(200.0 + n, 100.0, "Spine"))
        canvas.grab()  # paints the widget (offscreen repaint() may skip it)

    def rebuild(_n: int) -> None:
        view.rebuild()
        canvas.grab()  # paints the widget (offscreen repaint() may skip it)

    rows = [
        ("scroll one slice (line moves, repaint)", scroll),
        ("window/level drag step (re-window, repaint)", window),
        ("rebuild (straight sagittal reformat, repaint)", rebuild),
    ]
    for name, work in rows:
        print(f"{name}: {_median_ms(work, args.repeats):.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
