"""Patients, studies and series: registering what was opened and noticing changed sources.

Identity is conservative, because a finding must never attach to the wrong patient: a patient
row is (Patient ID, name, birth date) — a difference in any makes another row; a study is its
Study Instance UID *within* that patient; a series is its Series Instance UID within that
study, at one source folder, plus an optional ``part`` for volumes the loader split from one
UID. The source files' fingerprint is not identity: when it changes, the series keeps its id
and its older analyses are marked stale.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from mscc_desktop.core.errors import StoreError
from mscc_desktop.core.volume import SeriesInfo, Volume
from mscc_desktop.storage._sql import insert_row, now_utc, time_text, write_transaction
from mscc_desktop.storage.audit import record_audit
from mscc_desktop.storage.fingerprint import fingerprint_files, source_folder
from mscc_desktop.storage.records import AuditAction, SeriesRecord

logger = logging.getLogger(__name__)

_STUDY_FIELDS = (
    "study_instance_uid",
    "study_id",
    "study_date",
    "study_time",
    "study_description",
    "accession_number",
    "institution_name",
    "referring_physician",
)
_SERIES_FIELDS = (
    "series_number",
    "series_description",
    "modality",
    "manufacturer",
    "manufacturer_model",
    "kvp",
    "convolution_kernel",
    "contrast_agent",
    "body_part",
    "frame_of_reference_uid",
)


def upsert_series(
    db: Database,
    info: SeriesInfo,
    *,
    source_path: str | os.PathLike[str],
    fingerprint: str,
    n_files: int,
    part: str = "",
    user: str = "",
) -> SeriesRecord:
    """Register (or refresh) a series and its patient and study; notice changed sources.

    When the series is known and ``fingerprint`` differs from the stored one, every analysis
    of the series made from other files is marked stale (``stale_at``) and one
    ``SOURCE_CHANGED`` audit row is written; analyses made from exactly these files again
    (the files were restored) become current again. One transaction.

    Parameters
    ----------
    db
        An open store (GUI thread or CLI).
    info
        Identity and description from the loaded volume.
    source_path
        The series' folder (see :func:`~mscc_desktop.storage.fingerprint.source_folder`).
    fingerprint
        :func:`~mscc_desktop.storage.fingerprint.fingerprint_files` of its files.
    n_files
        Number of source files.
    part
        Tells apart volumes the loader split from one Series Instance UID ("" otherwise).
    user
        Recorded in the audit log.

    Returns
    -------
    SeriesRecord
        With ``stale_marked`` = number of analyses just marked stale.
    """
    now = time_text(now_utc())
    folder = str(Path(source_path).absolute())
    with write_transaction(db, doing="registering the series"):
        patient_id = _upsert_patient(db, info, now)
        study_id = _upsert_study(db, info, patient_id, folder, now)
        values: dict[str, Any] = {name: getattr(info, name) for name in _SERIES_FIELDS}
        values["image_type"] = json.dumps(list(info.image_type))
        values["transfer_syntaxes"] = json.dumps(list(info.transfer_syntaxes))
        key = [study_id, info.series_instance_uid, folder, part]
        row = db.execute(
            "SELECT id, fingerprint FROM series WHERE study_ref = ? AND series_instance_uid = ?"
            " AND source_path = ? AND part = ?",
            key,
        ).fetchone()
        stale_marked = 0
        if row is None:
            series_id = insert_row(
                db,
                "series",
                {
                    "study_ref": study_id,
                    "series_instance_uid": info.series_instance_uid,
                    "source_path": folder,
                    "part": part,
                    "fingerprint": fingerprint,
                    "n_files": n_files,
                    "first_seen_at": now,
                    "last_seen_at": now,
                    **values,
                },
            )
            record_audit(
                db,
                AuditAction.SERIES_REGISTERED,
                user=user,
                study_id=study_id,
                series_id=series_id,
                details={"n_files": n_files},
            )
        else:
            series_id = int(row[0])
            changed = row[1] != fingerprint
            _update(db, "series", series_id, {"n_files": n_files, "last_seen_at": now, **values})
            if changed:
                stale_marked = _source_changed(db, series_id, study_id, fingerprint, now, user)
    if stale_marked:
        logger.info("series %d changed on disk: %d analyses now stale", series_id, stale_marked)
    return SeriesRecord(
        id=series_id,
        study_id=study_id,
        patient_id=patient_id,
        series_instance_uid=info.series_instance_uid,
        source_path=Path(folder),
        part=part,
        fingerprint=fingerprint,
        n_files=n_files,
        stale_marked=stale_marked,
    )


def register_volume(
    db: Database, volume: Volume, *, part: str = "", user: str = "", header_bytes: int = 0
) -> SeriesRecord:
    """:func:`upsert_series` for a loaded volume: folder and fingerprint from its source files."""
    files = sorted(set(volume.source_files))
    return upsert_series(
        db,
        volume.info,
        source_path=source_folder(files),
        fingerprint=fingerprint_files(files, header_bytes=header_bytes),
        n_files=len(files),
        part=part,
        user=user,
    )


def get_series(db: Database, series_id: int) -> SeriesRecord:
    """The stored series ``series_id``; :class:`StoreError` when there is none."""
    rows = _series_rows(db, "s.id = ?", [series_id])
    if not rows:
        raise StoreError(f"Series {series_id} is not in the results store.")
    return rows[0]


def series_for_study(db: Database, study_id: int) -> list[SeriesRecord]:
    """Every series of a study (to reopen it from the study browser), by series id."""
    return _series_rows(db, "s.study_ref = ?", [study_id])


def known_source_folders(db: Database) -> set[Path]:
    """Every source folder the store has registered a series from."""
    return {Path(row[0]) for row in db.execute("SELECT DISTINCT source_path FROM series")}


def load_series_info(db: Database, series_id: int) -> SeriesInfo:
    """The stored identity and description of a series (patient data: never log it)."""
    row = db.execute(
        "SELECT p.patient_name, p.patient_id, p.birth_date, p.sex, st.*, s.* FROM series s "
        "JOIN studies st ON st.id = s.study_ref JOIN patients p ON p.id = st.patient_ref "
        "WHERE s.id = ?",
        [series_id],
    )
    names = [column[0] for column in row.description]
    values = row.fetchone()
    if values is None:
        raise StoreError(f"Series {series_id} is not in the results store.")
    # Later columns of the same name (ids, created_at) do not matter: only fields are read.
    data = dict(zip(names, values, strict=True))
    return SeriesInfo(
        patient_name=data["patient_name"],
        patient_id=data["patient_id"],
        patient_birth_date=data["birth_date"],
        patient_sex=data["sex"],
        series_instance_uid=data["series_instance_uid"],
        image_type=tuple(json.loads(data["image_type"])),
        transfer_syntaxes=tuple(json.loads(data["transfer_syntaxes"])),
        **{name: data[name] for name in (*_STUDY_FIELDS, *_SERIES_FIELDS)},
    )


def _source_changed(
    db: Database, series_id: int, study_id: int, fingerprint: str, now: str, user: str
) -> int:
    db.execute(
        "UPDATE series SET fingerprint = ?, fingerprint_changed_at = ? WHERE id = ?",
        [fingerprint, now, series_id],
    )
    marked = db.execute(
        "UPDATE analyses SET stale_at = ? WHERE series_ref = ? AND source_fingerprint != ?"
        " AND stale_at IS NULL",
        [now, series_id, fingerprint],
    ).rowcount
    restored = db.execute(
        "UPDATE analyses SET stale_at = NULL WHERE series_ref = ? AND source_fingerprint = ?"
        " AND stale_at IS NOT NULL",
        [series_id, fingerprint],
    ).rowcount
    record_audit(
        db,
        AuditAction.SOURCE_CHANGED,
        user=user,
        study_id=study_id,
        series_id=series_id,
        details={"analyses_marked_stale": marked, "analyses_current_again": restored},
    )
    return int(marked)


def _upsert_patient(db: Database, info: SeriesInfo, now: str) -> int:
    key = [info.patient_id, info.patient_name, info.patient_birth_date]
    row = db.execute(
        "SELECT id, sex FROM patients WHERE patient_id = ? AND patient_name = ? AND birth_date = ?",
        key,
    ).fetchone()
    if row is None:
        return insert_row(
            db,
            "patients",
            {
                "patient_id": info.patient_id,
                "patient_name": info.patient_name,
                "birth_date": info.patient_birth_date,
                "sex": info.patient_sex,
                "created_at": now,
            },
        )
    if info.patient_sex and row[1] != info.patient_sex:
        _update(db, "patients", int(row[0]), {"sex": info.patient_sex})
    return int(row[0])


def _upsert_study(db: Database, info: SeriesInfo, patient_id: int, folder: str, now: str) -> int:
    # A study without a UID is only ever the same study when opened from the same folder.
    study_key = info.study_instance_uid or f"folder:{folder}"
    values = {name: getattr(info, name) for name in _STUDY_FIELDS}
    row = db.execute(
        "SELECT id FROM studies WHERE patient_ref = ? AND study_key = ?", [patient_id, study_key]
    ).fetchone()
    if row is None:
        return insert_row(
            db,
            "studies",
            {"patient_ref": patient_id, "study_key": study_key, "created_at": now, **values},
        )
    # Keep known descriptions when a later file set leaves them empty.
    _update(db, "studies", int(row[0]), {k: v for k, v in values.items() if v})
    return int(row[0])


def _update(db: Database, table: str, row_id: int, values: Mapping[str, object]) -> None:
    if values:
        db.table(table).update(row_id, dict(values))


def _series_rows(db: Database, where: str, params: list[object]) -> list[SeriesRecord]:
    rows = db.execute(
        "SELECT s.id, s.study_ref, st.patient_ref, s.series_instance_uid, s.source_path, s.part,"
        " s.fingerprint, s.n_files FROM series s JOIN studies st ON st.id = s.study_ref"
        f" WHERE {where} ORDER BY s.id",
        params,
    ).fetchall()
    return [
        SeriesRecord(
            id=int(r[0]),
            study_id=int(r[1]),
            patient_id=int(r[2]),
            series_instance_uid=r[3],
            source_path=Path(r[4]),
            part=r[5],
            fingerprint=r[6],
            n_files=int(r[7]),
        )
        for r in rows
    ]
