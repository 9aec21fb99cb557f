"""Values the store hands back: series, stored analyses, key images, audit entries, study rows.

Analysis results themselves use the core types (:class:`~mscc_desktop.core.findings.AnalysisResult`
and what it holds); these records add what only the store knows: database ids, staleness,
who did what and when. The reader's vocabulary (reviews, their decisions, reading and study
status) is in :mod:`mscc_desktop.core.review`. Records holding patient data say so: never log them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from mscc_desktop.core.findings import AnalysisResult, AnalysisStatus
from mscc_desktop.core.grades import GradeGroup
from mscc_desktop.core.notices import Notice, NoticeCode, Severity
from mscc_desktop.core.review import ReviewStatus, StudyStatus


class AuditAction(StrEnum):
    """Closed vocabulary of audited events (the ``action`` column of the audit log)."""

    SERIES_REGISTERED = "series_registered"
    SOURCE_CHANGED = "source_changed"  # fingerprint changed: older analyses marked stale
    ANALYSIS_STARTED = "analysis_started"
    ANALYSIS_SAVED = "analysis_saved"  # complete or refused, with its rows
    ANALYSIS_ENDED = "analysis_ended"  # failed or cancelled
    ANALYSIS_INTERRUPTED = "analysis_interrupted"  # found running after its process died
    REVIEW_SAVED = "review_saved"
    KEY_IMAGE_MARKED = "key_image_marked"
    KEY_IMAGE_UNMARKED = "key_image_unmarked"
    STUDY_STATUS_CHANGED = "study_status_changed"
    STUDY_NO_MSCC = "study_no_mscc"  # the reader's "no MSCC" verdict on a study, set or cleared
    LEVELS_CONFIRMED = "levels_confirmed"  # the reader confirmed (or shifted) the level numbering
    EXPORTED = "exported"  # a report or image export (recorded by the reporting layer)
    # The DICOM network (details: AE titles, addresses, counts; never patient data).
    ASSOCIATION_ACCEPTED = "association_accepted"
    ASSOCIATION_REJECTED = "association_rejected"
    ASSOCIATION_ENDED = "association_ended"  # released or aborted, with what it delivered
    SERIES_RECEIVED = "series_received"  # complete after the quiet time, registered
    INSTANCE_REFUSED = "instance_refused"  # a received instance that was not kept
    SENT = "sent"  # a send to a PACS, with counts sent and failed
    RETRIEVED = "retrieved"  # a study retrieved from a PACS
    # Models (details: model ids, versions, checksums, figures; never patient data).
    MODEL_ADAPTED = "model_adapted"  # a site-adapted model written, offered or not
    MODEL_SWITCHED = "model_switched"  # the model new analyses use (models --use, roll back)


@dataclass(frozen=True, slots=True)
class SeriesRecord:
    """A series the store knows, with the fingerprint of its source files when last seen.

    ``stale_marked`` is the number of analyses that :func:`~mscc_desktop.storage.upsert_series`
    just marked stale because the fingerprint changed (0 when read back otherwise).
    """

    id: int
    study_id: int
    patient_id: int  # database id of the patient row, not the DICOM Patient ID
    series_instance_uid: str
    source_path: Path
    part: str
    fingerprint: str
    n_files: int
    stale_marked: int = 0


@dataclass(frozen=True, slots=True)
class StoredAnalysis:
    """An analysis read back from the store: the pipeline's result plus store facts.

    ``stale`` is true when the series' source files changed after this analysis; its results
    then describe files that no longer exist as analysed. ``result.finished_at`` equals
    ``started_at`` for analyses that never finished (running or interrupted).
    """

    id: int
    series_id: int
    study_id: int
    result: AnalysisResult
    source_fingerprint: str
    software_version: str
    user: str
    stale: bool
    error: str | None = None

    @property
    def status(self) -> AnalysisStatus:
        return self.result.status

    @property
    def notices(self) -> tuple[Notice, ...]:
        """The analysis' notices, plus a STALE warning when the source changed since."""
        if not self.stale:
            return self.result.notices
        stale = Notice(
            NoticeCode.STALE,
            "The source files of this series changed after this analysis; "
            "analyse it again before relying on these results.",
            Severity.WARNING,
        )
        return (*self.result.notices, stale)


@dataclass(frozen=True, slots=True)
class AnalysisSummary:
    """One row of a series' analysis history (no per-slice data)."""

    id: int
    series_id: int
    status: AnalysisStatus
    stale: bool
    model_id: str
    model_version: str
    model_sha256: str
    backend: str
    device: str
    started_at: datetime
    finished_at: datetime | None
    duration_s: float | None
    high_grade: bool | None
    max_group: GradeGroup | None
    n_lesions: int | None
    max_p_high: float | None
    software_version: str
    user: str
    error: str | None


@dataclass(frozen=True, slots=True)
class KeyImage:
    """A slice the reader marked as a key image (series-level, survives re-analysis)."""

    series_id: int
    slice_index: int
    sop_instance_uid: str
    marked: bool
    user: str
    changed_at: datetime


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One row of the append-only audit log. ``details`` never holds patient identifiers."""

    id: int
    at: datetime
    user: str
    action: AuditAction
    study_id: int | None
    series_id: int | None
    analysis_id: int | None
    details: dict[str, object]


@dataclass(frozen=True, slots=True)
class StudyListEntry:
    """One line of the study browser. Holds patient data: show it, never log it.

    ``high_grade`` and ``max_p_high`` come from the latest complete, non-stale analysis of each
    series (the model's per-study flag); ``max_p_high_cut_off`` is the P(high) from which that
    analysis called a slice high grade (shown beside ``max_p_high``); ``review_status`` is the
    reader's sign-off.
    """

    study_id: int
    study_instance_uid: str
    patient_name: str
    patient_id: str
    patient_birth_date: str
    study_date: str
    study_time: str
    study_description: str
    accession_number: str
    n_series: int
    status: StudyStatus
    high_grade: bool
    max_group: GradeGroup | None
    max_p_high: float | None
    n_lesions: int
    review_status: ReviewStatus
    last_analysed_at: datetime | None
    source_paths: tuple[Path, ...]
    max_p_high_cut_off: float | None = None

    @property
    def reviewed(self) -> bool:
        return self.review_status is ReviewStatus.REVIEWED
