"""Grouping into patients/studies/series, splitting, classification and picking."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset

from mscc_desktop.core.dicom import (
    PlaneKind,
    SeriesKind,
    TransferSyntax,
    load_series,
    pick_series,
    scan_folder,
)
from mscc_desktop.core.notices import NoticeCode
from tests.factories import dicom_factory as factory


def test_two_series_in_one_folder_are_kept_apart(tmp_path: Path) -> None:
    thin = factory.write_series(
        tmp_path,
        n_slices=24,
        spacing_mm=1.25,
        seed="thin",
        info=factory.series_info(series_number=3, series_description="Thin"),
    )
    thick = factory.write_series(
        tmp_path,
        n_slices=12,
        spacing_mm=2.5,
        seed="thick",
        info=factory.series_info(series_number=2, series_description="Thick"),
    )
    scan = scan_folder(tmp_path)
    assert len(scan.patients) == 1 and len(scan.studies) == 1
    by_name = {s.info.series_description: s for s in scan.series}
    assert by_name["Thin"].n_slices == 24 and by_name["Thick"].n_slices == 12
    assert np.array_equal(load_series(by_name["Thick"]).hu, thick.hu)
    pick = pick_series(scan.series)
    assert pick.chosen is by_name["Thin"]
    assert thin.hu.shape[0] == 24
    ((other, why),) = pick.not_picked
    assert other is by_name["Thick"] and "fewer slices (12 vs 24)" in why


def test_missing_uids_fall_back_to_other_attributes(tmp_path: Path) -> None:
    first = factory.write_series(
        tmp_path, seed="a", info=factory.series_info(series_number=2, series_description="A")
    )
    second = factory.write_series(
        tmp_path, seed="b", info=factory.series_info(series_number=3, series_description="B")
    )
    factory.strip_uids(first.paths + second.paths)
    scan = scan_folder(tmp_path)
    assert len(scan.studies) == 1
    assert sorted(s.n_slices for s in scan.series) == [12, 12]
    assert all(s.analysable for s in scan.series)


def test_missing_uids_same_numbers_split_by_geometry(tmp_path: Path) -> None:
    info = factory.series_info(frame_of_reference_uid="1.2.3.4.5")
    first = factory.write_series(tmp_path, seed="a", rows=64, cols=64, info=info)
    second = factory.write_series(tmp_path, seed="b", rows=48, cols=48, info=info)
    factory.strip_uids(first.paths + second.paths)
    scan = scan_folder(tmp_path)
    assert sorted((s.rows, s.n_slices) for s in scan.series) == [(48, 12), (64, 12)]
    assert all("differs in rows, columns" in s.split_note for s in scan.series)


def test_series_split_on_orientation_change(tmp_path: Path) -> None:
    axial = factory.write_series(tmp_path, seed="same", n_slices=12)
    coronal = factory.write_series(
        tmp_path / "cor",
        seed="same",  # same seed → same Series Instance UID
        n_slices=12,
        image_orientation=(1.0, 0.0, 0.0, 0.0, 0.0, -1.0),
        positions_mm=tuple((-25.0, -30.0 + 2 * k, 40.0) for k in range(12)),
    )
    assert axial.written.series_instance_uid == coronal.written.series_instance_uid
    scan = scan_folder(tmp_path)
    kinds = sorted((s.plane.value, s.analysable) for s in scan.series)
    assert kinds == [("axial", True), ("coronal", False)]


def test_two_patients_never_share_a_volume(tmp_path: Path) -> None:
    first, second = factory.two_patients_sharing_uids(tmp_path)
    scan = scan_folder(tmp_path)
    assert len(scan.patients) == 2
    assert [s.n_slices for s in scan.series] == [12, 12]
    for entry in scan.series:
        assert NoticeCode.MIXED_SERIES in entry.notice_codes()
        assert len({ref.header.info.patient_id for ref in entry.frames}) == 1
    volumes = {s.info.patient_id: load_series(s) for s in scan.series}
    assert np.array_equal(volumes["P1"].hu, first.hu)
    assert np.array_equal(volumes["P2"].hu, second.hu)


def test_localizer_reformat_mr_and_secondary_capture_are_not_analysable(tmp_path: Path) -> None:
    axial = factory.write_series(tmp_path / "ax", n_slices=12)
    factory.localizer(tmp_path / "scout")
    factory.sagittal_reformat(tmp_path / "sag")
    factory.mr_series(tmp_path / "mr")
    factory.secondary_capture(tmp_path / "sc")
    scan = scan_folder(tmp_path)
    kinds = {s.kind: s for s in scan.series}
    assert set(kinds) == {
        SeriesKind.AXIAL_CT,
        SeriesKind.LOCALIZER,
        SeriesKind.NON_AXIAL,
        SeriesKind.NOT_CT,
        SeriesKind.SECONDARY_CAPTURE,
    }
    assert kinds[SeriesKind.NON_AXIAL].plane == PlaneKind.SAGITTAL
    assert "localizer" in kinds[SeriesKind.LOCALIZER].reasons[0]
    assert "MR" in kinds[SeriesKind.NOT_CT].reasons[0]
    assert [s.kind for s in scan.series if s.analysable] == [SeriesKind.AXIAL_CT]
    pick = pick_series(scan.series)
    assert pick.chosen is kinds[SeriesKind.AXIAL_CT]
    assert len(pick.not_picked) == 4
    assert all(why.startswith("not analysable: ") for _, why in pick.not_picked)
    assert np.array_equal(load_series(pick.chosen).hu, axial.hu)


def test_single_coronal_image_without_localizer_type_is_a_scout(tmp_path: Path) -> None:
    factory.write_series(
        tmp_path,
        n_slices=1,
        image_orientation=(1.0, 0.0, 0.0, 0.0, 0.0, -1.0),
        positions_mm=((0.0, 0.0, 0.0),),
    )
    (entry,) = scan_folder(tmp_path).series
    assert entry.kind == SeriesKind.LOCALIZER and not entry.analysable


def test_too_few_slices(tmp_path: Path) -> None:
    factory.write_series(tmp_path, n_slices=4)
    (entry,) = scan_folder(tmp_path, min_slices=10).series
    assert not entry.analysable and "too few slices (4" in entry.reasons[0]
    (entry,) = scan_folder(tmp_path, min_slices=3).series
    assert entry.analysable


def test_a_single_axial_slice_is_analysable_by_default(tmp_path: Path) -> None:
    factory.write_series(tmp_path, n_slices=1)
    (entry,) = scan_folder(tmp_path).series
    assert entry.analysable and entry.n_slices == 1


def test_pick_prefers_consistent_geometry_over_more_slices(tmp_path: Path) -> None:
    gappy = factory.write_series(
        tmp_path, n_slices=30, seed="g", info=factory.series_info(series_number=5)
    )
    for path in gappy.paths[10:14]:
        path.unlink()
    factory.write_series(tmp_path, n_slices=20, seed="c", info=factory.series_info(series_number=6))
    scan = scan_folder(tmp_path)
    pick = pick_series(scan.series)
    assert pick.chosen is not None and pick.chosen.n_slices == 20
    assert "inconsistent series (gap)" in pick.not_picked[0][1]


def test_pick_explains_when_nothing_is_analysable(tmp_path: Path) -> None:
    factory.localizer(tmp_path)
    pick = pick_series(scan_folder(tmp_path).series)
    assert pick.chosen is None and pick.reason == "no series is analysable"
    assert pick_series([]).reason == "no image series found"


def test_multiframe_counts_frames_as_slices(tmp_path: Path) -> None:
    factory.multiframe(tmp_path, n_frames=12)
    (entry,) = scan_folder(tmp_path).series
    assert entry.is_multiframe and entry.n_slices == 12 and entry.analysable


def test_mixed_transfer_syntaxes_in_one_series_load(tmp_path: Path) -> None:
    made = factory.write_series(tmp_path, n_slices=12, seed="mix")
    other = factory.write_series(
        tmp_path / "j2k", n_slices=12, seed="mix", transfer_syntax=TransferSyntax.JPEG2000_LOSSLESS
    )
    for path in made.paths[6:]:
        path.unlink()
    for path in other.paths[:6]:
        path.unlink()
    (entry,) = scan_folder(tmp_path).series
    assert len(entry.info.transfer_syntaxes) == 2
    assert np.array_equal(load_series(entry, workers=2).hu, made.hu)


def test_unusable_values_are_reported_not_fatal(tmp_path: Path) -> None:
    made = factory.write_series(tmp_path, n_slices=12)

    def spoil(ds: Dataset) -> None:
        # Stored with a text VR, as broken writers do; DS would refuse it.
        ds.add_new(0x00180050, "LO", "thin")  # (0018,0050) Slice Thickness
        ds.add_new(0x00180060, "LO", "n/a")  # (0018,0060) KVP

    for path in made.paths[:3]:
        factory.rewrite(path, spoil)
    (entry,) = scan_folder(tmp_path).series
    (notice,) = [n for n in entry.notices if n.code == NoticeCode.BAD_VALUE]
    assert "KVP (3 file(s))" in notice.message and "SliceThickness (3 file(s))" in notice.message
    assert entry.analysable


def test_missing_pixel_spacing_is_not_analysable(tmp_path: Path) -> None:
    made = factory.write_series(tmp_path, n_slices=12)
    for path in made.paths:
        factory.rewrite(path, lambda ds: delattr(ds, "PixelSpacing"))
    (entry,) = scan_folder(tmp_path).series
    assert not entry.analysable and "pixel spacing missing" in entry.reasons[0]


def test_missing_positions_load_in_instance_order_with_a_warning(tmp_path: Path) -> None:
    made = factory.write_series(tmp_path, n_slices=12)
    for path in made.paths:
        factory.rewrite(path, lambda ds: delattr(ds, "ImagePositionPatient"))
    (entry,) = scan_folder(tmp_path).series
    assert entry.kind == SeriesKind.NO_GEOMETRY and not entry.analysable
    volume = load_series(entry)
    assert np.array_equal(volume.hu, made.hu)  # instance numbers follow the slices here
    assert NoticeCode.MISSING_GEOMETRY in {n.code for n in volume.notices}


def test_pick_prefers_a_long_series_with_a_duplicate_over_a_single_clean_slice(
    tmp_path: Path,
) -> None:
    long = factory.write_series(
        tmp_path / "long", n_slices=30, seed="L", info=factory.series_info(series_number=3)
    )
    factory.duplicate_slice(long, 5)
    factory.write_series(
        tmp_path / "one", n_slices=1, seed="S", info=factory.series_info(series_number=9)
    )
    pick = pick_series(scan_folder(tmp_path).series)
    assert pick.chosen is not None and pick.chosen.n_slices == 30
    (why,) = [why for entry, why in pick.not_picked if entry.n_slices == 1]
    assert "too few slices to cover a spine segment" in why
