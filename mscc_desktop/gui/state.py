"""The viewer's view-model: what is shown, independent of any widget.

Widgets listen to :class:`ViewerState`'s past-tense signals and write back through its setters,
never to each other; that is what keeps the three viewports, the slider, the grade strip and
the findings panel in step (napari's model/view split, without its machinery).
"""

from __future__ import annotations

from collections.abc import Iterable

from PySide6 import QtCore

from mscc_desktop.core.findings import SliceResult, StudyFindings, Thresholds
from mscc_desktop.core.notices import Notice
from mscc_desktop.core.volume import Volume
from mscc_desktop.core.windows import PAPER_WINDOWS, WINDOW_ORDER, Window, WindowPreset

VIEWPORT_PRESETS: tuple[WindowPreset, ...] = WINDOW_ORDER
"""One viewport per paper window, left to right: Bone, Abdomen, Spine."""

MIN_ZOOM = 0.25
MAX_ZOOM = 16.0


class ViewerState(QtCore.QObject):
    """Current volume, slice, per-viewport windows, camera, findings and overlay switches.

    Signals
    -------
    volume_changed()
        A new volume (or none) is shown; everything else was reset with it.
    slice_changed(int)
        The current slice index (0-based, head first).
    window_changed(object)
        The :class:`WindowPreset` of the viewport whose window changed.
    camera_changed()
        Zoom or pan changed (shared by all viewports).
    findings_changed()
        Analysis results were set or cleared.
    overlays_toggled(bool)
        Result overlays were shown (True) or hidden.
    key_images_changed()
        The reader's key-image marks changed.
    notices_changed()
        The notices shown to the reader changed.
    """

    volume_changed = QtCore.Signal()
    slice_changed = QtCore.Signal(int)
    window_changed = QtCore.Signal(object)
    camera_changed = QtCore.Signal()
    findings_changed = QtCore.Signal()
    overlays_toggled = QtCore.Signal(bool)
    key_images_changed = QtCore.Signal()
    notices_changed = QtCore.Signal()

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._volume: Volume | None = None
        self._slice = 0
        self._windows: dict[WindowPreset, Window] = dict(PAPER_WINDOWS)
        self._zoom = 1.0
        self._pan_mm = (0.0, 0.0)
        self._findings: StudyFindings | None = None
        self._thresholds = Thresholds()
        self._by_index: dict[int, SliceResult] = {}
        self._overlays_visible = True
        self._key_images: frozenset[int] = frozenset()
        self._analysis_notices: tuple[Notice, ...] = ()
        self._folder_notices: tuple[Notice, ...] = ()

    # ---- volume -------------------------------------------------------------------------
    @property
    def volume(self) -> Volume | None:
        return self._volume

    @property
    def n_slices(self) -> int:
        return 0 if self._volume is None else self._volume.n_slices

    def set_volume(self, volume: Volume | None) -> None:
        """Show ``volume`` from its first (most superior) slice with the paper windows."""
        self._volume = volume
        self._slice = 0
        self._windows = dict(PAPER_WINDOWS)
        self._zoom, self._pan_mm = 1.0, (0.0, 0.0)
        self._findings, self._by_index = None, {}
        self._key_images = frozenset()
        self._analysis_notices = ()
        self.volume_changed.emit()
        self.findings_changed.emit()
        self.key_images_changed.emit()
        self.notices_changed.emit()
        self.slice_changed.emit(self._slice)

    def set_folder_notices(self, notices: Iterable[Notice]) -> None:
        """What the scan of the opened folder left out (kept while its series are shown)."""
        self._folder_notices = tuple(notices)
        self.notices_changed.emit()

    # ---- slice --------------------------------------------------------------------------
    @property
    def slice_index(self) -> int:
        return self._slice

    def set_slice(self, index: int) -> None:
        """Go to slice ``index`` (clamped to the volume); no signal when nothing changes."""
        if self._volume is None:
            return
        clamped = min(max(int(index), 0), self._volume.n_slices - 1)
        if clamped != self._slice:
            self._slice = clamped
            self.slice_changed.emit(clamped)

    def step_slice(self, delta: int) -> None:
        self.set_slice(self._slice + delta)

    # ---- windows ------------------------------------------------------------------------
    def window(self, preset: WindowPreset) -> Window:
        return self._windows[preset]

    def window_is_preset(self, preset: WindowPreset) -> bool:
        current, paper = self._windows[preset], PAPER_WINDOWS[preset]
        return (current.width, current.level) == (paper.width, paper.level)

    def set_window(self, preset: WindowPreset, window: Window) -> None:
        """Set the window of one viewport only (the others keep theirs)."""
        named = Window(window.width, window.level, PAPER_WINDOWS[preset].name)
        if named != self._windows[preset]:
            self._windows[preset] = named
            self.window_changed.emit(preset)

    def reset_window(self, preset: WindowPreset | None = None) -> None:
        """Restore the paper preset of one viewport, or of all when ``preset`` is None."""
        for each in VIEWPORT_PRESETS if preset is None else (preset,):
            self.set_window(each, PAPER_WINDOWS[each])

    # ---- camera (shared zoom and pan) ---------------------------------------------------
    @property
    def zoom(self) -> float:
        """Magnification relative to "whole slice fits the viewport" (1.0)."""
        return self._zoom

    @property
    def pan_mm(self) -> tuple[float, float]:
        """Offset of the view centre from the slice centre, in mm (x right, y down)."""
        return self._pan_mm

    def set_camera(self, zoom: float, pan_mm: tuple[float, float]) -> None:
        zoom = min(max(zoom, MIN_ZOOM), MAX_ZOOM)
        if (zoom, pan_mm) != (self._zoom, self._pan_mm):
            self._zoom, self._pan_mm = zoom, (float(pan_mm[0]), float(pan_mm[1]))
            self.camera_changed.emit()

    def zoom_by(self, factor: float) -> None:
        self.set_camera(self._zoom * factor, self._pan_mm)

    def pan_by(self, dx_mm: float, dy_mm: float) -> None:
        self.set_camera(self._zoom, (self._pan_mm[0] + dx_mm, self._pan_mm[1] + dy_mm))

    def fit_view(self) -> None:
        self.set_camera(1.0, (0.0, 0.0))

    # ---- findings -----------------------------------------------------------------------
    @property
    def findings(self) -> StudyFindings | None:
        return self._findings

    @property
    def thresholds(self) -> Thresholds:
        return self._thresholds

    def slice_result(self, index: int) -> SliceResult | None:
        return self._by_index.get(index)

    def set_findings(
        self,
        findings: StudyFindings | None,
        *,
        thresholds: Thresholds | None = None,
        notices: Iterable[Notice] = (),
    ) -> None:
        """Show analysis results (or clear them with ``None``) and the analysis' notices."""
        self._findings = findings
        self._thresholds = thresholds or Thresholds()
        self._by_index = {} if findings is None else {r.index: r for r in findings.slices}
        self._analysis_notices = tuple(notices)
        self.findings_changed.emit()
        self.notices_changed.emit()

    # ---- overlays -----------------------------------------------------------------------
    @property
    def overlays_visible(self) -> bool:
        return self._overlays_visible

    def set_overlays_visible(self, visible: bool) -> None:
        if visible != self._overlays_visible:
            self._overlays_visible = visible
            self.overlays_toggled.emit(visible)

    def toggle_overlays(self) -> None:
        self.set_overlays_visible(not self._overlays_visible)

    # ---- key images ---------------------------------------------------------------------
    @property
    def key_images(self) -> frozenset[int]:
        """Slices the reader marked as key images."""
        return self._key_images

    def set_key_images(self, indices: Iterable[int]) -> None:
        new = frozenset(int(i) for i in indices)
        if new != self._key_images:
            self._key_images = new
            self.key_images_changed.emit()

    def toggle_key_image(self, index: int | None = None) -> bool:
        """Mark or unmark a slice (the current one by default); returns True if now marked."""
        target = self._slice if index is None else index
        marked = target not in self._key_images
        self.set_key_images(self._key_images | {target} if marked else self._key_images - {target})
        return marked

    # ---- notices ------------------------------------------------------------------------
    @property
    def notices(self) -> tuple[Notice, ...]:
        """The opened folder's skipped files, the volume's loading notices, then the analysis'
        input-check warnings (deduplicated)."""
        own = () if self._volume is None else self._volume.notices
        seen: set[tuple[str, str]] = set()
        merged: list[Notice] = []
        for notice in (*self._folder_notices, *own, *self._analysis_notices):
            key = (notice.code.value, notice.message)
            if key not in seen:
                seen.add(key)
                merged.append(notice)
        return tuple(merged)
