"""The append-only audit log: who did what, when, to which study, series or analysis.

The table refuses UPDATE and DELETE through triggers (see :mod:`.schema`), so rows can only
be added. ``details`` is a small JSON object of ids, counts and choices: callers must never put
patient names, IDs or source paths in it (folder names often carry patient names).
"""

from __future__ import annotations

import getpass
import json
import logging
from collections.abc import Mapping

from sqlite_utils import Database

from mscc_desktop.storage._sql import now_utc, parse_time, time_text, write_transaction
from mscc_desktop.storage.records import AuditAction, AuditEntry

logger = logging.getLogger(__name__)


def resolve_user(user: str = "") -> str:
    """The name recorded for an action: ``user`` if given, else the operating-system login."""
    cleaned = user.strip()
    if cleaned:
        return cleaned
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in a bare container or service account
        return "unknown"


def record_audit(
    db: Database,
    action: AuditAction,
    *,
    user: str = "",
    study_id: int | None = None,
    series_id: int | None = None,
    analysis_id: int | None = None,
    details: Mapping[str, object] | None = None,
) -> int:
    """Append one row to the audit log and return its id.

    Inside an open write transaction the row commits (or rolls back) with the change it
    records; otherwise it is written on its own. The reporting layer records exports with
    ``AuditAction.EXPORTED`` and ``details={"kind": "pdf"}`` (no file names: they may hold
    patient names).

    Parameters
    ----------
    db
        An open store.
    action
        What happened.
    user
        Who did it; the operating-system login when empty.
    study_id, series_id, analysis_id
        Database ids of what it happened to.
    details
        JSON-serialisable ids, counts and choices; never patient identifiers.
    """
    row = {
        "at": time_text(now_utc()),
        "user": resolve_user(user),
        "action": action.value,
        "study_ref": study_id,
        "series_ref": series_id,
        "analysis_ref": analysis_id,
        "details": json.dumps(dict(details or {}), sort_keys=True),
    }
    with write_transaction(db, doing="writing the audit log"):
        cursor = db.execute(
            "INSERT INTO audit_log (at, user, action, study_ref, series_ref, analysis_ref, details)"
            " VALUES (:at, :user, :action, :study_ref, :series_ref, :analysis_ref, :details)",
            row,
        )
    logger.debug("audit %s analysis=%s series=%s", action.value, analysis_id, series_id)
    return int(cursor.lastrowid or 0)


def audit_entries(
    db: Database,
    *,
    study_id: int | None = None,
    series_id: int | None = None,
    analysis_id: int | None = None,
    limit: int | None = None,
) -> list[AuditEntry]:
    """Audit rows, oldest first, optionally only those about one study, series or analysis."""
    clauses: list[str] = []
    params: list[object] = []
    for column, value in (
        ("study_ref", study_id),
        ("series_ref", series_id),
        ("analysis_ref", analysis_id),
    ):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    sql = "SELECT * FROM audit_log"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    sql += " ORDER BY id"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(int(limit))
    return [
        AuditEntry(
            id=int(row["id"]),
            at=parse_time(row["at"]),
            user=row["user"],
            action=AuditAction(row["action"]),
            study_id=row["study_ref"],
            series_id=row["series_ref"],
            analysis_id=row["analysis_ref"],
            details=json.loads(row["details"]),
        )
        for row in db.query(sql, params)
    ]
