"""The three viewports as a reader drives them: wheel, keys, slider, drags, overlays."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtCore

from mscc_desktop.core.windows import PAPER_WINDOWS, WindowPreset
from mscc_desktop.gui.state import ViewerState
from mscc_desktop.gui.viewer import PAGE_STEP, ViewerWidget
from tests.gui import gestures
from tests.gui.fakes import COVERAGE_NOTICE, fake_findings, phantom_volume

Key = QtCore.Qt.Key
Button = QtCore.Qt.MouseButton
BONE, ABDOMEN, SPINE = WindowPreset.BONE, WindowPreset.ABDOMEN, WindowPreset.SPINE


def shown_slices(viewer: ViewerWidget) -> set[int]:
    """Which slice each viewport's image item holds (by identity of the pixels)."""
    volume = viewer.state.volume
    assert volume is not None
    shown = set()
    for viewport in viewer.viewports:
        image = viewport.image_item.image
        matches = [i for i in range(volume.n_slices) if np.shares_memory(image, volume.hu[i])]
        assert len(matches) == 1
        shown.add(matches[0])
    return shown


def view_centre(viewer: ViewerWidget, index: int) -> tuple[float, float]:
    rect = viewer.viewports[index].view_box.viewRect()
    return (rect.center().x(), rect.center().y())


@pytest.fixture
def loaded(viewer: ViewerWidget, state: ViewerState, qtbot) -> ViewerWidget:  # type: ignore[no-untyped-def]
    state.set_volume(phantom_volume(40, 128))
    qtbot.wait(1)
    return viewer


def test_wheel_moves_all_three_viewports_together(loaded: ViewerWidget) -> None:
    state = loaded.state
    gestures.wheel(loaded.viewports[1], -3)  # towards the reader: three slices down
    assert state.slice_index == 3 and shown_slices(loaded) == {3}
    gestures.wheel(loaded.viewports[2], 1)
    assert state.slice_index == 2 and shown_slices(loaded) == {2}
    gestures.wheel(loaded.viewports[0], 10)  # cannot go above the first slice
    assert state.slice_index == 0


def test_keys_move_through_slices(loaded: ViewerWidget, qtbot) -> None:  # type: ignore[no-untyped-def]
    state = loaded.state
    loaded.setFocus()
    qtbot.keyClick(loaded, Key.Key_Down)
    qtbot.keyClick(loaded, Key.Key_Down)
    assert state.slice_index == 2 and shown_slices(loaded) == {2}
    qtbot.keyClick(loaded, Key.Key_Up)
    assert state.slice_index == 1
    qtbot.keyClick(loaded, Key.Key_PageDown)
    assert state.slice_index == 1 + PAGE_STEP
    qtbot.keyClick(loaded, Key.Key_End)
    assert state.slice_index == 39 and shown_slices(loaded) == {39}
    qtbot.keyClick(loaded, Key.Key_PageUp)
    assert state.slice_index == 39 - PAGE_STEP
    qtbot.keyClick(loaded, Key.Key_Home)
    assert state.slice_index == 0


def test_slider_and_position_text_follow_the_slice(loaded: ViewerWidget) -> None:
    loaded.slider.setValue(17)
    assert loaded.state.slice_index == 17 and shown_slices(loaded) == {17}
    assert loaded.position_label.text() == "slice 18 / 40 · z = -51.0 mm"
    loaded.state.set_slice(5)
    assert loaded.slider.value() == 5


def test_clicking_a_viewport_gives_the_keyboard_to_the_viewer(loaded: ViewerWidget, qtbot) -> None:  # type: ignore[no-untyped-def]
    loaded.slider.setFocus()
    qtbot.mouseClick(loaded.viewports[2].viewport(), Button.LeftButton)
    assert loaded.hasFocus()
    qtbot.keyClick(loaded, Key.Key_Down)
    assert loaded.state.slice_index == 1


def test_left_drag_changes_the_window_of_that_viewport_only(loaded: ViewerWidget) -> None:
    state = loaded.state
    before = loaded.viewports[1].image_item.levels.copy()
    gestures.drag(loaded.viewports[1], (200, 200), (260, 260), Button.LeftButton)
    abdomen = state.window(ABDOMEN)
    assert abdomen.width > 400 and abdomen.level > 50  # right = wider, down = higher level
    assert state.window(BONE) == PAPER_WINDOWS[BONE] and state.window(SPINE) == PAPER_WINDOWS[SPINE]
    assert not np.allclose(loaded.viewports[1].image_item.levels, before)
    assert "(adjusted)" in loaded.panels[1].header.text()
    assert "(adjusted)" not in loaded.panels[0].header.text()
    assert f"W {abdomen.width:.0f} / L {abdomen.level:.0f}" in loaded.panels[1].header.text()


