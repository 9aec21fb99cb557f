"""``synth --on-real``: studies with disease inserted into a (stand-in) real series."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from mscc_desktop.cli import main
from mscc_desktop.core.dicom import load_series, scan_folder
from mscc_desktop.core.grades import GradeGroup
from mscc_desktop.core.labels import (
    CANAL_LABEL,
    VocAnnotation,
    VocObject,
    read_labels_csv,
    read_voc,
    write_voc,
)
from tests.factories.dicom_factory import series_info, write_series
from tests.synth.test_real_insert import SPACING, canal_box, stand_in_slice

N_SLICES = 10


@pytest.fixture(scope="module")
def real_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A data root with one 10-slice 'real' series (stand-in vertebrae, 3 mm apart) and a
    folder of its canal boxes, paths relative to the root."""
    root = tmp_path_factory.mktemp("shared") / "data"
    series_dir = root / "some_collection" / "PATIENT-7"
    series_dir.mkdir(parents=True)
    hu = np.stack([np.rint(stand_in_slice(seed=k)).astype(np.int16) for k in range(N_SLICES)])
    hu = np.where(hu < -1024, -1024, hu).astype(np.int16)
    made = write_series(
        series_dir, hu=hu, spacing_mm=3.0, info=series_info(patient_id="PATIENT-7"),
        pixel_spacing_mm=SPACING, seed="real-stand-in",
    )  # fmt: skip
    boxes = root.parent / "boxes"
    boxes.mkdir()
    for path in made.written.paths:
        relative = path.relative_to(root).as_posix()
        annotation = VocAnnotation(
            filename=path.name, width=256, height=256,
            objects=(VocObject(CANAL_LABEL, canal_box()),), path=relative,
        )  # fmt: skip
        write_voc(annotation, boxes / f"{path.stem}.xml")
    return root, series_dir, boxes


def _digest(folder: Path) -> str:
    sha = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            sha.update(path.name.encode() + path.read_bytes())
    return sha.hexdigest()


def test_on_real_writes_the_unchanged_series_and_diseased_variants(
    real_data: tuple[Path, Path, Path], tmp_path: Path, capsys
) -> None:
    root, series_dir, boxes = real_data
    before = _digest(series_dir)
    out = tmp_path / "inserted"
    code = main(["synth", str(out), "--on-real", str(series_dir), "--boxes", str(boxes),
                 "--data-root", str(root), "--variants", "3", "--seed", "5"])  # fmt: skip
    assert code == 0
    assert _digest(series_dir) == before  # the source is only read
    studies = sorted(p for p in out.iterdir() if p.is_dir())
    assert [p.name[-5:] for p in studies] == ["__v00", "__v01", "__v02", "__v03"]
    source = load_series(scan_folder(series_dir).series[0])
    diseased = 0
    for k, study in enumerate(studies):
        meta = json.loads((study / "study.json").read_text())
        assert meta["real_patient"] == "PATIENT-7"
        assert meta["variant"] == k
        labels = read_labels_csv(study / "labels.csv")
        assert len(labels) == N_SLICES
        volume = load_series(scan_folder(study / "dicom").series[0])
        assert np.allclose(volume.positions_mm, source.positions_mm)
        assert volume.pixel_spacing_mm == pytest.approx(SPACING)
        assert len(list((study / "voc").glob("*.xml"))) == N_SLICES
        box = read_voc(next((study / "voc").glob("*.xml"))).boxes()[0]
        assert box.iou(canal_box()) > 0.95  # the bony canal does not move (VOC rounds)
        groups = {lab.group for lab in labels}
        if k == 0:
            assert groups == {GradeGroup.NORMAL}
            assert np.array_equal(volume.hu, source.hu)
            continue
        epidural = [les for les in meta["lesions"] if les["kind"] == "epidural"]
        assert epidural
        changed = np.abs(volume.hu.astype(int) - source.hu.astype(int)).max(axis=(1, 2)) > 0
        for label in labels:
            if label.group != GradeGroup.NORMAL:
                assert changed[label.slice_index]  # a label has its lesion in the pixels
        diseased += sum(lab.group != GradeGroup.NORMAL for lab in labels)
        peaks = {les["peak_grade"] for les in epidural if les["peak_grade"]}
        assert {lab.bilsky_grade.value for lab in labels if lab.bilsky_grade} >= peaks
    assert diseased > 0
    printed = capsys.readouterr().out
    assert "4 studies from 1 real series" in printed


def test_small_field_reconstructions_enlarge_the_canal(
    real_data: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    _root, series_dir, boxes = real_data
    out = tmp_path / "fov"
    code = main(["synth", str(out), "--on-real", str(series_dir), "--boxes", str(boxes),
                 "--variants", "0", "--fov-mm", "80", "--seed", "1"])  # fmt: skip
    assert code == 0  # the data root was found from the box paths
    (study,) = [p for p in out.iterdir() if p.is_dir()]
    volume = load_series(scan_folder(study / "dicom").series[0])
    assert volume.pixel_spacing_mm[0] == pytest.approx(80.0 / 256)
    box = read_voc(next((study / "voc").glob("*.xml"))).boxes()[0]
    assert box.width == pytest.approx(canal_box().width * 256 * 0.8 / 80.0, rel=0.02)
    # The canal's content is under the box: CSF, not bone.
    centre = volume.hu[0][int(box.centre[1]), int(box.centre[0])]
    assert -60 < centre < 80


def test_on_real_needs_boxes(real_data: tuple[Path, Path, Path], tmp_path: Path, capsys) -> None:
    _root, series_dir, _boxes = real_data
    assert main(["synth", str(tmp_path / "x"), "--on-real", str(series_dir)]) == 1
    assert "--boxes" in capsys.readouterr().err
