"""The image layer of a viewport: HU windowed by core.windows, shown as an 8-bit grey image.

The viewports call :func:`~mscc_desktop.core.windows.window_to_uint8` — the very function
that prepares the networks' inputs — so the reader sees exactly the grey levels the model saw.
The result goes to Qt as a ``Format_Grayscale8`` image without a copy. It also costs less
GUI-thread CPU per slice step than letting pyqtgraph window the int16 data itself, whose
int16 path makes a non-premultiplied ARGB32 image: ``scripts/bench_gui.py --render grey8`` vs
``--render pyqtgraph-int16`` on the project's 2-core machine, three paired runs: 4.2–4.4 vs
5.2–6.7 ms per step for three 512² viewports in the full window.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyqtgraph as pg
from PySide6 import QtGui

from mscc_desktop.core.windows import Window, window_to_uint8


class HuImageItem(pg.ImageItem):  # type: ignore[misc]  # pyqtgraph is untyped (Any)
    """A pyqtgraph ImageItem holding one HU slice ``(row, col)`` and the window to show it in."""

    def __init__(self) -> None:
        super().__init__(axisOrder="row-major")
        self._window: Window | None = None
        self._grey: npt.NDArray[np.uint8] | None = None

    @property
    def window(self) -> Window | None:
        return self._window

    @property
    def grey(self) -> npt.NDArray[np.uint8] | None:
        """The grey levels on screen (``(row, col)`` uint8), after the last render."""
        return self._grey

    def show_slice(self, hu: npt.NDArray[np.generic], window: Window) -> None:
        """Show ``hu`` (a view into the volume; not copied) in ``window``."""
        self._window = window
        # Levels are only recorded for pyqtgraph's bookkeeping; render() below does the work.
        self.setImage(hu, autoLevels=False, levels=(window.lower_hu, window.upper_hu))

    def set_window(self, window: Window) -> None:
        """Re-window the shown slice (left-drag, preset keys)."""
        self._window = window
        self.setLevels((window.lower_hu, window.upper_hu))

    def render(self) -> None:
        if self.image is None or self._window is None:
            super().render()
            return
        rows, cols = self.image.shape[:2]
        if self._grey is None or self._grey.shape != (rows, cols):
            self._grey = np.empty((rows, cols), dtype=np.uint8)
        grey = window_to_uint8(self.image, self._window, out=self._grey)
        # The QImage shares ``self._grey``'s memory; it is replaced before the buffer changes.
        self.qimage = QtGui.QImage(
            grey.data, cols, rows, cols, QtGui.QImage.Format.Format_Grayscale8
        )
        self._renderRequired = False
        self._unrenderable = False
