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
:class:`SpineView` decides what to show; :mod:`.reformat_canvas` paints it.
"""

from __future__ import annotations

import logging

import numpy as np
from PySide6 import QtCore, QtWidgets

from mscc_desktop.core.errors import UnusableSeriesError
from mscc_desktop.core.findings import StudyFindings
from mscc_desktop.core.notices import Severity
from mscc_desktop.core.spine.reformat import Plane, Reformat, curved_reformat, straight_reformat
from mscc_desktop.core.windows import PAPER_WINDOWS, Window, WindowPreset
from mscc_desktop.gui import theme
from mscc_desktop.gui.level_confirm import ShownLevels, SpineLevels
from mscc_desktop.gui.overlay_text import window_text
from mscc_desktop.gui.reformat_canvas import ReformatCanvas
from mscc_desktop.gui.rendering import clamp_window
from mscc_desktop.gui.state import ViewerState

logger = logging.getLogger(__name__)

ANTERIOR_MM = 120.0  # along the canal, the view shows this much in front of it (the bodies,
POSTERIOR_MM = 70.0  # the aorta) and this much behind: the spine fills the panel
WINDOW_DRAG_PIXELS = 300.0


class SpineView(QtWidgets.QWidget):
    """Header (plane, curved or straight, window), warnings, and the reformat canvas."""

    # The view's own display window. The name shadows QWidget.window() (the top-level widget)
    # for Python callers; kept because the tests read it, declared here so mypy types it.
    window: Window  # type: ignore[assignment]

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
        return (int(view.image_hu.shape[1]) - 1) / 2.0

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
