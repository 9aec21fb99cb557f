"""Re-analysis by another model is a new analysis that says what changed; the earlier one,
its review and its report stay exactly as they were."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from mscc_desktop import storage
from mscc_desktop.reporting.deid import export_identity
from mscc_desktop.reporting.summary import report_content
from mscc_desktop.workflow.reanalysis import change_since_other_model
from mscc_desktop.workflow.report_inputs import load_report_inputs
from tests.reporting.study import analysed_study, review


def test_a_new_model_s_analysis_says_what_changed_and_the_earlier_report_is_unchanged(
    tmp_path: Path,
) -> None:
    study = analysed_study(tmp_path / "study")
    review(study)
    db = study.db
    before = report_content(
        load_report_inputs(db, study.volume, analysis_id=study.analysis_id),
        export_identity(study.volume.info, deidentify=False),
    )
    assert change_since_other_model(db, study.analysis_id) is None  # nothing earlier
    result = study.result
    assert result.findings is not None
    fewer = dataclasses.replace(result.findings, lesions=result.findings.lesions[:1])
    provenance = dataclasses.replace(
        result.provenance, model_id="site-model", model_version="2.0.0+site", model_sha256="f" * 64
    )
    newer = dataclasses.replace(result, findings=fewer, provenance=provenance)
    new_id = storage.save_analysis(db, study.series, newer, user="tech")
    change = change_since_other_model(db, new_id)
    assert change is not None
    text = change.text()
    assert text.startswith(f"vs {result.provenance.model_id} ")
    assert "lesions 3 -> 1" in text
    assert "3 review(s) stay with the earlier analysis" in text
    after = report_content(
        load_report_inputs(db, study.volume, analysis_id=study.analysis_id),
        export_identity(study.volume.info, deidentify=False),
    )
    assert after == before  # the earlier analysis's report is exactly what it was
