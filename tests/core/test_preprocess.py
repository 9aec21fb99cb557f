from __future__ import annotations

import numpy as np

from mscc_desktop.core.findings import Box
from mscc_desktop.inference.preprocess import crop_region, detector_input, grader_input, resample
from mscc_desktop.inference.probabilities import fuse_windows


def test_resample_identity_and_box_downsampling() -> None:
    image = np.arange(64, dtype=np.float32).reshape(8, 8)
    assert np.allclose(resample(image, out_shape=(8, 8)), image)
    half = resample(image, out_shape=(4, 4))
    assert np.allclose(half, image.reshape(4, 2, 4, 2).mean(axis=(1, 3)))


def test_detector_input_pads_non_square_slices_and_maps_boxes_back() -> None:
    windowed = np.zeros((1, 3, 100, 200), dtype=np.uint8)
    windowed[0, :, 40:60, 90:110] = 255
    tensor, fit = detector_input(windowed, size=100)
    assert tensor.shape == (1, 3, 100, 100)
    assert tensor.max() <= 1.0 and tensor[0, 0, 25, 50] > 0.9  # the bright square, halved
    assert tensor[0, 0, 75, 50] == 0.0  # padding below the slice is black
    back = fit.to_slice(Box(45, 20, 55, 30))
    assert back.as_tuple() == (90.0, 40.0, 110.0, 60.0)


def test_detector_input_at_the_slice_size_equals_the_resampled_path() -> None:
    rng = np.random.default_rng(3)
    for rows in (48, 64):  # square at the detector size, and padded to it
        windowed = rng.integers(0, 256, (2, 3, rows, 64), dtype=np.uint8)
        tensor, fit = detector_input(windowed, size=64)
        padded = np.zeros((2, 3, 64, 64), dtype=np.uint8)
        padded[:, :, :rows] = windowed
        expected = resample(padded, out_shape=(64, 64)) * np.float32(1.0 / 255.0)
        assert tensor.dtype == np.float32 and fit.scale == 1.0
        np.testing.assert_array_equal(tensor, expected)


def test_grader_input_crops_around_the_box_and_normalises() -> None:
    windowed = np.zeros((1, 3, 64, 64), dtype=np.uint8)
    windowed[0, :, 20:30, 20:30] = 255
    crops = grader_input(
        windowed,
        [Box(20, 20, 30, 30)],
        size=20,
        margin=0.5,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
    )
    assert crops.shape == (1, 3, 20, 20)
    # region is 20 px wide centred on the box: the box fills the middle half of the crop
    assert crop_region(Box(20, 20, 30, 30), margin=0.5) == (15, 15, 35, 35)
    assert np.isclose(crops[0, 0, 10, 10], 1.0) and np.isclose(crops[0, 0, 1, 1], -1.0)


def test_fuse_windows_averages_available_windows_only() -> None:
    per_window = np.array([[[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]]], dtype=np.float32)
    assert np.allclose(fuse_windows(per_window), [[1 / 3, 1 / 3, 1 / 3]])
    assert np.allclose(fuse_windows(per_window, [True, False, False]), [[1, 0, 0]])
    assert np.allclose(fuse_windows(per_window, [False, True, True]), [[0, 0.5, 0.5]])
