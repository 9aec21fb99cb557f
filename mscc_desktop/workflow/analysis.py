"""Analyse a series and keep the record of it: begin, save or end an analysis in the store.

The GUI runs the three store steps on its thread and the pipeline on its inference thread;
the CLI runs them in a row (:func:`analyse_and_store`). Either way an analysis is recorded
'running' before the pipeline starts, so one the process never finished is found later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mscc_desktop.core.dicom.classify import SeriesEntry
from mscc_desktop.core.errors import Cancelled, MsccError
from mscc_desktop.core.findings import AnalysisResult, AnalysisStatus
from mscc_desktop.core.tasks import CancelToken, ProgressFn
from mscc_desktop.core.volume import Volume
from mscc_desktop.workflow.model import ModelInfo, OpenModel

if TYPE_CHECKING:
    from sqlite_utils import Database

    from mscc_desktop.storage import SeriesRecord

# The store is imported where it is used: ``analyze --no-db`` never loads it.


def begin_analysis(
    db: Database,
    series: SeriesRecord,
    model: ModelInfo,
    *,
    high_threshold: float | None = None,
    user: str = "",
) -> int:
    """Record that ``model`` started analysing ``series`` ('running'); the analysis id."""
    from mscc_desktop import storage

    return storage.begin_analysis(
        db,
        series,
        provenance=model.provenance,
        thresholds=model.thresholds_for(high_threshold),
        user=user,
    )


def save_analysis(
    db: Database,
    series: SeriesRecord,
    result: AnalysisResult,
    *,
    analysis_id: int | None,
    user: str = "",
) -> int:
    """Store the finished analysis (complete or refused) of ``series``; its id."""
    from mscc_desktop import storage

    return storage.save_analysis(db, series, result, analysis_id=analysis_id, user=user)


def end_analysis(
    db: Database, analysis_id: int, status: AnalysisStatus, *, error: str = "", user: str = ""
) -> None:
    """Close a started analysis that produced no result (failed or cancelled)."""
    from mscc_desktop import storage

    storage.end_analysis(db, analysis_id, status, error=error, user=user)


def load_entry(entry: SeriesEntry, *, progress: ProgressFn | None = None) -> Volume:
    """Decode the series ``entry`` into a volume in HU."""
    from mscc_desktop.core.dicom import load_series

    return load_series(entry, progress=progress)


@dataclass(frozen=True, slots=True, eq=False)
class StoredResult:
    """An analysis, its id in the store (``None`` without one) and notes for the user."""

    result: AnalysisResult
    analysis_id: int | None
    notes: tuple[str, ...] = ()


def analyse_and_store(
    volume: Volume,
    model: OpenModel,
    *,
    db: Database | None,
    part: str = "",
    batch_size: int | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> StoredResult:
    """Register ``volume``, analyse it with ``model`` and store the result (``db``: ``None``
    keeps nothing). A failed or cancelled analysis is recorded as such, then re-raised.

    The notes say what changed since another model's analysis of the same series.
    """
    from mscc_desktop.inference.pipeline import analyse_volume

    record, analysis_id = None, None
    if db is not None:
        from mscc_desktop import storage

        record = storage.register_volume(db, volume, part=part)
        analysis_id = begin_analysis(db, record, model.info)
    try:
        result = analyse_volume(
            volume,
            model.backend,
            model.settings,
            batch_size=batch_size,
            progress=progress,
            cancel=cancel,
        )
    except (Cancelled, KeyboardInterrupt):
        if db is not None and analysis_id is not None:
            end_analysis(db, analysis_id, AnalysisStatus.CANCELLED)
        raise
    except Exception as error:  # recorded as FAILED, then re-raised to the caller
        if db is not None and analysis_id is not None:
            message = error.message if isinstance(error, MsccError) else type(error).__name__
            end_analysis(db, analysis_id, AnalysisStatus.FAILED, error=message)
        raise
    if db is None or record is None:
        return StoredResult(result, None)
    stored_id = save_analysis(db, record, result, analysis_id=analysis_id)
    from mscc_desktop.workflow.reanalysis import change_since_other_model

    # Analysed before by another model (the site switched models): say what changed.
    change = change_since_other_model(db, stored_id)
    return StoredResult(result, stored_id, () if change is None else (change.text(),))


__all__ = [
    "StoredResult",
    "analyse_and_store",
    "begin_analysis",
    "end_analysis",
    "load_entry",
    "save_analysis",
]
