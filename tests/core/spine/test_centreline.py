"""The canal centreline from the detector's boxes: gaps, strays, smoothing and tilt."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from mscc_desktop.core.errors import UnusableSeriesError
from mscc_desktop.core.findings import Box, SliceResult
from mscc_desktop.core.spine.centreline import centreline_from_centres, centreline_from_results
from mscc_desktop.core.volume import Volume

MakeVolume = Callable[..., Volume]


def result(index: int, box: Box | None) -> SliceResult:
    return SliceResult(
        index=index,
        z_mm=0.0,
        sop_instance_uid=f"1.2.{index}",
        box=box,
        detection_score=0.9 if box else 0.0,
        probabilities=None,
        group=None,
    )


def test_boxes_give_centres_and_missing_slices_are_interpolated(make_volume: MakeVolume) -> None:
    volume = make_volume(np.zeros((5, 64, 64), np.int16), [0.0, -3.0, -6.0, -9.0, -12.0])
    boxes = {0: Box(10, 20, 20, 30), 1: None, 3: Box(14, 20, 24, 30)}  # x is the column
    results = [result(k, box) for k, box in boxes.items()]  # slices 2 and 4 not analysed
    line = centreline_from_results(volume, results, smooth_mm=0.0)
    np.testing.assert_allclose(line.rows_px, 25.0)
    # 15 → 19 over three slices, then held beyond the last box.
    np.testing.assert_allclose(line.cols_px, [15, 15 + 4 / 3, 15 + 8 / 3, 19, 19])
    assert line.measured.tolist() == [True, False, False, True, False]


def test_a_stray_box_is_ignored_and_the_track_smoothed(make_volume: MakeVolume) -> None:
    z = np.arange(0.0, -60.0, -3.0)
    volume = make_volume(np.zeros((z.size, 64, 64), np.int16), z)
    centres: list[tuple[float, float] | None] = [(30.0, 20.0)] * z.size
    centres[7] = (30.0, 50.0)  # 30 mm off: the aorta, not the canal
    line = centreline_from_centres(volume, centres, smooth_mm=6.0)
    assert not line.measured[7]
    np.testing.assert_allclose(line.cols_px, 20.0)


def test_smoothing_weights_by_millimetres_not_slices(make_volume: MakeVolume) -> None:
    # A canal drifting 1 px per mm, sampled unevenly: a Gaussian in mm keeps a straight line
    # straight (away from the ends) however the slices are spaced.
    z = np.array([0.0, -1.0, -2.0, -6.0, -7.0, -8.0, -12.0, -13.0, -14.0, -18.0, -19.0, -20.0])
    volume = make_volume(np.zeros((z.size, 64, 64), np.int16), z)
    centres: list[tuple[float, float] | None] = [(30.0, 10.0 - v) for v in z]
    line = centreline_from_centres(volume, centres, smooth_mm=2.0)
    np.testing.assert_allclose(line.cols_px[4:8], 10.0 - z[4:8], atol=0.3)


def test_a_tilted_stacks_shift_is_not_taken_for_a_curve(make_volume: MakeVolume) -> None:
    # Slices slide 1 mm posteriorly per slice; a canal fixed in the patient appears 1 px
    # higher in each slice's own pixels, and must stay so after smoothing.
    n = 9
    shifts = [(0.0, float(k)) for k in range(n)]
    volume = make_volume(
        np.zeros((n, 64, 64), np.int16), -2.0 * np.arange(n), shifts_mm=shifts, tilt_deg=26.6
    )
    centres: list[tuple[float, float] | None] = [(40.0 - k, 32.0) for k in range(n)]
    centres[4] = None
    line = centreline_from_centres(volume, centres, smooth_mm=10.0)
    np.testing.assert_allclose(line.rows_px, 40.0 - np.arange(n), atol=1e-6)


def test_no_canal_anywhere_is_an_error_that_says_what_to_do(make_volume: MakeVolume) -> None:
    volume = make_volume(np.zeros((3, 8, 8), np.int16), [0.0, -1.0, -2.0])
    with pytest.raises(UnusableSeriesError, match="straight plane"):
        centreline_from_centres(volume, [None, None, None])
    with pytest.raises(ValueError, match="one per slice"):
        centreline_from_centres(volume, [None])
