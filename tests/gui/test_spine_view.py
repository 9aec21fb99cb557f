"""The spine reformat beside the axial views, and the reader's confirmation of the levels."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore

from mscc_desktop import storage
from mscc_desktop.core.notices import NoticeCode
from mscc_desktop.core.spine.centreline import Centreline
from mscc_desktop.core.spine.levels import LevelEstimate, LevelStatus
from mscc_desktop.core.spine.reformat import Plane
from mscc_desktop.core.vertebral_levels import VERTEBRAL_LEVELS
from mscc_desktop.core.volume import Volume
from mscc_desktop.gui import level_confirm, theme
from mscc_desktop.gui.main_window import MainWindow
from mscc_desktop.gui.reformat_canvas import reformat_rgb
from tests.gui.conftest import WindowFactory
from tests.gui.fakes import phantom_volume, write_phantom_study

Button = QtCore.Qt.MouseButton
Key = QtCore.Qt.Key
N_SLICES = 40


def open_and_analyse(window: MainWindow, qtbot, folder: Path) -> None:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(window.controller.series_opened, timeout=20_000):
        window.controller.open_path(folder)
    with qtbot.waitSignal(window.controller.analysis.finished, timeout=30_000):
        window.analyse_action.trigger()
    qtbot.waitUntil(lambda: not window.spine.levels.busy, timeout=10_000)


def proposed(volume: Volume, _line: Centreline, **_kwargs: object) -> LevelEstimate:
    """T1 on slices 0-7, T2 on 8-15, ... T5 on 32-39: what a good count would say."""
    return LevelEstimate(
        levels=tuple(VERTEBRAL_LEVELS[7 + k // 8] for k in range(volume.n_slices)),
        status=LevelStatus.PROPOSED,
        reason="Counted 5 rib pairs from the first rib (T1).",
        confidence=0.9,
        slice_z_mm=tuple(float(z) for z in volume.z_mm),
    )


@pytest.fixture
def study(tmp_path: Path) -> Path:
    return write_phantom_study(tmp_path / "study", n_slices=N_SLICES, size=128)


def click_row(qtbot, window: MainWindow, row: float, button=Button.LeftButton) -> None:  # type: ignore[no-untyped-def]
    canvas = window.spine.view.canvas
    point = QtCore.QPoint(int(canvas.image_rect().center().x()), round(canvas.y_of_row(row)))
    qtbot.mouseClick(canvas, button, pos=point)


def test_clicking_and_dragging_on_the_sagittal_view_moves_the_axial_views(  # type: ignore[no-untyped-def]
    windows: WindowFactory, qtbot, study: Path
) -> None:
    window = windows.open()
    open_and_analyse(window, qtbot, study)
    spine = window.spine.view
    view = spine.view
    assert spine.isVisible() and view is not None and view.plane is Plane.SAGITTAL
    assert view.curved  # along the canal once the analysis gives the centreline
    click_row(qtbot, window, view.grid.row_of_slice(30))
    assert window.state.slice_index == 30
    assert window.viewer.slider.value() == 30
    assert window.viewer.position_label.text().startswith("slice 31 / 40")
    assert spine.canvas.current_row == pytest.approx(view.grid.row_of_slice(30))
    # Drag the line up to slice 12: the axial views follow the mouse.
    canvas = spine.canvas
    x = int(canvas.image_rect().center().x())
    qtbot.mousePress(
        canvas,
        Button.LeftButton,
        pos=QtCore.QPoint(x, round(canvas.y_of_row(view.grid.row_of_slice(30)))),
    )
    for target in (25, 18, 12):
        y = round(canvas.y_of_row(view.grid.row_of_slice(target)))
        qtbot.mouseMove(canvas, QtCore.QPoint(x, y))
        qtbot.waitUntil(lambda t=target: window.state.slice_index == t, timeout=2000)
    qtbot.mouseRelease(canvas, Button.LeftButton, pos=QtCore.QPoint(x, y))
    assert window.state.slice_index == 12
    # Scrolling the axial views moves the line.
    window.state.set_slice(5)
    assert canvas.current_row == pytest.approx(view.grid.row_of_slice(5))


def test_findings_are_bands_along_the_canal_and_an_unsure_count_says_why(  # type: ignore[no-untyped-def]
    windows: WindowFactory, qtbot, study: Path
) -> None:
    window = windows.open()
    open_and_analyse(window, qtbot, study)
    findings = window.state.findings
    canvas = window.spine.view.canvas
    assert findings is not None and len(canvas.bands) == len(findings.lesions) >= 2
    for band, lesion in zip(canvas.bands, findings.lesions, strict=True):
        assert band[3] == theme.group_colour(lesion.group) and band[4] == str(lesion.number)
    boxed = [s for s in findings.slices if s.box is not None]
    assert len(canvas.track) == len(boxed)
    # The phantom has no ribs: nothing is proposed, the reason is shown, no labels drawn.
    note = window.spine.view.levels_note
    assert note.isVisible() and note.text().startswith("No levels proposed")
    assert canvas.labels == []
    assert not window.spine.confirm_action.isEnabled()
    assert window.findings.table.topLevelItem(0).text(6) == ""


def test_the_view_and_its_plane_are_remembered(  # type: ignore[no-untyped-def]
    windows: WindowFactory, qtbot, study: Path
) -> None:
    window = windows.open()
    assert window.spine.view.isVisible()
    window.spine.show_action.trigger()  # S
    window.spine.plane_action.trigger()  # Shift+S
    assert not window.spine.view.isVisible() and window.spine.view.plane is Plane.CORONAL
    window.close()
    reopened = windows.open()
    assert not reopened.spine.view.isVisible()
    assert reopened.spine.view.plane is Plane.CORONAL
    assert reopened.spine.view.plane_box.currentText() == "Coronal"


def test_gaps_are_shown_as_a_warning_and_no_data_never_stretched(  # type: ignore[no-untyped-def]
    windows: WindowFactory, qtbot
) -> None:
    window = windows.open()
    volume = phantom_volume(20, 64)
    z = volume.z_mm.copy()
    z[10:] -= 15.0  # five slices missing
    positions = volume.positions_mm.copy()
    positions[:, 2] = z
    window.state.set_volume(replace(volume, z_mm=z, positions_mm=positions))
    spine = window.spine.view
    assert spine.view is not None and not spine.view.curved  # no analysis: straight midline
    assert spine.warning.isVisible() and "missing" in spine.warning.text()
    assert any(n.code is NoticeCode.GAP for n in spine.view.notices)
    assert spine.view.no_data.any()
    gap_rows = np.flatnonzero(spine.view.grid.gap_rows)
    painted = reformat_rgb(spine.view, spine.window)  # BGRA
    blue, green, red = (painted[gap_rows, :, c].astype(int) for c in range(3))
    assert gap_rows.size and (red > green).all() and (blue > green).all()  # purple, not grey
    # A tilted gantry: each slice drawn at its recorded place, and the view says so.
    tilted = phantom_volume(20, 64)
    positions = tilted.positions_mm.copy()
    positions[:, 1] = 0.5 * np.arange(20)  # the table moves 0.5 mm in y per slice
    window.state.set_volume(replace(tilted, positions_mm=positions, gantry_tilt_deg=9.5))
    assert spine.view is not None
    assert any(n.code is NoticeCode.GANTRY_TILT for n in spine.view.notices)
    assert spine.warning.isVisible() and "Gantry tilt of 9.5°" in spine.warning.text()


def test_levels_are_proposed_then_confirmed_or_shifted_saved_and_audited(  # type: ignore[no-untyped-def]
    windows: WindowFactory, qtbot, study: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(level_confirm, "estimate_levels", proposed)
    window = windows.open()
    open_and_analyse(window, qtbot, study)
    findings = window.state.findings
    assert findings is not None
    table = window.findings.table
    first = table.topLevelItem(0)
    lesion = next(les for les in findings.lesions if les.number == int(first.text(0)))
    expected = proposed(window.state.volume, None).level_range(
        lesion.first_slice, lesion.last_slice
    )  # type: ignore[arg-type]
    # A proposal: grey italics with a question mark, apart from a reader's level.
    assert first.text(6) == f"{expected}?" and first.font(6).italic()
    canvas = window.spine.view.canvas
    assert [name for *_, name in canvas.labels] == ["T1", "T2", "T3", "T4", "T5"]
    assert not canvas.labels_confirmed
    assert "not confirmed" in window.spine.view.levels_note.text()
    # The review editor offers it.
    rect = table.visualItemRect(first)
    qtbot.mouseClick(table.viewport(), Button.LeftButton, pos=rect.center())
    editor = window.findings.editor
    assert editor.use_level_button.isEnabled() and expected in editor.use_level_button.text()

    db = window.controller.db
    analysis_id = window.controller.analysis_id
    assert db is not None and analysis_id is not None
    assert storage.load_level_numbering(db, analysis_id) is None
    window.spine.confirm_action.trigger()
    stored = storage.load_level_numbering(db, analysis_id)
    assert stored is not None and stored.shift == 0 and stored.level_at(0) == "T1"
    assert first.text(6) == expected and not first.font(6).italic()
    assert canvas.labels_confirmed

    window.spine.down_action.trigger()  # the count was one off: every level one lower
    stored = storage.load_level_numbering(db, analysis_id)
    assert stored is not None and stored.shift == 1 and stored.level_at(0) == "T2"
    shifted = stored.level_range(lesion.first_slice, lesion.last_slice)
    assert first.text(6) == shifted != expected
    assert canvas.labels[0][2] == "T2"
    audit = [
        e for e in storage.audit_entries(db) if e.action is storage.AuditAction.LEVELS_CONFIRMED
    ]
    assert [e.details["shift"] for e in audit] == [0, 1]
    # "Use" puts the confirmed level into the review; saved, the reader's own level wins.
    qtbot.mouseClick(editor.use_level_button, Button.LeftButton)
    assert editor.level_edit.text() == shifted
    editor.level_edit.setText("T9")
    qtbot.mouseClick(editor.save_button, Button.LeftButton)
    assert first.text(6) == "T9" and not first.font(6).italic()
    # Reopening the analysis shows the confirmed numbering again.
    window.close()
    reopened = windows.open()
    with qtbot.waitSignal(reopened.controller.series_opened, timeout=20_000):
        reopened.controller.open_path(study)
    qtbot.waitUntil(lambda: reopened.spine.levels.numbering is not None, timeout=10_000)
    assert reopened.spine.levels.numbering.shift == 1  # type: ignore[union-attr]
    assert "confirmed by" in reopened.spine.view.levels_note.text()


def test_reformat_follows_the_grid_in_millimetres(  # type: ignore[no-untyped-def]
    windows: WindowFactory, qtbot, study: Path
) -> None:
    window = windows.open()
    open_and_analyse(window, qtbot, study)
    view = window.spine.view.view
    canvas = window.spine.view.canvas
    assert view is not None
    rect = canvas.image_rect()
    n_rows = view.image_hu.shape[0]
    u0, u1 = canvas.u_range
    n_u = u1 - u0
    # Around the canal: the crop holds the canal, more of what lies in front of it.
    line = window.spine.levels.centreline
    assert line is not None
    _, canal_u = view.from_axial(0, float(line.rows_px[0]), float(line.cols_px[0]))
    assert u0 <= canal_u <= u1
    # Square millimetres on screen: height / width is the mm ratio of the reformat.
    ratio = (n_rows * view.grid.step_mm) / (n_u * view.u_spacing_mm)
    assert rect.height() / rect.width() == pytest.approx(ratio, rel=0.02)
    assert np.isfinite(view.image_hu).all()
