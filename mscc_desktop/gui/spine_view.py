"""The spine at a glance: a sagittal or coronal reformat beside the axial viewports.

The image comes from :mod:`mscc_desktop.core.spine.reformat` (true millimetre geometry from
the real slice positions): curved along the canal centreline when an analysis is shown, a
straight midline plane otherwise. Drawn over it: the current axial slice as a line (click or
drag anywhere on the view to move the axial views there; the wheel steps slices), each
finding as a band along the canal in its grade's colour (the strip's colour-blind-safe
colours, the finding's number beside it), the canal boxes' track as dots, and the vertebral
levels in the left margin: the reader's confirmed numbering, or the program's proposal in
italics with a "?". Rows without data (gaps, the edges of a tilted stack) are hatched, never
stretched, and the reformat's notices stand above the image.

Mouse: left click/drag = slice, right-drag = window/level of this view only, double-click =
spine window again. The view keeps its own window (the paper's spine window to start with).
"""

from __future__ import annotations

import logging
import math

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from mscc_desktop.core.errors import UnusableSeriesError
from mscc_desktop.core.findings import StudyFindings
from mscc_desktop.core.notices import Severity
from mscc_desktop.core.spine.reformat import Plane, Reformat, curved_reformat, straight_reformat
from mscc_desktop.core.windows import PAPER_WINDOWS, Window, WindowPreset
from mscc_desktop.gui import theme
from mscc_desktop.gui.level_confirm import ShownLevels, SpineLevels
from mscc_desktop.gui.overlay_text import window_text
from mscc_desktop.gui.rendering import clamp_window
from mscc_desktop.gui.state import ViewerState

logger = logging.getLogger(__name__)

LABEL_MARGIN = 46  # px left of the image for the level names
BAND_MARGIN = 26  # px right of the image for the findings' bars and numbers
CANAL_HALF_WIDTH_MM = 11.0  # half the width of a finding's band across the canal
ANTERIOR_MM = 120.0  # along the canal, the view shows this much in front of it (the bodies,
POSTERIOR_MM = 70.0  # the aorta) and this much behind: the spine fills the panel
NO_DATA_RGB = (58, 20, 66)  # dark purple: a gap is never mistaken for air or tissue
WINDOW_DRAG_PIXELS = 300.0
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
        return rect.top() + (row + 0.5) * rect.height() / self.view.image_hu.shape[0]

    def x_of_u(self, u: float) -> float:
        rect = self.image_rect()
        assert self.view is not None
        u0, u1 = self.u_range
        return rect.left() + (u - u0 + 0.5) * rect.width() / (u1 - u0)

    def row_of_y(self, y: float) -> float:
        rect = self.image_rect()
        assert self.view is not None
        return (y - rect.top()) * self.view.image_hu.shape[0] / max(rect.height(), 1.0) - 0.5

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


