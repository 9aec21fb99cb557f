"""Opening the store: schema version, migrations, refusal of bad files, integrity triggers."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlite_utils import Database

from mscc_desktop.core.errors import StoreError
from mscc_desktop.core.findings import AnalysisStatus
from mscc_desktop.storage import (
    SCHEMA_VERSION,
    AuditAction,
    SeriesRecord,
    default_store_path,
    list_studies,
    load_analysis,
    open_store,
    prepare_store,
    record_audit,
    save_analysis,
    upsert_series,
)
from mscc_desktop.storage.schema import MIGRATION_NAMES, MIGRATIONS
from tests.storage import builders

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")


def test_default_store_lives_in_the_user_data_folder(tmp_path: Path) -> None:
    # conftest points MSCC_DATA_DIR at a fresh folder for every test.
    path = default_store_path()
    assert path.parent == Path(os.environ["MSCC_DATA_DIR"])
    db = open_store()
    db.close()
    assert path.is_file()


def test_migrations_applied_twice_leave_one_version(store_path: Path) -> None:
    db = open_store(store_path)
    MIGRATIONS.apply(db)
    prepare_store(db)
    db.close()
    db = open_store(store_path)
    applied = [m.name for m in MIGRATIONS.applied(db)]
    assert applied == list(MIGRATION_NAMES)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert MIGRATIONS.pending(db) == []
    db.close()


def test_migration_names_match_the_registered_migrations() -> None:
    assert tuple(m.name for m in MIGRATIONS.pending(Database(memory=True))) == MIGRATION_NAMES


def test_file_store_uses_wal_foreign_keys_and_full_sync(store_path: Path) -> None:
    db = open_store(store_path)
    assert db.journal_mode == "wal"
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
    db.close()


def _locked_for(times: int, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make switching to WAL answer "database is locked" ``times`` times, as SQLite does when
    two instances open a new store at once; returns the attempt counter."""
    attempts = [0]
    real = Database.enable_wal

    def enable_wal(self: Database) -> None:
        attempts[0] += 1
        if attempts[0] <= times:
            raise sqlite3.OperationalError("database is locked")
        real(self)

    monkeypatch.setattr(Database, "enable_wal", enable_wal)
    return attempts


def test_opening_retries_while_another_instance_holds_the_new_store(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts = _locked_for(3, monkeypatch)
    db = open_store(store_path)
    assert attempts[0] == 4 and db.journal_mode == "wal"
    db.close()


def test_a_store_that_stays_locked_is_refused_after_the_busy_timeout(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts = _locked_for(10_000, monkeypatch)
    with pytest.raises(StoreError, match="stayed locked by another program"):
        open_store(store_path, busy_timeout_s=0.3)
    assert 2 <= attempts[0] < 100  # retried with a growing pause, then gave up


def test_a_file_that_is_not_a_database_is_refused_untouched(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.sqlite"
    content = b"This is a text file, not SQLite. " * 200
    bogus.write_bytes(content)
    with pytest.raises(StoreError, match="not a usable mscc-desktop results store"):
        open_store(bogus)
    assert bogus.read_bytes() == content


def test_a_store_from_newer_software_is_refused_untouched(store_path: Path) -> None:
    open_store(store_path).close()
    raw = sqlite3.connect(store_path)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.commit()
    raw.close()
    before = store_path.read_bytes()
    with pytest.raises(StoreError, match="newer mscc-desktop"):
        open_store(store_path)
    assert store_path.read_bytes() == before


def test_an_unknown_applied_migration_means_newer_software(store_path: Path) -> None:
    open_store(store_path).close()
    raw = sqlite3.connect(store_path)
    raw.execute(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at)"
        " VALUES ('mscc', '0002_from_the_future', '2030-01-01')"
    )
    raw.commit()
    raw.close()
    with pytest.raises(StoreError, match="newer"):
        open_store(store_path)


@contextmanager
def _write_protected(path: Path) -> Iterator[None]:
    """Make ``path`` read-only: file mode for users, the immutable flag for root."""
    if os.geteuid() != 0:
        path.chmod(stat.S_IRUSR)
        try:
            yield
        finally:
            path.chmod(stat.S_IRUSR | stat.S_IWUSR)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(path)], check=False).returncode:
        pytest.skip("running as root and the immutable flag is unavailable here")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(path)], check=True)


@posix_only
def test_a_read_only_store_is_refused_with_a_clear_message(store_path: Path) -> None:
    db = open_store(store_path)
    db.disable_wal()  # a store copied from a CD has no WAL companions
    db.close()
    with _write_protected(store_path):
        with pytest.raises(StoreError, match="read-only"):
            open_store(store_path)
        # ... but can still be listed read-only.
        db = open_store(store_path, read_only=True)
        assert list_studies(db) == []
        db.close()


def test_read_only_open_of_a_missing_store_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "none.sqlite"
    with pytest.raises(StoreError, match="no results store"):
        open_store(missing, read_only=True)
    assert not missing.exists()


def test_read_only_connection_cannot_write(store_path: Path, tmp_path: Path) -> None:
    open_store(store_path).close()
    db = open_store(store_path, read_only=True)
    with pytest.raises(StoreError, match="read-only"):
        record_audit(db, AuditAction.EXPORTED, user="x")
    db.close()


