"""Child process of the soak test: step through slices many times, repainting every viewport.

Prints one JSON line: steps done, refcount drift of ``True`` and ``None``, PySide6 version. Run in a
subprocess so that an abort ("Fatal Python error: bool_dealloc", see
:mod:`mscc_desktop.gui.selfcheck`) is reported as a failed test instead of killing pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--size", type=int, default=192)
    args = parser.parse_args()

    import PySide6

    from mscc_desktop.gui.app import application
    from mscc_desktop.gui.state import ViewerState
    from mscc_desktop.gui.viewer import ViewerWidget
    from tests.gui.fakes import fake_findings, phantom_volume

    app = application()
    state = ViewerState()
    viewer = ViewerWidget(state)
    viewer.resize(900, 420)
    viewer.show()
    app.processEvents()
    n_slices = 60
    volume = phantom_volume(n_slices, args.size)
    state.set_volume(volume)
    state.set_findings(fake_findings(volume))
    period = 2 * (n_slices - 1)

    def step(i: int) -> None:
        phase = i % period
        state.set_slice(phase if phase < n_slices else period - phase)
        for viewport in viewer.viewports:  # a real, synchronous repaint of each viewport
            viewport.viewport().repaint()
        if i % 50 == 0:
            viewer.strip.viewport().repaint()
            app.processEvents()

    for i in range(50):  # warm-up: caches, lazily created objects
        step(i)
    before = sys.getrefcount(True)
    before_none = sys.getrefcount(None)
    done = 0
    for i in range(args.steps):
        step(i)
        done += 1
    result = {
        "steps": done,
        "true_refcount_drift": sys.getrefcount(True) - before,
        "none_refcount_drift": sys.getrefcount(None) - before_none,
        "pyside6": PySide6.__version__,
    }
    print(json.dumps(result), flush=True)
    viewer.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