class SpineView(QtWidgets.QWidget):
    """Header (plane, curved or straight, window), warnings, and the reformat canvas."""

    def __init__(
        self, state: ViewerState, spine: SpineLevels, parent: QtWidgets.QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.state = state
        self.spine = spine
        self.window = PAPER_WINDOWS[WindowPreset.SPINE]
        self.plane = Plane.SAGITTAL
        self.view: Reformat | None = None
        self.setObjectName("spine_view")

        self.header = QtWidgets.QLabel(self)
        self.header.setObjectName("spine_header")
        self.header.setStyleSheet(
            "QLabel { background: #151618; color: #E8E8E8; padding: 2px 6px; font-weight: 600; }"
        )
        self.plane_box = QtWidgets.QComboBox(self)
        self.plane_box.addItem("Sagittal", Plane.SAGITTAL)
        self.plane_box.addItem("Coronal", Plane.CORONAL)
        self.plane_box.setToolTip("Sagittal or coronal reformat (Shift+S)")
        self.plane_box.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.plane_box.currentIndexChanged.connect(self._on_plane_box)
        self.warning = QtWidgets.QLabel(self)
        self.warning.setObjectName("spine_warning")
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet(
            f"QLabel {{ background: #3A2A00; color: #FFE1A8; border-left: 3px solid "
            f"{theme.WARNING_COLOUR}; padding: 2px 5px; }}"
        )
        self.warning.hide()
        self.levels_note = QtWidgets.QLabel(self)
        self.levels_note.setObjectName("spine_levels_note")
        self.levels_note.setWordWrap(True)
        self.levels_note.setStyleSheet("QLabel { color: #B0B0B0; padding: 1px 4px; }")
        self.canvas = ReformatCanvas(self)
        top = QtWidgets.QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.setSpacing(0)
        top.addWidget(self.header, 1)
        top.addWidget(self.plane_box)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(1)
        layout.addLayout(top)
        layout.addWidget(self.warning)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.levels_note)

        self.canvas.row_picked.connect(self._on_row_picked)
        self.canvas.window_dragged.connect(self._on_window_dragged)
        self.canvas.window_reset.connect(self.reset_window)
        self.canvas.wheel_stepped.connect(state.step_slice)
        state.volume_changed.connect(self.rebuild)
        state.slice_changed.connect(self._on_slice_changed)
        state.findings_changed.connect(self._update_overlays)
        spine.centreline_changed.connect(self.rebuild)
        spine.levels_changed.connect(self._update_levels)
        self.rebuild()

    # ---- public -------------------------------------------------------------------------
    def set_plane(self, plane: Plane) -> None:
        if plane is not self.plane:
            self.plane = plane
            self.plane_box.blockSignals(True)
            self.plane_box.setCurrentIndex(0 if plane is Plane.SAGITTAL else 1)
            self.plane_box.blockSignals(False)
            self.rebuild()

    def toggle_plane(self) -> None:
        self.set_plane(Plane.CORONAL if self.plane is Plane.SAGITTAL else Plane.SAGITTAL)

    def set_window(self, window: Window) -> None:
        named = Window(window.width, window.level, PAPER_WINDOWS[WindowPreset.SPINE].name)
        if named != self.window:
            self.window = named
            self.canvas.set_image(self.view, self.window, self.canvas.u_range)
            self._update_header()

    def reset_window(self) -> None:
        self.set_window(PAPER_WINDOWS[WindowPreset.SPINE])

    # ---- building -----------------------------------------------------------------------
    def rebuild(self) -> None:
        """Reformat the volume again (new volume, centreline or plane)."""
        volume = self.state.volume
        self.view = None
        if volume is not None and volume.n_slices >= 2:
            line = self.spine.centreline
            try:
                self.view = (
                    curved_reformat(volume, line, self.plane)
                    if line is not None
                    else straight_reformat(volume, self.plane)
                )
            except (ValueError, UnusableSeriesError) as error:
                logger.warning("no reformat: %s", error)
                self.canvas.placeholder = f"No {self.plane.value} view of this series: {error}"
        else:
            self.canvas.placeholder = (
                "Open a study to see the spine"
                if volume is None
                else "A sagittal view needs at least two slices."
            )
        self.canvas.set_image(self.view, self.window, self._crop())
        self._update_header()
        self._show_notices()
        self._update_overlays()
        self._on_slice_changed(self.state.slice_index)

    def _crop(self) -> tuple[int, int] | None:
        """Columns around the canal (in front of it more than behind), or all without one."""
        view, line = self.view, self.spine.centreline
        if view is None or line is None or not view.curved:
            return None
        sagittal = view.plane is Plane.SAGITTAL
        before, after = (ANTERIOR_MM, POSTERIOR_MM) if sagittal else (90.0, 90.0)
        u = self._canal_u(view, 0, line.rows_px.shape[0] - 1)
        step = view.u_spacing_mm
        return (int(np.floor(u - before / step)), int(np.ceil(u + after / step)) + 1)

    def _update_header(self) -> None:
        if self.view is None:
            self.header.setText(f"{self.plane.value.capitalize()}")
            return
        how = "curved along the canal" if self.view.curved else "straight, mid-image"
        if not self.view.curved and self.state.findings is not None:
            how = "straight (canal not found)"
        adjusted = (
            ""
            if (self.window.width, self.window.level)
            == (PAPER_WINDOWS[WindowPreset.SPINE].width, PAPER_WINDOWS[WindowPreset.SPINE].level)
            else " (adjusted)"
        )
        self.header.setText(
            f"{self.plane.value.capitalize()} · {how} · {window_text(self.window)}{adjusted}"
        )
        self.header.setToolTip(
            "Left click or drag: go to that slice · wheel: slices · right-drag: window/level "
            "of this view · double-click: spine window · S: hide · Shift+S: sagittal/coronal"
        )

    def _show_notices(self) -> None:
        notices = () if self.view is None else self.view.notices
        if not notices:
            self.warning.hide()
            return
        self.warning.setText(
            "\n".join(
                ("⚠ " if n.severity is not Severity.INFO else "ℹ ") + n.message for n in notices
            )
        )
        self.warning.show()

    def _update_overlays(self) -> None:
        view, findings = self.view, self.state.findings
        self.canvas.bands, self.canvas.track = [], []
        if view is not None and findings is not None:
            self.canvas.bands = self._bands(view, findings)
            self.canvas.track = self._track(view, findings)
        self._update_levels()

    def _canal_u(self, view: Reformat, first: int, last: int) -> float:
        """Where the canal runs across the plane over slices ``first..last`` (median)."""
        us = []
        line = self.spine.centreline
        for k in range(first, last + 1):
            if line is not None:
                us.append(view.from_axial(k, float(line.rows_px[k]), float(line.cols_px[k]))[1])
        if us:
            return float(np.median(us))
        return (view.image_hu.shape[1] - 1) / 2.0

    def _bands(
        self, view: Reformat, findings: StudyFindings
    ) -> list[tuple[float, float, float, str, str]]:
        bands = []
        for lesion in findings.lesions:
            top, bottom = view.grid.rows_of_z_range(lesion.z_to_mm, lesion.z_from_mm)
            u = self._canal_u(view, lesion.first_slice, lesion.last_slice)
            bands.append((top, bottom, u, theme.group_colour(lesion.group), str(lesion.number)))
        return bands

    def _track(self, view: Reformat, findings: StudyFindings) -> list[tuple[float, float, str]]:
        track = []
        for result in findings.slices:
            if result.box is None or result.index >= view.cut_px.shape[0]:
                continue
            col, row = result.box.centre
            r, u = view.from_axial(result.index, row, col)
            track.append((r, u, theme.group_colour(result.group)))
        return track

    def _update_levels(self) -> None:
        shown: ShownLevels | None = self.spine.shown()
        view = self.view
        self.canvas.labels = []
        self.canvas.labels_confirmed = bool(shown and shown.confirmed)
        if shown is not None and view is not None:
            self.canvas.labels = _spans(shown, view)
        note = self.spine.status_text
        self.levels_note.setText(note)
        self.levels_note.setToolTip(note)
        self.levels_note.setVisible(bool(note))
        self.canvas.update()

    # ---- interaction --------------------------------------------------------------------
    def _on_slice_changed(self, index: int) -> None:
        view = self.view
        if view is None or self.state.volume is None:
            self.canvas.current_row = None
        else:
            self.canvas.current_row = view.grid.row_of_slice(index)
        self.canvas.update()

    def _on_row_picked(self, row: float) -> None:
        if self.view is None:
            return
        index = self.view.slice_of_row(row)
        if index is not None:
            self.state.set_slice(index)

    def _on_window_dragged(self, dx: float, dy: float) -> None:
        w = self.window
        width = w.width * (1.0 + dx / WINDOW_DRAG_PIXELS)
        level = w.level - dy * w.width / WINDOW_DRAG_PIXELS
        self.set_window(clamp_window(width, level, w.name))

    def _on_plane_box(self, index: int) -> None:
        plane = self.plane_box.itemData(index)
        if isinstance(plane, Plane):
            self.set_plane(plane)
        else:
            self.set_plane(Plane(str(plane)))


def _spans(shown: ShownLevels, view: Reformat) -> list[tuple[float, float, str]]:
    """(top row, bottom row, name) of each run of slices with one level, head first."""
    grid = view.grid
    z = grid.slice_z_mm
    out: list[tuple[float, float, str]] = []
    n = len(shown.levels)
    k = 0
    while k < n:
        name = shown.levels[k]
        end = k
        while end + 1 < n and shown.levels[end + 1] == name:
            end += 1
        if name is not None:
            top = z[k] if k == 0 else 0.5 * (z[k - 1] + z[k])
            bottom = z[end] if end == n - 1 else 0.5 * (z[end] + z[end + 1])
            out.append((grid.row_of_z(float(top)), grid.row_of_z(float(bottom)), name))
        k = end + 1
    return out
