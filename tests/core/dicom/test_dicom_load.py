"""Loading series into HU volumes: order, geometry, orientation, rescale, padding, decoding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset

from mscc_desktop.core.dicom import (
    FileNaming,
    SeriesEntry,
    TransferSyntax,
    load_series,
    open_folder,
    scan_folder,
)
from mscc_desktop.core.errors import Cancelled, DicomReadError, NothingToLoadError
from mscc_desktop.core.notices import NoticeCode
from mscc_desktop.core.tasks import CancelToken
from tests.factories import dicom_factory as factory


def _only(folder: Path) -> SeriesEntry:
    series = scan_folder(folder).series
    assert len(series) == 1, [s.description for s in series]
    return series[0]


def _codes(volume: object) -> set[NoticeCode]:
    return {n.code for n in volume.notices}  # type: ignore[attr-defined]


def test_round_trip_is_exact_and_sorted_by_position(tmp_path: Path) -> None:
    made = factory.write_series(tmp_path, n_slices=12)
    names = sorted(p.name for p in made.paths)
    assert names != [p.name for p in made.paths]  # file names say nothing about order
    volume = load_series(_only(tmp_path))
    assert volume.hu.dtype == np.int16
    assert np.array_equal(volume.hu, made.hu)
    assert np.allclose(volume.z_mm, [-2.5 * k for k in range(12)])
    assert volume.slice_spacing_mm == pytest.approx(2.5)
    assert volume.pixel_spacing_mm == (0.8, 0.8)
    assert volume.normal == pytest.approx((0.0, 0.0, 1.0))
    assert volume.positions_mm[3] == pytest.approx((-25.0, -30.0, -7.5))
    assert volume.sop_instance_uids == made.written.sop_instance_uids
    assert volume.source_files == made.paths
    assert volume.notices == ()
    assert volume.hu_available
    assert volume.dicom_window is not None and volume.dicom_window.width == 400


def test_instance_numbers_do_not_decide_order(tmp_path: Path) -> None:
    made = factory.write_series(tmp_path, n_slices=10)
    for k, path in enumerate(made.paths):

        def reverse(ds: Dataset, k: int = k) -> None:
            ds.InstanceNumber = 100 - 7 * k if k % 2 else k

        factory.rewrite(path, reverse)
    assert np.array_equal(load_series(_only(tmp_path)).hu, made.hu)


def test_feet_first_positions_still_load_head_first(tmp_path: Path) -> None:
    hu = factory.phantom(10)
    factory.write_series(
        tmp_path, hu=hu[::-1].copy(), z_positions_mm=tuple(-100.0 + 2.5 * k for k in range(10))
    )
    volume = load_series(_only(tmp_path))
    # Stored feet first (marker 90 at the lowest z); loaded head first again.
    assert list(volume.hu[:, 0, 0]) == [0, 10, 20, 30, 40, 50, 60, 70, 80, 90]
    assert np.array_equal(volume.hu, hu)
    assert np.all(np.diff(volume.z_mm) < 0)


def test_duplicate_slice_is_dropped_with_a_warning(tmp_path: Path) -> None:
    made = factory.write_series(tmp_path, n_slices=12)
    factory.duplicate_slice(made, 4)
    volume = load_series(_only(tmp_path))
    assert volume.n_slices == 12
    assert np.array_equal(volume.hu, made.hu)
    assert NoticeCode.DUPLICATE in _codes(volume)


def test_missing_slices_are_reported_as_a_gap(tmp_path: Path) -> None:
    made = factory.write_series(tmp_path, n_slices=14)
    made.paths[5].unlink()
    made.paths[6].unlink()
    volume = load_series(_only(tmp_path))
    assert volume.n_slices == 12
    gaps = [n for n in volume.notices if n.code == NoticeCode.GAP]
    assert len(gaps) == 1 and gaps[0].message.startswith("2 slice(s) missing")
    assert volume.slice_spacing_mm == pytest.approx(2.5)


def test_uneven_spacing_is_reported(tmp_path: Path) -> None:
    z = tuple(-2.5 * k - (0.6 if k >= 6 else 0.0) for k in range(12))
    factory.write_series(tmp_path, n_slices=12, z_positions_mm=z)
    volume = load_series(_only(tmp_path))
    assert NoticeCode.UNEVEN_SPACING in _codes(volume)
    assert NoticeCode.GAP not in _codes(volume)


def test_gantry_tilt_is_detected(tmp_path: Path) -> None:
    made = factory.tilted_series(tmp_path, tilt_deg=15.0)
    volume = load_series(_only(tmp_path))
    assert volume.gantry_tilt_deg == pytest.approx(15.0, abs=0.1)
    assert NoticeCode.GANTRY_TILT in _codes(volume)
    assert np.array_equal(volume.hu, made.hu)


def test_tilt_found_from_positions_alone(tmp_path: Path) -> None:
    made = factory.tilted_series(tmp_path, tilt_deg=12.0)
    for path in made.paths:
        factory.rewrite(path, lambda ds: delattr(ds, "GantryDetectorTilt"))
    volume = load_series(_only(tmp_path))
    assert volume.gantry_tilt_deg == pytest.approx(12.0, abs=0.1)


@pytest.mark.parametrize(
    ("orientation", "flip"),
    [
        ((1.0, 0.0, 0.0, 0.0, -1.0, 0.0), "rows"),  # rows stored running anterior
        ((-1.0, 0.0, 0.0, 0.0, 1.0, 0.0), "cols"),  # columns stored running to the right
        ((0.0, 1.0, 0.0, 1.0, 0.0, 0.0), "transpose"),  # rows and columns swapped
    ],
)
def test_stored_orientation_is_brought_to_display(
    tmp_path: Path, orientation: tuple[float, ...], flip: str
) -> None:
    display = factory.phantom(10, rows=64, cols=80)
    if flip == "rows":
        stored = display[:, ::-1, :]
    elif flip == "cols":
        stored = display[:, :, ::-1]
    else:
        stored = np.transpose(display, (0, 2, 1))
    factory.write_series(
        tmp_path,
        hu=np.ascontiguousarray(stored),
        image_orientation=orientation,
        pixel_spacing_mm=(0.5, 0.9) if flip == "transpose" else (0.9, 0.9),
    )
    volume = load_series(_only(tmp_path))
    assert np.array_equal(volume.hu, display)
    assert volume.col_axis == pytest.approx((1.0, 0.0, 0.0))
    assert volume.row_axis == pytest.approx((0.0, 1.0, 0.0))
    assert list(volume.hu[:, 0, 0]) == [10 * k for k in range(10)]
    if flip == "transpose":
        assert volume.pixel_spacing_mm == (0.9, 0.5)


def test_display_origin_moves_with_a_row_flip(tmp_path: Path) -> None:
    display = factory.phantom(10)
    factory.write_series(
        tmp_path,
        hu=np.ascontiguousarray(display[:, ::-1, :]),
        image_orientation=(1.0, 0.0, 0.0, 0.0, -1.0, 0.0),
        origin_xy_mm=(0.0, 50.0),
    )
    volume = load_series(_only(tmp_path))
    # Stored row 0 is the most posterior (y = 50); display row 0 is 63 rows anterior of it.
    assert volume.positions_mm[0][:2] == pytest.approx((0.0, 50.0 - 63 * 0.8))


def test_declared_padding_and_vendor_fill_become_air(tmp_path: Path) -> None:
    hu = factory.phantom(10)
    mask = np.zeros(hu.shape, dtype=bool)
    mask[:, 10:12, :] = True
    hu[:, 20, 5:9] = -3024  # GE-style fill written as HU, no declaration
    hu[:, 21, 5:9] = -2048  # Toshiba-style
    factory.write_series(
        tmp_path, hu=hu, pixel_padding_value=1500, rescale_intercept=-1000, padding_mask=mask
    )  # declared padding whose HU (+500) only the declaration identifies as fill
    volume = load_series(_only(tmp_path))
    assert np.all(volume.hu[:, 10:12, :] == -1000)
    assert np.all(volume.hu[:, 20:22, 5:9] == -1000)
    assert np.array_equal(volume.hu[:, 30:, :], hu[:, 30:, :])
    assert volume.extra["padding_voxels"] > 0
    raw = load_series(_only(tmp_path), map_padding_to_air=False)
    assert np.all(raw.hu[:, 20, 5:9] == -3024)


def test_rescale_applied_per_slice(tmp_path: Path) -> None:
    made = factory.write_series(tmp_path, n_slices=10)
    # Re-express slice 3 with another intercept and slope 2, same HU.
    target = made.paths[3]

    def restate(ds: Dataset) -> None:
        stored = ds.pixel_array.astype(np.int32) - 1024  # HU
        ds.RescaleIntercept = "-2000"
        ds.RescaleSlope = "2"
        ds.PixelRepresentation = 0
        ds.PixelData = ((stored + 2000) // 2).astype("<u2").tobytes()

    factory.rewrite(target, restate)
    volume = load_series(_only(tmp_path))
    expected = made.hu[3] - (made.hu[3] % 2)  # slope 2 quantises odd HU down
    assert np.array_equal(volume.hu[3], expected)
    assert np.array_equal(volume.hu[4], made.hu[4])


def test_fractional_rescale_gives_float32(tmp_path: Path) -> None:
    hu = factory.phantom(10).astype(np.float64) / 2
    factory.write_series(tmp_path, hu=hu, rescale_slope=0.5, rescale_intercept=-1024.0)
    volume = load_series(_only(tmp_path))
    assert volume.hu.dtype == np.float32
    assert np.allclose(volume.hu, hu)


def test_unscaled_images_load_without_hu(tmp_path: Path) -> None:
    made = factory.write_series(tmp_path, n_slices=10)
    for path in made.paths:
        factory.rewrite(
            path, lambda ds: (delattr(ds, "RescaleIntercept"), delattr(ds, "RescaleSlope"))
        )
    entry = _only(tmp_path)
    assert not entry.analysable and "Hounsfield" in entry.reasons[0]
    volume = load_series(entry)
    assert not volume.hu_available
    assert NoticeCode.NO_HU in _codes(volume)
    assert np.array_equal(volume.hu, made.hu + 1024)  # stored values, untouched


@pytest.mark.parametrize(
    "syntax",
    [
        TransferSyntax.IMPLICIT_LE,
        TransferSyntax.DEFLATED_LE,
        TransferSyntax.RLE_LOSSLESS,
        TransferSyntax.JPEG2000_LOSSLESS,
        TransferSyntax.JPEGLS_LOSSLESS,
    ],
)
def test_compressed_and_other_syntaxes_round_trip(tmp_path: Path, syntax: TransferSyntax) -> None:
    made = factory.write_series(tmp_path, n_slices=12, transfer_syntax=syntax)
    volume = load_series(_only(tmp_path), workers=2)
    assert np.array_equal(volume.hu, made.hu)
    assert volume.info.transfer_syntaxes == (syntax.value,)


def test_enhanced_multiframe_sorted_by_functional_groups(tmp_path: Path) -> None:
    hu, written = factory.multiframe(tmp_path, n_frames=12)
    volume = load_series(_only(tmp_path))
    assert np.array_equal(volume.hu, hu)
    assert set(volume.source_files) == {written.path}
    assert sorted(volume.frame_indices) == list(range(12))
    assert volume.frame_indices != tuple(range(12))  # frames were stored shuffled


def test_compressed_multiframe(tmp_path: Path) -> None:
    hu, _ = factory.multiframe(tmp_path, n_frames=10, transfer_syntax=TransferSyntax.RLE_LOSSLESS)
    assert np.array_equal(load_series(_only(tmp_path), workers=2).hu, hu)


def test_undecodable_slice_is_reported_and_the_rest_loads(tmp_path: Path) -> None:
    made = factory.write_series(tmp_path, n_slices=12, naming=FileNaming.SEQUENTIAL)
    entry = _only(tmp_path)
    data = made.paths[7].read_bytes()
    made.paths[7].write_bytes(data[: len(data) - 3000])  # pixel data cut short after the scan
    volume = load_series(entry)
    assert volume.n_slices == 11
    notices = [n for n in volume.notices if n.code == NoticeCode.UNDECODABLE_SLICE]
    assert len(notices) == 1 and "IM00008.dcm" in notices[0].message
    assert NoticeCode.GAP in _codes(volume)
    assert np.array_equal(volume.hu, np.delete(made.hu, 7, axis=0))


def test_nothing_decodable_raises_with_file_and_remedy(tmp_path: Path) -> None:
    made = factory.write_series(tmp_path, n_slices=10, naming=FileNaming.SEQUENTIAL)
    entry = _only(tmp_path)
    for path in made.paths:
        path.write_bytes(path.read_bytes()[:-2000])
    with pytest.raises(DicomReadError) as caught:
        load_series(entry)
    message = caught.value.message
    assert "IM000" in message and "cut short" in message and "copy the series again" in message


def test_cancel_stops_loading(tmp_path: Path) -> None:
    factory.write_series(tmp_path, n_slices=12, transfer_syntax=TransferSyntax.RLE_LOSSLESS)
    entry = _only(tmp_path)
    token = CancelToken()
    seen: list[float] = []

    def progress(fraction: float, text: str) -> None:
        seen.append(fraction)
        if fraction > 0.2:
            token.cancel()

    with pytest.raises(Cancelled):
        load_series(entry, progress=progress, cancel=token, workers=1)
    assert seen and max(seen) < 1.0


def test_progress_reaches_the_end(tmp_path: Path) -> None:
    factory.write_series(tmp_path, n_slices=12)
    seen: list[float] = []
    load_series(_only(tmp_path), progress=lambda f, t: seen.append(f))
    assert seen == sorted(seen) and seen[-1] == pytest.approx(0.98, abs=0.02)


def test_hostile_declared_size_is_refused_before_allocation(tmp_path: Path) -> None:
    made = factory.write_series(tmp_path, n_slices=10)
    for path in made.paths:

        def huge(ds: Dataset) -> None:
            ds.Rows = 65535
            ds.Columns = 65535

        factory.rewrite(path, huge)
    from mscc_desktop.core.errors import UnusableSeriesError

    with pytest.raises(UnusableSeriesError, match="beyond"):
        load_series(_only(tmp_path))


def test_open_folder_picks_and_loads(tmp_path: Path) -> None:
    made = factory.write_series(tmp_path / "ax", n_slices=12)
    factory.localizer(tmp_path / "scout")
    factory.junk_files(tmp_path / "junk")
    opened = open_folder(tmp_path)
    assert opened.pick.chosen is not None
    assert np.array_equal(opened.volume.hu, made.hu)


def test_open_folder_without_analysable_series_explains(tmp_path: Path) -> None:
    factory.localizer(tmp_path)
    with pytest.raises(NothingToLoadError, match="mscc-desktop info"):
        open_folder(tmp_path)


def test_source_folder_is_untouched(tmp_path: Path) -> None:
    source = tmp_path / "src"
    factory.write_series(source, n_slices=12, transfer_syntax=TransferSyntax.JPEG2000_LOSSLESS)
    factory.junk_files(source)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in source.rglob("*")}
    source.chmod(0o555)  # a read-only CD (root ignores it; the comparison below does not)
    try:
        opened = open_folder(source, workers=2)
        assert opened.volume.n_slices == 12
    finally:
        source.chmod(0o755)
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in source.rglob("*")}
    assert after == before


def test_workers_that_cannot_start_fall_back_to_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from concurrent.futures.process import BrokenProcessPool

    from mscc_desktop.core.dicom import load as load_module

    class DeadPool:
        def submit(self, *args: object, **kwargs: object) -> None:
            raise BrokenProcessPool("a worker was killed")

    monkeypatch.setattr(load_module, "process_pool", lambda workers: DeadPool())
    made = factory.write_series(tmp_path, n_slices=12, transfer_syntax=TransferSyntax.RLE_LOSSLESS)
    volume = load_series(_only(tmp_path), workers=2)
    assert np.array_equal(volume.hu, made.hu)
