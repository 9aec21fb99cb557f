"""The model-as-reader seam: per-slice results on a labelled data folder become readings."""

from __future__ import annotations

from pathlib import Path

import pytest

from mscc_desktop.core.errors import EvaluationInputError
from mscc_desktop.core.findings import Box, SliceResult
from mscc_desktop.core.grades import GradeGroup
from mscc_desktop.evaluation import (
    Scheme,
    evaluate_predictions,
    model_readings,
    read_labels_folder,
    reading_from_slice,
)

HEADER = "sop_instance_uid,slice_index,z_mm,vertebral_level,bilsky_grade,group,degenerative\n"


def _data_folder(root: Path) -> Path:
    for study, rows in {
        "case01": ["1.1,0,8.0,T3,0,normal,false", "1.2,1,4.0,T4,2,high,false"],
        "case02": ["2.1,0,8.0,T8,1b,low,false", "2.2,1,4.0,T9,0,normal,true"],
    }.items():
        (root / study / "dicom").mkdir(parents=True)
        (root / study / "labels.csv").write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    return root


def _slice(
    uid: str, probabilities: tuple[float, float, float] | None, group: GradeGroup | None
) -> SliceResult:
    box = None if probabilities is None else Box(10, 10, 40, 40)
    return SliceResult(0, 0.0, uid, box, 0.9, probabilities, group)


FAKE_MODEL = {
    "case01": [
        _slice("1.1", (0.9, 0.05, 0.05), GradeGroup.NORMAL),
        _slice("1.2", (0.1, 0.2, 0.7), GradeGroup.HIGH),
        _slice("1.9", (0.9, 0.05, 0.05), GradeGroup.NORMAL),  # unlabelled slice
    ],
    "case02": [
        _slice("2.1", None, None),  # canal not found
        _slice("2.2", (0.2, 0.7, 0.1), GradeGroup.LOW),
    ],
}


def _fake_analyse(dicom_dir: Path) -> list[SliceResult]:
    assert dicom_dir.name == "dicom"
    return FAKE_MODEL[dicom_dir.parent.name]


def test_canal_not_found_counts_as_normal() -> None:
    reading = reading_from_slice("s", _slice("9.9", None, None))
    assert reading.group is GradeGroup.NORMAL
    assert reading.probabilities == (1.0, 0.0, 0.0)


def test_model_readings_feed_evaluate_predictions(tmp_path: Path) -> None:
    data = _data_folder(tmp_path / "data")
    reference = read_labels_folder(data)
    seen: list[str] = []
    model = model_readings(
        data, _fake_analyse, reference=reference, progress=lambda f, text: seen.append(text)
    )
    assert model.name == "model" and model.has_probabilities
    assert [r.key for r in model.images] == [
        ("case01", "1.1"),
        ("case01", "1.2"),
        ("case02", "2.1"),
        ("case02", "2.2"),
    ]  # the unlabelled slice 1.9 is dropped
    assert seen[-1] == "model readings collected"
    report = evaluate_predictions(reference, [model])
    # 2.2 is flagged degenerative and excluded; the model missed 2.1 (canal not found).
    assert report.n_images == 3 and report.n_excluded_degenerative == 1
    assert report.reader("model").agreement[Scheme.THREE_CLASS].table == (
        (1, 0, 0),
        (1, 0, 0),
        (0, 0, 1),
    )


def test_missing_dicom_folder_and_empty_data(tmp_path: Path) -> None:
    data = _data_folder(tmp_path / "data")
    (data / "case02" / "dicom").rmdir()
    with pytest.raises(EvaluationInputError, match="case02: no dicom/ folder"):
        model_readings(data, _fake_analyse)
    with pytest.raises(EvaluationInputError, match="no labelled studies"):
        model_readings(tmp_path / "data" / "case01" / "dicom", _fake_analyse)
