"""Real CT files (../shared/data via MSCC_REAL_DATA): encodings, vendors, difficult files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.pixels import apply_modality_lut

from mscc_desktop.core.dicom import (
    SeriesKind,
    SkipKind,
    load_series,
    pick_series,
    scan_folder,
)
from mscc_desktop.core.errors import DicomReadError, MsccError
from mscc_desktop.core.notices import NoticeCode

pytestmark = pytest.mark.real_data

NO_DECODER = {
    "CTImage.dcm_JPEGProcess6_8TransferSyntax_1.2.840.10008.1.2.4.53.dcm": "Process 6 and 8",
    "CTImage.dcm_JPEGProcess10_12TransferSyntax_1.2.840.10008.1.2.4.55.dcm": "Process 10 and 12",
}
UNREADABLE = {"GH177_D_CLUNIE_CT1_IVRLE_BigEndian_undefined_length.dcm"}


def _expected_values(path: Path, frame_indices: tuple[int, ...], hu_available: bool) -> np.ndarray:
    """pydicom's own answer: Modality LUT of each frame (functional groups for Enhanced CT)."""
    ds = dcmread(path)
    pixels = ds.pixel_array
    if pixels.ndim == 2:
        pixels = pixels[None]
    if not hu_available:
        return pixels[list(frame_indices)].astype(np.float64)
    if "SharedFunctionalGroupsSequence" in ds and "RescaleSlope" not in ds:
        transform = ds.SharedFunctionalGroupsSequence[0].PixelValueTransformationSequence[0]
        values = pixels * float(transform.RescaleSlope) + float(transform.RescaleIntercept)
    else:
        values = np.stack([apply_modality_lut(frame, ds) for frame in pixels])
    return values[list(frame_indices)]


def test_every_robustness_file_loads_with_correct_hu_or_has_a_reason(real_data_dir: Path) -> None:
    files = sorted(p for p in (real_data_dir / "robustness").rglob("*") if p.is_file())
    assert len(files) >= 29
    loaded = 0
    for path in files:
        scan = scan_folder(path)
        if path.name in UNREADABLE:
            (skipped,) = scan.skipped
            assert skipped.kind == SkipKind.UNREADABLE and "damaged" in skipped.reason
            continue
        assert not scan.skipped, (path.name, scan.skipped)
        (entry,) = scan.series
        if path.name in NO_DECODER:
            with pytest.raises(DicomReadError) as caught:
                load_series(entry)
            message = caught.value.message
            assert path.name in message and NO_DECODER[path.name] in message
            assert "gdcmconv" in message
            continue
        volume = load_series(entry, map_padding_to_air=False)
        transform = volume.extra["display_transform"]
        expected = _expected_values(path, volume.frame_indices, volume.hu_available)
        expected = np.stack([transform.apply(frame) for frame in expected])  # type: ignore[attr-defined]
        assert volume.hu.shape == expected.shape, path.name
        assert np.allclose(volume.hu, expected, rtol=1e-6, atol=1e-3), path.name
        loaded += 1
    assert loaded == len(files) - len(NO_DECODER) - len(UNREADABLE)


def test_eight_bit_jpeg_baseline_has_no_hu(real_data_dir: Path) -> None:
    path = (
        real_data_dir
        / "robustness"
        / "CTImage.dcm_JPEGProcess1TransferSyntax_1.2.840.10008.1.2.4.50.dcm"
    )
    (entry,) = scan_folder(path).series
    volume = load_series(entry)
    assert not volume.hu_available and NoticeCode.NO_HU in {n.code for n in volume.notices}


def test_rows_running_anterior_come_out_the_right_way_up(real_data_dir: Path) -> None:
    path = real_data_dir / "robustness" / "more" / "explicit_VR-UN.dcm"
    (entry,) = scan_folder(path).series
    volume = load_series(entry, map_padding_to_air=False)
    assert volume.row_axis == pytest.approx((0.0, 1.0, 0.0))
    stored = apply_modality_lut(dcmread(path).pixel_array, dcmread(path))
    assert np.array_equal(volume.hu[0], stored[::-1, :])


def test_philips_thorax_is_one_71_slice_volume_4mm_no_gaps(real_data_dir: Path) -> None:
    scan = scan_folder(real_data_dir / "thorax_philips_j2k")
    (entry,) = scan.series
    assert entry.analysable and entry.n_slices == 71
    assert pick_series(scan.series).chosen is entry
    volume = load_series(entry)
    assert volume.shape == (71, 512, 512) and volume.hu.dtype == np.int16
    assert volume.slice_spacing_mm == pytest.approx(4.0, abs=0.01)
    codes = {n.code for n in volume.notices}
    assert not codes & {NoticeCode.GAP, NoticeCode.UNEVEN_SPACING, NoticeCode.DUPLICATE}
    assert np.all(np.diff(volume.z_mm) < 0)  # head first
    # The untouched originals of slices 0 and 70 must match the lossless J2K slices.
    for name in ("00-slice000.dcm", "00-slice070.dcm"):
        original = real_data_dir / "robustness" / "more" / name
        ds = dcmread(original)
        z = float(ds.ImagePositionPatient[2])
        index = int(np.argmin(np.abs(volume.positions_mm[:, 2] - z)))
        assert np.array_equal(
            np.where(
                apply_modality_lut(ds.pixel_array, ds) < -1500,
                -1000,
                apply_modality_lut(ds.pixel_array, ds),
            ),
            volume.hu[index],
        )


