"""The CT series writer: valid, deterministic, exact HU through pydicom's own Modality LUT."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.pixels import apply_modality_lut

from mscc_desktop.core.dicom import (
    CtSeriesSpec,
    FileNaming,
    TransferSyntax,
    write_ct_series,
    write_enhanced_ct,
)
from mscc_desktop.core.volume import SeriesInfo
from mscc_desktop.core.windows import Window


def _hu(n: int = 3, rows: int = 40, cols: int = 48) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(-1024, 3000, size=(n, rows, cols)).astype(np.int16)


def _spec(**fields: object) -> CtSeriesSpec:
    base: dict[str, object] = {
        "pixel_spacing_mm": (0.7, 0.8),
        "z_positions_mm": (10.0, 7.5, 5.0),
        "origin_xy_mm": (-100.0, -120.0),
        "slice_thickness_mm": 2.5,
        "info": SeriesInfo(patient_name="Doe^Jane", patient_id="X1", series_number=3),
    }
    base.update(fields)
    return CtSeriesSpec(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("syntax", list(TransferSyntax))
def test_every_syntax_round_trips_exact_hu(tmp_path: Path, syntax: TransferSyntax) -> None:
    hu = _hu()
    result = write_ct_series(hu, _spec(transfer_syntax=syntax), tmp_path)
    for index, path in enumerate(result.paths):
        ds = dcmread(path)
        assert ds.file_meta.TransferSyntaxUID == syntax.value
        assert np.array_equal(apply_modality_lut(ds.pixel_array, ds), hu[index])
        assert ds.SOPInstanceUID == result.sop_instance_uids[index]


def test_same_inputs_give_byte_identical_files(tmp_path: Path) -> None:
    spec = _spec(naming=FileNaming.RANDOM, seed="abc", transfer_syntax=TransferSyntax.RLE_LOSSLESS)
    first = write_ct_series(_hu(), spec, tmp_path / "a")
    second = write_ct_series(_hu(), spec, tmp_path / "b")
    assert [p.name for p in first.paths] == [p.name for p in second.paths]
    assert all(
        a.read_bytes() == b.read_bytes() for a, b in zip(first.paths, second.paths, strict=True)
    )
    other = write_ct_series(_hu(), _spec(seed="xyz"), tmp_path / "c")
    assert other.series_instance_uid != first.series_instance_uid
    assert set(other.sop_instance_uids).isdisjoint(first.sop_instance_uids)


def test_geometry_and_identity_attributes(tmp_path: Path) -> None:
    spec = _spec(window=Window(1500, 300, "Bone"), contrast_agent="Omnipaque", gantry_tilt_deg=0)
    result = write_ct_series(_hu(), spec, tmp_path)
    ds = dcmread(result.paths[1])
    assert [float(v) for v in ds.ImagePositionPatient] == [-100.0, -120.0, 7.5]
    assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
    assert [float(v) for v in ds.PixelSpacing] == [0.7, 0.8]
    assert float(ds.SliceThickness) == 2.5
    assert (ds.Rows, ds.Columns) == (40, 48)
    assert ds.PatientName == "Doe^Jane" and ds.PatientID == "X1"
    assert ds.Modality == "CT" and ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2"
    assert ds.StudyInstanceUID == result.study_instance_uid
    assert ds.FrameOfReferenceUID == result.frame_of_reference_uid
    assert (float(ds.WindowWidth), float(ds.WindowCenter)) == (1500.0, 300.0)
    assert ds.ContrastBolusAgent == "Omnipaque"
    assert ds.InstanceNumber == 2
    for keyword in ("StudyDate", "ContentTime", "Manufacturer", "KVP", "RescaleType"):
        assert keyword in ds


def test_unsigned_when_possible_signed_when_needed(tmp_path: Path) -> None:
    plain = write_ct_series(_hu(), _spec(), tmp_path / "u")
    assert dcmread(plain.paths[0]).PixelRepresentation == 0
    low = _hu()
    low[0, 0, 0] = -3024
    signed = write_ct_series(low, _spec(), tmp_path / "s")
    ds = dcmread(signed.paths[0])
    assert ds.PixelRepresentation == 1
    assert apply_modality_lut(ds.pixel_array, ds)[0, 0] == -3024


def test_padding_mask_and_value(tmp_path: Path) -> None:
    hu = _hu()
    mask = np.zeros(hu.shape, dtype=bool)
    mask[:, :2, :] = True
    result = write_ct_series(
        hu, _spec(pixel_padding_value=-2000, rescale_intercept=-1000), tmp_path, padding_mask=mask
    )
    ds = dcmread(result.paths[0])
    assert ds.PixelPaddingValue == -2000 and ds["PixelPaddingValue"].VR == "SS"
    assert np.all(ds.pixel_array[:2] == -2000)
    assert np.array_equal(apply_modality_lut(ds.pixel_array, ds)[2:], hu[0, 2:])


def test_non_integer_rescale(tmp_path: Path) -> None:
    hu = _hu().astype(np.float64) / 2
    result = write_ct_series(hu, _spec(rescale_slope=0.5, rescale_intercept=-1024), tmp_path)
    ds = dcmread(result.paths[2])
    assert np.allclose(apply_modality_lut(ds.pixel_array, ds), hu[2])


def test_values_that_do_not_fit_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="do not fit"):
        write_ct_series(np.full((1, 8, 8), 70000), _spec(z_positions_mm=(0.0,)), tmp_path)
    with pytest.raises(ValueError, match="z positions"):
        write_ct_series(_hu(n=2), _spec(), tmp_path)
    with pytest.raises(ValueError, match="32 x 32"):
        write_ct_series(
            _hu(n=1, rows=16, cols=16),
            _spec(z_positions_mm=(0.0,), transfer_syntax=TransferSyntax.JPEG2000_LOSSLESS),
            tmp_path,
        )


def test_file_naming(tmp_path: Path) -> None:
    names = [p.name for p in write_ct_series(_hu(), _spec(), tmp_path / "a").paths]
    assert names == ["IM00001.dcm", "IM00002.dcm", "IM00003.dcm"]
    bare = write_ct_series(_hu(), _spec(naming=FileNaming.SEQUENTIAL_NO_EXT), tmp_path / "b")
    assert [p.suffix for p in bare.paths] == ["", "", ""]
    random = write_ct_series(_hu(), _spec(naming=FileNaming.RANDOM), tmp_path / "c")
    assert all(len(p.name) == 16 and "." not in p.name for p in random.paths)
    assert len({p.name for p in random.paths}) == 3


@pytest.mark.parametrize("syntax", [TransferSyntax.EXPLICIT_LE, TransferSyntax.JPEG2000_LOSSLESS])
def test_enhanced_ct_multiframe(tmp_path: Path, syntax: TransferSyntax) -> None:
    hu = _hu(rows=48)
    result = write_enhanced_ct(hu, _spec(transfer_syntax=syntax), tmp_path / "mf")
    ds = dcmread(result.path)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2.1"
    assert int(ds.NumberOfFrames) == 3
    assert "RescaleIntercept" not in ds  # only in the functional groups
    shared = ds.SharedFunctionalGroupsSequence[0]
    transform = shared.PixelValueTransformationSequence[0]
    frames = ds.pixel_array * float(transform.RescaleSlope) + float(transform.RescaleIntercept)
    assert np.array_equal(frames, hu)
    positions = [
        float(item.PlanePositionSequence[0].ImagePositionPatient[2])
        for item in ds.PerFrameFunctionalGroupsSequence
    ]
    assert positions == [10.0, 7.5, 5.0]
