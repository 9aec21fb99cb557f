"""What a report is built from: the loaded series, its stored analysis and the reader's review.

:func:`report_inputs` builds them from plain values: an :class:`AnalysisResult` in memory
(``analyze --pdf --no-db``, tests), or what ``workflow.report_inputs.load_report_inputs``
read from the store for a loaded volume. It checks that the analysis really belongs to the
pixels being exported — same series, same SOP Instance UID on every analysed slice — because
a key image must never show another patient's slice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from mscc_desktop import __version__
from mscc_desktop.core.errors import ExportError
from mscc_desktop.core.findings import AnalysisResult, AnalysisStatus, StudyFindings
from mscc_desktop.core.notices import Notice
from mscc_desktop.core.review import Review, ReviewStatus
from mscc_desktop.core.spine.levels import LevelNumbering
from mscc_desktop.core.volume import Volume


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


__all__ = [
    "ReportInputs",
    "SignOff",
    "report_inputs",
]
