"""Reformats against positions computed by hand: even, uneven, gapped, tilted and curved."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from mscc_desktop.core.notices import NoticeCode
from mscc_desktop.core.spine.centreline import centreline_from_centres
from mscc_desktop.core.spine.grid import z_grid
from mscc_desktop.core.spine.reformat import (
    AxialPoint,
    Plane,
    curved_reformat,
    straight_reformat,
)
from mscc_desktop.core.volume import Volume
from mscc_desktop.core.windows import PAPER_WINDOWS, WindowPreset

MakeVolume = Callable[..., Volume]


def slice_valued(n: int, rows: int = 6, cols: int = 8) -> np.ndarray:
    """Every voxel of slice k holds 100 * k: a reformat row's value tells its slice position."""
    return np.repeat(
        (100 * np.arange(n, dtype=np.int16))[:, None, None], rows * cols, axis=1
    ).reshape(n, rows, cols)


def test_even_stack_rows_are_one_step_apart_and_interpolate_between_slices(
    make_volume: MakeVolume,
) -> None:
    volume = make_volume(slice_valued(4), [30.0, 28.0, 26.0, 24.0])
    view = straight_reformat(volume, Plane.SAGITTAL, step_mm=0.5)
    assert view.image_hu.shape == (13, 6)  # 6 mm of stack at 0.5 mm, both ends included
    np.testing.assert_allclose(view.grid.z_mm[[0, 4, 5, 12]], [30.0, 28.0, 27.5, 24.0])
    # Row 5 is a quarter of the way from slice 1 (28 mm) to slice 2 (26 mm).
    np.testing.assert_allclose(view.image_hu[5], 125.0)
    np.testing.assert_allclose(view.image_hu[:, 0], 25.0 * np.arange(13))
    assert view.notices == ()


def test_uneven_spacing_places_rows_by_true_positions(make_volume: MakeVolume) -> None:
    # Steps 1, 2 and 3 mm (median 2: the 3 mm step is uneven, not a gap).
    volume = make_volume(slice_valued(4), [0.0, -1.0, -3.0, -6.0])
    view = straight_reformat(volume, Plane.CORONAL, step_mm=0.5)
    assert view.grid.n_rows == 13
    row = view.grid.row_of_z(-4.5)  # half-way between -3 (slice 2) and -6 (slice 3)
    assert row == pytest.approx(9.0)
    np.testing.assert_allclose(view.image_hu[9], 250.0)
    # z = -1.5 is a quarter of the 2 mm from slice 1 (-1) to slice 2 (-3).
    np.testing.assert_allclose(view.image_hu[3], 125.0)
    assert view.grid.slice_of_row(9) in (2, 3)
    assert view.grid.slice_of_row(10) == 3  # z = -5 is nearer -6 than -3
    assert view.grid.row_of_slice(2) == pytest.approx(6.0)


def test_a_gap_is_left_empty_and_reported_not_stretched(make_volume: MakeVolume) -> None:
    z = [0.0, -2.0, -4.0, -10.0, -12.0]  # 6 mm step with a 2 mm median: two slices missing
    volume = make_volume(slice_valued(5), z)
    view = straight_reformat(volume, Plane.SAGITTAL, step_mm=1.0)
    gap = view.grid.gap_rows
    assert np.flatnonzero(gap).tolist() == [5, 6, 7, 8, 9]  # z = -5 ... -9
    assert np.isnan(view.image_hu[gap]).all()
    np.testing.assert_allclose(view.image_hu[4], 200.0)  # slice 2 itself, at the gap's edge
    np.testing.assert_allclose(view.image_hu[10], 300.0)  # slice 3
    np.testing.assert_allclose(view.image_hu[11], 350.0)
    assert [n.code for n in view.notices] == [NoticeCode.GAP]
    assert "5 mm" in view.notices[0].message
    grey = view.to_uint8(PAPER_WINDOWS[WindowPreset.SPINE])  # 0..200 HU
    assert (grey[gap] == 0).all() and view.no_data[gap].all() and not view.no_data[~gap].any()
    assert grey[4, 0] == 255 and grey[0, 0] == 0
    # A click in the gap goes to the nearer real slice.
    assert view.slice_of_row(6) == 2 and view.slice_of_row(9) == 3


