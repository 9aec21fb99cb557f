"""Store fixtures: an in-memory store for logic, a file path for WAL and multi-process tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlite_utils import Database

from mscc_desktop.storage import SeriesRecord, prepare_store, upsert_series
from tests.storage import builders


@pytest.fixture
def db() -> Iterator[Database]:
    """A fresh in-memory store with the full schema."""
    database = prepare_store(Database(memory=True))
    yield database
    database.close()


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "store" / "mscc.sqlite"


@pytest.fixture
def series(db: Database, tmp_path: Path) -> SeriesRecord:
    """A registered series whose source folder exists (the fingerprint is made up)."""
    source = tmp_path / "dicom" / "series3"
    source.mkdir(parents=True)
    return upsert_series(
        db, builders.series_info(), source_path=source, fingerprint="fp1:aaaa", n_files=60
    )
