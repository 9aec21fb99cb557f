"""Low-level helpers shared by the store modules: write transactions, times, error mapping."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlite_utils import Database

from mscc_desktop.core.errors import StoreError


def insert_row(db: Database, table: str, values: Mapping[str, object]) -> int:
    """Insert one row with sqlite-utils and return its integer primary key."""
    row_id = db.table(table).insert(dict(values)).last_rowid
    if row_id is None:  # pragma: no cover - sqlite always assigns a rowid here
        raise StoreError(f"Inserting into {table} returned no row id.")
    return int(row_id)


def now_utc() -> datetime:
    """The current time, timezone-aware in UTC (what every ``*_at`` column stores)."""
    return datetime.now(UTC)


def time_text(moment: datetime) -> str:
    """ISO 8601 text of ``moment``; round-trips exactly through :func:`parse_time`."""
    return moment.isoformat()


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def store_file(db: Database) -> str:
    """The file behind ``db`` (``":memory:"`` for an in-memory store), for error messages."""
    try:
        for row in db.execute("PRAGMA database_list").fetchall():
            if row[1] == "main":
                return str(row[2]) or ":memory:"
    except sqlite3.Error:
        pass
    return "the results store"


def is_lock_error(error: BaseException) -> bool:
    """SQLite's "database is locked" / "busy": another connection holds the lock."""
    text = str(error).lower()
    return "locked" in text or "busy" in text


def store_error(
    error: sqlite3.Error | UnicodeDecodeError | MemoryError, path: str | Path, *, doing: str
) -> StoreError:
    """Translate a SQLite error into a :class:`StoreError` a user can act on.

    A damaged schema can also surface as ``UnicodeDecodeError`` (names that are not UTF-8)
    or ``MemoryError`` (SQLite's SQLITE_NOMEM); both mean the file is not a usable store.
    """
    text = str(error).lower()
    from_sqlite = isinstance(error, sqlite3.Error)
    if from_sqlite and ("readonly" in text or "read-only" in text):
        message = (
            f"The results store {path} is read-only, so {doing} failed. "
            "Make the file and its folder writable, or choose another store with --db."
        )
    elif from_sqlite and is_lock_error(error):
        message = (
            f"The results store {path} stayed locked by another program, so {doing} failed. "
            "Close other mscc-desktop windows that use it, then try again."
        )
    elif not from_sqlite or any(k in text for k in ("not a database", "malformed", "corrupt")):
        message = (
            f"{path} is not a usable mscc-desktop results store ({doing} failed). "
            "Move the file aside or choose another store with --db."
        )
    elif "disk" in text and ("full" in text or "i/o" in text):
        message = f"Writing the results store {path} failed ({doing}): the disk is full or failing."
    else:
        message = f"The results store {path} could not be used: {doing} failed."
    return StoreError(message, details=f"{type(error).__name__}: {error}")


@contextmanager
def write_transaction(db: Database, *, doing: str = "saving") -> Iterator[Database]:
    """One atomic write: everything inside commits together or not at all.

    Takes the write lock up front (``BEGIN IMMEDIATE``), so two app instances wait for each
    other (up to the connection's busy timeout) instead of failing half-way through a read
    that turned into a write. Nested use becomes a savepoint of the outer transaction.
    SQLite errors leave as :class:`StoreError`; any other exception rolls back and propagates.
    """
    if db.conn.in_transaction:
        try:
            with db.atomic():
                yield db
        except sqlite3.Error as error:
            raise store_error(error, store_file(db), doing=doing) from error
        return
    try:
        db.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as error:
        raise store_error(error, store_file(db), doing=doing) from error
    try:
        yield db
        db.conn.execute("COMMIT")
    except sqlite3.Error as error:
        db.rollback()
        raise store_error(error, store_file(db), doing=doing) from error
    except BaseException:
        db.rollback()
        raise
