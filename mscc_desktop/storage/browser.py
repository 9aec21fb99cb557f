"""What the study browser and ``mscc-desktop studies`` show (flagged first); recent folders."""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from mscc_desktop.core.findings import AnalysisStatus
from mscc_desktop.core.grades import GROUP_ORDER, GradeGroup
from mscc_desktop.core.review import ReviewStatus, StudyStatus
from mscc_desktop.storage._sql import now_utc, parse_time, time_text, write_transaction
from mscc_desktop.storage.connection import owner_alive
from mscc_desktop.storage.records import StudyListEntry

# When series of one study differ, the study shows the most useful state, in this order.
_STATUS_PRIORITY = (
    StudyStatus.COMPLETE,
    StudyStatus.RUNNING,
    StudyStatus.STALE,
    StudyStatus.REFUSED,
    StudyStatus.FAILED,
    StudyStatus.INTERRUPTED,
    StudyStatus.CANCELLED,
    StudyStatus.NOT_ANALYSED,
)


def list_studies(db: Database) -> list[StudyListEntry]:
    """Every study in the store, high-grade flagged first (highest P(high) first), then newest.

    A study's flag, grade and P(high) come from the latest complete, non-stale analysis of
    each of its series; its status from the latest analysis of each series (see
    :class:`~mscc_desktop.core.review.StudyStatus`). Entries hold patient data: never log.
    """
    studies = list(
        db.query(
            "SELECT st.*, p.patient_name, p.patient_id AS dicom_patient_id, p.birth_date"
            " FROM studies st JOIN patients p ON p.id = st.patient_ref"
        )
    )
    series_by_study: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in db.query("SELECT id, study_ref, source_path FROM series ORDER BY id"):
        series_by_study[int(row["study_ref"])].append(row)
    latest_any: dict[int, dict[str, Any]] = {}
    latest_complete: dict[int, dict[str, Any]] = {}
    for row in db.query(
        "SELECT id, series_ref, status, stale_at, high_grade, max_group, max_p_high, n_lesions,"
        " threshold_high, finished_at, owner_host, owner_pid, owner_token FROM analyses"
        " ORDER BY id"
    ):
        series_id = int(row["series_ref"])
        if row["status"] == AnalysisStatus.RUNNING.value and not owner_alive(
            row["owner_host"], row["owner_pid"], row["owner_token"]
        ):
            # A read-only listing cannot record it, but must not show a dead run as running.
            row["status"] = AnalysisStatus.INTERRUPTED.value
        latest_any[series_id] = row
        if row["status"] == AnalysisStatus.COMPLETE.value and row["stale_at"] is None:
            latest_complete[series_id] = row

    entries = []
    for study in studies:
        series_rows = series_by_study.get(int(study["id"]), [])
        flags = [latest_complete[s["id"]] for s in series_rows if s["id"] in latest_complete]
        groups = [GradeGroup(f["max_group"]) for f in flags if f["max_group"]]
        peak = max(flags, key=lambda f: float(f["max_p_high"] or 0.0), default=None)
        finished = [
            parse_time(latest_any[s["id"]]["finished_at"])
            for s in series_rows
            if s["id"] in latest_any and latest_any[s["id"]]["finished_at"]
        ]
        entries.append(
            StudyListEntry(
                study_id=int(study["id"]),
                study_instance_uid=study["study_instance_uid"],
                patient_name=study["patient_name"],
                patient_id=study["dicom_patient_id"],
                patient_birth_date=study["birth_date"],
                study_date=study["study_date"],
                study_time=study["study_time"],
                study_description=study["study_description"],
                accession_number=study["accession_number"],
                n_series=len(series_rows),
                status=_study_status(
                    [_status_row(s["id"], latest_any, latest_complete) for s in series_rows]
                ),
                high_grade=any(bool(f["high_grade"]) for f in flags),
                max_group=max(groups, key=GROUP_ORDER.index) if groups else None,
                max_p_high=max((float(f["max_p_high"]) for f in flags), default=None),
                n_lesions=sum(int(f["n_lesions"]) for f in flags),
                review_status=ReviewStatus(study["review_status"]),
                last_analysed_at=max(finished, key=lambda t: t.timestamp(), default=None),
                source_paths=tuple(Path(s["source_path"]) for s in series_rows),
                max_p_high_cut_off=None if peak is None else float(peak["threshold_high"]),
            )
        )
    # Newest first, then (stable) flagged first by descending P(high).
    entries.sort(key=lambda e: (e.study_date, e.study_time, e.study_id), reverse=True)
    entries.sort(key=lambda e: (not e.high_grade, -(e.max_p_high or 0.0) if e.high_grade else 0))
    return entries


def _status_row(
    series_id: int,
    latest_any: dict[int, dict[str, Any]],
    latest_complete: dict[int, dict[str, Any]],
) -> dict[str, Any] | None:
    """The analysis a series' status comes from: its latest, unless that one is stale while
    an earlier one is current again (the files were restored): then the current one, whose
    results are what the study shows."""
    row = latest_any.get(series_id)
    current = latest_complete.get(series_id)
    if row is not None and row["stale_at"] is not None and current is not None:
        return current
    return row


def _study_status(latest: list[dict[str, Any] | None]) -> StudyStatus:
    states = set()
    for row in latest:
        if row is None:
            states.add(StudyStatus.NOT_ANALYSED)
        elif row["status"] == AnalysisStatus.COMPLETE.value and row["stale_at"] is not None:
            states.add(StudyStatus.STALE)
        else:
            states.add(StudyStatus(row["status"]))
    return next((s for s in _STATUS_PRIORITY if s in states), StudyStatus.NOT_ANALYSED)


def add_recent_folder(db: Database, path: str | os.PathLike[str], *, keep: int = 20) -> None:
    """Remember a folder the user opened (most recent first; only the last ``keep`` kept)."""
    folder = str(Path(path).absolute())
    with write_transaction(db, doing="remembering the folder"):
        db.execute(
            "INSERT INTO recent_folders (path, opened_at) VALUES (?, ?) ON CONFLICT (path)"
            " DO UPDATE SET opened_at = excluded.opened_at, times_opened = times_opened + 1",
            [folder, time_text(now_utc())],
        )
        db.execute(
            "DELETE FROM recent_folders WHERE path NOT IN"
            " (SELECT path FROM recent_folders ORDER BY opened_at DESC LIMIT ?)",
            [keep],
        )


def recent_folders(db: Database, *, limit: int = 10, existing_only: bool = False) -> list[Path]:
    """Recently opened folders, most recent first; optionally only those that still exist."""
    rows = db.execute(
        "SELECT path FROM recent_folders ORDER BY opened_at DESC, rowid DESC"
    ).fetchall()
    folders = [Path(row[0]) for row in rows]
    if existing_only:
        folders = [folder for folder in folders if folder.is_dir()]
    return folders[:limit]