def test_sagittal_and_localizer_files_are_never_picked(real_data_dir: Path) -> None:
    # The whole folder: it gains patients over time, so the test names no winner, only what
    # may never win or be analysed.
    scan = scan_folder(real_data_dir)
    pick = pick_series(scan.series)
    never = {"GH1728.dcm", "GH342.dcm"} | {
        p.name for p in (real_data_dir / "chest_abdomen_slices" / "non_axial").iterdir()
    }
    assert pick.chosen is not None
    assert pick.chosen.kind == SeriesKind.AXIAL_CT and pick.chosen.analysable
    assert not never & {p.name for p in pick.chosen.files}
    analysable = [e for e in scan.series if e.analysable]
    assert pick.chosen.n_slices == max(e.n_slices for e in analysable)
    for entry in scan.series:
        if never & {p.name for p in entry.files}:
            assert not entry.analysable, entry.reasons
            assert entry.kind in (
                SeriesKind.LOCALIZER,
                SeriesKind.NON_AXIAL,
                SeriesKind.SECONDARY_CAPTURE,
            )
    kinds = {p.name: e.kind for e in scan.series for p in e.files}
    assert kinds["GH342.dcm"] == SeriesKind.LOCALIZER


def test_thorax_beats_the_sagittal_and_localizer_files_beside_it(
    real_data_dir: Path, tmp_path: Path
) -> None:
    # The original folder pair, linked (never copied) so that new patients cannot change it.
    (tmp_path / "thorax_philips_j2k").symlink_to(real_data_dir.resolve() / "thorax_philips_j2k")
    (tmp_path / "robustness").symlink_to(real_data_dir.resolve() / "robustness")
    (tmp_path / "non_axial").symlink_to(
        real_data_dir.resolve() / "chest_abdomen_slices" / "non_axial"
    )
    pick = pick_series(scan_folder(tmp_path).series)
    assert pick.chosen is not None
    # The thorax series (plus the two untouched originals of its slices, same Series UID).
    assert pick.chosen.n_slices == 71
    assert {p.parent.name for p in pick.chosen.files} <= {"thorax_philips_j2k", "more"}


def test_nothing_crashes_on_the_whole_data_folder(real_data_dir: Path) -> None:
    scan = scan_folder(real_data_dir)
    assert scan.n_images >= 110
    assert {s.path.name for s in scan.unreadable} == UNREADABLE
    for entry in scan.series:
        try:
            volume = load_series(entry)
        except MsccError as error:
            assert error.message
            continue
        assert volume.n_slices >= 1 and np.isfinite(volume.z_mm).all()


@pytest.mark.parametrize(
    ("patient", "soft", "sharp"),
    [("Lung_Dx-A0002", "B40f", "B70f (sharp)"), ("Lung_Dx-A0001", "B", "L (lung)")],
)
def test_lung_pet_ct_dx_picks_the_soft_tissue_reconstruction(
    real_data_dir: Path, patient: str, soft: str, sharp: str
) -> None:
    # Each slice of these scans exists in two kernels (Siemens B40f/B70f, Philips B/L).
    scan = scan_folder(real_data_dir / "lung_pet_ct_dx" / patient)
    assert len(scan.series) == 2
    pick = pick_series(scan.series)
    assert pick.chosen is not None and pick.chosen.info.convolution_kernel == soft
    assert f"soft-tissue kernel {soft} preferred over {sharp}" in pick.reason
    ((other, why),) = pick.not_picked
    assert other.kernel.name != soft and why == f"same slices, sharper kernel {sharp}"


def test_lung_pet_ct_dx_noise_alone_finds_the_soft_reconstruction(
    real_data_dir: Path, tmp_path: Path
) -> None:
    # With the kernel names removed, the measured noise must still tell B40f from B70f.
    source = real_data_dir / "lung_pet_ct_dx" / "Lung_Dx-A0002"
    kernel_of: dict[str, str] = {}
    for number, path in enumerate(sorted(p for p in source.rglob("*") if p.is_file())):
        ds = dcmread(path)
        kernel_of[str(ds.SeriesInstanceUID)] = str(ds.ConvolutionKernel)
        del ds.ConvolutionKernel
        ds.SeriesDescription = "ThoraxRoutine"
        ds.save_as(tmp_path / f"{number:03d}.dcm", enforce_file_format=True)
    scan = scan_folder(tmp_path)
    assert {entry.kernel.describe() for entry in scan.series} == {"no kernel recorded"}
    pick = pick_series(scan.series)
    assert pick.chosen is not None
    assert kernel_of[pick.chosen.info.series_instance_uid] == "B40f"
    ((other, why),) = pick.not_picked
    chosen_noise, other_noise = pick.noise_of(pick.chosen), pick.noise_of(other)
    assert chosen_noise is not None and other_noise is not None
    assert 2 * chosen_noise < other_noise
    assert "so the quieter image was taken" in pick.reason and "noisier image" in why