def test_straight_planes_cut_the_requested_column_and_row(make_volume: MakeVolume) -> None:
    rows, cols = 6, 8
    r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    hu = np.stack([(10 * r + c).astype(np.int16)] * 3)
    volume = make_volume(hu, [0.0, -1.0, -2.0], spacing_mm=(0.5, 0.8))
    sagittal = straight_reformat(volume, Plane.SAGITTAL, position_px=2.5)
    np.testing.assert_allclose(sagittal.image_hu[0], 10 * np.arange(rows) + 2.5)
    assert sagittal.u_spacing_mm == 0.5 and sagittal.grid.step_mm == 0.5
    assert sagittal.image_hu.shape == (5, rows)
    coronal = straight_reformat(volume, Plane.CORONAL, position_px=4.0)
    np.testing.assert_allclose(coronal.image_hu[-1], 40 + np.arange(cols))
    assert coronal.u_spacing_mm == 0.8
    middle = straight_reformat(volume, Plane.SAGITTAL)
    np.testing.assert_allclose(middle.image_hu[0], 10 * np.arange(rows) + 3.5)
    # Outside the image: no data rather than the edge repeated.
    assert np.isnan(straight_reformat(volume, Plane.SAGITTAL, position_px=9.0).image_hu).all()


def test_tilted_stack_is_placed_by_true_positions_and_flagged(make_volume: MakeVolume) -> None:
    # 15° tilt: each 2 mm of table moves the slice origin 2·tan(15°) mm posteriorly.
    n, rows, cols = 5, 40, 4
    tilt = 15.0
    shift_mm = [(0.0, 2.0 * k * math.tan(math.radians(tilt))) for k in range(n)]
    # HU rise 10 per mm of patient y, so a slice that slid shows other values on each row; a
    # true-position reformat shows the same ramp on every row (linear interpolation is exact).
    r = np.arange(rows, dtype=np.float64)
    hu = np.stack(
        [np.repeat((10.0 * (r + shift_mm[k][1]))[:, None], cols, axis=1) for k in range(n)]
    ).astype(np.float32)
    volume = make_volume(hu, [0.0, -2.0, -4.0, -6.0, -8.0], shifts_mm=shift_mm, tilt_deg=tilt)
    view = straight_reformat(volume, Plane.SAGITTAL, step_mm=2.0)
    valid = ~np.isnan(view.image_hu)
    expected = np.broadcast_to(10.0 * r, view.image_hu.shape)
    np.testing.assert_allclose(view.image_hu[valid], expected[valid], atol=1e-3)
    assert valid[:, 3:].all()
    # The last slice slid 2.1 px posteriorly: nothing of it lies in slice 0's first rows.
    assert np.isnan(view.image_hu[4, :3]).all() and valid[0].all()
    assert [n.code for n in view.notices] == [NoticeCode.GANTRY_TILT]
    assert "15.0°" in view.notices[0].message
    point = view.to_axial(4.0, 20.0)
    assert point is not None and point.slice_index == 4
    assert point.row_px == pytest.approx(20.0 - shift_mm[4][1])
    assert view.from_axial(4, point.row_px, point.col_px) == pytest.approx((4.0, 20.0))


def test_tilt_recorded_but_absent_from_positions_is_a_warning(make_volume: MakeVolume) -> None:
    volume = make_volume(slice_valued(3), [0.0, -1.0, -2.0], tilt_deg=12.0)
    view = straight_reformat(volume, Plane.CORONAL)
    assert [n.code for n in view.notices] == [NoticeCode.GANTRY_TILT]
    assert "sheared" in view.notices[0].message


def test_curved_sagittal_follows_the_canal_column_of_each_slice(make_volume: MakeVolume) -> None:
    n, rows, cols = 5, 4, 30
    column_value = np.broadcast_to(np.arange(cols, dtype=np.int16), (n, rows, cols)).copy()
    volume = make_volume(column_value, [0.0, -1.0, -2.0, -3.0, -4.0])
    centres = [(2.0, 10.0), (2.0, 12.0), None, (2.0, 16.0), (2.0, 18.0)]  # scoliosis
    line = centreline_from_centres(volume, centres, smooth_mm=0.0)
    np.testing.assert_allclose(line.cols_px, [10, 12, 14, 16, 18])
    assert line.measured.tolist() == [True, True, False, True, True]
    view = curved_reformat(volume, line, Plane.SAGITTAL, step_mm=0.5)
    assert view.curved and view.image_hu.shape == (9, rows)
    np.testing.assert_allclose(view.image_hu[:, 0], 10 + 2 * 2 * 0.5 * np.arange(9) / 2)
    assert view.to_axial(2.0, 1.0) == AxialPoint(1, 1.0, 12.0)
    assert line.median_col_px() == 14.0


def test_z_grid_rejects_unsorted_or_empty_input() -> None:
    with pytest.raises(ValueError, match="decreasing"):
        z_grid([0.0, 1.0], step_mm=1.0)
    with pytest.raises(ValueError, match="at least one"):
        z_grid([], step_mm=1.0)
    with pytest.raises(ValueError, match="positive"):
        z_grid([0.0, -1.0], step_mm=0.0)


def test_finding_band_covers_its_slices() -> None:
    grid = z_grid([10.0, 8.0, 6.0, 4.0], step_mm=1.0)
    assert grid.rows_of_z_range(6.0, 8.0) == (1.5, 4.5)
    assert grid.rows_of_z_range(8.0, 8.0) == (1.5, 2.5)
