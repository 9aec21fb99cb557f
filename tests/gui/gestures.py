"""Mouse gestures sent as real Qt events (QTest cannot hold a button during a move in Qt 6)."""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

Button = QtCore.Qt.MouseButton


def _send(
    widget: QtWidgets.QWidget,
    kind: QtCore.QEvent.Type,
    pos: QtCore.QPointF,
    button: Button,
    buttons: Button,
) -> None:
    global_pos = QtCore.QPointF(widget.mapToGlobal(pos.toPoint()))
    event = QtGui.QMouseEvent(
        kind, pos, global_pos, button, buttons, QtCore.Qt.KeyboardModifier.NoModifier
    )
    QtWidgets.QApplication.sendEvent(widget, event)


def drag(
    view: QtWidgets.QAbstractScrollArea,
    start: tuple[float, float],
    end: tuple[float, float],
    button: Button,
    steps: int = 8,
) -> None:
    """Press ``button`` at ``start``, move in ``steps`` to ``end``, release (viewport pixels)."""
    target = view.viewport()
    p0 = QtCore.QPointF(*start)
    p1 = QtCore.QPointF(*end)
    _send(target, QtCore.QEvent.Type.MouseButtonPress, p0, button, button)
    for i in range(1, steps + 1):
        p = p0 + (p1 - p0) * (i / steps)
        _send(target, QtCore.QEvent.Type.MouseMove, p, Button.NoButton, button)
    _send(target, QtCore.QEvent.Type.MouseButtonRelease, p1, button, Button.NoButton)


def click(
    view: QtWidgets.QAbstractScrollArea,
    pos: tuple[float, float],
    button: Button = Button.LeftButton,
    double: bool = False,
) -> None:
    target = view.viewport()
    p = QtCore.QPointF(*pos)
    _send(target, QtCore.QEvent.Type.MouseButtonPress, p, button, button)
    _send(target, QtCore.QEvent.Type.MouseButtonRelease, p, button, Button.NoButton)
    if double:
        _send(target, QtCore.QEvent.Type.MouseButtonDblClick, p, button, button)
        _send(target, QtCore.QEvent.Type.MouseButtonRelease, p, button, Button.NoButton)


def wheel(
    view: QtWidgets.QAbstractScrollArea, notches: int, pos: tuple[float, float] | None = None
) -> None:
    """Turn the wheel ``notches`` clicks (positive = away from the user)."""
    target = view.viewport()
    point = QtCore.QPointF(*pos) if pos else QtCore.QPointF(target.rect().center())
    event = QtGui.QWheelEvent(
        point,
        QtCore.QPointF(target.mapToGlobal(point.toPoint())),
        QtCore.QPoint(0, 0),
        QtCore.QPoint(0, 120 * notches),
        Button.NoButton,
        QtCore.Qt.KeyboardModifier.NoModifier,
        QtCore.Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QtWidgets.QApplication.sendEvent(target, event)
