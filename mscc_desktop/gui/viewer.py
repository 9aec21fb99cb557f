"""The three synchronised viewports with the grade strip, the slice slider and the keyboard.

Keys (when the viewer has focus): Up/Down = previous/next slice, PgUp/PgDn = 10 slices,
Home/End = first/last slice, 1/2/3 = restore the Bone/Abdomen/Spine preset of that viewport,
0 = restore all three, F = fit. O (overlays) and K (key image) are window-wide actions of the
main window, so they also work from the findings panel.
"""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from mscc_desktop.core.grades import GROUP_ORDER
from mscc_desktop.core.notices import Severity
from mscc_desktop.core.windows import WindowPreset
from mscc_desktop.gui import theme
from mscc_desktop.gui.overlay_text import slice_position_text, window_text
from mscc_desktop.gui.slider import KeySliceSlider, SliderMarks
from mscc_desktop.gui.state import VIEWPORT_PRESETS, ViewerState
from mscc_desktop.gui.strip import GradeStrip
from mscc_desktop.gui.viewport import SliceViewport

PAGE_STEP = 10
KEY_HINT = (
    "wheel/↑↓ slice · left-drag W/L · middle-drag pan · right-drag zoom · double-click fit · "
    "1 2 3 / 0 presets · O overlays · K key image · S spine view"
)
_RANK = {group: rank for rank, group in enumerate(GROUP_ORDER)}


class ViewportPanel(QtWidgets.QWidget):
    """A viewport under a header naming its window preset and current numbers."""

    def __init__(
        self, state: ViewerState, preset: WindowPreset, number: int, parent: QtWidgets.QWidget
    ) -> None:
        super().__init__(parent)
        self.state = state
        self.preset = preset
        self._number = number
        self.header = QtWidgets.QLabel(self)
        self.header.setObjectName(f"viewport_header_{preset.value}")
        self.header.setStyleSheet(
            "QLabel { background: #151618; color: #E8E8E8; padding: 2px 6px; font-weight: 600; }"
        )
        self.viewport = SliceViewport(state, preset, self)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.header)
        layout.addWidget(self.viewport, 1)
        state.window_changed.connect(self._on_window_changed)
        self._on_window_changed(preset)

    def _on_window_changed(self, preset: WindowPreset) -> None:
        if preset is not self.preset:
            return
        window = self.state.window(preset)
        adjusted = "" if self.state.window_is_preset(preset) else "  (adjusted)"
        self.header.setText(
            f"{window.name}  ·  {window_text(window)}{adjusted}"
            f"  <span style='color:#8A8A8A'>[{self._number}]</span>"
        )


