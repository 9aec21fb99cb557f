"""Report inputs: the analysis must belong to the loaded images; audit of exports."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from mscc_desktop import storage
from mscc_desktop.core.errors import ExportError
from mscc_desktop.core.findings import AnalysisStatus
from mscc_desktop.reporting import (
    ReportInputs,
    export_pdf,
    report_inputs,
)
from mscc_desktop.workflow.report_inputs import load_report_inputs, record_export
from tests.reporting.study import AnalysedStudy, analysed_study


def test_store_inputs_carry_review_key_images_and_sign_off(reviewed_inputs: ReportInputs) -> None:
    assert reviewed_inputs.sign_off.signed_off and reviewed_inputs.sign_off.by == "Dr Reader"
    assert reviewed_inputs.sign_off.at is not None
    assert set(reviewed_inputs.reviews) == {1, 2, 3}
    assert reviewed_inputs.reader_key_slices == (5,)
    assert reviewed_inputs.analysis_id is not None and not reviewed_inputs.stale


def test_analysis_of_another_series_is_refused(reviewed: AnalysedStudy) -> None:
    other = replace(reviewed.result, series_instance_uid="1.2.3.999")
    with pytest.raises(ExportError, match="different series"):
        report_inputs(reviewed.volume, other)


def test_changed_slices_are_refused(reviewed: AnalysedStudy) -> None:
    uids = list(reviewed.volume.sop_instance_uids)
    uids[7] = "1.2.3.4.5"  # the file behind slice 8 was replaced
    changed = replace(reviewed.volume, sop_instance_uids=tuple(uids))
    with pytest.raises(ExportError, match="Slice 8"):
        report_inputs(changed, reviewed.result)


def test_incomplete_analysis_is_refused(reviewed: AnalysedStudy) -> None:
    refused = replace(reviewed.result, status=AnalysisStatus.REFUSED, findings=None)
    with pytest.raises(ExportError, match="refused"):
        report_inputs(reviewed.volume, refused)


def test_not_analysed_series_says_to_analyse_first(tmp_path: Path) -> None:
    study = analysed_study(tmp_path, n_slices=12, lesions=())
    fresh = storage.open_memory_store()
    series = storage.register_volume(fresh, study.volume)
    with pytest.raises(ExportError, match="Analyse it"):
        load_report_inputs(fresh, study.volume, series_id=series.id)


def test_exports_are_audited_without_names(
    reviewed: AnalysedStudy, reviewed_inputs: ReportInputs, tmp_path: Path
) -> None:
    result = export_pdf(reviewed_inputs, tmp_path, deidentify=True)
    record_export(reviewed.db, reviewed_inputs, result, user="Dr Reader")
    entries = [
        e
        for e in storage.audit_entries(reviewed.db, series_id=reviewed.series.id)
        if e.action is storage.AuditAction.EXPORTED
    ]
    assert entries[-1].details == {
        "kind": "pdf",
        "deidentified": True,
        "files": 1,
        "pages": result.pages,
        "key_images": 4,
    }
    assert "Zielinska" not in str(entries[-1].details)
