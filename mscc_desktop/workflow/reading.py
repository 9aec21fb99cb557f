"""The reader's work on an open study, as the store keeps it: which stored analysis to show,
reviews, key images, confirmed vertebral levels, sign-off and the "no MSCC" verdict, the send
log, the study list and recent folders (and opening the store itself).

The GUI calls these on the thread that owns the store (and the CLI could too), so the
decisions — e.g. never to show findings of files that changed since — are made once, here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlite_utils import Database

from mscc_desktop import storage
from mscc_desktop.core.findings import AnalysisStatus, ModelProvenance
from mscc_desktop.core.notices import Notice, NoticeCode
from mscc_desktop.storage import (
    add_recent_folder,
    list_studies,
    load_level_numbering,
    load_reviews,
    open_store,
    save_level_numbering,
    save_review,
    send_log,
    set_study_no_mscc,
    study_no_mscc,
)


@dataclass(frozen=True, slots=True, eq=False)
class StoredChoice:
    """What to show of a series' stored analyses for the model in use.

    ``analysis`` is the newest one by this model, else (``by_current_model`` false) the newest
    complete, current one by an earlier model, else ``None``. ``files_changed``: nothing is
    shown because this model's analysis describes files that changed since (``stale_notices``
    say so).
    """

    analysis: storage.StoredAnalysis | None
    by_current_model: bool = False
    files_changed: bool = False
    stale_notices: tuple[Notice, ...] = ()


def earlier_model_analysis(db: Database, series_id: int) -> storage.StoredAnalysis | None:
    """The newest complete, current analysis of the series by any model."""
    for summary in storage.analysis_history(db, series_id):
        if summary.status is AnalysisStatus.COMPLETE and not summary.stale:
            return storage.load_analysis(db, summary.id)
    return None


def stored_analysis_to_show(db: Database, series_id: int, model: ModelProvenance) -> StoredChoice:
    """The stored analysis to show for ``series_id`` when ``model`` is in use (never re-run
    silently: an earlier model's analysis is shown, labelled with that model)."""
    stored = storage.load_latest_analysis(
        db, series_id, model_id=model.model_id, model_sha256=model.model_sha256
    )
    if stored is not None:
        return StoredChoice(stored, by_current_model=True)
    earlier = earlier_model_analysis(db, series_id)
    if earlier is not None:
        return StoredChoice(earlier)
    stale_id = storage.find_latest_analysis(
        db,
        series_id,
        model_id=model.model_id,
        model_sha256=model.model_sha256,
        include_stale=True,
    )
    stale = None if stale_id is None else storage.load_analysis(db, stale_id)
    if stale is None or not stale.stale:
        return StoredChoice(None)
    warnings = tuple(n for n in stale.notices if n.code is NoticeCode.STALE)
    return StoredChoice(None, files_changed=True, stale_notices=warnings)


def key_image_slices(db: Database, series_id: int) -> list[int]:
    """The slices (volume indices) the reader marked as key images."""
    return [k.slice_index for k in storage.key_images(db, series_id)]


def mark_key_image(
    db: Database,
    series_id: int,
    slice_index: int,
    *,
    sop_instance_uid: str,
    marked: bool,
    user: str = "",
) -> None:
    """Mark (or unmark) a slice as a key image."""
    storage.set_key_image(
        db, series_id, slice_index, sop_instance_uid=sop_instance_uid, marked=marked, user=user
    )


def sign_off_study(db: Database, study_id: int, *, user: str = "") -> None:
    """Record that the reader finished the study (reviewed)."""
    storage.set_study_review_status(db, study_id, storage.ReviewStatus.REVIEWED, user=user)


def analyses_of_folder(db: Database, folder: Path) -> list[tuple[int, storage.StoredAnalysis]]:
    """The newest stored analysis of every series read from ``folder``, with its study id."""
    found = []
    target = Path(folder).resolve()
    for entry in list_studies(db):
        for record in storage.series_for_study(db, entry.study_id):
            if Path(record.source_path).resolve() != target:
                continue
            history = storage.analysis_history(db, record.id)
            if history:
                found.append((entry.study_id, storage.load_analysis(db, history[0].id)))
    return found


def recent_folders(db: Database, *, limit: int = 10) -> list[Path]:
    """The folders opened most recently, newest first."""
    return storage.recent_folders(db, limit=limit)


__all__ = [
    "StoredChoice",
    "add_recent_folder",
    "analyses_of_folder",
    "earlier_model_analysis",
    "key_image_slices",
    "list_studies",
    "load_level_numbering",
    "load_reviews",
    "mark_key_image",
    "open_store",
    "recent_folders",
    "save_level_numbering",
    "save_review",
    "send_log",
    "set_study_no_mscc",
    "sign_off_study",
    "stored_analysis_to_show",
    "study_no_mscc",
]
