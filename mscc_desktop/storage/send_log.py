"""The send log: every instance sent to a DICOM peer, with its outcome, shown with the study.

One row per instance per send; the send as a whole also gets one ``SENT`` audit row (in the
same transaction) with its counts. Rows hold UIDs and the destination, never patient data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlite_utils import Database

from mscc_desktop.storage._sql import now_utc, parse_time, time_text, write_transaction
from mscc_desktop.storage.audit import record_audit, resolve_user
from mscc_desktop.storage.records import AuditAction


class SendStatus(StrEnum):
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class SentInstance:
    """One instance's outcome, as the caller hands it to :func:`record_send`."""

    kind: str  # sr, kos, sc, pdf, other
    sop_class_uid: str
    sop_instance_uid: str
    status: SendStatus
    dimse_status: int | None = None
    attempts: int = 0
    error: str = ""


@dataclass(frozen=True, slots=True)
class SendLogEntry:
    id: int
    at: datetime
    user: str
    destination: str
    kind: str
    sop_instance_uid: str
    status: SendStatus
    dimse_status: int | None
    attempts: int
    error: str
    series_id: int | None
    analysis_id: int | None


def record_send(
    db: Database,
    instances: Sequence[SentInstance],
    *,
    destination: str,
    study_id: int | None,
    series_id: int | None = None,
    analysis_id: int | None = None,
    user: str = "",
) -> int:
    """Write one send's rows and its audit row in one transaction; returns the audit row id."""
    at = time_text(now_utc())
    who = resolve_user(user)
    rows = [
        {
            "at": at,
            "user": who,
            "study_ref": study_id,
            "series_ref": series_id,
            "analysis_ref": analysis_id,
            "destination": destination,
            "kind": item.kind,
            "sop_class_uid": item.sop_class_uid,
            "sop_instance_uid": item.sop_instance_uid,
            "status": item.status.value,
            "dimse_status": item.dimse_status,
            "attempts": item.attempts,
            "error": item.error,
        }
        for item in instances
    ]
    counts = {status.value: sum(i.status is status for i in instances) for status in SendStatus}
    with write_transaction(db, doing="writing the send log"):
        if rows:
            db.table("send_log").insert_all(rows)
        return record_audit(
            db,
            AuditAction.SENT,
            user=who,
            study_id=study_id,
            series_id=series_id,
            analysis_id=analysis_id,
            details={"destination": destination, **counts},
        )


def send_log(db: Database, study_id: int, *, limit: int = 500) -> list[SendLogEntry]:
    """The study's send log, newest first."""
    rows = db.query(
        "SELECT * FROM send_log WHERE study_ref = ? ORDER BY id DESC LIMIT ?",
        [study_id, int(limit)],
    )
    return [
        SendLogEntry(
            id=int(row["id"]),
            at=parse_time(row["at"]),
            user=row["user"],
            destination=row["destination"],
            kind=row["kind"],
            sop_instance_uid=row["sop_instance_uid"],
            status=SendStatus(row["status"]),
            dimse_status=row["dimse_status"],
            attempts=int(row["attempts"]),
            error=row["error"],
            series_id=row["series_ref"],
            analysis_id=row["analysis_ref"],
        )
        for row in rows
    ]
