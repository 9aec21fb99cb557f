"""Opening the results store safely: checks, pragmas, migrations, crash recovery.

One connection per app instance, owned by the GUI thread (or the CLI): the connection keeps
sqlite3's same-thread check on, so a worker thread that tries to write fails loudly instead of
racing. Several app instances may share one store file: WAL mode lets readers run during a
write, writes take the lock up front and wait up to ``busy_timeout_s`` for each other.

Usage::

    db = open_store()                    # the user's store, created and migrated on first use
    db = open_store("other.sqlite")      # a chosen file (--db)
    db = open_memory_store()             # tests
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import sys
import time
import uuid
from pathlib import Path

from sqlite_utils import Database

from mscc_desktop.core.config import AppConfig
from mscc_desktop.core.errors import StoreError
from mscc_desktop.core.findings import AnalysisStatus
from mscc_desktop.storage._sql import is_lock_error, store_error, store_file, write_transaction
from mscc_desktop.storage.audit import record_audit
from mscc_desktop.storage.records import AuditAction
from mscc_desktop.storage.schema import MIGRATION_NAMES, MIGRATION_SET, MIGRATIONS, SCHEMA_VERSION

logger = logging.getLogger(__name__)

DEFAULT_BUSY_TIMEOUT_S = 15.0

PROCESS_TOKEN = uuid.uuid4().hex
"""Identifies this process as the owner of the analyses it starts (see ``begin_analysis``)."""
HOST_NAME = socket.gethostname()


def default_store_path() -> Path:
    """The store file in the user's data folder (``$MSCC_DATA_DIR`` when set)."""
    return AppConfig.default().db_path


def open_store(
    path: str | os.PathLike[str] | None = None,
    *,
    read_only: bool = False,
    busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
) -> Database:
    """Open (creating and migrating when needed) the results store.

    Parameters
    ----------
    path
        The SQLite file; :func:`default_store_path` when ``None``. Its folder is created.
    read_only
        Open without writing anything (no creation, no migration, no crash recovery), e.g. to
        list a store on a read-only medium. The store must exist at the current version.
    busy_timeout_s
        How long a write waits for another app instance to finish its own.

    Returns
    -------
    sqlite_utils.Database
        Foreign keys on, WAL mode, schema current. Close it with ``db.close()``.

    Raises
    ------
    StoreError
        The file is not a database, was made by newer software, is read-only (unless
        ``read_only``), or stays locked.
    """
    file = Path(path) if path is not None else default_store_path()
    if read_only:
        if not file.is_file():
            raise StoreError(f"There is no results store at {file}.")
        conn = _connect(f"{file.resolve().as_uri()}?mode=ro", file, busy_timeout_s, uri=True)
    else:
        _check_writable(file)
        conn = _connect(str(file), file, busy_timeout_s, uri=False)
    db = Database(conn)
    try:
        prepare_store(db, read_only=read_only, busy_timeout_s=busy_timeout_s)
    except (sqlite3.Error, UnicodeDecodeError, MemoryError) as error:
        # A damaged file can pass the checks and fail in a later query (found by the store
        # fuzz target: "database disk image is malformed" in the crash recovery, schema names
        # that are not UTF-8, a schema SQLite refuses as out of memory).
        db.close()
        raise store_error(error, file, doing="opening it") from error
    except BaseException:
        db.close()
        raise
    return db


def open_memory_store() -> Database:
    """A fresh in-memory store with the full schema (tests and throw-away work)."""
    return prepare_store(Database(memory=True))


def prepare_store(
    db: Database, *, read_only: bool = False, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S
) -> Database:
    """Check, configure and migrate an open connection; mark dead owners' analyses interrupted.

    Works on any :class:`sqlite_utils.Database` (file or in-memory). Returns ``db``.
    """
    path = store_file(db)
    deadline = time.monotonic() + busy_timeout_s
    pause = 0.01
    while True:
        try:
            _configure(db, path, read_only=read_only)
            break
        except sqlite3.OperationalError as error:
            # Switching a new store to WAL takes a write lock, and SQLite may answer "locked"
            # at once instead of waiting (it skips its busy handler where waiting could
            # deadlock) when two instances open the store together: a CI run failed that
            # way once in the two-writer test. Retry until the busy timeout.
            if not is_lock_error(error) or time.monotonic() + pause > deadline:
                raise store_error(error, path, doing="opening it") from error
            time.sleep(pause)
            pause = min(pause * 2, 0.2)
        except sqlite3.Error as error:
            raise store_error(error, path, doing="opening it") from error
    version = _user_version(db)
    if version < SCHEMA_VERSION:
        if read_only:
            raise StoreError(
                f"The results store {path} was made by an older mscc-desktop and must be "
                "upgraded: open it once without read-only mode."
            )
        with write_transaction(db, doing="upgrading its schema"):
            # Another instance may have migrated while this one waited for the lock.
            _refuse_newer(db, path)
            _refuse_foreign(db, path)
            MIGRATIONS.apply(db)
        logger.info("results store schema at version %d", _user_version(db))
    if not read_only:
        mark_interrupted_analyses(db)
    return db


