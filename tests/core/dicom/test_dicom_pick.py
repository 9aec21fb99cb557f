"""Series choice between reconstructions of one scan: kernel class, measured noise, thickness."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from mscc_desktop.core.dicom import SeriesEntry, pick_series, scan_folder
from mscc_desktop.core.dicom.noise import image_noise_hu
from tests.factories import dicom_factory as factory


def _reconstruction(
    folder: Path,
    *,
    number: int,
    kernel: str,
    manufacturer: str = "SIEMENS",
    hu: npt.NDArray[np.int16] | None = None,
    n_slices: int = 12,
    spacing_mm: float = 2.5,
    **spec_fields: object,
) -> factory.MadeSeries:
    """One reconstruction of the factory scan (same slice positions for every kernel)."""
    return factory.write_series(
        folder / f"s{number}",
        n_slices=n_slices,
        spacing_mm=spacing_mm,
        hu=hu,
        seed=f"recon-{number}",
        info=factory.series_info(
            series_number=number,
            series_description=f"Thorax {kernel}",
            manufacturer=manufacturer,
            convolution_kernel=kernel,
        ),
        **spec_fields,  # type: ignore[arg-type]
    )


def _noisy(sigma_hu: float, *, seed: int, n_slices: int = 12) -> npt.NDArray[np.int16]:
    """The factory phantom with extra Gaussian noise inside the body (a sharper kernel)."""
    volume = factory.phantom(n_slices, seed=seed).astype(np.float64)
    rng = np.random.default_rng(seed)
    body = volume > -900
    volume[body] += rng.normal(0.0, sigma_hu, size=int(body.sum()))
    return np.clip(np.rint(volume), -1024, 3000).astype(np.int16)


def _by_kernel(series: tuple[SeriesEntry, ...]) -> dict[str, SeriesEntry]:
    return {entry.info.convolution_kernel: entry for entry in series}


@pytest.mark.parametrize(
    ("soft", "sharp", "manufacturer", "sharp_text"),
    [
        ("B40f", "B70f", "SIEMENS", "B70f (sharp)"),
        ("B", "L", "Philips", "L (lung)"),
        ("STANDARD", "BONE", "GE MEDICAL SYSTEMS", "BONE (sharp)"),
        ("FC17", "FC52", "TOSHIBA", "FC52 (lung)"),
    ],
)
@pytest.mark.parametrize("soft_first", [True, False])
def test_soft_tissue_kernel_wins_over_sharp_one_of_the_same_slices(
    tmp_path: Path, soft: str, sharp: str, manufacturer: str, sharp_text: str, soft_first: bool
) -> None:
    numbers = (2, 3) if soft_first else (3, 2)
    _reconstruction(tmp_path, number=numbers[0], kernel=soft, manufacturer=manufacturer)
    _reconstruction(tmp_path, number=numbers[1], kernel=sharp, manufacturer=manufacturer)
    scan = scan_folder(tmp_path)
    by_kernel = _by_kernel(scan.series)
    for order in (scan.series, tuple(reversed(scan.series))):
        pick = pick_series(order)
        assert pick.chosen is by_kernel[soft]
        assert f"soft-tissue kernel {soft} preferred over {sharp_text}" in pick.reason
        ((other, why),) = pick.not_picked
        assert other is by_kernel[sharp]
        assert why == f"same slices, sharper kernel {sharp_text}"
        assert pick.noise_hu == ()  # the kernels decided: no pixels were read


def test_kernel_decides_without_reading_pixels(tmp_path: Path) -> None:
    _reconstruction(tmp_path, number=2, kernel="B70f")
    _reconstruction(tmp_path, number=3, kernel="B40f")
    scan = scan_folder(tmp_path)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            path.unlink()  # any pixel read would now fail
    pick = pick_series(scan.series)
    assert pick.chosen is not None and pick.chosen.info.convolution_kernel == "B40f"


def test_thin_lung_reconstruction_does_not_beat_the_soft_tissue_one(tmp_path: Path) -> None:
    # A staging CT: 1 mm lung slices and 2.5 mm soft-tissue slices over the same range.
    _reconstruction(tmp_path, number=2, kernel="B40f", n_slices=12, spacing_mm=2.5)
    _reconstruction(tmp_path, number=3, kernel="Bl64d", n_slices=30, spacing_mm=1.0)
    pick = pick_series(scan_folder(tmp_path).series)
    assert pick.chosen is not None and pick.chosen.info.convolution_kernel == "B40f"
    ((other, why),) = pick.not_picked
    assert other.n_slices == 30
    assert why == "Bl64d (lung) kernel, while a soft-tissue reconstruction (B40f) is available"


def test_consistent_lung_series_beats_soft_tissue_series_with_a_gap(tmp_path: Path) -> None:
    # Geometry comes before the kernel: a level missing from the soft-tissue series would
    # never be graded at all (see classify._header_score).
    soft = _reconstruction(tmp_path, number=2, kernel="B40f", n_slices=14)
    soft.paths[5].unlink()
    _reconstruction(tmp_path, number=3, kernel="B70f", n_slices=14)
    pick = pick_series(scan_folder(tmp_path).series)
    assert pick.chosen is not None and pick.chosen.info.convolution_kernel == "B70f"
    assert "inconsistent series (gap)" in pick.not_picked[0][1]


@pytest.mark.parametrize("quiet_first", [True, False])
@pytest.mark.parametrize(
    ("kernels", "manufacturer"),
    [(("XR1", "XR2"), "Acme CT"), (("B60f", "B80f"), "SIEMENS"), (("", ""), "Acme CT")],
)
def test_noise_decides_when_the_kernels_say_nothing(
    tmp_path: Path, quiet_first: bool, kernels: tuple[str, str], manufacturer: str
) -> None:
    numbers = (2, 3) if quiet_first else (3, 2)
    _reconstruction(
        tmp_path,
        number=numbers[0],
        kernel=kernels[0],
        manufacturer=manufacturer,
        hu=_noisy(5.0, seed=1),
    )
    _reconstruction(
        tmp_path,
        number=numbers[1],
        kernel=kernels[1],
        manufacturer=manufacturer,
        hu=_noisy(60.0, seed=2),
    )
    if not kernels[0]:  # the writer fills in a kernel: take it out again
        for path in tmp_path.rglob("*"):
            if path.is_file():
                factory.rewrite(path, lambda ds: delattr(ds, "ConvolutionKernel"))
    scan = scan_folder(tmp_path)
    pick = pick_series(scan.series)
    assert pick.chosen is not None and pick.chosen.info.series_number == numbers[0]
    (other, why) = pick.not_picked[0]
    quiet_noise, loud_noise = pick.noise_of(pick.chosen), pick.noise_of(other)
    assert quiet_noise is not None and loud_noise is not None
    assert 3 * quiet_noise < loud_noise
    assert "so the quieter image was taken" in pick.reason
    assert f"{quiet_noise:.1f} HU measured on a middle slice vs {loud_noise:.1f} HU" in pick.reason
    assert why.startswith("same slices, ") and "and a noisier image: " in why
    assert f"{loud_noise:.1f} HU vs {quiet_noise:.1f} HU measured on a middle slice" in why


def test_thinner_slices_win_when_everything_else_is_equal(tmp_path: Path) -> None:
    for number, thickness in ((2, 2.5), (3, 1.0)):
        _reconstruction(
            tmp_path,
            number=number,
            kernel="B30f",
            hu=_noisy(15.0, seed=number),
            slice_thickness_mm=thickness,
        )
    scan = scan_folder(tmp_path)
    for order in (scan.series, tuple(reversed(scan.series))):
        pick = pick_series(order)
        assert pick.chosen is not None and pick.chosen.slice_thickness_mm == 1.0
        assert "image noise alike" in pick.reason
        ((_, why),) = pick.not_picked
        assert why == "thicker slices (2.5 mm vs 1 mm)"


def test_headers_only_pick_when_noise_is_not_wanted(tmp_path: Path) -> None:
    _reconstruction(tmp_path, number=2, kernel="XR1", manufacturer="Acme", hu=_noisy(60, seed=1))
    _reconstruction(tmp_path, number=3, kernel="XR2", manufacturer="Acme", hu=_noisy(5, seed=2))
    scan = scan_folder(tmp_path)
    pick = pick_series(scan.series, measure_noise=False)
    assert pick.noise_hu == () and pick.chosen is scan.series[0]  # scan order


def test_unreadable_pixels_only_lose_the_noise_comparison(tmp_path: Path) -> None:
    _reconstruction(tmp_path, number=2, kernel="XR1", manufacturer="Acme", hu=_noisy(60, seed=1))
    _reconstruction(tmp_path, number=3, kernel="XR2", manufacturer="Acme", hu=_noisy(5, seed=2))
    scan = scan_folder(tmp_path)
    for path in (tmp_path / "s2").iterdir():
        path.write_bytes(b"gone")
    pick = pick_series(scan.series)
    assert pick.chosen is not None and pick.chosen.info.series_number == 3
    ((_, why),) = pick.not_picked
    assert "its image noise could not be measured" in why


def test_noise_estimate_follows_the_noise_and_ignores_edges() -> None:
    rng = np.random.default_rng(0)
    flat = np.full((96, 96), 40.0)
    flat[:, 48:] = 1000.0  # a bone edge: excluded, not counted as noise
    for sigma in (5.0, 20.0, 60.0):
        noisy = flat + rng.normal(0.0, sigma, flat.shape)
        estimate = image_noise_hu(noisy)
        assert estimate is not None and estimate == pytest.approx(sigma, rel=0.15)
    assert image_noise_hu(np.full((96, 96), -1000.0)) is None  # no soft tissue: no estimate
