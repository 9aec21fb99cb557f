"""HU-domain training augmentation: boxes follow the image, noise looks like CT noise, and an
un-augmented sample is exactly the inference input."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from mscc_desktop.core.findings import Box
from mscc_desktop.core.grades import GradeGroup
from mscc_desktop.core.windows import window_stack
from mscc_desktop.inference.preprocess import detector_input
from mscc_desktop.training.augment import (
    Augmentation,
    GeometricAugment,
    PhotometricAugment,
    SliceTransform,
    augmentation,
    correlated_noise,
    photometric,
    random_transform,
)
from mscc_desktop.training.datasets import (
    LabelledStudy,
    SliceLabel,
    build_detector_samples,
    detector_sample,
)


def _disc_slice(size: int, cx: float, cy: float, a: float, b: float) -> tuple[np.ndarray, Box]:
    """Soft tissue with one bright elliptical 'canal' whose box is known exactly."""
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    hu = np.full((size, size), 40.0)
    hu[((cols - cx) / a) ** 2 + ((rows - cy) / b) ** 2 <= 1.0] = 1500.0
    return hu.astype(np.int16), Box(cx - a, cy - b, cx + a, cy + b)


def _bright_bbox(image: np.ndarray, threshold: float) -> Box:
    rows, cols = np.nonzero(image > threshold)
    return Box(cols.min(), rows.min(), cols.max() + 1.0, rows.max() + 1.0)


@pytest.mark.parametrize("seed", range(6))
def test_geometric_augmentation_moves_the_box_with_the_canal(seed: int) -> None:
    hu, box = _disc_slice(128, 60.0, 70.0, 14.0, 9.0)
    transform = random_transform(
        128, 128, box, GeometricAugment(probability=1.0), np.random.default_rng(seed)
    )
    moved = transform.apply(hu.astype(np.float32))
    found = _bright_bbox(moved, 770.0)  # half-way between tissue and the disc
    expected = transform.box(box)
    assert found.iou(expected) > 0.85, (found, expected)


def test_transform_maps_a_point_where_the_image_puts_it() -> None:
    hu = np.full((100, 120), -1000.0, np.float32)
    hu[30:34, 80:84] = 1000.0  # a 4-pixel square centred on edge coordinate (82, 32)
    transform = SliceTransform(100, 120, 1.2, math.radians(10), (-5.0, 7.0), flip=True)
    moved = transform.apply(hu)
    rows, cols = np.nonzero(moved > 0)
    centre = transform.box(Box(80, 30, 84, 34)).centre
    assert abs(cols.mean() + 0.5 - centre[0]) < 0.6 and abs(rows.mean() + 0.5 - centre[1]) < 0.6


def test_the_canal_never_leaves_the_slice() -> None:
    box = Box(2.0, 50.0, 20.0, 70.0)  # near the left edge
    aug = GeometricAugment(probability=1.0, shift_fraction=0.4)
    for seed in range(30):
        moved = random_transform(128, 128, box, aug, np.random.default_rng(seed)).box(box)
        assert moved.x0 >= 0 and moved.x1 <= 128 and moved.y0 >= 0 and moved.y1 <= 128


def test_noise_has_the_requested_strength_and_a_ct_like_spectrum() -> None:
    rng = np.random.default_rng(0)
    noise = correlated_noise((256, 256), rng, grain_px=3.0, streak=0.0)
    assert abs(noise.std() - 1.0) < 1e-3 and abs(noise.mean()) < 0.02
    # Correlated, not white: the power peaks near 1/grain and vanishes toward zero frequency.
    power = np.abs(np.fft.fft2(noise)) ** 2
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(256), np.fft.fftfreq(256)))
    bands = np.linspace(0.0, 0.5, 26)
    radial = [power[(f >= lo) & (f < hi)].mean() for lo, hi in itertools.pairwise(bands)]
    peak = (bands[int(np.argmax(radial))] + 0.01) * 3.0
    assert 0.7 < peak < 1.3
    assert radial[0] < 0.1 * max(radial)
    streaky = correlated_noise((256, 256), rng, grain_px=3.0, streak=0.7)
    along = np.corrcoef(streaky[:, :-4].ravel(), streaky[:, 4:].ravel())[0, 1]
    across = np.corrcoef(streaky[:-4].ravel(), streaky[4:].ravel())[0, 1]
    assert along > across + 0.2  # streaks run along the rows


def test_photometric_augmentation_adds_noise_in_hu_and_leaves_the_input_alone() -> None:
    hu = np.full((128, 128), 40.0, np.float32)
    hu[:, :10] = -1000.0
    original = hu.copy()
    aug = PhotometricAugment(
        calibration_probability=0.0,
        noise_probability=1.0,
        noise_sd_hu=(30.0, 30.0001),
        blur_probability=0.0,
        sharpen_probability=0.0,
        streak_probability=0.0,
    )
    out = photometric(hu, aug, np.random.default_rng(1))
    assert np.array_equal(hu, original)
    assert 20.0 < float(out[:, 20:].std()) < 45.0
    assert abs(float(out[:, 20:].mean()) - 40.0) < 5.0


def test_unaugmented_detector_sample_is_the_inference_input() -> None:
    hu, box = _disc_slice(96, 40.0, 50.0, 8.0, 6.0)
    study = LabelledStudy("s", hu[np.newaxis], (SliceLabel(0, "1.2.3", box, None),))
    samples = build_detector_samples([study], size=64)
    image, row = detector_sample(samples, 0, augmentation("ct"), None)
    served, fit = detector_input(window_stack(hu[np.newaxis]).swapaxes(0, 1).copy(), size=64)
    np.testing.assert_array_equal(image, served[0])
    np.testing.assert_allclose(row, fit.to_detector(box).as_tuple(), atol=1e-5)


def test_augmented_detector_samples_vary_and_keep_their_box_on_the_canal() -> None:
    hu, box = _disc_slice(160, 70.0, 90.0, 12.0, 9.0)
    study = LabelledStudy("s", hu[np.newaxis], (SliceLabel(0, "1.2.3", box, None),))
    samples = build_detector_samples([study], size=80)
    geometric_only = Augmentation(None, GeometricAugment(probability=1.0))
    images = []
    for seed in range(4):
        image, row = detector_sample(samples, 0, geometric_only, np.random.default_rng(seed))
        found = _bright_bbox(image[0], 0.5)  # bone window: the disc is white, tissue dark
        assert found.iou(Box(*row)) > 0.7
        images.append(image)
    assert not np.allclose(images[0], images[1])
    noisy, _ = detector_sample(samples, 0, augmentation("ct"), np.random.default_rng(9))
    assert noisy.shape == images[0].shape and noisy.dtype == np.float32


def test_unknown_augmentation_is_refused() -> None:
    with pytest.raises(ValueError, match="ct"):
        augmentation("heavy")


def test_elastic_warp_bends_the_canal_outline_but_keeps_it_in_place() -> None:
    from mscc_desktop.training.augment import ElasticAugment, elastic

    hu, box = _disc_slice(96, 48.0, 48.0, 14.0, 11.0)
    hu = hu.astype(np.float32)
    aug = ElasticAugment(probability=1.0, amplitude_fraction=(0.1, 0.1))
    warped = [
        elastic(hu, aug, max(box.width, box.height), np.random.default_rng(s)) for s in (1, 2)
    ]
    for out in warped:
        assert out.shape == hu.shape and out.dtype == np.float32
        changed = np.mean(np.abs(out - hu) > 100)
        assert 0.005 < changed < 0.15  # the outline moved, the slice did not
        moved = _bright_bbox(out, 700.0)
        assert abs(moved.centre[0] - box.centre[0]) < 7 and abs(moved.centre[1] - box.centre[1]) < 7
    assert not np.array_equal(warped[0], warped[1])
    same = elastic(hu, aug, 28.0, np.random.default_rng(1))
    np.testing.assert_array_equal(same, warped[0])  # reproducible from the generator
    flat = elastic(
        hu, ElasticAugment(amplitude_fraction=(0.0, 0.0)), 28.0, np.random.default_rng(0)
    )
    np.testing.assert_allclose(flat, hu, atol=1e-3)  # no displacement, no change


def test_canal_density_moves_the_canal_soft_tissue_together_and_nothing_else() -> None:
    from mscc_desktop.training.augment import CanalDensityAugment, canal_density

    size, cx, cy, a, b = 96, 48.0, 48.0, 16.0, 12.0
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    hu = np.full((size, size), -100.0, np.float32)  # fat around the canal
    hu[((cols - cx) / a) ** 2 + ((rows - cy) / b) ** 2 <= 1.0] = 20.0  # thecal sac
    hu[((cols - 40) / 4) ** 2 + ((rows - 48) / 4) ** 2 <= 1.0] = 80.0  # tumour in it
    hu[((cols - 58) / 3) ** 2 + ((rows - 48) / 3) ** 2 <= 1.0] = 700.0  # bone spur in it
    box = Box(cx - a, cy - b, cx + a, cy + b)
    aug = CanalDensityAugment(offset_hu=(30.0, 30.0))
    out = canal_density(hu, box, aug, np.random.default_rng(0))
    shift = out - hu
    assert shift[48, 48] == pytest.approx(30.0) and shift[48, 40] == pytest.approx(30.0)
    # Tumour-to-sac contrast is kept; fat, bone and everything outside the box stay put.
    assert out[48, 40] - out[48, 48] == pytest.approx(hu[48, 40] - hu[48, 48])
    assert shift[48, 58] == 0.0 and shift[5, 5] == 0.0 and shift[48, 70] == 0.0
    assert not np.shares_memory(out, hu)


def test_canal_noise_roughens_the_canal_and_leaves_the_far_slice_alone() -> None:
    from mscc_desktop.training.augment import CanalNoiseAugment, canal_noise

    size, cx, cy, a, b = 128, 64.0, 64.0, 14.0, 11.0
    hu = np.full((size, size), 30.0, np.float32)
    box = Box(cx - a, cy - b, cx + a, cy + b)
    aug = CanalNoiseAugment(sd_hu=(30.0, 30.0))
    out = canal_noise(hu, box, aug, np.random.default_rng(5))
    inner = (out - hu)[int(cy) - 5 : int(cy) + 5, int(cx) - 8 : int(cx) + 8]
    assert 15.0 < float(inner.std()) < 45.0 and abs(float(inner.mean())) < 15.0
    np.testing.assert_array_equal(out[:20], hu[:20])  # far from the canal: untouched
    np.testing.assert_array_equal(out[:, :30], hu[:, :30])
    assert not np.shares_memory(out, hu)


def test_canal_flatten_merges_the_canal_contents_and_keeps_bone_and_fat() -> None:
    from mscc_desktop.training.augment import CanalFlattenAugment, canal_flatten

    size, cx, cy, a, b = 96, 48.0, 48.0, 16.0, 12.0
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    hu = np.full((size, size), -100.0, np.float32)  # fat around the canal
    hu[((cols - cx) / a) ** 2 + ((rows - cy) / b) ** 2 <= 1.0] = 10.0  # sac
    hu[((cols - cx) / 5) ** 2 + ((rows - cy) / 5) ** 2 <= 1.0] = 40.0  # cord
    box = Box(cx - a, cy - b, cx + a, cy + b)
    full = CanalFlattenAugment(strength=(1.0, 1.0))
    assert full.applies_to(0) and not full.applies_to(2)
    out = canal_flatten(hu, box, full, np.random.default_rng(0))
    # The cord no longer stands out from the sac; fat outside the canal is untouched.
    assert abs(float(out[48, 48] - out[48, 38])) < 1.0
    assert 10.0 < float(out[48, 48]) < 40.0
    assert out[5, 5] == hu[5, 5] and out[48, 90] == hu[48, 90]
    half = canal_flatten(
        hu, box, CanalFlattenAugment(strength=(0.5, 0.5)), np.random.default_rng(0)
    )
    assert float(out[48, 48]) < float(half[48, 48]) < 40.0  # part of the way
    assert not np.shares_memory(out, hu)


def test_class_conditional_canal_density_shifts_normal_crops_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mscc_desktop.training import augment as augment_module
    from mscc_desktop.training.augment import CanalDensityAugment
    from mscc_desktop.training.configs import grader_config, with_overrides
    from mscc_desktop.training.datasets import build_grader_samples, grader_crop

    size, cx, cy, a, b = 128, 64.0, 64.0, 14.0, 11.0
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    hu = np.full((size, size), 700.0, np.float32)  # bone around the canal
    hu[((cols - cx) / a) ** 2 + ((rows - cy) / b) ** 2 <= 1.0] = 20.0  # thecal sac
    box = Box(cx - a, cy - b, cx + a, cy + b)
    labels = (
        SliceLabel(0, "1.2.3", box, GradeGroup.NORMAL, False),
        SliceLabel(1, "1.2.4", box, GradeGroup.HIGH, False),
    )
    study = LabelledStudy("s", np.stack([hu, hu]).astype(np.int16), labels)
    only_normal = CanalDensityAugment(probability=1.0, offset_hu=(40.0, 40.0), classes=(0,))
    assert only_normal.applies_to(0) and not only_normal.applies_to(2)
    assert CanalDensityAugment().applies_to(2)  # every class by default
    monkeypatch.setitem(
        augment_module.AUGMENTATIONS,
        "test_bright_normal",
        Augmentation(None, None, canal_density=only_normal),
    )
    steady = {"scale_range": "1,1", "aspect_range": "1,1", "centre_jitter": "0"}
    config = with_overrides(
        grader_config("tiny"),
        {"augmentation": "test_bright_normal", "hflip_probability": "0", **steady},
    )
    samples = build_grader_samples([study], config)
    zeros, ones = (0.0,) * 3, (1.0,) * 3
    centre = config.crop_size // 2
    spine = 2  # the spine window (W 200 / L 100): 20 HU -> 0.4, 60 HU -> 0.6
    for index, group in enumerate(samples.groups):
        plain = grader_crop(samples, index, config, mean=zeros, std=ones)
        augmented = grader_crop(
            samples, index, config, mean=zeros, std=ones, rng=np.random.default_rng(3)
        )
        lift = float(augmented[spine, centre, centre] - plain[spine, centre, centre])
        assert lift == pytest.approx(0.2 if group == 0 else 0.0, abs=0.01), group


@pytest.mark.parametrize(
    "preset",
    [
        "ct_shape",
        "ct_soft",
        "ct_shape_soft",
        "ct_shape_soft_dense",
        "ct_shape_soft_bright_normal",
        "ct_shape_soft_canal_noise",
        "ct_shape_soft_flat_normal",
        "ct_shape_soft_composite",
    ],
)
def test_grader_presets_produce_finite_crops_that_vary(preset: str) -> None:
    from mscc_desktop.training.configs import grader_config, with_overrides
    from mscc_desktop.training.datasets import build_grader_samples, grader_crop

    hu, box = _disc_slice(128, 64.0, 70.0, 12.0, 9.0)
    study = LabelledStudy(
        "s", hu[np.newaxis], (SliceLabel(0, "1.2.3", box, GradeGroup.NORMAL, False),)
    )
    config = with_overrides(grader_config("tiny"), {"augmentation": preset})
    samples = build_grader_samples([study], config)
    zeros, ones = (0.0,) * 3, (1.0,) * 3
    plain = grader_crop(samples, 0, config, mean=zeros, std=ones)
    rng = np.random.default_rng(4)
    crops = [grader_crop(samples, 0, config, mean=zeros, std=ones, rng=rng) for _ in range(4)]
    for crop in crops:
        assert crop.shape == plain.shape and np.isfinite(crop).all()
    assert min(float(np.abs(c - plain).mean()) for c in crops) > 1e-3
