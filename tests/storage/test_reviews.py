"""The reader's review: verdicts, levels, key images, sign-off; every change audited and kept."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlite_utils import Database

from mscc_desktop.core.errors import StoreError
from mscc_desktop.core.grades import GradeGroup
from mscc_desktop.core.review import ReviewDecision, ReviewStatus
from mscc_desktop.storage import (
    AuditAction,
    SeriesRecord,
    audit_entries,
    key_images,
    list_studies,
    load_reviews,
    open_store,
    save_analysis,
    save_review,
    set_key_image,
    set_study_review_status,
    study_review_status,
    upsert_series,
)
from tests.storage import builders


@pytest.fixture
def analysis_id(db: Database, series: SeriesRecord) -> int:
    return save_analysis(db, series, builders.result())


def test_review_is_saved_with_user_time_and_normalised_level(
    db: Database, analysis_id: int
) -> None:
    review = save_review(
        db,
        analysis_id,
        1,
        decision=ReviewDecision.ACCEPT,
        vertebral_level="t7-8",
        comment="cord abutted",
        user="dr.reader",
    )
    assert review.vertebral_level == "T7-T8"
    assert load_reviews(db, analysis_id) == {1: review}
    assert review.user == "dr.reader" and review.reviewed_at.tzinfo is not None


def test_regrade_needs_a_group_and_only_regrade_takes_one(db: Database, analysis_id: int) -> None:
    with pytest.raises(ValueError, match="regrade"):
        save_review(db, analysis_id, 1, decision=ReviewDecision.REGRADE)
    with pytest.raises(ValueError, match="regrade"):
        save_review(
            db, analysis_id, 1, decision=ReviewDecision.ACCEPT, regraded_group=GradeGroup.LOW
        )
    review = save_review(
        db, analysis_id, 1, decision=ReviewDecision.REGRADE, regraded_group=GradeGroup.LOW
    )
    assert review.regraded_group is GradeGroup.LOW
    assert load_reviews(db, analysis_id)[1] == review


def test_values_from_widgets_are_accepted_as_strings(db: Database, analysis_id: int) -> None:
    review = save_review(db, analysis_id, 1, decision="regrade", regraded_group="high")
    assert review.decision is ReviewDecision.REGRADE and review.regraded_group is GradeGroup.HIGH
    with pytest.raises(ValueError, match="bogus"):
        save_review(db, analysis_id, 1, decision="bogus")


def test_bad_level_or_unknown_finding_saves_nothing(db: Database, analysis_id: int) -> None:
    with pytest.raises(ValueError, match="T13"):
        save_review(db, analysis_id, 1, decision=ReviewDecision.ACCEPT, vertebral_level="T13")
    with pytest.raises(StoreError, match="Finding 99"):
        save_review(db, analysis_id, 99, decision=ReviewDecision.ACCEPT)
    assert load_reviews(db, analysis_id) == {}
    assert not [e for e in audit_entries(db) if e.action is AuditAction.REVIEW_SAVED]


def test_each_change_is_audited_and_the_latest_wins(db: Database, analysis_id: int) -> None:
    save_review(db, analysis_id, 1, decision=ReviewDecision.ACCEPT, user="a")
    save_review(db, analysis_id, 1, decision=ReviewDecision.ACCEPT, user="a")  # no change
    save_review(db, analysis_id, 1, decision=ReviewDecision.REJECT, comment="artefact", user="b")

    current = load_reviews(db, analysis_id)[1]
    assert current.decision is ReviewDecision.REJECT and current.user == "b"
    history = [
        e
        for e in audit_entries(db, analysis_id=analysis_id)
        if e.action is AuditAction.REVIEW_SAVED
    ]
    assert [(e.user, e.details["decision"]) for e in history] == [("a", "accept"), ("b", "reject")]


def test_reviewing_moves_the_study_to_in_progress_then_reviewed(
    db: Database, series: SeriesRecord, analysis_id: int
) -> None:
    assert study_review_status(db, series.study_id) is ReviewStatus.UNREVIEWED
    save_review(db, analysis_id, 1, decision=ReviewDecision.ACCEPT)
    assert study_review_status(db, series.study_id) is ReviewStatus.IN_PROGRESS
    set_study_review_status(db, series.study_id, ReviewStatus.REVIEWED, user="dr.reader")
    assert list_studies(db)[0].reviewed
    # Later edits do not silently withdraw the sign-off.
    save_review(db, analysis_id, 1, decision=ReviewDecision.REJECT)
    assert study_review_status(db, series.study_id) is ReviewStatus.REVIEWED
    changes = [e.details for e in audit_entries(db) if e.action is AuditAction.STUDY_STATUS_CHANGED]
    assert changes == [
        {"from": "unreviewed", "to": "in_progress"},
        {"from": "in_progress", "to": "reviewed"},
    ]


def test_key_images_mark_and_unmark(db: Database, series: SeriesRecord) -> None:
    set_key_image(db, series.id, 14, sop_instance_uid="1.2.3.0.14", user="dr.reader")
    set_key_image(db, series.id, 3, user="dr.reader")  # a slice without UID
    assert [k.slice_index for k in key_images(db, series.id)] == [3, 14]
    set_key_image(db, series.id, 14, sop_instance_uid="1.2.3.0.14", marked=False)
    assert [k.slice_index for k in key_images(db, series.id)] == [3]
    actions = [e.action for e in audit_entries(db, series_id=series.id)]
    assert actions.count(AuditAction.KEY_IMAGE_MARKED) == 2
    assert actions.count(AuditAction.KEY_IMAGE_UNMARKED) == 1
    with pytest.raises(StoreError, match="Series 999"):
        set_key_image(db, 999, 1)


def test_key_images_on_frames_of_one_multiframe_file_are_separate(
    db: Database, series: SeriesRecord
) -> None:
    # Enhanced CT: every frame (slice) of the file carries the file's SOP Instance UID.
    shared_uid = "1.2.3.4.5.6"
    set_key_image(db, series.id, 5, sop_instance_uid=shared_uid)
    set_key_image(db, series.id, 9, sop_instance_uid=shared_uid)
    set_key_image(db, series.id, 5, sop_instance_uid=shared_uid, marked=False)
    assert [(k.slice_index, k.sop_instance_uid) for k in key_images(db, series.id)] == [
        (9, shared_uid)
    ]


def test_reviews_and_key_images_survive_closing_and_reopening(
    store_path: Path, tmp_path: Path
) -> None:
    db = open_store(store_path)
    series = upsert_series(
        db, builders.series_info(), source_path=tmp_path, fingerprint="fp1:a", n_files=60
    )
    analysis_id = save_analysis(db, series, builders.result())
    review = save_review(
        db,
        analysis_id,
        1,
        decision=ReviewDecision.REGRADE,
        regraded_group=GradeGroup.LOW,
        vertebral_level="T9",
        comment="only thecal sac deformed",
        user="dr.reader",
    )
    key = set_key_image(db, series.id, 15, sop_instance_uid="1.2.3.0.15", user="dr.reader")
    db.close()

    db = open_store(store_path)
    assert load_reviews(db, analysis_id) == {1: review}
    assert key_images(db, series.id) == [key]
    assert list_studies(db)[0].review_status is ReviewStatus.IN_PROGRESS
    db.close()