def _configure(db: Database, path: str, *, read_only: bool) -> None:
    # Reads the header: fails here, before anything is written, for a non-database file.
    db.execute("PRAGMA schema_version").fetchone()
    _refuse_newer(db, path)
    _refuse_foreign(db, path)
    db.execute("PRAGMA foreign_keys = ON")
    if not read_only and not db.memory:
        db.enable_wal()
        # FULL: a saved review survives power loss too, not only a crash (one fsync per
        # commit; the store writes a few rows per reader action).
        db.execute("PRAGMA synchronous = FULL")


def mark_interrupted_analyses(db: Database) -> int:
    """Mark analyses left 'running' by a process that no longer runs as 'interrupted'.

    An analysis started by this process, or by a live process on this machine (another app
    instance sharing the store), is left alone. Returns how many were marked.
    """
    rows = db.execute(
        "SELECT id, series_ref, owner_host, owner_pid, owner_token FROM analyses "
        "WHERE status = 'running'"
    ).fetchall()
    orphans = [(int(row[0]), int(row[1])) for row in rows if not owner_alive(*row[2:])]
    if not orphans:
        return 0
    with write_transaction(db, doing="recording interrupted analyses"):
        for analysis_id, series_id in orphans:
            updated = db.execute(
                "UPDATE analyses SET status = 'interrupted' WHERE id = ? AND status = 'running'",
                [analysis_id],
            ).rowcount
            if updated:
                record_audit(
                    db,
                    AuditAction.ANALYSIS_INTERRUPTED,
                    user="mscc-desktop",
                    series_id=series_id,
                    analysis_id=analysis_id,
                    details={"status": AnalysisStatus.INTERRUPTED.value},
                )
    logger.warning("%d analyses were interrupted by a crash or kill", len(orphans))
    return len(orphans)


def owner_alive(host: str, pid: int, token: str) -> bool:
    """Whether the process that started a 'running' analysis may still be running it."""
    if token == PROCESS_TOKEN:
        return True
    return host == HOST_NAME and _process_alive(int(pid))


def _connect(target: str, file: Path, busy_timeout_s: float, *, uri: bool) -> sqlite3.Connection:
    try:
        return sqlite3.connect(target, timeout=busy_timeout_s, uri=uri)
    except sqlite3.Error as error:
        raise store_error(error, file, doing="opening it") from error


def _check_writable(file: Path) -> None:
    folder = file.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(
            f"Cannot create the folder {folder} for the results store. "
            "Choose another store with --db.",
            details=str(error),
        ) from error
    if file.exists() and not file.is_file():
        raise StoreError(f"{file} is not a file: choose another store with --db.")
    if file.exists() and not os.access(file, os.W_OK):
        raise StoreError(
            f"The results store {file} is read-only. Make it writable, or choose another "
            "store with --db."
        )
    # WAL keeps two companion files next to the store: the folder must be writable too.
    if not os.access(folder, os.W_OK):
        raise StoreError(
            f"The folder {folder} of the results store is read-only. Make it writable, or "
            "choose another store with --db."
        )


def _user_version(db: Database) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def _refuse_newer(db: Database, path: str) -> None:
    version = _user_version(db)
    unknown: set[str] = set()
    if db["_sqlite_migrations"].exists():
        applied = {
            row[0]
            for row in db.execute(
                "SELECT name FROM _sqlite_migrations WHERE migration_set = ?", [MIGRATION_SET]
            ).fetchall()
        }
        unknown = applied - set(MIGRATION_NAMES)
    if version > SCHEMA_VERSION or unknown:
        raise StoreError(
            f"The results store {path} was written by a newer mscc-desktop (schema "
            f"{version}, this version understands {SCHEMA_VERSION}). Update mscc-desktop, or "
            "choose another store with --db.",
            details=f"unknown migrations: {sorted(unknown)}" if unknown else None,
        )


def _refuse_foreign(db: Database, path: str) -> None:
    """Refuse another program's SQLite database: never add our tables to it.

    Migrations are transactional, so a store of ours at version 0 has no tables at all.
    """
    if _user_version(db) == 0:
        tables = db.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ).fetchone()[0]
        if tables:
            raise StoreError(
                f"{path} is a database of another program, not an mscc-desktop results store; "
                "it was not changed. Choose another store with --db."
            )


def _process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (False when it cannot be told)."""
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    if sys.platform == "win32":
        import ctypes

        kernel32 = ctypes.windll.kernel32
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        try:
            code = ctypes.c_ulong()
            kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
            return code.value == 259  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)  # signal 0 checks existence without signalling (POSIX only)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


__all__ = [
    "DEFAULT_BUSY_TIMEOUT_S",
    "default_store_path",
    "mark_interrupted_analyses",
    "open_memory_store",
    "open_store",
    "prepare_store",
]
