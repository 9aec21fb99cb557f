"""Exports after an analysis, for the GUI and the CLI: the inputs of a located series, the
exports of it recorded in the audit trail, and the PDF written right after an analysis.

Options are typed values (:class:`PdfOptions`, reporting's :class:`ExportOptions`); the
command line turns its arguments into them, so no argparse namespace crosses a module.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlite_utils import Database

from mscc_desktop import storage
from mscc_desktop.core.dicom import load_series
from mscc_desktop.core.findings import AnalysisResult, AnalysisStatus
from mscc_desktop.core.tasks import CancelToken, ProgressFn
from mscc_desktop.core.volume import Volume
from mscc_desktop.reporting.exports import ExportOptions, ExportResult, export_all, export_pdf
from mscc_desktop.reporting.inputs import ReportInputs, report_inputs
from mscc_desktop.reporting.pdf.pdf_doc import Paper
from mscc_desktop.workflow.locate import LocatedSeries
from mscc_desktop.workflow.report_inputs import load_report_inputs, record_export

PathLike = str | os.PathLike[str]


@dataclass(frozen=True, slots=True)
class PdfOptions:
    """Where and how to write the PDF summary of each analysed series (``analyze --pdf``)."""

    folder: Path
    paper: Paper = Paper.A4
    deidentify: bool = False


def stored_report_inputs(db: Database, located: LocatedSeries) -> ReportInputs:
    """Load the located series, register it, and gather its latest complete analysis.

    Raises
    ------
    ExportError
        The series has no complete analysis, or it does not match the files loaded now.
    """
    volume = load_series(located.entry)
    record = storage.register_volume(db, volume, part=located.entry.split_note)
    return load_report_inputs(db, volume, series_id=record.id)


def export_and_record(
    db: Database,
    inputs: ReportInputs,
    folder: PathLike,
    options: ExportOptions,
    *,
    protected: Iterable[PathLike] = (),
    user: str = "",
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> list[ExportResult]:
    """Every export ``options`` asks for, each one recorded in the audit trail."""
    results = export_all(
        inputs, folder, options, protected=protected, progress=progress, cancel=cancel
    )
    for result in results:
        record_export(db, inputs, result, user=user)
    return results


def pdf_after_analysis(
    volume: Volume,
    result: AnalysisResult,
    options: PdfOptions | None,
    *,
    db: Database | None = None,
    analysis_id: int | None = None,
    scan_root: Path | None = None,
) -> Path | None:
    """The PDF step right after one series was analysed; the PDF path, or ``None``.

    Call it right after the analysis is stored. No options, and refused or failed analyses,
    have nothing to report (``None``). With the store it uses the stored analysis (and any
    review) and records the export; without it the result in memory. ``scan_root`` (the
    analysed folder) is refused as a target like the series' own folders.

    Raises
    ------
    ExportError
        The folder is inside the source folder or cannot be written.
    """
    if options is None or result.status is not AnalysisStatus.COMPLETE:
        return None
    if db is not None and analysis_id is not None:
        inputs = load_report_inputs(db, volume, analysis_id=analysis_id)
    else:
        inputs = report_inputs(volume, result)
    written = export_pdf(
        inputs,
        options.folder,
        deidentify=options.deidentify,
        paper=options.paper,
        protected=[scan_root] if scan_root is not None else (),
    )
    if db is not None:
        record_export(db, inputs, written)
    return written.path


__all__ = ["PdfOptions", "export_and_record", "pdf_after_analysis", "stored_report_inputs"]
