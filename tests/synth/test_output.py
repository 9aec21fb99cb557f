"""Written studies: DICOM round trip through our importer, determinism, ground-truth files."""

from __future__ import annotations

import filecmp
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread

from mscc_desktop.core.dicom import TransferSyntax, load_series, open_folder, scan_folder
from mscc_desktop.core.labels import read_labels_csv, read_study_json, read_voc, read_voc_boxes
from mscc_desktop.synth import (
    GeneratorConfig,
    SynthStudy,
    generate_study,
    sample_study,
    write_study,
)
from mscc_desktop.synth.output import generate_dataset
from mscc_desktop.synth.sampling import study_seed


@pytest.fixture(scope="module")
def small_study() -> SynthStudy:
    params = sample_study(31, GeneratorConfig(matrix=64, slice_spacing_mm=5.0, max_slices=10))
    return generate_study(params)


@pytest.fixture(scope="module")
def written(small_study: SynthStudy, tmp_path_factory: pytest.TempPathFactory):
    return write_study(small_study, tmp_path_factory.mktemp("out") / "study")


def _load_exact(folder: Path):
    scan = scan_folder(folder)
    assert len(scan.series) == 1
    return load_series(scan.series[0], map_padding_to_air=False)


def test_series_round_trips_with_exact_hu_and_slice_order(small_study, written) -> None:
    volume = _load_exact(written.dicom_dir)
    assert volume.hu.shape == small_study.hu.shape
    assert np.array_equal(volume.hu, small_study.hu)  # same HU, same order, same orientation
    assert volume.sop_instance_uids == written.sop_instance_uids
    assert np.allclose(volume.z_mm, small_study.z_positions_mm, atol=1e-3)
    px = small_study.params.scan.pixel_spacing_mm
    assert volume.pixel_spacing_mm == pytest.approx((px, px), abs=1e-4)


def test_default_import_maps_padding_to_air(small_study, written) -> None:
    volume = open_folder(written.dicom_dir).volume
    expected = small_study.hu.copy()
    expected[small_study.padding] = -1000
    expected[expected < -1500] = -1000
    assert np.array_equal(volume.hu, expected)


def test_dicom_headers_are_synthetic_and_complete(small_study, written) -> None:
    ds = dcmread(written.dicom_files[0])
    assert str(ds.PatientName).startswith("SYNTH^PHANTOM^")
    assert ds.Modality == "CT" and ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2"
    assert float(ds.RescaleIntercept) == small_study.params.scan.rescale_intercept
    assert ds.WindowCenter is not None and ds.WindowWidth is not None
    assert float(ds.SliceThickness) == pytest.approx(small_study.params.scan.slice_thickness_mm)
    has_contrast = small_study.params.phase.value != "non_contrast"
    assert ("ContrastBolusAgent" in ds) == has_contrast
    assert (
        len({dcmread(f, stop_before_pixels=True).SeriesInstanceUID for f in written.dicom_files})
        == 1
    )


def test_labels_csv_and_voc_files_match_the_truth(small_study, written) -> None:
    labels = read_labels_csv(written.labels_csv)
    assert [lab.slice_index for lab in labels] == list(range(len(small_study.truths)))
    assert tuple(lab.sop_instance_uid for lab in labels) == written.sop_instance_uids
    for label, truth in zip(labels, small_study.truths, strict=True):
        assert label.bilsky_grade == truth.grade and label.group == truth.group
        assert label.z_mm == pytest.approx(truth.z_mm, abs=1e-3)
        assert label.vertebral_level == truth.level
    boxes = read_voc_boxes(written.folder, labels)
    assert len(boxes) == len(labels)
    for label, truth in zip(labels, small_study.truths, strict=True):
        box = boxes[label.sop_instance_uid]
        # The integer VOC box encloses the exact canal box by less than a pixel.
        assert (
            box.x0 <= truth.canal_box.x0 < box.x0 + 1 and box.x1 - 1 < truth.canal_box.x1 <= box.x1
        )
        assert (
            box.y0 <= truth.canal_box.y0 < box.y0 + 1 and box.y1 - 1 < truth.canal_box.y1 <= box.y1
        )
    voc = read_voc(written.folder / "voc" / "IM00001.xml")
    assert voc.filename == written.dicom_files[0].name
    assert (voc.width, voc.height) == (64, 64)


