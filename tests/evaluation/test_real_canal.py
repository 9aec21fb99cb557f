"""The hand-checked canal boxes on the shared real CT: every slice of every labelled series is
boxed or excluded, the two kernels of a scan share their boxes, the labeller reproduces the set;
and the shipped model finds the canal on them and calls nothing high grade (none of the shared
real slices shows epidural disease)."""

from __future__ import annotations

import csv
import importlib.util
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

from mscc_desktop.core.config import DEFAULT_MODEL_ID, models_dir
from mscc_desktop.core.errors import EvaluationInputError
from mscc_desktop.core.findings import Box
from mscc_desktop.core.labels import CANAL_LABEL, VocAnnotation, VocObject, read_voc, write_voc
from mscc_desktop.evaluation.real_canal import (
    check_canal,
    labelled_real_slices,
    summarise_checks,
)

ROOT = Path(__file__).resolve().parents[2]
BOXES = ROOT / "tests" / "data" / "real_canal_boxes"
EXCLUDED = BOXES / "excluded.csv"

_A0001 = "lung_pet_ct_dx/Lung_Dx-A0001/04-04-2007-NA-Chest-07990"
_A0002 = "lung_pet_ct_dx/Lung_Dx-A0002/04-25-2007-NA-ThoraxAThoraxRoutine Adult-34834"
# Every series that is labelled in full (folder under the data root: number of slices).
COVERED_SERIES = {
    "thorax_philips_j2k": 71,
    "chest_abdomen_slices/axial": 10,
    f"{_A0001}/2.000000-5mm-40805": 64,
    f"{_A0001}/3.000000-5mm-41315": 64,
    f"{_A0002}/2.000000-ThoraxRoutine  8.0.0  B70f-62919": 30,
    f"{_A0002}/3.000000-ThoraxRoutine  8.0.0  B40f-10983": 30,
    "colorectal_liver_metastases/CRLM-CT-1004": 41,
    "colorectal_liver_metastases/CRLM-CT-1006": 51,
    "lidc_idri/LIDC-IDRI-0314": 69,
    "cc_tumor_heterogeneity/CCTH-A01": 148,
}
# The same slices reconstructed with two kernels (VOC folders): one box serves both.
KERNEL_TWINS = (
    ("lung_pet_ct_dx/A0001_kernel_B", "lung_pet_ct_dx/A0001_kernel_L"),
    ("lung_pet_ct_dx/A0002_kernel_B40f", "lung_pet_ct_dx/A0002_kernel_B70f"),
)


def test_two_boxes_for_one_slice_are_refused_with_both_files_named(tmp_path: Path) -> None:
    data, voc = tmp_path / "data", tmp_path / "voc"
    (data / "series").mkdir(parents=True)
    (data / "series" / "1-01.dcm").write_bytes(b"")
    annotation = VocAnnotation(
        filename="1-01.dcm",
        width=512,
        height=512,
        objects=(VocObject(CANAL_LABEL, Box(10.0, 10.0, 30.0, 30.0)),),
        folder="series",
        path="series/1-01.dcm",
    )
    for kernel in ("kernel_a", "kernel_b"):
        (voc / kernel).mkdir(parents=True)
        write_voc(annotation, voc / kernel / "1-01.xml")
    with pytest.raises(EvaluationInputError, match=r"already has a box in .*kernel_a"):
        labelled_real_slices(voc, data)


def _voc_paths() -> Counter[str]:
    return Counter(read_voc(xml).path for xml in BOXES.rglob("*.xml"))


def _excluded() -> dict[str, str]:
    with EXCLUDED.open(newline="", encoding="utf-8") as handle:
        return {row["path"]: row["reason"] for row in csv.DictReader(handle)}


def _series_of(relative: str) -> str:
    return relative.rsplit("/", 1)[0]


def test_every_labelled_series_is_boxed_or_excluded_slice_by_slice_in_the_files() -> None:
    # Without the CT files: the VOC paths and the exclusions add up to each series' slice count,
    # no slice is both boxed and excluded, and each excluded slice says why.
    boxed, excluded = _voc_paths(), _excluded()
    assert max(boxed.values()) == 1, [p for p, n in boxed.items() if n > 1]
    assert not set(boxed) & set(excluded)
    assert all(reason.strip() for reason in excluded.values())
    decided = Counter(_series_of(p) for p in [*boxed, *excluded])
    assert {s: decided[s] for s in COVERED_SERIES} == COVERED_SERIES
    assert set(decided) <= set(COVERED_SERIES), set(decided) - set(COVERED_SERIES)


