"""The spine view's image: a reformat painted with its slice line, findings, track and levels.

:class:`ReformatCanvas` draws what :class:`~.spine_view.SpineView` gives it (a
:class:`~mscc_desktop.core.spine.reformat.Reformat`, bands, track points, level spans) with
QPainter in true millimetre proportions, and reports the reader's gestures as signals: a left
click or drag as the reformat row under the mouse, a right-drag as window/level, a
double-click as "spine window again", the wheel as slice steps. No geometry of its own beyond
mapping rows and columns to the widget.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from mscc_desktop.core.spine.reformat import Reformat
from mscc_desktop.core.windows import Window
from mscc_desktop.gui import theme

LABEL_MARGIN = 46  # px left of the image for the level names
BAND_MARGIN = 26  # px right of the image for the findings' bars and numbers
CANAL_HALF_WIDTH_MM = 11.0  # half the width of a finding's band across the canal
NO_DATA_RGB = (58, 20, 66)  # dark purple: a gap is never mistaken for air or tissue
LINE_COLOUR = "#FFFFFF"
PROPOSED_COLOUR = "#B8B8B8"
CONFIRMED_COLOUR = theme.OKABE_ITO["sky_blue"]


def reformat_rgb(view: Reformat, window: Window) -> np.ndarray:
    """``(row, u, 4)`` uint8 BGRA of the reformat in ``window``, no-data rows hatched purple."""
    grey = view.to_uint8(window)
    out = np.empty((*grey.shape, 4), dtype=np.uint8)
    out[..., 0] = out[..., 1] = out[..., 2] = grey
    out[..., 3] = 255
    missing = view.no_data
    if missing.any():
        rows, cols = np.nonzero(missing)
        stripe = ((rows + cols) // 4) % 2 == 0
        colour = np.array([NO_DATA_RGB[2], NO_DATA_RGB[1], NO_DATA_RGB[0], 255], np.uint8)
        darker = (colour * np.array([0.6, 0.6, 0.6, 1.0])).astype(np.uint8)
        out[rows, cols] = np.where(stripe[:, None], colour, darker)
    return out


class ReformatCanvas(QtWidgets.QWidget):
    """Paints one :class:`Reformat` with the slice line, findings, canal track and levels."""

    row_picked = QtCore.Signal(float)  # fractional reformat row under a left click or drag
    window_dragged = QtCore.Signal(float, float)
    window_reset = QtCore.Signal()
    wheel_stepped = QtCore.Signal(int)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(180, 240)
        self.setMouseTracking(False)
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.view: Reformat | None = None
        self.u_range = (0, 1)  # the columns of the reformat shown (a crop around the canal)
        self._image: QtGui.QImage | None = None
        self._buffer: np.ndarray | None = None
        self.current_row: float | None = None
        self.bands: list[tuple[float, float, float, str, str]] = []  # top, bottom, u, colour, text
        self.track: list[tuple[float, float, str]] = []  # row, u, colour
        self.labels: list[tuple[float, float, str]] = []  # top row, bottom row, name
        self.labels_confirmed = False
        self.placeholder = ""
        self._last_drag: QtCore.QPointF | None = None

    # ---- content ------------------------------------------------------------------------
    def set_image(
        self, view: Reformat | None, window: Window, u_range: tuple[int, int] | None = None
    ) -> None:
        """Show ``view`` in ``window``, its columns ``u_range`` only (all by default)."""
        self.view = view
        if view is None:
            self._image = self._buffer = None
        else:
            n_u = view.image_hu.shape[1]
            if u_range is not None:
                self.u_range = (max(0, u_range[0]), min(n_u, u_range[1]))
            if u_range is None or self.u_range[1] - self.u_range[0] < 2:
                self.u_range = (0, n_u)
            u0, u1 = self.u_range
            self._buffer = np.ascontiguousarray(reformat_rgb(view, window)[:, u0:u1])
            h, w = self._buffer.shape[:2]
            self._image = QtGui.QImage(
                self._buffer.data, w, h, 4 * w, QtGui.QImage.Format.Format_ARGB32
            )
        self.update()

    # ---- geometry -----------------------------------------------------------------------
    def image_rect(self) -> QtCore.QRectF:
        """Where the image is drawn: true millimetre proportions, fitted and centred."""
        view = self.view
        avail = QtCore.QRectF(self.rect()).adjusted(LABEL_MARGIN, 4, -BAND_MARGIN, -4)
        if view is None or avail.width() <= 0 or avail.height() <= 0:
            return avail
        n_rows = view.image_hu.shape[0]
        n_u = self.u_range[1] - self.u_range[0]
        width_mm, height_mm = n_u * view.u_spacing_mm, n_rows * view.grid.step_mm
        scale = min(avail.width() / width_mm, avail.height() / height_mm)
        w, h = width_mm * scale, height_mm * scale
        return QtCore.QRectF(avail.left() + (avail.width() - w) / 2, avail.top(), w, h)

    def y_of_row(self, row: float) -> float:
        rect = self.image_rect()
        assert self.view is not None
        return rect.top() + (row + 0.5) * rect.height() / int(self.view.image_hu.shape[0])

    def x_of_u(self, u: float) -> float:
        rect = self.image_rect()
        assert self.view is not None
        u0, u1 = self.u_range
        return rect.left() + (u - u0 + 0.5) * rect.width() / (u1 - u0)

    def row_of_y(self, y: float) -> float:
        rect = self.image_rect()
        assert self.view is not None
        return (y - rect.top()) * int(self.view.image_hu.shape[0]) / max(rect.height(), 1.0) - 0.5

    # ---- painting -----------------------------------------------------------------------
    def paintEvent(self, ev: QtGui.QPaintEvent) -> None:
        painter = QtGui.QPainter(self)
        painter.fillRect(self.rect(), QtGui.QColor(theme.VIEWPORT_BACKGROUND))
        if self.view is None or self._image is None:
            painter.setPen(QtGui.QColor("#8A8A8A"))
            painter.drawText(
                self.rect().adjusted(8, 8, -8, -8),
                QtCore.Qt.AlignmentFlag.AlignCenter | QtCore.Qt.TextFlag.TextWordWrap,
                self.placeholder,
            )
            return
        painter.setRenderHint(QtGui.QPainter.RenderHint.SmoothPixmapTransform, True)
        painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, True)
        rect = self.image_rect()
        painter.drawImage(rect, self._image)
        self._paint_bands(painter, rect)
        self._paint_track(painter)
        self._paint_labels(painter, rect)
        self._paint_current(painter, rect)

    def _paint_bands(self, painter: QtGui.QPainter, rect: QtCore.QRectF) -> None:
        assert self.view is not None
        half = CANAL_HALF_WIDTH_MM / self.view.u_spacing_mm
        for top, bottom, u, colour, text in self.bands:
            y0, y1 = self.y_of_row(top), self.y_of_row(bottom)
            if y1 - y0 < 3:
                y0, y1 = (y0 + y1) / 2 - 1.5, (y0 + y1) / 2 + 1.5
            fill = QtGui.QColor(colour)
            fill.setAlpha(70)
            x0, x1 = self.x_of_u(u - half), self.x_of_u(u + half)
            band = QtCore.QRectF(x0, y0, x1 - x0, y1 - y0)
            painter.fillRect(band, fill)
            painter.setPen(QtGui.QPen(QtGui.QColor(colour), 2))
            painter.drawRect(band)
            bar = QtCore.QRectF(rect.right() + 4, y0, 6, y1 - y0)
            painter.fillRect(bar, QtGui.QColor(colour))
            painter.setPen(QtGui.QColor(colour))
            painter.drawText(QtCore.QPointF(rect.right() + 12, (y0 + y1) / 2 + 5), text)

    def _paint_track(self, painter: QtGui.QPainter) -> None:
        painter.setPen(QtCore.Qt.PenStyle.NoPen)
        for row, u, colour in self.track:
            painter.setBrush(QtGui.QColor(colour))
            painter.drawEllipse(QtCore.QPointF(self.x_of_u(u), self.y_of_row(row)), 1.8, 1.8)
        painter.setBrush(QtCore.Qt.BrushStyle.NoBrush)

    def _paint_labels(self, painter: QtGui.QPainter, rect: QtCore.QRectF) -> None:
        if not self.labels:
            return
        font = QtGui.QFont(self.font())
        font.setBold(self.labels_confirmed)
        font.setItalic(not self.labels_confirmed)
        painter.setFont(font)
        colour = QtGui.QColor(CONFIRMED_COLOUR if self.labels_confirmed else PROPOSED_COLOUR)
        metrics = QtGui.QFontMetricsF(font)
        last_text_y = -math.inf
        for top, bottom, name in self.labels:
            y_top, y_bottom = self.y_of_row(top), self.y_of_row(bottom)
            painter.setPen(QtGui.QPen(colour, 1))
            painter.drawLine(
                QtCore.QPointF(rect.left() - 9, y_top), QtCore.QPointF(rect.left() - 1, y_top)
            )
            y_text = max((y_top + y_bottom) / 2 + metrics.ascent() / 2 - 1, metrics.ascent())
            if y_text - last_text_y < metrics.height() * 0.9:
                continue  # short spans on a small view: keep the names legible
            text = name if self.labels_confirmed else f"{name}?"
            x_text = rect.left() - 12 - metrics.horizontalAdvance(text)
            painter.drawText(QtCore.QPointF(max(2.0, x_text), y_text), text)
            last_text_y = y_text

    def _paint_current(self, painter: QtGui.QPainter, rect: QtCore.QRectF) -> None:
        if self.current_row is None:
            return
        y = self.y_of_row(self.current_row)
        painter.setPen(QtGui.QPen(QtGui.QColor(LINE_COLOUR), 1.5))
        painter.drawLine(QtCore.QPointF(rect.left(), y), QtCore.QPointF(rect.right(), y))
        painter.setBrush(QtGui.QColor(LINE_COLOUR))
        handle = QtGui.QPolygonF(
            [
                QtCore.QPointF(rect.left() - 1, y),
                QtCore.QPointF(rect.left() - 8, y - 5),
                QtCore.QPointF(rect.left() - 8, y + 5),
            ]
        )
        painter.drawPolygon(handle)
        painter.setBrush(QtCore.Qt.BrushStyle.NoBrush)

    # ---- mouse --------------------------------------------------------------------------
    def mousePressEvent(self, ev: QtGui.QMouseEvent) -> None:
        if self.view is None:
            return
        if ev.button() == QtCore.Qt.MouseButton.LeftButton:
            self.row_picked.emit(self.row_of_y(ev.position().y()))
        self._last_drag = ev.position()
        ev.accept()

    def mouseMoveEvent(self, ev: QtGui.QMouseEvent) -> None:
        if self.view is None or self._last_drag is None:
            return
        buttons = ev.buttons()
        if buttons & QtCore.Qt.MouseButton.LeftButton:
            self.row_picked.emit(self.row_of_y(ev.position().y()))
        elif buttons & QtCore.Qt.MouseButton.RightButton:
            delta = ev.position() - self._last_drag
            self.window_dragged.emit(float(delta.x()), float(delta.y()))
        self._last_drag = ev.position()
        ev.accept()

    def mouseReleaseEvent(self, ev: QtGui.QMouseEvent) -> None:
        self._last_drag = None
        ev.accept()

    def mouseDoubleClickEvent(self, ev: QtGui.QMouseEvent) -> None:
        self.window_reset.emit()
        ev.accept()

    def wheelEvent(self, ev: QtGui.QWheelEvent) -> None:
        delta = ev.angleDelta().y()
        if delta:
            self.wheel_stepped.emit(-1 if delta > 0 else 1)
        ev.accept()

    def contextMenuEvent(self, ev: QtGui.QContextMenuEvent) -> None:
        ev.accept()  # right-drag is window/level here
