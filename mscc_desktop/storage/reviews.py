"""The reader's review: verdicts on findings, key images and the study's sign-off.

Every change is saved with user and time and, in the same transaction, appended to the audit
log (the log keeps the history; the review tables keep the current state). Reviews belong to
one analysis' lesions; key images belong to the series (they survive a re-analysis); the
review status belongs to the study.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlite_utils import Database

from mscc_desktop.core.errors import StoreError
from mscc_desktop.core.grades import GradeGroup
from mscc_desktop.core.review import Review, ReviewDecision, ReviewStatus
from mscc_desktop.core.vertebral_levels import parse_vertebral_level
from mscc_desktop.storage._sql import now_utc, parse_time, time_text, write_transaction
from mscc_desktop.storage.audit import record_audit, resolve_user
from mscc_desktop.storage.records import AuditAction, KeyImage


def save_review(
    db: Database,
    analysis_id: int,
    lesion_number: int,
    *,
    decision: ReviewDecision | str | None,
    regraded_group: GradeGroup | str | None = None,
    vertebral_level: str = "",
    comment: str = "",
    user: str = "",
) -> Review:
    """Save the reader's verdict on one lesion (replacing any earlier one) and audit it.

    Saving what is already stored changes nothing and writes no audit row. The study moves
    from 'unreviewed' to 'in progress'.

    Parameters
    ----------
    db
        An open store.
    analysis_id, lesion_number
        The lesion (``Lesion.number``) of a stored analysis.
    decision
        Accept, reject or regrade (or its value, e.g. ``"accept"``); ``None`` keeps only the
        level and comment.
    regraded_group
        The reader's grade group (or its value, e.g. ``"low"``): required for REGRADE,
        refused otherwise.
    vertebral_level
        As typed, e.g. "T7" or "T7-8"; stored normalised (see
        :func:`~mscc_desktop.core.vertebral_levels.parse_vertebral_level`).
    comment
        Free text.
    user
        The reader; the operating-system login when empty.

    Raises
    ------
    ValueError
        Invalid level, unknown decision or group, or ``regraded_group`` inconsistent with
        ``decision``.
    StoreError
        No such lesion in that analysis, or the write failed.
    """
    level = parse_vertebral_level(vertebral_level)
    # Widgets often hand back the enums' string values (Qt stores StrEnums as str).
    decision = None if decision is None else ReviewDecision(decision)
    regraded_group = None if regraded_group is None else GradeGroup(regraded_group)
    if (decision is ReviewDecision.REGRADE) != (regraded_group is not None):
        raise ValueError("a regrade needs the new grade group, and only a regrade takes one")
    reader = resolve_user(user)
    with write_transaction(db, doing="saving the review"):
        lesion = db.execute(
            "SELECT s.study_ref, a.series_ref FROM lesions l"
            " JOIN analyses a ON a.id = l.analysis_ref JOIN series s ON s.id = a.series_ref"
            " WHERE l.analysis_ref = ? AND l.number = ?",
            [analysis_id, lesion_number],
        ).fetchone()
        if lesion is None:
            raise StoreError(
                f"Finding {lesion_number} of analysis {analysis_id} is not in the results store."
            )
        study_id, series_id = int(lesion[0]), int(lesion[1])
        existing = _review_rows(db, analysis_id, lesion_number)
        values = {
            "decision": None if decision is None else decision.value,
            "regraded_group": None if regraded_group is None else regraded_group.value,
            "vertebral_level": level,
            "comment": comment,
        }
        if existing and all(existing[0][k] == v for k, v in values.items()):
            return _review(existing[0])
        row = {
            "analysis_ref": analysis_id,
            "lesion_number": lesion_number,
            **values,
            "user": reader,
            "reviewed_at": time_text(now_utc()),
        }
        db.execute(
            "INSERT INTO reviews (analysis_ref, lesion_number, decision, regraded_group,"
            " vertebral_level, comment, user, reviewed_at) VALUES (:analysis_ref,"
            " :lesion_number, :decision, :regraded_group, :vertebral_level, :comment, :user,"
            " :reviewed_at) ON CONFLICT (analysis_ref, lesion_number) DO UPDATE SET"
            " decision = excluded.decision, regraded_group = excluded.regraded_group,"
            " vertebral_level = excluded.vertebral_level, comment = excluded.comment,"
            " user = excluded.user, reviewed_at = excluded.reviewed_at",
            row,
        )
        record_audit(
            db,
            AuditAction.REVIEW_SAVED,
            user=reader,
            study_id=study_id,
            series_id=series_id,
            analysis_id=analysis_id,
            details={"lesion": lesion_number, **values},
        )
        _advance_study(db, study_id, reader)
        return _review(row)


def load_reviews(db: Database, analysis_id: int) -> dict[int, Review]:
    """Current reviews of an analysis, keyed by lesion number."""
    return {int(row["lesion_number"]): _review(row) for row in _review_rows(db, analysis_id, None)}


def set_key_image(
    db: Database,
    series_id: int,
    slice_index: int,
    *,
    sop_instance_uid: str = "",
    marked: bool = True,
    user: str = "",
) -> KeyImage:
    """Mark (or unmark) a slice of a series as a key image, with user and time; audited.

    The slice is identified by its index in the series (frames of a multi-frame file share
    one SOP Instance UID); ``sop_instance_uid`` is kept with it for reports and checks.
    """
    reader = resolve_user(user)
    now = now_utc()
    with write_transaction(db, doing="saving the key image"):
        series = db.execute("SELECT study_ref FROM series WHERE id = ?", [series_id]).fetchone()
        if series is None:
            raise StoreError(f"Series {series_id} is not in the results store.")
        db.execute(
            "INSERT INTO key_images (series_ref, slice_index, sop_instance_uid, marked, user,"
            " changed_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (series_ref, slice_index)"
            " DO UPDATE SET sop_instance_uid = excluded.sop_instance_uid,"
            " marked = excluded.marked, user = excluded.user, changed_at = excluded.changed_at",
            [series_id, slice_index, sop_instance_uid, int(marked), reader, time_text(now)],
        )
        record_audit(
            db,
            AuditAction.KEY_IMAGE_MARKED if marked else AuditAction.KEY_IMAGE_UNMARKED,
            user=reader,
            study_id=int(series[0]),
            series_id=series_id,
            details={"slice_index": slice_index},
        )
        _advance_study(db, int(series[0]), reader)
    return KeyImage(series_id, slice_index, sop_instance_uid, marked, reader, now)


def key_images(db: Database, series_id: int) -> list[KeyImage]:
    """Slices currently marked as key images in a series, in slice order."""
    rows = db.execute(
        "SELECT slice_index, sop_instance_uid, user, changed_at FROM key_images"
        " WHERE series_ref = ? AND marked = 1 ORDER BY slice_index",
        [series_id],
    ).fetchall()
    return [KeyImage(series_id, int(r[0]), r[1], True, r[2], parse_time(r[3])) for r in rows]


def set_study_review_status(
    db: Database, study_id: int, status: ReviewStatus, *, user: str = ""
) -> None:
    """Set a study's reading status (e.g. REVIEWED when the reader signs it off); audited."""
    reader = resolve_user(user)
    with write_transaction(db, doing="saving the review status"):
        row = db.execute("SELECT review_status FROM studies WHERE id = ?", [study_id]).fetchone()
        if row is None:
            raise StoreError(f"Study {study_id} is not in the results store.")
        if row[0] == status.value:
            return
        db.execute(
            "UPDATE studies SET review_status = ?, review_status_by = ?, review_status_at = ?"
            " WHERE id = ?",
            [status.value, reader, time_text(now_utc()), study_id],
        )
        record_audit(
            db,
            AuditAction.STUDY_STATUS_CHANGED,
            user=reader,
            study_id=study_id,
            details={"from": row[0], "to": status.value},
        )


