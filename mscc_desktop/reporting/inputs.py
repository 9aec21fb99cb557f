"""What a report is built from: the loaded series, its stored analysis and the reader's review.

:func:`load_report_inputs` reads everything from the store for a loaded volume;
:func:`report_inputs` builds the same from an :class:`AnalysisResult` in memory (``analyze
--pdf --no-db``, tests). Both check that the analysis really belongs to the pixels being
exported — same series, same SOP Instance UID on every analysed slice — because a key image
must never show another patient's slice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlite_utils import Database

from mscc_desktop import __version__
from mscc_desktop.core.errors import ExportError
from mscc_desktop.core.findings import AnalysisResult, AnalysisStatus, StudyFindings
from mscc_desktop.core.notices import Notice
from mscc_desktop.core.review import Review, ReviewStatus
from mscc_desktop.core.volume import Volume
from mscc_desktop.storage import (
    AuditAction,
    LevelNumbering,
    analysis_history,
    audit_entries,
    key_images,
    load_analysis,
    load_level_numbering,
    load_reviews,
    study_review_status,
)


@dataclass(frozen=True, slots=True)
class SignOff:
    """The study's reading status and, once signed off, who did it and when."""

    status: ReviewStatus = ReviewStatus.UNREVIEWED
    by: str = ""
    at: datetime | None = None

    @property
    def signed_off(self) -> bool:
        return self.status is ReviewStatus.REVIEWED


@dataclass(frozen=True, slots=True, eq=False)
class ReportInputs:
    """Everything one report (PDF, key images, DICOM outputs) is made from.

    ``volume`` holds patient data and the pixels; ``result`` is COMPLETE with findings;
    ``reviews`` are keyed by lesion number; ``reader_key_slices`` are the slices the reader
    marked as key images (volume indices); ``levels`` is the vertebral numbering the reader
    confirmed (``None`` until then), which names findings whose review has no level of its
    own. Store ids are ``None`` for in-memory results.
    """

    volume: Volume
    result: AnalysisResult
    reviews: Mapping[int, Review] = field(default_factory=dict)
    reader_key_slices: tuple[int, ...] = ()
    sign_off: SignOff = field(default_factory=SignOff)
    notices: tuple[Notice, ...] = ()
    software_version: str = __version__
    analysis_id: int | None = None
    series_id: int | None = None
    study_id: int | None = None
    stale: bool = False
    levels: LevelNumbering | None = None

    @property
    def findings(self) -> StudyFindings:
        findings = self.result.findings
        assert findings is not None  # checked by report_inputs
        return findings


def _check_matches(volume: Volume, result: AnalysisResult) -> None:
    if result.status is not AnalysisStatus.COMPLETE or result.findings is None:
        raise ExportError(
            f"This analysis is {result.status.value}, not complete: there are no findings to "
            "report. Analyse the series again."
        )
    if result.series_instance_uid != volume.info.series_instance_uid:
        raise ExportError(
            "The stored analysis belongs to a different series than the images loaded; "
            "nothing was exported. Open the analysed series, or analyse this one."
        )
    for item in result.findings.slices:
        if item.index >= volume.n_slices or (
            item.sop_instance_uid and item.sop_instance_uid != volume.sop_instance_uids[item.index]
        ):
            raise ExportError(
                f"Slice {item.index + 1} of the stored analysis is not the slice loaded now "
                "(the series' files changed since the analysis); nothing was exported. "
                "Analyse the series again, then export."
            )


def report_inputs(
    volume: Volume,
    result: AnalysisResult,
    *,
    reviews: Mapping[int, Review] | None = None,
    reader_key_slices: Iterable[int] = (),
    sign_off: SignOff | None = None,
    notices: tuple[Notice, ...] | None = None,
    software_version: str = __version__,
    analysis_id: int | None = None,
    series_id: int | None = None,
    study_id: int | None = None,
    stale: bool = False,
    levels: LevelNumbering | None = None,
) -> ReportInputs:
    """Report inputs from an analysis in memory, checked against the loaded volume.

    Raises
    ------
    ExportError
        The analysis is not complete or does not belong to ``volume``'s slices.
    """
    _check_matches(volume, result)
    marked = tuple(sorted({int(i) for i in reader_key_slices if 0 <= int(i) < volume.n_slices}))
    return ReportInputs(
        volume=volume,
        result=result,
        reviews=dict(reviews or {}),
        reader_key_slices=marked,
        sign_off=sign_off or SignOff(),
        notices=result.notices if notices is None else notices,
        software_version=software_version,
        analysis_id=analysis_id,
        series_id=series_id,
        study_id=study_id,
        stale=stale,
        # A numbering of another stack (a changed series) would name the wrong vertebrae.
        levels=levels if levels is not None and len(levels.levels) == volume.n_slices else None,
    )


def latest_complete_analysis(db: Database, series_id: int) -> int | None:
    """Id of the newest complete analysis of a series (current ones before stale ones)."""
    complete = [s for s in analysis_history(db, series_id) if s.status is AnalysisStatus.COMPLETE]
    current = [s for s in complete if not s.stale]
    chosen = current or complete
    return chosen[0].id if chosen else None


def sign_off_of(db: Database, study_id: int) -> SignOff:
    """The study's review status and, when signed off, who and when (from the audit log)."""
    status = study_review_status(db, study_id)
    if status is not ReviewStatus.REVIEWED:
        return SignOff(status)
    changes = [
        entry
        for entry in audit_entries(db, study_id=study_id)
        if entry.action is AuditAction.STUDY_STATUS_CHANGED
        and entry.details.get("to") == ReviewStatus.REVIEWED.value
    ]
    if not changes:
        return SignOff(status)
    last = changes[-1]
    return SignOff(status, by=last.user, at=last.at)


def load_report_inputs(
    db: Database,
    volume: Volume,
    *,
    series_id: int | None = None,
    analysis_id: int | None = None,
) -> ReportInputs:
    """Report inputs from the store: an analysis (the series' latest complete one when
    ``analysis_id`` is ``None``), its reviews, the series' key images and the sign-off.

    Raises
    ------
    ExportError
        No complete analysis, or it does not belong to ``volume``.
    StoreError
        The store cannot be read.
    """
    if analysis_id is None:
        if series_id is None:
            raise ValueError("give the series id or the analysis id")
        analysis_id = latest_complete_analysis(db, series_id)
        if analysis_id is None:
            raise ExportError(
                "This series has no complete analysis in the results store. Analyse it "
                "first (in the workstation, or with 'mscc-desktop analyze'), then export."
            )
    stored = load_analysis(db, analysis_id)
    marked = [k.slice_index for k in key_images(db, stored.series_id)]
    return report_inputs(
        volume,
        stored.result,
        reviews=load_reviews(db, analysis_id),
        reader_key_slices=marked,
        sign_off=sign_off_of(db, stored.study_id),
        notices=stored.notices,
        software_version=stored.software_version,
        analysis_id=analysis_id,
        series_id=stored.series_id,
        study_id=stored.study_id,
        levels=load_level_numbering(db, analysis_id),
        stale=stored.stale,
    )


__all__ = [
    "ReportInputs",
    "SignOff",
    "latest_complete_analysis",
    "load_report_inputs",
    "report_inputs",
    "sign_off_of",
]
