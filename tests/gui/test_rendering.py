"""The viewports show exactly the grey levels of core.windows (what the model sees)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6 import QtGui

from mscc_desktop.core.dicom_text import date_text, person_name_text
from mscc_desktop.core.volume import edge_letters
from mscc_desktop.core.windows import PAPER_WINDOWS, Window, WindowPreset, window_to_uint8
from mscc_desktop.gui.image_item import HuImageItem
from mscc_desktop.gui.overlay_text import corner_texts, slice_position_text
from mscc_desktop.gui.rendering import box_in_mm, image_size_mm
from tests.gui.fakes import canal_box, phantom_volume

WINDOWS = [*PAPER_WINDOWS.values(), Window(1.0, 40.0), Window(2.0, -3.0), Window(3999.0, 1234.5)]


def screen_grey(item: HuImageItem) -> np.ndarray:
    """The grey levels of the QImage the item paints (a copy of Qt's buffer)."""
    item.render()
    pixels = pg.functions.ndarray_from_qimage(item.qimage).copy()
    assert item.qimage.format() == QtGui.QImage.Format.Format_Grayscale8
    return pixels


@pytest.mark.parametrize("window", WINDOWS, ids=lambda w: f"{w.width:g}/{w.level:g}")
@pytest.mark.parametrize("dtype", [np.int16, np.float32])
def test_screen_grey_levels_are_the_models_windowing(qapp, window: Window, dtype) -> None:  # type: ignore[no-untyped-def]
    values = np.arange(-2048, 3072, dtype=np.float64)
    if dtype is np.float32:
        values = values + np.linspace(0.0, 0.99, values.size)  # fractional HU too
    image = values.astype(dtype).reshape(64, -1)[:, :77]  # odd width: no stride padding
    item = HuImageItem()
    item.show_slice(image, PAPER_WINDOWS[WindowPreset.BONE])
    item.set_window(window)  # a dragged window re-renders the same slice
    assert np.array_equal(screen_grey(item), window_to_uint8(image, window))


def test_pixels_are_square_in_millimetres() -> None:
    volume = phantom_volume(3, 64, spacing_mm=(0.5, 0.8))
    assert image_size_mm(volume) == pytest.approx((64 * 0.8, 64 * 0.5))
    x, y, w, h = box_in_mm(canal_box(64), volume)
    box = canal_box(64)
    assert (x, y, w, h) == pytest.approx(
        (box.x0 * 0.8, box.y0 * 0.5, box.width * 0.8, box.height * 0.5)
    )


def test_corner_texts_follow_ihe_basic_image_review() -> None:
    volume = phantom_volume(40, 64)
    corners = corner_texts(volume, 11, PAPER_WINDOWS[next(iter(PAPER_WINDOWS))])
    assert corners.top_left[:2] == ("PHANTOM, ALICE", "ID SYN-0001")
    assert corners.top_right[0] == "2024-01-01 12:00" and "CT CHEST ABDOMEN C+" in corners.top_right
    assert corners.bottom_right[0] == "Se 3 · Axial 3mm" and "120 kV" in corners.bottom_right[1]
    assert corners.bottom_left[0] == "Im 12 / 40"
    assert "z -33.0 mm" in corners.bottom_left[1]
    assert corners.bottom_left[-1] == "W 1500 / L 300"
    assert slice_position_text(volume, 11) == "slice 12 / 40 · z = -33.0 mm"


def test_orientation_letters_on_the_edges() -> None:
    volume = phantom_volume(2, 32)
    letters = edge_letters(volume)
    assert (letters.left, letters.right, letters.top, letters.bottom) == ("R", "L", "A", "P")


def test_dicom_names_and_dates_are_written_for_people() -> None:
    assert person_name_text("DOE^JANE^^DR") == "DOE, JANE DR"
    assert person_name_text("ANON") == "ANON"
    assert date_text("20240131") == "2024-01-31"
    assert date_text("") == ""
