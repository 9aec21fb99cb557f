"""Pure geometry: plane kind, display transforms, slice layout."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from mscc_desktop.core.dicom.geometry import (
    DisplayTransform,
    PlaneKind,
    display_geometry,
    layout_slices,
    plane_kind,
)
from mscc_desktop.core.notices import NoticeCode


@pytest.mark.parametrize(
    ("orientation", "kind"),
    [
        ((1, 0, 0, 0, 1, 0), PlaneKind.AXIAL),
        ((1, 0, 0, 0, -1, 0), PlaneKind.AXIAL),
        ((1, 0, 0, 0, 0, -1), PlaneKind.CORONAL),
        ((0, 1, 0, 0, 0, -1), PlaneKind.SAGITTAL),
        ((1, 0, 0, 0, math.cos(0.3), -math.sin(0.3)), PlaneKind.AXIAL),  # 17° gantry tilt
        ((1, 0, 0, 0, math.cos(0.8), -math.sin(0.8)), PlaneKind.OBLIQUE),  # 46°
    ],
)
def test_plane_kind(orientation: tuple[float, ...], kind: PlaneKind) -> None:
    assert plane_kind(orientation)[0] == kind


def test_plane_kind_reports_the_tilt_angle() -> None:
    _, angle = plane_kind((1, 0, 0, 0, math.cos(0.3), -math.sin(0.3)))
    assert angle == pytest.approx(math.degrees(0.3))
    assert plane_kind(None) == (PlaneKind.UNKNOWN, 0.0)


@pytest.mark.parametrize(
    ("transpose", "flip_rows", "flip_cols"), list(itertools.product([False, True], repeat=3))
)
def test_every_stored_layout_comes_back_to_display(
    transpose: bool, flip_rows: bool, flip_cols: bool
) -> None:
    """Build stored pixels and their IOP from a known display image, then undo it."""
    rows, cols, spacing = 6, 9, (0.5, 0.7)  # display (row, col) spacing
    display = np.arange(rows * cols).reshape(rows, cols)
    col_axis, row_axis = np.array([1.0, 0, 0]), np.array([0, 1.0, 0])
    first = np.array([10.0, 20.0, 30.0])  # centre of display (0, 0)
    stored, s_col, s_row, s_spacing = display, col_axis, row_axis, spacing
    stored_first = first
    if flip_cols:
        stored_first = stored_first + (stored.shape[1] - 1) * s_spacing[1] * s_col
        stored, s_col = stored[:, ::-1], -s_col
    if flip_rows:
        stored_first = stored_first + (stored.shape[0] - 1) * s_spacing[0] * s_row
        stored, s_row = stored[::-1, :], -s_row
    if transpose:
        stored, s_col, s_row = stored.T, s_row, s_col
        s_spacing = (s_spacing[1], s_spacing[0])
    orientation = (*s_col, *s_row)
    geometry = display_geometry(orientation, s_spacing)
    assert np.array_equal(geometry.transform.apply(stored), display)
    assert geometry.col_axis == pytest.approx(tuple(col_axis))
    assert geometry.row_axis == pytest.approx(tuple(row_axis))
    assert geometry.normal == pytest.approx((0.0, 0.0, 1.0))
    assert geometry.pixel_spacing_mm == spacing
    back = geometry.first_voxel_mm(tuple(stored_first), stored.shape[0], stored.shape[1])
    assert back == pytest.approx(tuple(first))
    target = np.zeros_like(display)
    geometry.transform.stored_view(target)[...] = stored
    assert np.array_equal(target, display)


def test_transform_shape() -> None:
    assert DisplayTransform(transpose=True).shape(3, 5) == (5, 3)
    assert DisplayTransform().shape(3, 5) == (3, 5)


def _positions(z: list[float]) -> np.ndarray:
    return np.array([[0.0, 0.0, value] for value in z])


def test_layout_sorts_head_first_and_keeps_one_per_position() -> None:
    layout = layout_slices(_positions([0, 5, 2.5, 5.01, 7.5, 5]), (0.0, 0.0, 1.0))
    assert list(layout.z_mm) == [7.5, 5.01, 2.5, 0.0]
    # Within 0.05 mm is one position; the most superior (then the first listed) is kept.
    assert layout.order == (4, 3, 2, 0) and layout.duplicates == (1, 5)
    assert [n.code for n in layout.notices] == [NoticeCode.DUPLICATE]


def test_layout_counts_missing_slices() -> None:
    layout = layout_slices(_positions([0, -2, -4, -10, -12, -14]), (0.0, 0.0, 1.0))
    assert layout.missing_slices == 2 and layout.spacing_mm == 2.0
    (gap,) = layout.notices
    assert (
        gap.message
        == "2 slice(s) missing between z = -4.0 and -10.0 mm (expected spacing 2.00 mm)."
    )


def test_layout_flags_uneven_but_not_rounding_noise() -> None:
    steady = layout_slices(_positions([0, -2.001, -3.999, -6.0, -8.002]), (0.0, 0.0, 1.0))
    assert steady.notices == () and not steady.uneven
    uneven = layout_slices(_positions([0, -2, -4, -5.5, -7.5]), (0.0, 0.0, 1.0))
    assert uneven.uneven and uneven.notices[0].code == NoticeCode.UNEVEN_SPACING


def test_layout_measures_tilt_from_positions_and_declaration() -> None:
    t = math.radians(20)
    normal = (0.0, math.sin(t), math.cos(t))
    tilted = layout_slices(_positions([0, -2, -4, -6]), normal)
    assert tilted.tilt_deg == pytest.approx(20.0)
    straight = layout_slices(_positions([0, -2, -4]), (0.0, 0.0, 1.0), declared_tilt_deg=-7.0)
    assert straight.tilt_deg == pytest.approx(7.0)
    assert NoticeCode.GANTRY_TILT in {n.code for n in straight.notices}
    none = layout_slices(_positions([0, -2, -4]), (0.0, 0.0, 1.0), declared_tilt_deg=0.0)
    assert none.tilt_deg == 0.0 and none.notices == ()