def test_study_json_records_lesions_and_parameters(small_study, written) -> None:
    record = read_study_json(written.study_json)
    assert record.study_id == small_study.params.study_id
    assert record.seed == small_study.params.seed
    assert record.parameters["scan"]["matrix"] == 64
    assert record.levels and all(lv.z_top_mm > lv.z_bottom_mm for lv in record.levels)
    assert len([les for les in record.lesions if les.kind == "epidural"]) == len(
        small_study.params.epidural
    )


def test_same_seed_gives_byte_identical_files(small_study, tmp_path: Path) -> None:
    again = generate_study(small_study.params)
    assert again.hu.tobytes() == small_study.hu.tobytes()
    a = write_study(small_study, tmp_path / "a")
    b = write_study(again, tmp_path / "b")
    for fa, fb in zip(a.dicom_files, b.dicom_files, strict=True):
        assert filecmp.cmp(fa, fb, shallow=False)
    assert filecmp.cmp(a.labels_csv, b.labels_csv, shallow=False)


def test_a_slice_renders_the_same_alone_or_in_the_study(small_study) -> None:
    alone = generate_study(small_study.params, slices=[6])
    assert np.array_equal(alone.hu[0], small_study.hu[6])


def test_different_seeds_differ() -> None:
    config = GeneratorConfig(matrix=64, slice_spacing_mm=5.0, max_slices=2)
    a = generate_study(sample_study(1, config)).hu
    b = generate_study(sample_study(2, config)).hu
    assert a.shape != b.shape or not np.array_equal(a, b)


def test_existing_folder_is_not_overwritten_by_default(small_study, written) -> None:
    with pytest.raises(FileExistsError):
        write_study(small_study, written.folder)


@pytest.mark.parametrize("syntax", [TransferSyntax.RLE_LOSSLESS, TransferSyntax.JPEG2000_LOSSLESS])
def test_compressed_series_round_trip(small_study, tmp_path: Path, syntax) -> None:
    out = write_study(small_study, tmp_path / "c", transfer_syntax=syntax)
    assert np.array_equal(_load_exact(out.dicom_dir).hu, small_study.hu)


def test_parallel_rendering_gives_the_same_study() -> None:
    params = sample_study(8, GeneratorConfig(matrix=48, slice_spacing_mm=5.0, max_slices=8))
    serial = generate_study(params, workers=1)
    parallel = generate_study(params, workers=2)
    assert parallel.hu.tobytes() == serial.hu.tobytes()
    assert parallel.truths == serial.truths


def test_training_sets_can_render_a_spread_of_slices(tmp_path: Path) -> None:
    """``render_slices``: a few slices spread over the whole scan, labelled like any study."""
    full = GeneratorConfig(matrix=64, slice_spacing_mm=5.0)
    config = GeneratorConfig(matrix=64, slice_spacing_mm=5.0, render_slices=6)
    params = sample_study(study_seed(7, 0), full)
    (folder,) = generate_dataset(tmp_path, 1, 7, config)
    volume = open_folder(folder / "dicom").volume
    assert 4 <= volume.hu.shape[0] <= 6
    z_all = params.scan.z_positions()
    # From the top of the scan to within one step of its bottom.
    assert volume.z_mm.max() == pytest.approx(z_all[0])
    step = -(-len(z_all) // 6)
    assert volume.z_mm.min() <= z_all[-1] + step * 5.0
    rows = read_labels_csv(folder / "labels.csv")
    assert len(rows) == volume.hu.shape[0]
    alone = generate_study(params, slices=[step])
    inside = ~alone.padding[0]  # the importer maps padding to air
    assert np.array_equal(volume.hu[1][inside], alone.hu[0][inside])
    with pytest.raises(ValueError):
        GeneratorConfig(render_slices=0)
