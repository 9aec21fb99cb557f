"""The grade strip: P(low) and P(high) along the slices, lesions shaded, click to jump.

The x axis is the slice number the reader sees (1-based, head first, as in the slider and the
corner text). Slices where the canal was not found have no probability and leave a gap.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from mscc_desktop.core.grades import GradeGroup
from mscc_desktop.gui import theme
from mscc_desktop.gui.state import ViewerState


class _StripViewBox(pg.ViewBox):  # type: ignore[misc]  # pyqtgraph is untyped (Any)
    """Click or drag anywhere on the strip to go to that slice."""

    slice_picked = QtCore.Signal(float)  # x in plot coordinates (slice number)

    def __init__(self) -> None:
        super().__init__(enableMenu=False, enableMouse=False, defaultPadding=0.0)

    def mouseClickEvent(self, ev: object) -> None:
        ev.accept()  # type: ignore[attr-defined]
        self.slice_picked.emit(float(self.mapToView(ev.pos()).x()))  # type: ignore[attr-defined]

    def mouseDragEvent(self, ev: object, axis: object = None) -> None:
        ev.accept()  # type: ignore[attr-defined]
        self.slice_picked.emit(float(self.mapToView(ev.pos()).x()))  # type: ignore[attr-defined]

    def wheelEvent(self, ev: object, axis: object = None) -> None:
        ev.ignore()  # type: ignore[attr-defined]


class GradeStrip(pg.PlotWidget):  # type: ignore[misc]  # pyqtgraph is untyped (Any)
    """Per-slice P(low) and P(high) with the current slice marked; bound to a ViewerState."""

    def __init__(self, state: ViewerState, parent: QtWidgets.QWidget | None = None) -> None:
        self._view_box = _StripViewBox()
        super().__init__(parent, background=theme.PANEL_BACKGROUND, viewBox=self._view_box)
        self.state = state
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.setMinimumHeight(90)
        self.setMaximumHeight(150)
        plot = self.getPlotItem()
        plot.hideButtons()
        plot.setMenuEnabled(False)
        plot.showGrid(x=False, y=True, alpha=0.15)
        plot.setLabel("left", "P")
        plot.getAxis("left").setTicks([[(0.0, "0"), (0.5, ".5"), (1.0, "1")]])
        plot.getAxis("left").setWidth(34)
        plot.getAxis("bottom").setHeight(22)
        plot.setYRange(0.0, 1.12, padding=0.0)
        self._regions: list[pg.LinearRegionItem] = []
        self._low = plot.plot(pen=pg.mkPen(theme.GROUP_COLOURS[GradeGroup.LOW], width=1.5))
        self._high = plot.plot(pen=pg.mkPen(theme.GROUP_COLOURS[GradeGroup.HIGH], width=2.5))
        self._threshold = pg.InfiniteLine(
            angle=0,
            movable=False,
            pen=pg.mkPen("#9A9A9A", width=1, style=QtCore.Qt.PenStyle.DashLine),
        )
        plot.addItem(self._threshold)
        self._ai_keys = pg.ScatterPlotItem(symbol="t", size=11, pen=pg.mkPen(None))
        self._reader_keys = pg.ScatterPlotItem(
            symbol="star", size=12, pen=pg.mkPen(None), brush=pg.mkBrush(theme.KEY_IMAGE_COLOUR)
        )
        plot.addItem(self._ai_keys)
        plot.addItem(self._reader_keys)
        self._cursor = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#FFFFFF", width=1.5))
        plot.addItem(self._cursor)
        self._legend = pg.TextItem(anchor=(1, 0))
        self._set_legend(None)
        plot.addItem(self._legend, ignoreBounds=True)

        self._view_box.slice_picked.connect(self._on_picked)
        state.volume_changed.connect(self._on_volume_changed)
        state.findings_changed.connect(self._on_findings_changed)
        state.key_images_changed.connect(self._on_key_images_changed)
        state.slice_changed.connect(self._on_slice_changed)
        self._on_volume_changed()
        self._on_findings_changed()

    def _set_legend(self, cut_off: float | None) -> None:
        """The curves' names and, with findings shown, the high-grade cut-off's value."""
        high, low = theme.GROUP_COLOURS[GradeGroup.HIGH], theme.GROUP_COLOURS[GradeGroup.LOW]
        gap = "&nbsp;&nbsp;"
        line = "high-grade cut-off" if cut_off is None else f"high-grade cut-off {cut_off:.2f}"
        self._legend.setHtml(
            f"<span style='color:{high}'>━ P(high)</span>{gap}"
            f"<span style='color:{low}'>━ P(low)</span>{gap}"
            f"<span style='color:#9A9A9A'>┄ {line}</span>"
        )

    # ---- state → view -------------------------------------------------------------------
    def _on_volume_changed(self) -> None:
        n = max(self.state.n_slices, 1)
        self.getPlotItem().setXRange(0.5, n + 0.5, padding=0.0)
        self._legend.setPos(n + 0.5, 1.12)
        self._on_slice_changed(self.state.slice_index)

    def _on_slice_changed(self, index: int) -> None:
        self._cursor.setValue(index + 1)

    def _on_findings_changed(self) -> None:
        plot = self.getPlotItem()
        for region in self._regions:
            plot.removeItem(region)
        self._regions.clear()
        findings = self.state.findings
        if findings is None or not findings.slices:
            self._low.setData([], [])
            self._high.setData([], [])
            self._ai_keys.setData([], [])
            self._threshold.hide()
            self._set_legend(None)
            self._on_key_images_changed()
            return
        x = np.array([r.index + 1 for r in findings.slices], dtype=float)
        p_low = np.array(
            [r.p_low if r.probabilities is not None else np.nan for r in findings.slices]
        )
        p_high = np.array(
            [r.p_high if r.probabilities is not None else np.nan for r in findings.slices]
        )
        self._low.setData(x, p_low, connect="finite")
        self._high.setData(x, p_high, connect="finite")
        self._threshold.setValue(self.state.thresholds.high)
        self._threshold.show()
        self._set_legend(self.state.thresholds.high)
        spots = []
        for lesion in findings.lesions:
            colour = QtGui.QColor(theme.group_colour(lesion.group))
            fill = QtGui.QColor(colour)
            fill.setAlpha(60)
            region = pg.LinearRegionItem(
                values=(lesion.first_slice + 0.5, lesion.last_slice + 1.5),
                movable=False,
                brush=pg.mkBrush(fill),
                pen=pg.mkPen(None),
            )
            region.setZValue(-10)
            plot.addItem(region)
            self._regions.append(region)
            spots.append({"pos": (lesion.key_slice + 1, 1.06), "brush": pg.mkBrush(colour)})
        self._ai_keys.setData(spots)
        self._on_key_images_changed()

    def _on_key_images_changed(self) -> None:
        keys = sorted(self.state.key_images)
        self._reader_keys.setData([k + 1 for k in keys], [1.06] * len(keys))

    # ---- view → state -------------------------------------------------------------------
    def _on_picked(self, x: float) -> None:
        if self.state.n_slices:
            self.state.set_slice(round(x) - 1)

    def align_to(self, first_px: float, last_px: float) -> None:
        """Set the x range so slice 1 and slice N sit at these pixel columns of this widget.

        The viewer calls this with the slider's handle positions, so a slice's point on the
        strip is straight above the slider handle of that slice.
        """
        n = self.state.n_slices
        geometry = self._view_box.sceneBoundingRect()
        left = self.mapFromScene(geometry.topLeft()).x()
        width = geometry.width()
        if n < 2 or width <= 0 or last_px - first_px < 1:
            return
        per_slice = (last_px - first_px) / (n - 1)
        x_min = 1.0 - (first_px - left) / per_slice
        self.getPlotItem().setXRange(x_min, x_min + width / per_slice, padding=0.0)
        self._legend.setPos(x_min + width / per_slice, 1.12)

    def slice_to_widget_x(self, index: int) -> int:
        """Widget pixel column of slice ``index`` (used by tests to click on the strip)."""
        scene_point = self._view_box.mapViewToScene(QtCore.QPointF(index + 1, 0.5))
        return int(self.mapFromScene(scene_point).x())
