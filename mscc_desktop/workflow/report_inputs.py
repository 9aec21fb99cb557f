"""Gather a report's inputs from the store, and record an export in its audit trail.

Reporting builds PDFs, key images and DICOM outputs from plain values
(:class:`~mscc_desktop.reporting.ReportInputs`); this module is the store side of it, run on
the thread that owns the store::

    inputs = load_report_inputs(db, volume, series_id=series.id)          # store thread
    result = export_pdf(inputs, folder, deidentify=True, progress=p, cancel=c)  # worker
    record_export(db, inputs, result, user=config.user_name)              # store thread
"""

from __future__ import annotations

from sqlite_utils import Database

from mscc_desktop.core.errors import ExportError
from mscc_desktop.core.findings import AnalysisStatus
from mscc_desktop.core.volume import Volume
from mscc_desktop.reporting.exports import ExportResult
from mscc_desktop.reporting.inputs import ReportInputs, SignOff, report_inputs
from mscc_desktop.storage import (
    AuditAction,
    ReviewStatus,
    analysis_history,
    audit_entries,
    key_images,
    load_analysis,
    load_level_numbering,
    load_reviews,
    record_audit,
    study_review_status,
)


def latest_complete_analysis(db: Database, series_id: int) -> int | None:
    """Id of the newest complete analysis of a series (current ones before stale ones)."""
    complete = [s for s in analysis_history(db, series_id) if s.status is AnalysisStatus.COMPLETE]
    current = [s for s in complete if not s.stale]
    chosen = current or complete
    return chosen[0].id if chosen else None


def sign_off_of(db: Database, study_id: int) -> SignOff:
    """The study's review status and, when signed off, who and when (from the audit log)."""
    status = study_review_status(db, study_id)
    if status is not ReviewStatus.REVIEWED:
        return SignOff(status)
    changes = [
        entry
        for entry in audit_entries(db, study_id=study_id)
        if entry.action is AuditAction.STUDY_STATUS_CHANGED
        and entry.details.get("to") == ReviewStatus.REVIEWED.value
    ]
    if not changes:
        return SignOff(status)
    last = changes[-1]
    return SignOff(status, by=last.user, at=last.at)


def load_report_inputs(
    db: Database,
    volume: Volume,
    *,
    series_id: int | None = None,
    analysis_id: int | None = None,
) -> ReportInputs:
    """Report inputs from the store: an analysis (the series' latest complete one when
    ``analysis_id`` is ``None``), its reviews, the series' key images and the sign-off.

    Raises
    ------
    ExportError
        No complete analysis, or it does not belong to ``volume``.
    StoreError
        The store cannot be read.
    """
    if analysis_id is None:
        if series_id is None:
            raise ValueError("give the series id or the analysis id")
        analysis_id = latest_complete_analysis(db, series_id)
        if analysis_id is None:
            raise ExportError(
                "This series has no complete analysis in the results store. Analyse it "
                "first (in the workstation, or with 'mscc-desktop analyze'), then export."
            )
    stored = load_analysis(db, analysis_id)
    marked = [k.slice_index for k in key_images(db, stored.series_id)]
    return report_inputs(
        volume,
        stored.result,
        reviews=load_reviews(db, analysis_id),
        reader_key_slices=marked,
        sign_off=sign_off_of(db, stored.study_id),
        notices=stored.notices,
        software_version=stored.software_version,
        analysis_id=analysis_id,
        series_id=stored.series_id,
        study_id=stored.study_id,
        levels=load_level_numbering(db, analysis_id),
        stale=stored.stale,
    )


def record_export(
    db: Database, inputs: ReportInputs, result: ExportResult, *, user: str = ""
) -> None:
    """Append the export to the audit log (kind, de-identified, counts; no names or paths).

    Call on the thread that owns ``db``. Does nothing for in-memory analyses without ids.
    """
    if inputs.analysis_id is None and inputs.series_id is None:
        return
    record_audit(
        db,
        AuditAction.EXPORTED,
        user=user,
        study_id=inputs.study_id,
        series_id=inputs.series_id,
        analysis_id=inputs.analysis_id,
        details={
            "kind": result.kind.value,
            "deidentified": result.deidentified,
            "files": len(result.files),
            "pages": result.pages,
            "key_images": result.n_key_images,
        },
    )


__all__ = ["latest_complete_analysis", "load_report_inputs", "record_export", "sign_off_of"]