def test_both_kernels_of_a_scan_carry_the_same_box_on_every_slice() -> None:
    for first, second in KERNEL_TWINS:
        one = {x.name: read_voc(x).boxes() for x in (BOXES / first).glob("*.xml")}
        other = {x.name: read_voc(x).boxes() for x in (BOXES / second).glob("*.xml")}
        assert one and one == other, (first, second)


@pytest.mark.real_data
def test_every_slice_of_the_labelled_series_is_boxed_or_excluded(real_data_dir: Path) -> None:
    boxed = {s.name for s in labelled_real_slices(BOXES, real_data_dir)}
    excluded = set(_excluded())
    for folder, n_slices in COVERED_SERIES.items():
        files = {
            p.relative_to(real_data_dir).as_posix()
            for p in (real_data_dir / folder).iterdir()
            if p.is_file() and p.suffix.lower() == ".dcm"
        }
        assert len(files) == n_slices, folder
        undecided = files - boxed - excluded
        assert not undecided, f"{folder}: neither boxed nor excluded: {sorted(undecided)}"
    missing = {p for p in excluded if not (real_data_dir / p).is_file()}
    assert not missing, f"excluded.csv names files that are not there: {sorted(missing)}"


def _labeller() -> ModuleType:
    path = ROOT / "scripts" / "label_real_canals.py"
    spec = importlib.util.spec_from_file_location("label_real_canals", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.real_data
def test_the_labeller_regenerates_every_committed_box_and_exclusion(real_data_dir: Path) -> None:
    # scripts/label_real_canals.py with the committed hand corrections is the one source of
    # the set: a box edited by hand in a VOC file, or a changed labeller, shows up here.
    results = _labeller().run(real_data_dir, dry_run=True)
    produced = {r.relative: r.rect for r in results if r.rect is not None}
    committed = {s.name: s.box for s in labelled_real_slices(BOXES, real_data_dir)}
    assert produced.keys() == committed.keys()
    changed = [
        name
        for name, rect in produced.items()
        if (rect[0] - 1, rect[1] - 1, rect[2], rect[3]) != committed[name].as_tuple()
    ]
    assert not changed, changed
    assert {r.relative: r.reason for r in results if r.source == "exclude"} == _excluded()


def test_every_hand_drawn_box_is_paired_with_its_slice_name(tmp_path: Path) -> None:
    # Without the real files the pairing refuses with a message naming the missing image.
    with pytest.raises(EvaluationInputError, match="not in"):
        labelled_real_slices(BOXES, tmp_path)


@pytest.mark.real_data
def test_shipped_model_does_on_its_calibration_patients_what_its_card_records(
    real_data_dir: Path,
) -> None:
    """On the real, disease-free series of the patients it was calibrated on (never trained
    on), the shipped model finds the canal and calls slices high exactly as its manifest
    records: the figures the model card states are the model's own."""
    folder = models_dir() / DEFAULT_MODEL_ID
    if not (folder / "manifest.json").is_file():
        pytest.skip(f"no shipped model in {folder}")
    from mscc_desktop.inference.backends import create_backend, resolve_model

    manifest = resolve_model(folder)
    recorded = manifest.evaluation["calibration_patients"]["disease_free"]
    series = tuple(f"{s}/" for s in recorded["series"])
    slices = [s for s in labelled_real_slices(BOXES, real_data_dir) if s.name.startswith(series)]
    assert len(slices) >= recorded["n_slices"] > 0
    checks = check_canal(slices, create_backend(manifest, "onnx-cpu"), manifest)
    summary = summarise_checks(checks)
    assert summary.found_share == pytest.approx(recorded["canal_found_iou50"], abs=0.02)
    # A boxed slice whose canal could not be fitted for insertion is not graded there.
    assert abs(summary.n_high - recorded["called_high"]) <= len(slices) - recorded["n_slices"] + 1