def test_digit_keys_restore_the_presets(loaded: ViewerWidget, qtbot) -> None:  # type: ignore[no-untyped-def]
    state = loaded.state
    gestures.drag(loaded.viewports[0], (100, 100), (150, 120), Button.LeftButton)
    gestures.drag(loaded.viewports[2], (100, 100), (150, 120), Button.LeftButton)
    loaded.setFocus()
    qtbot.keyClick(loaded, Key.Key_1)
    assert state.window(BONE) == PAPER_WINDOWS[BONE]
    assert state.window(SPINE) != PAPER_WINDOWS[SPINE]
    qtbot.keyClick(loaded, Key.Key_0)
    assert state.window(SPINE) == PAPER_WINDOWS[SPINE]


def test_middle_drag_pans_and_right_drag_zooms_all_viewports(loaded: ViewerWidget) -> None:
    state = loaded.state
    centre = view_centre(loaded, 0)
    gestures.drag(loaded.viewports[0], (200, 200), (260, 200), Button.MiddleButton)
    assert state.pan_mm[0] < 0  # the image follows the mouse to the right
    moved = [view_centre(loaded, i) for i in range(3)]
    assert moved[0][0] < centre[0]
    assert moved[1] == pytest.approx(moved[0], abs=0.5)
    assert moved[2] == pytest.approx(moved[0], abs=0.5)
    width = loaded.viewports[2].view_box.viewRect().width()
    gestures.drag(loaded.viewports[2], (200, 300), (200, 200), Button.RightButton)  # up = in
    assert state.zoom > 1.5
    assert loaded.viewports[0].view_box.viewRect().width() < width / 1.5
    gestures.click(loaded.viewports[1], (100, 100), double=True)
    assert state.zoom == 1.0 and state.pan_mm == (0.0, 0.0)


def test_pixels_are_square_on_screen(viewer: ViewerWidget, state: ViewerState, qtbot) -> None:  # type: ignore[no-untyped-def]
    state.set_volume(phantom_volume(4, 128, spacing_mm=(1.6, 0.8)))  # rows twice as far apart
    qtbot.wait(1)
    viewport = viewer.viewports[0]
    rect = viewport.image_item.mapRectToDevice(viewport.image_item.boundingRect())
    assert rect.height() / rect.width() == pytest.approx(2.0, rel=0.02)


def test_overlays_show_the_canal_box_and_can_be_hidden(loaded: ViewerWidget, qtbot) -> None:  # type: ignore[no-untyped-def]
    state = loaded.state
    findings = fake_findings(state.volume)  # type: ignore[arg-type]
    state.set_findings(findings)
    state.set_slice(21)  # high grade
    viewport = loaded.viewports[0]

    def red_pixels() -> int:
        image = viewport.grab().toImage()
        pixels = np.array(
            [
                [image.pixelColor(x, y).getRgb()[:3] for x in range(0, image.width(), 2)]
                for y in range(0, image.height(), 2)
            ]
        )
        vermillion = np.array([0xD5, 0x5E, 0x00])
        return int((np.abs(pixels - vermillion).sum(axis=2) < 40).sum())

    with_box = red_pixels()
    assert with_box > 20
    state.toggle_overlays()
    assert red_pixels() == 0
    state.toggle_overlays()
    state.set_slice(30)  # normal slice: green box, no vermillion
    assert red_pixels() == 0


def test_notices_are_shown_above_the_images(viewer: ViewerWidget, state: ViewerState) -> None:
    state.set_volume(phantom_volume(4, 64, notices=(COVERAGE_NOTICE,)))
    assert viewer.notice_banner.isVisible()
    assert "thoracic spine" in viewer.notice_banner.text()
    state.set_volume(phantom_volume(4, 64))
    assert not viewer.notice_banner.isVisible()


def test_strip_click_jumps_and_marks_follow(loaded: ViewerWidget, qtbot) -> None:  # type: ignore[no-untyped-def]
    state = loaded.state
    state.set_findings(fake_findings(state.volume))  # type: ignore[arg-type]
    loaded._align_strip()
    x = loaded.strip.slice_to_widget_x(30)
    y = loaded.strip.height() // 2
    qtbot.mouseClick(loaded.strip.viewport(), Button.LeftButton, pos=QtCore.QPoint(x, y))
    assert state.slice_index == 30 and shown_slices(loaded) == {30}
    marks = loaded.slider.marks
    assert [r[:2] for r in marks.lesion_ranges] == [(8, 10), (20, 23)]
    state.toggle_key_image(30)
    assert loaded.slider.marks.reader_key_slices == (30,)
