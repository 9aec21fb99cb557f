"""Reading analyses back: the latest one for a series and model, exact core objects, history.

Re-opening an analysed series shows its stored results without inference::

    stored = load_latest_analysis(db, series.id, model_id=p.model_id, model_sha256=p.model_sha256)
    if stored is not None:
        show(stored.result.findings)
"""

from __future__ import annotations

import json
from typing import Any

from sqlite_utils import Database

from mscc_desktop.core.errors import StoreError
from mscc_desktop.core.findings import (
    AnalysisResult,
    AnalysisStatus,
    ModelProvenance,
    StudyFindings,
)
from mscc_desktop.core.grades import GradeGroup
from mscc_desktop.storage._rows import (
    LESION_COLUMNS,
    SLICE_COLUMNS,
    lesion_from_row,
    notices_from_json,
    slice_from_row,
    thresholds_from_row,
)
from mscc_desktop.storage._sql import parse_time
from mscc_desktop.storage.records import AnalysisSummary, StoredAnalysis


def find_latest_analysis(
    db: Database,
    series_id: int,
    *,
    model_id: str,
    model_sha256: str,
    include_stale: bool = False,
) -> int | None:
    """Id of the newest complete analysis of a series by exactly this model, or ``None``.

    Stale analyses (source files changed since) are skipped unless ``include_stale``.
    """
    sql = (
        "SELECT id FROM analyses WHERE series_ref = ? AND model_id = ? AND model_sha256 = ?"
        " AND status = 'complete'"
    )
    if not include_stale:
        sql += " AND stale_at IS NULL"
    row = db.execute(sql + " ORDER BY id DESC LIMIT 1", [series_id, model_id, model_sha256])
    found = row.fetchone()
    return None if found is None else int(found[0])


def load_latest_analysis(
    db: Database, series_id: int, *, model_id: str, model_sha256: str
) -> StoredAnalysis | None:
    """:func:`find_latest_analysis` then :func:`load_analysis` (``None`` when there is none)."""
    found = find_latest_analysis(db, series_id, model_id=model_id, model_sha256=model_sha256)
    return None if found is None else load_analysis(db, found)


def load_analysis(db: Database, analysis_id: int) -> StoredAnalysis:
    """Read an analysis back as core objects, exactly as it was saved.

    Raises
    ------
    StoreError
        No such analysis, or its stored rows do not match its counts (a damaged store).
    """
    row = _analysis_row(db, analysis_id)
    findings: StudyFindings | None = None
    if row["has_findings"]:
        slices = tuple(
            slice_from_row(r)
            for r in db.execute(
                f"SELECT {', '.join(SLICE_COLUMNS)} FROM analysis_slices WHERE analysis_ref = ?"
                " ORDER BY slice_index",
                [analysis_id],
            ).fetchall()
        )
        lesions = tuple(
            lesion_from_row(r)
            for r in db.execute(
                f"SELECT {', '.join(LESION_COLUMNS)} FROM lesions WHERE analysis_ref = ?"
                " ORDER BY number",
                [analysis_id],
            ).fetchall()
        )
        if len(slices) != row["n_slices"] or len(lesions) != row["n_lesions"]:
            raise StoreError(
                f"Analysis {analysis_id} in the results store is incomplete "
                f"({len(slices)} of {row['n_slices']} slices); analyse the series again."
            )
        findings = StudyFindings(
            slices=slices,
            lesions=lesions,
            high_grade=bool(row["high_grade"]),
            max_group=GradeGroup(row["max_group"]),
            n_high_slices=int(row["n_high_slices"]),
            n_low_slices=int(row["n_low_slices"]),
            n_canal_not_found=int(row["n_canal_not_found"]),
        )
    started = parse_time(row["started_at"])
    result = AnalysisResult(
        series_instance_uid=row["series_instance_uid"],
        findings=findings,
        provenance=ModelProvenance(
            model_id=row["model_id"],
            model_version=row["model_version"],
            model_sha256=row["model_sha256"],
            backend=row["backend"],
            device=row["device"],
            synthetic_only=bool(row["synthetic_only"]),
            probability_temperature=float(row["probability_temperature"]),
            limitations=tuple(str(text) for text in json.loads(row["model_limitations"])),
        ),
        thresholds=thresholds_from_row(row),
        notices=notices_from_json(row["notices"]),
        started_at=started,
        finished_at=parse_time(row["finished_at"]) if row["finished_at"] else started,
        status=AnalysisStatus(row["status"]),
    )
    return StoredAnalysis(
        id=analysis_id,
        series_id=int(row["series_ref"]),
        study_id=int(row["study_ref"]),
        result=result,
        source_fingerprint=row["source_fingerprint"],
        software_version=row["software_version"],
        user=row["user"],
        stale=row["stale_at"] is not None,
        error=row["error"],
    )


def analysis_history(db: Database, series_id: int) -> list[AnalysisSummary]:
    """Every analysis of a series, newest first, without per-slice data."""
    rows = db.query("SELECT * FROM analyses WHERE series_ref = ? ORDER BY id DESC", [series_id])
    return [
        AnalysisSummary(
            id=int(r["id"]),
            series_id=int(r["series_ref"]),
            status=AnalysisStatus(r["status"]),
            stale=r["stale_at"] is not None,
            model_id=r["model_id"],
            model_version=r["model_version"],
            model_sha256=r["model_sha256"],
            backend=r["backend"],
            device=r["device"],
            started_at=parse_time(r["started_at"]),
            finished_at=parse_time(r["finished_at"]) if r["finished_at"] else None,
            duration_s=r["duration_s"],
            high_grade=None if r["high_grade"] is None else bool(r["high_grade"]),
            max_group=GradeGroup(r["max_group"]) if r["max_group"] else None,
            n_lesions=int(r["n_lesions"]) if r["has_findings"] else None,
            max_p_high=r["max_p_high"],
            software_version=r["software_version"],
            user=r["user"],
            error=r["error"],
        )
        for r in rows
    ]


def _analysis_row(db: Database, analysis_id: int) -> dict[str, Any]:
    rows = list(
        db.query(
            "SELECT a.*, s.series_instance_uid, s.study_ref FROM analyses a "
            "JOIN series s ON s.id = a.series_ref WHERE a.id = ?",
            [analysis_id],
        )
    )
    if not rows:
        raise StoreError(f"Analysis {analysis_id} is not in the results store.")
    return rows[0]