def set_study_no_mscc(db: Database, study_id: int, no_mscc: bool = True, *, user: str = "") -> None:
    """The reader's one-action verdict "no MSCC" on a whole study (or its withdrawal); audited.

    Setting it also signs the study off (REVIEWED): the reader has looked at every slice. For
    the site's training data it labels every slice of the study normal, whatever the model
    flagged.
    """
    reader = resolve_user(user)
    with write_transaction(db, doing="saving the study verdict"):
        row = db.execute("SELECT no_mscc FROM studies WHERE id = ?", [study_id]).fetchone()
        if row is None:
            raise StoreError(f"Study {study_id} is not in the results store.")
        if bool(row[0]) == no_mscc:
            return
        db.execute(
            "UPDATE studies SET no_mscc = ?, no_mscc_by = ?, no_mscc_at = ? WHERE id = ?",
            [int(no_mscc), reader, time_text(now_utc()), study_id],
        )
        record_audit(
            db,
            AuditAction.STUDY_NO_MSCC,
            user=reader,
            study_id=study_id,
            details={"no_mscc": no_mscc},
        )
        if no_mscc:
            set_study_review_status(db, study_id, ReviewStatus.REVIEWED, user=reader)


def study_no_mscc(db: Database, study_id: int) -> bool:
    row = db.execute("SELECT no_mscc FROM studies WHERE id = ?", [study_id]).fetchone()
    if row is None:
        raise StoreError(f"Study {study_id} is not in the results store.")
    return bool(row[0])


def study_review_status(db: Database, study_id: int) -> ReviewStatus:
    row = db.execute("SELECT review_status FROM studies WHERE id = ?", [study_id]).fetchone()
    if row is None:
        raise StoreError(f"Study {study_id} is not in the results store.")
    return ReviewStatus(row[0])


def _advance_study(db: Database, study_id: int, reader: str) -> None:
    if study_review_status(db, study_id) is ReviewStatus.UNREVIEWED:
        set_study_review_status(db, study_id, ReviewStatus.IN_PROGRESS, user=reader)


def _review_rows(db: Database, analysis_id: int, lesion_number: int | None) -> list[dict[str, Any]]:
    sql = "SELECT * FROM reviews WHERE analysis_ref = ?"
    params: list[object] = [analysis_id]
    if lesion_number is not None:
        sql += " AND lesion_number = ?"
        params.append(lesion_number)
    return list(db.query(sql + " ORDER BY lesion_number", params))


def _review(row: Mapping[str, Any]) -> Review:
    decision, group = row["decision"], row["regraded_group"]
    return Review(
        analysis_id=int(row["analysis_ref"]),
        lesion_number=int(row["lesion_number"]),
        decision=None if decision is None else ReviewDecision(decision),
        regraded_group=None if group is None else GradeGroup(group),
        vertebral_level=row["vertebral_level"],
        comment=row["comment"],
        user=row["user"],
        reviewed_at=parse_time(row["reviewed_at"]),
    )
