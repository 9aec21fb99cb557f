"""The reader's confirmed vertebral numbering: saved with the analysis, audited, read back."""

from __future__ import annotations

import pytest
from sqlite_utils import Database

from mscc_desktop.core.errors import StoreError
from mscc_desktop.core.review import ReviewStatus
from mscc_desktop.storage import (
    AuditAction,
    SeriesRecord,
    audit_entries,
    load_level_numbering,
    save_analysis,
    save_level_numbering,
    study_review_status,
)
from tests.storage import builders

N = 60


def proposal() -> list[str | None]:
    """T1 on slices 0-9, T2 on 10-19, ... up to T6; the last few slices without a level."""
    levels: list[str | None] = [f"T{1 + k // 10}" for k in range(N - 4)]
    return levels + [None] * 4


@pytest.fixture
def analysis_id(db: Database, series: SeriesRecord) -> int:
    return save_analysis(db, series, builders.result(n_slices=N))


def test_nothing_is_confirmed_until_the_reader_confirms(db: Database, analysis_id: int) -> None:
    assert load_level_numbering(db, analysis_id) is None


def test_confirmed_numbering_round_trips_with_shift_user_and_time(
    db: Database, analysis_id: int, series: SeriesRecord
) -> None:
    saved = save_level_numbering(
        db,
        analysis_id,
        proposal(),
        shift=1,
        reason="Counted 12 rib pairs",
        confidence=0.9,
        user="dr.reader",
    )
    loaded = load_level_numbering(db, analysis_id)
    assert loaded == saved
    assert loaded is not None and loaded.user == "dr.reader" and loaded.shift == 1
    assert loaded.proposed_levels[0] == "T1" and loaded.levels[0] == "T2"  # shifted down one
    assert loaded.level_range(12, 17) == "T3"
    assert loaded.level_range(8, 12) == "T2-T3"
    assert loaded.level_range(N - 3, N - 1) == ""  # no level proposed there
    assert loaded.extent == "T2-T7" and loaded.shift_text.startswith("shifted 1 level down")
    assert study_review_status(db, series.study_id) is ReviewStatus.IN_PROGRESS


def test_every_confirmation_is_audited_and_the_latest_counts(
    db: Database, analysis_id: int
) -> None:
    save_level_numbering(db, analysis_id, proposal(), shift=0, user="a")
    save_level_numbering(db, analysis_id, proposal(), shift=-1, user="b")
    loaded = load_level_numbering(db, analysis_id)
    assert loaded is not None and loaded.shift == -1 and loaded.user == "b"
    assert loaded.levels[15] == "T1"
    rows = [e for e in audit_entries(db) if e.action is AuditAction.LEVELS_CONFIRMED]
    assert [(r.user, r.details["shift"], r.details["confirmed"]) for r in rows] == [
        ("a", 0, "T1-T6"),
        ("b", -1, "C7-T5"),
    ]
    assert all(r.analysis_id == analysis_id and r.details["proposed"] == "T1-T6" for r in rows)


def test_a_numbering_that_does_not_fit_is_refused(db: Database, analysis_id: int) -> None:
    with pytest.raises(StoreError, match="has 60"):
        save_level_numbering(db, analysis_id, proposal()[:-1])
    with pytest.raises(ValueError, match="nothing to confirm"):
        save_level_numbering(db, analysis_id, [None] * N)
    with pytest.raises(ValueError, match="unknown vertebral level"):
        save_level_numbering(db, analysis_id, ["T13"] * N)
    with pytest.raises(ValueError, match="more than a miscount"):
        save_level_numbering(db, analysis_id, proposal(), shift=7)
    with pytest.raises(StoreError, match="not in the results store"):
        save_level_numbering(db, analysis_id + 99, proposal())
    assert load_level_numbering(db, analysis_id) is None
    assert not [e for e in audit_entries(db) if e.action is AuditAction.LEVELS_CONFIRMED]