class ViewerWidget(QtWidgets.QWidget):
    """Bone, Abdomen and Spine viewports side by side, the grade strip and the slider."""

    def __init__(self, state: ViewerState, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)

        self.notice_banner = QtWidgets.QLabel(self)
        self.notice_banner.setWordWrap(True)
        self.notice_banner.setTextFormat(QtCore.Qt.TextFormat.PlainText)
        self.notice_banner.setStyleSheet(
            f"QLabel {{ background: #3A2A00; color: #FFE1A8; border-left: 4px solid "
            f"{theme.WARNING_COLOUR}; padding: 4px 8px; }}"
        )
        self.notice_banner.hide()

        self.panels = [
            ViewportPanel(state, preset, number, self)
            for number, preset in enumerate(VIEWPORT_PRESETS, start=1)
        ]
        self.viewports = [panel.viewport for panel in self.panels]
        for viewport in self.viewports:
            viewport.setFocusProxy(self)
        row = QtWidgets.QHBoxLayout()
        row.setSpacing(3)
        for panel in self.panels:
            row.addWidget(panel, 1)
        self._viewport_row = row

        self.strip = GradeStrip(state, self)
        self.slider = KeySliceSlider(self)
        self.position_label = QtWidgets.QLabel(self)
        self.position_label.setObjectName("slice_position")
        self.position_label.setStyleSheet("QLabel { font-weight: 600; }")
        hint = QtWidgets.QLabel(KEY_HINT, self)
        hint.setStyleSheet("QLabel { color: #8A8A8A; }")
        hint.setAlignment(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)
        info_row = QtWidgets.QHBoxLayout()
        info_row.setContentsMargins(6, 0, 6, 0)
        info_row.addWidget(self.position_label)
        info_row.addStretch(1)
        info_row.addWidget(hint)
        slider_row = QtWidgets.QHBoxLayout()
        slider_row.setContentsMargins(30, 0, 4, 0)  # the strip's y axis is 34 px wide
        slider_row.addWidget(self.slider, 1)
        self._align_timer = QtCore.QTimer(self)
        self._align_timer.setSingleShot(True)
        self._align_timer.setInterval(0)
        self._align_timer.timeout.connect(self._align_strip)

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(3)
        layout.addWidget(self.notice_banner)
        layout.addLayout(row, 1)
        layout.addLayout(info_row)
        layout.addWidget(self.strip)
        layout.addLayout(slider_row)

        self.slider.valueChanged.connect(self._on_slider_moved)
        state.volume_changed.connect(self._on_volume_changed)
        state.slice_changed.connect(self._on_slice_changed)
        state.findings_changed.connect(self._update_marks)
        state.key_images_changed.connect(self._update_marks)
        state.notices_changed.connect(self._on_notices_changed)
        self._on_volume_changed()

    def add_side_view(self, widget: QtWidgets.QWidget, stretch: int = 1) -> None:
        """A fourth view to the right of the three viewports (the spine reformat)."""
        self._viewport_row.addWidget(widget, stretch)

    # ---- state → widgets ----------------------------------------------------------------
    def _on_volume_changed(self) -> None:
        n = self.state.n_slices
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(n - 1, 0))
        self.slider.setValue(self.state.slice_index)
        self.slider.blockSignals(False)
        self.slider.setEnabled(n > 1)
        self._on_slice_changed(self.state.slice_index)
        self._align_timer.start()

    def _align_strip(self) -> None:
        """Line the strip's slices up with the slider's handle positions."""
        n = self.state.n_slices
        if n < 2:
            return

        def in_strip(value: int) -> float:
            point = QtCore.QPoint(round(self.slider.x_for_value(value)), 0)
            return float(self.strip.mapFrom(self, self.slider.mapTo(self, point)).x())

        self.strip.align_to(in_strip(0), in_strip(n - 1))

    def resizeEvent(self, ev: QtGui.QResizeEvent) -> None:
        super().resizeEvent(ev)
        self._align_timer.start()

    def showEvent(self, ev: QtGui.QShowEvent) -> None:
        super().showEvent(ev)
        self._align_timer.start()

    def _on_slice_changed(self, index: int) -> None:
        if self.slider.value() != index:
            self.slider.blockSignals(True)
            self.slider.setValue(index)
            self.slider.blockSignals(False)
        volume = self.state.volume
        self.position_label.setText("" if volume is None else slice_position_text(volume, index))

    def _update_marks(self) -> None:
        findings = self.state.findings
        lesions = () if findings is None else findings.lesions
        self.slider.set_marks(
            SliderMarks(
                lesion_ranges=tuple(
                    (les.first_slice, les.last_slice, les.group) for les in lesions
                ),
                ai_key_slices=tuple((les.key_slice, les.group) for les in lesions),
                reader_key_slices=tuple(sorted(self.state.key_images)),
            )
        )

    def _on_notices_changed(self) -> None:
        notices = [n for n in self.state.notices if n.severity is not Severity.INFO]
        if not notices:
            self.notice_banner.hide()
            return
        lines = [f"⚠ {n.message}" for n in notices[:3]]
        if len(notices) > 3:
            lines.append(f"… and {len(notices) - 3} more (see the findings panel)")
        self.notice_banner.setText("\n".join(lines))
        self.notice_banner.show()

    # ---- widgets → state ----------------------------------------------------------------
    def _on_slider_moved(self, value: int) -> None:
        self.state.set_slice(value)

    def keyPressEvent(self, ev: QtGui.QKeyEvent) -> None:
        key = QtCore.Qt.Key
        state = self.state
        steps = {
            key.Key_Up: -1,
            key.Key_Down: 1,
            key.Key_PageUp: -PAGE_STEP,
            key.Key_PageDown: PAGE_STEP,
        }
        presets = {key.Key_1: 0, key.Key_2: 1, key.Key_3: 2}
        k = key(ev.key())
        if k in steps:
            state.step_slice(steps[k])
        elif k == key.Key_Home:
            state.set_slice(0)
        elif k == key.Key_End:
            state.set_slice(state.n_slices - 1)
        elif k in presets:
            state.reset_window(VIEWPORT_PRESETS[presets[k]])
        elif k == key.Key_0:
            state.reset_window(None)
        elif k == key.Key_F:
            state.fit_view()
        else:
            super().keyPressEvent(ev)
            return
        ev.accept()

    def wheelEvent(self, ev: QtGui.QWheelEvent) -> None:
        # Wheel over the strip or slider row scrolls slices too (never zooms the strip).
        delta = ev.angleDelta().y()
        if delta:
            self.state.step_slice(-1 if delta > 0 else 1)
        ev.accept()
