"""Patient names and IDs are stored for the reader but never logged or put in the audit log."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from mscc_desktop.core.findings import AnalysisStatus
from mscc_desktop.core.review import ReviewDecision
from mscc_desktop.storage import (
    audit_entries,
    begin_analysis,
    end_analysis,
    list_studies,
    load_series_info,
    open_store,
    save_analysis,
    save_review,
    set_key_image,
    upsert_series,
)
from tests.storage import builders


def test_a_whole_session_logs_and_audits_no_patient_identifiers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Folder names often carry the patient's name: the source path is PHI too.
    source = tmp_path / "TESTPATIENT_ALICE_PID-73519" / "CT"
    info = builders.series_info()
    with caplog.at_level(logging.DEBUG):
        db = open_store(tmp_path / "store.sqlite")
        series = upsert_series(db, info, source_path=source, fingerprint="fp1:a", n_files=60)
        upsert_series(db, info, source_path=source, fingerprint="fp1:b", n_files=60)  # changed
        failed = begin_analysis(
            db, series, provenance=builders.PROVENANCE, thresholds=builders.THRESHOLDS
        )
        end_analysis(db, failed, AnalysisStatus.FAILED, error="out of memory")
        analysis_id = save_analysis(db, series, builders.result(info))
        save_review(db, analysis_id, 1, decision=ReviewDecision.ACCEPT, vertebral_level="T7")
        set_key_image(db, series.id, 14, sop_instance_uid="1.2.3.0.14")
        entries = list_studies(db)
        db.close()
        db = open_store(tmp_path / "store.sqlite")

    # Stored, because the browser and the reports need them ...
    assert entries[0].patient_name == builders.PATIENT_NAME
    assert load_series_info(db, series.id).patient_id == builders.PATIENT_ID
    # ... but in no log record and no audit row.
    audit = audit_entries(db)
    db.close()
    audit_text = json.dumps([(e.user, e.action, e.details) for e in audit])
    assert len(audit) >= 7 and len(caplog.records) >= 5  # there was something to leak into
    for secret in ("TESTPATIENT", "ALICE", builders.PATIENT_ID, "19570302", "ACC9001"):
        assert secret not in caplog.text
        assert secret not in audit_text
