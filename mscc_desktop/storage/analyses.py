"""Saving analyses: one transaction per analysis, never a half-written one that looks complete.

The pipeline's worker thread never writes. The GUI thread (or the CLI) calls
:func:`begin_analysis` when it starts a worker, then :func:`save_analysis` with the complete
:class:`~mscc_desktop.core.findings.AnalysisResult` (or :func:`end_analysis` when the worker
failed or was cancelled). :func:`save_analysis` writes the slices, lesions, summary, status
and audit row in ONE transaction, and the schema refuses to mark an analysis complete unless
all its rows are there, so a crash at any moment leaves either a complete analysis or none:
a 'running' row left by a dead process becomes 'interrupted' when the store is next opened.

Reading analyses back is in :mod:`.results`.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from mscc_desktop import __version__
from mscc_desktop.core.errors import StoreError
from mscc_desktop.core.findings import (
    AnalysisResult,
    AnalysisStatus,
    ModelProvenance,
    StudyFindings,
    Thresholds,
)
from mscc_desktop.storage._rows import (
    LESION_COLUMNS,
    SLICE_COLUMNS,
    lesion_row,
    notices_json,
    slice_row,
)
from mscc_desktop.storage._sql import insert_row, now_utc, parse_time, time_text, write_transaction
from mscc_desktop.storage.audit import record_audit, resolve_user
from mscc_desktop.storage.connection import HOST_NAME, PROCESS_TOKEN
from mscc_desktop.storage.records import AuditAction, SeriesRecord

logger = logging.getLogger(__name__)

_OPEN_STATUSES = (AnalysisStatus.RUNNING.value, AnalysisStatus.INTERRUPTED.value)
_FINAL_STATUSES = frozenset(
    {
        AnalysisStatus.COMPLETE,
        AnalysisStatus.FAILED,
        AnalysisStatus.CANCELLED,
        AnalysisStatus.REFUSED,
    }
)


def begin_analysis(
    db: Database,
    series: SeriesRecord,
    *,
    provenance: ModelProvenance,
    thresholds: Thresholds,
    started_at: datetime | None = None,
    user: str = "",
) -> int:
    """Record that an analysis of ``series`` started (status 'running'); return its id.

    Pass the id to :func:`save_analysis` or :func:`end_analysis` when the worker is done.
    """
    started = started_at or now_utc()
    with write_transaction(db, doing="recording the analysis start"):
        analysis_id = insert_row(
            db,
            "analyses",
            {
                "series_ref": series.id,
                "status": AnalysisStatus.RUNNING.value,
                "source_fingerprint": series.fingerprint,
                **_provenance_columns(provenance, thresholds),
                "started_at": time_text(started),
                "software_version": __version__,
                "user": resolve_user(user),
                "owner_host": HOST_NAME,
                "owner_pid": os.getpid(),
                "owner_token": PROCESS_TOKEN,
            },
        )
        record_audit(
            db,
            AuditAction.ANALYSIS_STARTED,
            user=user,
            study_id=series.study_id,
            series_id=series.id,
            analysis_id=analysis_id,
            details={"model_id": provenance.model_id, "model_version": provenance.model_version},
        )
    return analysis_id


def save_analysis(
    db: Database,
    series: SeriesRecord,
    result: AnalysisResult,
    *,
    analysis_id: int | None = None,
    user: str = "",
) -> int:
    """Store a finished analysis with all its slices and lesions in one transaction.

    Parameters
    ----------
    db
        An open store, on the thread that owns it.
    series
        The series as registered when its volume was loaded; its fingerprint is recorded as
        the files analysed (so a later change of the files makes this analysis stale).
    result
        The pipeline's result: status COMPLETE (with findings), REFUSED, FAILED or CANCELLED.
    analysis_id
        The id from :func:`begin_analysis`, if the start was recorded; else a new row.
    user
        Recorded with the analysis and in the audit log.

    Returns
    -------
    int
        The analysis id.

    Raises
    ------
    StoreError
        ``result`` belongs to another series, holds NaN/infinite numbers, ``analysis_id`` is
        unknown, belongs to another series or is already finished, or the write failed
        (nothing is then stored).
    ValueError
        ``result`` is not finished, or is COMPLETE without findings.
    """
    if result.series_instance_uid != series.series_instance_uid:
        raise StoreError(
            "The analysis result belongs to a different series than the one it is being "
            "saved to; it was not saved. Open the series again and re-run the analysis."
        )
    if result.status not in _FINAL_STATUSES:
        raise ValueError(f"only finished analyses can be saved, not {result.status.value!r}")
    findings = result.findings
    if result.status is AnalysisStatus.COMPLETE and findings is None:
        raise ValueError("a complete analysis needs its findings")
    with write_transaction(db, doing="saving the analysis"):
        current = db.execute("SELECT fingerprint FROM series WHERE id = ?", [series.id]).fetchone()
        if current is None:
            raise StoreError(f"Series {series.id} is not in the results store.")
        columns: dict[str, Any] = {
            "series_ref": series.id,
            "source_fingerprint": series.fingerprint,
            **_provenance_columns(result.provenance, result.thresholds),
            "started_at": time_text(result.started_at),
            "software_version": __version__,
            "user": resolve_user(user),
        }
        if analysis_id is None:
            analysis_id = insert_row(
                db, "analyses", {**columns, "status": AnalysisStatus.RUNNING.value}
            )
        else:
            _claim_open_analysis(db, analysis_id, series.id)
            db.table("analyses").update(analysis_id, columns)
        if findings is not None:
            db.conn.executemany(
                f"INSERT INTO analysis_slices ({', '.join(SLICE_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(SLICE_COLUMNS))})",
                [slice_row(analysis_id, s) for s in findings.slices],
            )
            db.conn.executemany(
                f"INSERT INTO lesions ({', '.join(LESION_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(LESION_COLUMNS))})",
                [lesion_row(analysis_id, lesion) for lesion in findings.lesions],
            )
        # Last: the status flips to final only with every row in place (a trigger checks it).
        db.table("analyses").update(
            analysis_id,
            {
                **_summary_columns(findings),
                "status": result.status.value,
                "finished_at": time_text(result.finished_at),
                "duration_s": result.duration_s,
                "notices": notices_json(result.notices),
                "stale_at": None if current[0] == series.fingerprint else time_text(now_utc()),
            },
        )
        record_audit(
            db,
            AuditAction.ANALYSIS_SAVED,
            user=user,
            study_id=series.study_id,
            series_id=series.id,
            analysis_id=analysis_id,
            details={
                "status": result.status.value,
                "model_id": result.provenance.model_id,
                "model_version": result.provenance.model_version,
                "n_slices": 0 if findings is None else len(findings.slices),
                "n_lesions": 0 if findings is None else len(findings.lesions),
                "high_grade": None if findings is None else findings.high_grade,
            },
        )
    logger.info("analysis %d saved (%s)", analysis_id, result.status.value)
    return analysis_id


def end_analysis(
    db: Database,
    analysis_id: int,
    status: AnalysisStatus,
    *,
    error: str = "",
    finished_at: datetime | None = None,
    user: str = "",
) -> None:
    """Close a started analysis that produced no result: FAILED or CANCELLED.

    ``error`` is shown in the history; it must not contain patient data.
    """
    if status not in (AnalysisStatus.FAILED, AnalysisStatus.CANCELLED):
        raise ValueError(f"end_analysis records failed or cancelled analyses, not {status!r}")
    finished = finished_at or now_utc()
    with write_transaction(db, doing="recording the analysis end"):
        row = _claim_open_analysis(db, analysis_id, None)
        started = parse_time(row["started_at"])
        db.table("analyses").update(
            analysis_id,
            {
                "status": status.value,
                "finished_at": time_text(finished),
                "duration_s": _seconds_between(started, finished),
                "error": error or None,
            },
        )
        record_audit(
            db,
            AuditAction.ANALYSIS_ENDED,
            user=user,
            series_id=int(row["series_ref"]),
            analysis_id=analysis_id,
            details={"status": status.value},
        )


def _claim_open_analysis(db: Database, analysis_id: int, series_id: int | None) -> dict[str, Any]:
    rows = list(db.query("SELECT * FROM analyses WHERE id = ?", [analysis_id]))
    if not rows:
        raise StoreError(f"Analysis {analysis_id} is not in the results store.")
    row = rows[0]
    if series_id is not None and int(row["series_ref"]) != series_id:
        raise StoreError(
            f"Analysis {analysis_id} was started for another series; the result was not saved."
        )
    if row["status"] not in _OPEN_STATUSES:
        raise StoreError(f"Analysis {analysis_id} is already {row['status']}; it was not changed.")
    return row


def _provenance_columns(provenance: ModelProvenance, thresholds: Thresholds) -> dict[str, Any]:
    return {
        "model_id": provenance.model_id,
        "model_version": provenance.model_version,
        "model_sha256": provenance.model_sha256,
        "backend": provenance.backend,
        "device": provenance.device,
        "synthetic_only": int(provenance.synthetic_only),
        "probability_temperature": float(provenance.probability_temperature),
        "model_limitations": json.dumps(list(provenance.limitations)),
        "threshold_high": float(thresholds.high),
        "threshold_any_mscc": float(thresholds.any_mscc),
        "threshold_canal_score": float(thresholds.canal_score),
    }


def _summary_columns(findings: StudyFindings | None) -> dict[str, Any]:
    if findings is None:
        return {"has_findings": 0, "n_slices": 0, "n_lesions": 0}
    return {
        "has_findings": 1,
        "n_slices": len(findings.slices),
        "n_lesions": len(findings.lesions),
        "high_grade": int(findings.high_grade),
        "max_group": findings.max_group.value,
        "n_high_slices": int(findings.n_high_slices),
        "n_low_slices": int(findings.n_low_slices),
        "n_canal_not_found": int(findings.n_canal_not_found),
        "max_p_high": max((float(s.p_high) for s in findings.slices), default=0.0),
    }


def _seconds_between(start: datetime, end: datetime) -> float | None:
    try:
        return (end - start).total_seconds()
    except TypeError:  # one naive, one aware: the duration is unknown, not wrong
        return None
