"""The slice slider, with lesions and key slices marked along its groove."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6 import QtCore, QtGui, QtWidgets

from mscc_desktop.core.grades import GradeGroup
from mscc_desktop.gui import theme


@dataclass(frozen=True, slots=True)
class SliderMarks:
    """What to draw on the groove; indices are 0-based slice indices."""

    lesion_ranges: tuple[tuple[int, int, GradeGroup], ...] = ()
    ai_key_slices: tuple[tuple[int, GradeGroup], ...] = ()
    reader_key_slices: tuple[int, ...] = ()


class KeySliceSlider(QtWidgets.QSlider):
    """A horizontal slider whose groove shows lesion ranges and key slices.

    Lesions are coloured bands under the groove, the model's key slice of each lesion a
    triangle in the lesion's colour, and slices the reader marked (K) a yellow tick above.
    """

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(QtCore.Qt.Orientation.Horizontal, parent)
        self._marks = SliderMarks()
        self.setMinimumHeight(30)
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)  # arrow keys belong to the viewer
        self.setPageStep(10)

    @property
    def marks(self) -> SliderMarks:
        return self._marks

    def set_marks(self, marks: SliderMarks) -> None:
        self._marks = marks
        self.update()

    def x_for_value(self, value: int) -> float:
        """Horizontal pixel centre of the handle at ``value`` (for painting and for tests)."""
        option = QtWidgets.QStyleOptionSlider()
        self.initStyleOption(option)
        style = self.style()
        control = QtWidgets.QStyle.ComplexControl.CC_Slider
        groove = style.subControlRect(
            control, option, QtWidgets.QStyle.SubControl.SC_SliderGroove, self
        )
        handle = style.subControlRect(
            control, option, QtWidgets.QStyle.SubControl.SC_SliderHandle, self
        )
        span = groove.width() - handle.width()
        position = QtWidgets.QStyle.sliderPositionFromValue(
            self.minimum(), self.maximum(), value, span
        )
        return float(groove.left() + position + handle.width() / 2.0)

    def paintEvent(self, ev: QtGui.QPaintEvent) -> None:
        super().paintEvent(ev)
        marks = self._marks
        if not (marks.lesion_ranges or marks.ai_key_slices or marks.reader_key_slices):
            return
        painter = QtGui.QPainter(self)
        painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, True)
        height = self.height()
        painter.setPen(QtCore.Qt.PenStyle.NoPen)
        for first, last, group in marks.lesion_ranges:
            x0 = self.x_for_value(first) - 2
            x1 = self.x_for_value(last) + 2
            painter.setBrush(QtGui.QColor(theme.group_colour(group)))
            painter.drawRect(QtCore.QRectF(x0, height - 5, max(x1 - x0, 4.0), 4))
        for index, group in marks.ai_key_slices:
            x = self.x_for_value(index)
            painter.setBrush(QtGui.QColor(theme.group_colour(group)))
            triangle = QtGui.QPolygonF(
                [
                    QtCore.QPointF(x - 5, height - 6),
                    QtCore.QPointF(x + 5, height - 6),
                    QtCore.QPointF(x, height - 13),
                ]
            )
            painter.drawPolygon(triangle)
        painter.setBrush(QtGui.QColor(theme.KEY_IMAGE_COLOUR))
        for index in marks.reader_key_slices:
            x = self.x_for_value(index)
            painter.drawRect(QtCore.QRectF(x - 1.5, 0, 3, 8))
        painter.end()
