"""One axial viewport: a HU slice in one window, with reading-room mouse handling and overlays.

Mouse (reading-room conventions, overriding pyqtgraph's defaults): wheel = slice,
left-drag = window/level of this viewport only, middle-drag = pan, right-drag = zoom,
double-click = fit. Zoom and pan are shared through :class:`ViewerState`, so the three
viewports always show the same anatomy.

Drawing: the image is a :class:`~.image_item.HuImageItem` (HU windowed by
``core.windows.window_to_uint8``, the model's own windowing), placed with ``setRect`` in
millimetres so pixels are square on screen whatever the pixel spacing. Corner text,
orientation letters, the canal box and the slice's grade are painted in ``drawForeground`` in
device pixels: no scene items to relayout on every slice, and text stays the same size at any
zoom.
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from mscc_desktop.core.findings import SliceResult, Thresholds
from mscc_desktop.core.operating_point import graded_text
from mscc_desktop.core.volume import EdgeLetters, Volume, edge_letters
from mscc_desktop.core.windows import WindowPreset
from mscc_desktop.gui import theme
from mscc_desktop.gui.image_item import HuImageItem
from mscc_desktop.gui.overlay_text import CornerTexts, corner_texts
from mscc_desktop.gui.rendering import box_in_mm, clamp_window, image_size_mm
from mscc_desktop.gui.state import ViewerState

WHEEL_STEP = 120  # one notch of a standard mouse wheel (QWheelEvent angle delta)
ZOOM_PER_PIXEL = 0.01  # right-drag: 100 px up doubles-and-a-bit the magnification
WINDOW_DRAG_PIXELS = 300.0  # left-drag across 300 px changes width/level by one current width
EMPTY_HINT = "Open a study: File › Open folder (Ctrl+O), or drop a DICOM folder here"


class ReadingViewBox(pg.ViewBox):  # type: ignore[misc]  # pyqtgraph is untyped (Any)
    """A ViewBox that reports gestures instead of acting on them."""

    wheel_stepped = QtCore.Signal(int)  # +1 = next slice (towards the feet)
    window_dragged = QtCore.Signal(float, float)  # screen pixels moved (dx, dy)
    pan_dragged = QtCore.Signal(float, float)  # mm the image should follow (dx, dy)
    zoom_dragged = QtCore.Signal(float)  # multiplicative factor
    fit_requested = QtCore.Signal()

    def __init__(self) -> None:
        super().__init__(
            enableMenu=False, invertY=True, lockAspect=True, enableMouse=False, defaultPadding=0.0
        )
        self.disableAutoRange()
        self._wheel_rest = 0

    def wheelEvent(self, ev: QtWidgets.QGraphicsSceneWheelEvent, axis: object = None) -> None:
        # Accumulate high-resolution wheels and touchpads to whole notches.
        self._wheel_rest += ev.delta()
        steps = int(self._wheel_rest / WHEEL_STEP)
        if steps:
            self._wheel_rest -= steps * WHEEL_STEP
            self.wheel_stepped.emit(-steps)  # wheel towards the user = next slice
        ev.accept()

    def mouseClickEvent(self, ev: object) -> None:
        if ev.double():  # type: ignore[attr-defined]
            self.fit_requested.emit()
        ev.accept()  # type: ignore[attr-defined]  # no context menu on right click

    def mouseDragEvent(self, ev: object, axis: object = None) -> None:
        ev.accept()  # type: ignore[attr-defined]
        button = ev.button()  # type: ignore[attr-defined]
        delta = ev.screenPos() - ev.lastScreenPos()  # type: ignore[attr-defined]
        buttons = QtCore.Qt.MouseButton
        if button == buttons.LeftButton:
            self.window_dragged.emit(float(delta.x()), float(delta.y()))
        elif button == buttons.MiddleButton:
            here = self.mapToView(ev.pos())  # type: ignore[attr-defined]
            before = self.mapToView(ev.lastPos())  # type: ignore[attr-defined]
            self.pan_dragged.emit(float(here.x() - before.x()), float(here.y() - before.y()))
        elif button == buttons.RightButton:
            self.zoom_dragged.emit(math.exp(-float(delta.y()) * ZOOM_PER_PIXEL))


class SliceViewport(pg.GraphicsView):  # type: ignore[misc]  # pyqtgraph is untyped (Any)
    """The current slice in one of the three windows, bound to a :class:`ViewerState`."""

    def __init__(
        self, state: ViewerState, preset: WindowPreset, parent: QtWidgets.QWidget | None = None
    ) -> None:
        super().__init__(parent, background=theme.VIEWPORT_BACKGROUND)
        self.state = state
        self.preset = preset
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.ClickFocus)
        self.setMinimumSize(160, 160)
        # Bilinear interpolation when magnified, as on diagnostic viewers (blocky pixels at
        # 4x zoom distract from edges); costs ~0.2 ms per 512² frame.
        self.setRenderHint(QtGui.QPainter.RenderHint.SmoothPixmapTransform, True)
        self.view_box = ReadingViewBox()
        self.setCentralItem(self.view_box)
        self.image_item = HuImageItem()
        self.view_box.addItem(self.image_item)
        self._size_mm = (1.0, 1.0)
        self._corners: CornerTexts | None = None
        self._edges: EdgeLetters | None = None
        self._font = QtGui.QFont(self.font())
        self._font.setPointSizeF(max(8.5, self._font.pointSizeF()))
        self._bold = QtGui.QFont(self._font)
        self._bold.setBold(True)
        self._text_pen = QtGui.QPen(QtGui.QColor(theme.OVERLAY_TEXT_COLOUR))
        self._shadow_pen = QtGui.QPen(QtGui.QColor(theme.OVERLAY_SHADOW_COLOUR))

        vb = self.view_box
        vb.wheel_stepped.connect(state.step_slice)
        vb.window_dragged.connect(self._on_window_dragged)
        vb.pan_dragged.connect(lambda dx, dy: state.pan_by(-dx, -dy))
        vb.zoom_dragged.connect(state.zoom_by)
        vb.fit_requested.connect(state.fit_view)
        vb.sigResized.connect(self._apply_camera)
        state.volume_changed.connect(self._on_volume_changed)
        state.slice_changed.connect(self._on_slice_changed)
        state.window_changed.connect(self._on_window_changed)
        state.camera_changed.connect(self._apply_camera)
        for signal in (state.findings_changed, state.overlays_toggled, state.key_images_changed):
            signal.connect(self._refresh_overlays)
        self._on_volume_changed()

    # ---- state → view -------------------------------------------------------------------
    def _on_volume_changed(self) -> None:
        volume = self.state.volume
        if volume is None:
            self.image_item.clear()
            self._corners = self._edges = None
            self.viewport().update()
            return
        self._size_mm = image_size_mm(volume)
        self._edges = edge_letters(volume)
        self._show_slice(self.state.slice_index)
        self.image_item.setRect(QtCore.QRectF(0.0, 0.0, *self._size_mm))
        self._apply_camera()

    def _on_slice_changed(self, index: int) -> None:
        if self.state.volume is not None:
            self._show_slice(index)

    def _show_slice(self, index: int) -> None:
        volume = self.state.volume
        assert volume is not None
        window = self.state.window(self.preset)
        self.image_item.show_slice(volume.slice_hu(index), window)
        self._update_corner_text(volume, index)

    def _update_corner_text(self, volume: Volume, index: int) -> None:
        self._corners = corner_texts(volume, index, self.state.window(self.preset))
        self.scene().update()

    def _on_window_changed(self, preset: WindowPreset) -> None:
        volume = self.state.volume
        if preset is not self.preset or volume is None:
            return
        self.image_item.set_window(self.state.window(preset))
        self._update_corner_text(volume, self.state.slice_index)

    def _apply_camera(self) -> None:
        if self.state.volume is None:
            return
        width_mm, height_mm = self._size_mm
        zoom = self.state.zoom
        pan_x, pan_y = self.state.pan_mm
        visible_w, visible_h = width_mm / zoom, height_mm / zoom
        centre_x, centre_y = width_mm / 2.0 + pan_x, height_mm / 2.0 + pan_y
        self.view_box.setRange(
            QtCore.QRectF(
                centre_x - visible_w / 2.0, centre_y - visible_h / 2.0, visible_w, visible_h
            ),
            padding=0.0,
        )
        self.viewport().update()

    def _refresh_overlays(self, *_: object) -> None:
        self.viewport().update()

    # ---- gestures → state ---------------------------------------------------------------
    def _on_window_dragged(self, dx: float, dy: float) -> None:
        current = self.state.window(self.preset)
        # Sensitivity scales with the current width: fine control for narrow windows.
        step = max(current.width, 50.0) / WINDOW_DRAG_PIXELS
        self.state.set_window(
            self.preset, clamp_window(current.width + dx * step, current.level + dy * step)
        )

    def keyPressEvent(self, ev: QtGui.QKeyEvent) -> None:
        ev.ignore()  # keys belong to the viewer, not to pyqtgraph's scene

    # ---- painting -----------------------------------------------------------------------
    # Layout (device pixels): the four IHE corner blocks, each elided to just under half the
    # width so the orientation letters keep the centre of each edge; the slice's result and
    # the key-image badge under the top letter. Nothing but the box outline is drawn near the
    # canal: a label there would hide the vertebral body and epidural space being graded.
    def drawForeground(self, painter: QtGui.QPainter, rect: QtCore.QRectF) -> None:
        super().drawForeground(painter, rect)
        painter.save()
        painter.resetTransform()
        painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, True)
        area = QtCore.QRectF(self.viewport().rect()).adjusted(6, 4, -6, -4)
        if self.state.volume is None:
            painter.setFont(self._font)
            self._shadowed(painter, area, QtCore.Qt.AlignmentFlag.AlignCenter, EMPTY_HINT, True)
        else:
            top_rows = self._paint_corners(painter, area)
            self._paint_badges(painter, area, top_rows)
            if self.state.overlays_visible:
                self._paint_box(painter)
        painter.restore()

    def _shadowed(
        self,
        painter: QtGui.QPainter,
        area: QtCore.QRectF,
        flags: QtCore.Qt.AlignmentFlag,
        text: str,
        wrap: bool = False,
        colour: QtGui.QPen | None = None,
    ) -> None:
        """Text with a 1-px black shadow: readable on bright bone as well as on air."""
        all_flags = int(flags) | (int(QtCore.Qt.TextFlag.TextWordWrap) if wrap else 0)
        painter.setPen(self._shadow_pen)
        painter.drawText(area.translated(1, 1), all_flags, text)
        painter.setPen(colour or self._text_pen)
        painter.drawText(area, all_flags, text)

    def _block(self, painter: QtGui.QPainter, lines: tuple[str, ...], width: float) -> str:
        metrics = painter.fontMetrics()
        elide = QtCore.Qt.TextElideMode.ElideRight
        return "\n".join(metrics.elidedText(line, elide, int(width)) for line in lines)

    def _paint_corners(self, painter: QtGui.QPainter, area: QtCore.QRectF) -> int:
        """Draw corner text and edge letters; return the number of text rows at the top."""
        align = QtCore.Qt.AlignmentFlag
        painter.setFont(self._bold)
        letter_w = painter.fontMetrics().horizontalAdvance("WW")
        painter.setFont(self._font)
        half = area.width() / 2.0 - letter_w / 2.0 - 4.0
        corners = self._corners
        top_rows = 0
        if corners is not None:
            top_rows = max(len(corners.top_left), len(corners.top_right))
            for lines, flags in (
                (corners.top_left, align.AlignLeft | align.AlignTop),
                (corners.top_right, align.AlignRight | align.AlignTop),
                (corners.bottom_left, align.AlignLeft | align.AlignBottom),
                (corners.bottom_right, align.AlignRight | align.AlignBottom),
            ):
                self._shadowed(painter, area, flags, self._block(painter, lines, half))
        if self._edges is not None:
            painter.setFont(self._bold)
            edges = self._edges
            self._shadowed(painter, area, align.AlignLeft | align.AlignVCenter, edges.left)
            self._shadowed(painter, area, align.AlignRight | align.AlignVCenter, edges.right)
            self._shadowed(painter, area, align.AlignHCenter | align.AlignTop, edges.top)
            self._shadowed(painter, area, align.AlignHCenter | align.AlignBottom, edges.bottom)
        return top_rows

    def _paint_badges(self, painter: QtGui.QPainter, area: QtCore.QRectF, top_rows: int) -> None:
        """The slice's grade and probability, and the key-image mark, below the corner text."""
        align = QtCore.Qt.AlignmentFlag.AlignHCenter | QtCore.Qt.AlignmentFlag.AlignTop
        painter.setFont(self._bold)
        row_h = painter.fontMetrics().height()
        y = area.top() + row_h * max(top_rows, 1) + 2
        result = self.state.slice_result(self.state.slice_index)
        if self.state.overlays_visible and result is not None:
            colour = theme.group_colour(result.group) if result.box else theme.NOT_FOUND_COLOUR
            text = result_label(result, self.state.thresholds) if result.box else "canal not found"
            line = QtCore.QRectF(area.left(), y, area.width(), row_h)
            self._shadowed(painter, line, align, text, False, QtGui.QPen(QtGui.QColor(colour)))
            y += row_h
        if self.state.slice_index in self.state.key_images:
            pen = QtGui.QPen(QtGui.QColor(theme.KEY_IMAGE_COLOUR))
            line = QtCore.QRectF(area.left(), y, area.width(), row_h)
            self._shadowed(painter, line, align, "★ KEY IMAGE", False, pen)

    def _paint_box(self, painter: QtGui.QPainter) -> None:
        volume = self.state.volume
        result = self.state.slice_result(self.state.slice_index)
        if volume is None or result is None or result.box is None:
            return
        x_mm, y_mm, w_mm, h_mm = box_in_mm(result.box, volume)
        top_left = self.view_box.mapViewToDevice(QtCore.QPointF(x_mm, y_mm))
        bottom_right = self.view_box.mapViewToDevice(QtCore.QPointF(x_mm + w_mm, y_mm + h_mm))
        if top_left is None or bottom_right is None:
            return
        box = QtCore.QRectF(top_left, bottom_right).normalized()
        pen = QtGui.QPen(QtGui.QColor(theme.group_colour(result.group)), 2.0)
        pen.setCosmetic(True)
        painter.setPen(pen)
        painter.setBrush(QtCore.Qt.BrushStyle.NoBrush)
        # Just outside the detector box, so the outline never covers canal pixels.
        painter.drawRect(box.adjusted(-2, -2, 2, 2))


def result_label(result: SliceResult, thresholds: Thresholds) -> str:
    """The slice's grade and the probability its call rests on, beside the cut-off of that
    call, e.g. ``"High grade · P(high) 0.27 (cut-off 0.08)"``."""
    return graded_text(result, thresholds, compact=True)
