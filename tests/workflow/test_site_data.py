"""Reviewed studies become labelled slices, and the export is a training set that keeps the
site's patients private when asked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mscc_desktop import storage
from mscc_desktop.core.grades import GradeGroup
from mscc_desktop.core.labels import read_dataset_manifest
from mscc_desktop.training.study_reader import find_studies, load_study
from mscc_desktop.workflow.site_data import (
    export_reviewed,
    reviewed_series,
)
from tests.reporting.study import PATIENT, AnalysedStudy, analysed_study, review


@pytest.fixture
def study(tmp_path: Path) -> AnalysedStudy:
    return analysed_study(tmp_path / "study", db=storage.open_store(tmp_path / "s.sqlite"))


def _groups(study: AnalysedStudy) -> dict[int, tuple[GradeGroup, str]]:
    (series,), _ = reviewed_series(study.db)
    return {s.slice.index: (s.group, s.source) for s in series.labelled}


def test_a_study_not_signed_off_gives_no_labels(study: AnalysedStudy) -> None:
    review(study, sign_off=False)
    series, summary = reviewed_series(study.db)
    assert series == [] and summary.n_studies == 0


def test_accepted_regraded_and_unflagged_slices_are_labelled_by_the_rules(
    study: AnalysedStudy,
) -> None:
    review(study)  # 1 accepted (high), 2 accepted (low), 3 regraded high -> low; signed off
    labels = _groups(study)
    lesions = study.result.findings.lesions  # type: ignore[union-attr]
    slices = study.result.findings.slices  # type: ignore[union-attr]
    first, second, third = lesions
    for index in range(first.first_slice, first.last_slice + 1):
        if slices[index].group is not GradeGroup.NORMAL:  # each keeps the model's own grade
            assert labels[index] == (slices[index].group, "accepted")
    assert labels[first.key_slice] == (first.group, "accepted")
    for index in range(third.first_slice, third.last_slice + 1):
        if slices[index].group is not GradeGroup.NORMAL:
            assert labels[index] == (GradeGroup.LOW, "regraded")
    assert labels[0] == (GradeGroup.NORMAL, "unflagged")
    assert 3 not in labels  # the canal was not found there: no box, no label
    assert second.group is GradeGroup.LOW


def test_a_rejected_finding_is_normal_and_one_without_a_verdict_is_left_out(
    study: AnalysedStudy,
) -> None:
    db, aid = study.db, study.analysis_id
    storage.save_review(db, aid, 1, decision=storage.ReviewDecision.REJECT, user="reader")
    storage.set_study_review_status(db, study.series.study_id, storage.ReviewStatus.REVIEWED)
    labels = _groups(study)
    lesions = study.result.findings.lesions  # type: ignore[union-attr]
    rejected, undecided = lesions[0], lesions[1]
    assert labels[rejected.key_slice] == (GradeGroup.NORMAL, "rejected")
    assert undecided.key_slice not in labels
    (series,), summary = reviewed_series(db)
    assert series.n_left_out >= undecided.n_abnormal_slices
    assert summary.n_left_out == series.n_left_out


def test_no_mscc_in_one_action_labels_every_slice_normal_and_signs_off(
    study: AnalysedStudy,
) -> None:
    storage.set_study_no_mscc(study.db, study.series.study_id, user="reader")
    assert storage.study_review_status(study.db, study.series.study_id) is (
        storage.ReviewStatus.REVIEWED
    )
    labels = _groups(study)
    assert {group for group, _ in labels.values()} == {GradeGroup.NORMAL}
    assert {source for _, source in labels.values()} == {"no_mscc"}
    actions = [e.action for e in storage.audit_entries(study.db)]
    assert storage.AuditAction.STUDY_NO_MSCC in actions


def test_the_export_is_a_training_set_the_trainer_reads(
    study: AnalysedStudy, tmp_path: Path
) -> None:
    review(study)
    out = tmp_path / "dataset"
    result = export_reviewed(study.db, out)
    assert result.n_series == 1 and result.slices_by_group["high"] > 0
    (folder,) = find_studies(out)
    labelled = load_study(folder)
    expected = _groups(study)
    assert len(labelled.labels) == len(expected)
    for label in labelled.labels:
        assert label.group is expected[label.slice_index][0]
        assert label.box is not None  # every label has its canal box
    manifest = read_dataset_manifest(out)
    assert manifest["n_patients"] == 1 and manifest["deidentified"] is False


def test_the_de_identified_export_holds_no_patient_data(
    study: AnalysedStudy, tmp_path: Path
) -> None:
    review(study)
    out = tmp_path / "dataset"
    export_reviewed(study.db, out, deidentify=True, secret=b"k" * 32)
    identifying = [
        PATIENT.patient_name.split("^")[0],
        PATIENT.patient_id,
        PATIENT.patient_birth_date,
        PATIENT.accession_number,
        PATIENT.institution_name.split()[1],
        PATIENT.referring_physician.split("^")[0],
        PATIENT.study_date,
        study.volume.info.study_instance_uid,
        study.volume.sop_instance_uids[0],
    ]
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) > 40
    for path in files:
        data = path.read_bytes()
        for value in identifying:
            assert value.encode() not in data, f"{value!r} left in {path.relative_to(out)}"
    (folder,) = find_studies(out)
    labelled = load_study(folder)  # the mapped UIDs still tie labels to slices
    assert len(labelled.labels) == len(_groups(study))


def test_a_linked_export_points_at_the_source_and_copies_nothing(
    study: AnalysedStudy, tmp_path: Path
) -> None:
    review(study)
    out = tmp_path / "dataset"
    export_reviewed(study.db, out, link=True)
    (folder,) = find_studies(out)
    assert (folder / "dicom").is_symlink()
    assert len(load_study(folder).labels) == len(_groups(study))


def test_cli_dataset_summary_and_export(tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite"
    study = analysed_study(tmp_path / "study", db=storage.open_store(store))
    review(study)
    study.db.close()
    run = [sys.executable, "-m", "mscc_desktop", "dataset"]
    summary = subprocess.run([*run, "summary", "--db", str(store)], capture_output=True, text=True)
    assert summary.returncode == 0, summary.stderr
    assert summary.stdout.startswith("1 signed-off studies of 1 patients (1 with a high-grade")
    export = subprocess.run(
        [*run, "export", "--reviewed", "--out", str(tmp_path / "d"), "--deidentify", "-q",
         "--db", str(store)],
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert export.returncode == 0, export.stderr
    assert (tmp_path / "d" / "S0001" / "labels.csv").is_file()