def test_audit_log_rows_cannot_be_changed_or_deleted(db: Database) -> None:
    entry = record_audit(db, AuditAction.EXPORTED, user="dr.reader", details={"kind": "pdf"})
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("UPDATE audit_log SET user = 'someone else' WHERE id = ?", [entry])
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("DELETE FROM audit_log WHERE id = ?", [entry])
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db["audit_log"].delete_where()
    row = db.execute("SELECT user, action FROM audit_log WHERE id = ?", [entry]).fetchone()
    assert row == ("dr.reader", "exported")


def test_an_analysis_cannot_be_inserted_as_complete(db: Database, series: SeriesRecord) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="insert an analysis as running"):
        db.execute(
            "INSERT INTO analyses (series_ref, status, source_fingerprint, model_id,"
            " model_version, model_sha256, backend, device, synthetic_only, threshold_high,"
            " threshold_any_mscc, threshold_canal_score, started_at, finished_at,"
            " software_version, user, has_findings) VALUES (?, 'complete', 'fp', 'm', '1', 's',"
            " 'b', 'd', 1, 0.5, 0.5, 0.5, 't', 't', 'v', 'u', 1)",
            [series.id],
        )


def test_an_analysis_missing_slices_cannot_be_marked_complete(
    db: Database, series: SeriesRecord
) -> None:
    analysis_id = save_analysis(db, series, builders.result(n_slices=30))
    db.execute("UPDATE analyses SET status = 'interrupted' WHERE id = ?", [analysis_id])
    db.execute(
        "DELETE FROM analysis_slices WHERE analysis_ref = ? AND slice_index = 7", [analysis_id]
    )
    with pytest.raises(sqlite3.IntegrityError, match="rows missing"):
        db.execute("UPDATE analyses SET status = 'complete' WHERE id = ?", [analysis_id])
    status = db.execute("SELECT status FROM analyses WHERE id = ?", [analysis_id]).fetchone()[0]
    assert status == AnalysisStatus.INTERRUPTED.value


def test_foreign_keys_are_enforced(db: Database) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        db.execute(
            "INSERT INTO key_images (series_ref, slice_index, marked, user, changed_at)"
            " VALUES (999, 1, 1, 'u', 't')"
        )


def test_a_store_locked_by_another_instance_gives_a_clear_error(store_path: Path) -> None:
    holder = open_store(store_path)
    waiter = open_store(store_path, busy_timeout_s=0.05)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another instance in the middle of a long write
        with pytest.raises(StoreError, match="locked by another program"):
            record_audit(waiter, AuditAction.EXPORTED, user="x")
        holder.rollback()
        record_audit(waiter, AuditAction.EXPORTED, user="x")  # works once the lock is free
    finally:
        holder.close()
        waiter.close()


def test_a_folder_given_as_store_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="not a file"):
        open_store(tmp_path)


def test_another_programs_database_is_refused_untouched(tmp_path: Path) -> None:
    foreign = tmp_path / "contacts.sqlite"
    raw = sqlite3.connect(foreign)
    raw.execute("CREATE TABLE contacts (name TEXT)")
    raw.execute("INSERT INTO contacts VALUES ('someone')")
    raw.commit()
    raw.close()
    before = foreign.read_bytes()
    with pytest.raises(StoreError, match="another program"):
        open_store(foreign)
    assert foreign.read_bytes() == before  # not even switched to WAL
    assert sorted(p.name for p in tmp_path.iterdir()) == ["contacts.sqlite"]


def test_an_empty_file_becomes_a_new_store(tmp_path: Path) -> None:
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    db = open_store(empty)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    db.close()


def test_a_version_1_store_is_upgraded_and_its_analyses_read_as_uncalibrated(
    store_path: Path, tmp_path: Path
) -> None:
    # A store written before calibration existed: only the first migration, one analysis.
    store_path.parent.mkdir(parents=True, exist_ok=True)
    raw = Database(store_path)
    MIGRATIONS.apply(raw, stop_before="0002_model_calibration")
    assert raw.execute("PRAGMA user_version").fetchone()[0] == 1
    assert "probability_temperature" not in raw["analyses"].columns_dict
    series = upsert_series(
        raw, builders.series_info(), source_path=tmp_path, fingerprint="fp1:x", n_files=3
    )
    old_id = (
        raw["analyses"]
        .insert(
            {
                "series_ref": series.id,
                "status": "failed",
                "source_fingerprint": series.fingerprint,
                "model_id": "m",
                "model_version": "1",
                "model_sha256": "0" * 64,
                "backend": "b",
                "device": "d",
                "synthetic_only": 1,
                "threshold_high": 0.08,
                "threshold_any_mscc": 0.4,
                "threshold_canal_score": 0.5,
                "started_at": "2024-01-01T00:00:00+00:00",
                "finished_at": "2024-01-01T00:00:01+00:00",
                "software_version": "0.1.0",
                "user": "x",
            }
        )
        .last_pk
    )
    raw.conn.commit()
    raw.conn.close()
    db = open_store(store_path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
    assert [m.name for m in MIGRATIONS.applied(db)] == list(MIGRATION_NAMES)
    old = load_analysis(db, int(old_id)).result.provenance
    assert old.probability_temperature == 1.0 and old.limitations == () and not old.calibrated
    db.close()
