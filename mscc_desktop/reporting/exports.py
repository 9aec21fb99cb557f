"""The export actions the GUI and the CLI call: PDF, key-image PNGs, DICOM outputs.

Each is a plain function ``f(inputs, folder, *, options..., progress=None, cancel=None)``
safe to run in a worker thread: it never touches the store (the workflow reads the inputs
and records the export, ``workflow.report_inputs``, on the thread that owns it). Each one

1. refuses a target folder inside a source DICOM folder (:class:`ExportError`);
2. builds the identity to print, de-identified on request (:mod:`.deid`);
3. writes under a temporary ``.partial`` name in the target folder and renames it when
   complete, never over an existing file (a number is appended instead).

Typical use (GUI worker; ``load_report_inputs`` and ``record_export`` are the workflow's)::

    inputs = load_report_inputs(db, volume, series_id=series.id)          # GUI thread
    result = export_pdf(inputs, folder, deidentify=True, progress=p, cancel=c)  # worker
    record_export(db, inputs, result, user=config.user_name)              # GUI thread
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from mscc_desktop.core.tasks import CancelToken, ProgressFn, check_cancel, report, sub_progress
from mscc_desktop.core.windows import WindowPreset
from mscc_desktop.reporting.deid import ExportIdentity, export_identity
from mscc_desktop.reporting.dicom.dicom_export import write_dicom_outputs
from mscc_desktop.reporting.inputs import ReportInputs
from mscc_desktop.reporting.pdf.pdf_doc import Paper
from mscc_desktop.reporting.pdf.pdf_report import build_pdf
from mscc_desktop.reporting.png_export import write_key_images
from mscc_desktop.reporting.safe_files import (
    atomic_folder,
    check_export_target,
    unique_path,
    write_bytes_atomic,
)
from mscc_desktop.reporting.summary import report_content
from mscc_desktop.reporting.text import export_stem

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]


class ExportKind(StrEnum):
    """What an export writes."""

    PDF = "pdf"
    PNG = "png"  # key images as PNG files
    DICOM = "dicom"  # Secondary Capture series, KOS, Comprehensive SR, Encapsulated PDF


@dataclass(frozen=True, slots=True)
class ExportOptions:
    """Choices for :func:`export_all` (and the GUI's export dialog)."""

    kinds: frozenset[ExportKind] = frozenset({ExportKind.PDF})
    deidentify: bool = False
    paper: Paper = Paper.A4
    single_window: WindowPreset | None = WindowPreset.SPINE


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What one export wrote. ``path`` is the PDF file, or the folder of PNG/DICOM files.

    Paths may contain the patient's name (unless de-identified): show them, never log them.
    """

    kind: ExportKind
    path: Path
    files: tuple[Path, ...]
    deidentified: bool
    pages: int = 0
    n_key_images: int = 0


def _prepare(
    inputs: ReportInputs, folder: PathLike, deidentify: bool, protected: Iterable[PathLike]
) -> tuple[Path, ExportIdentity]:
    sources = [*inputs.volume.source_files, *(Path(p) for p in protected)]
    target = check_export_target(folder, sources=sources)
    return target, export_identity(inputs.volume.info, deidentify=deidentify)


def export_pdf(
    inputs: ReportInputs,
    folder: PathLike,
    *,
    deidentify: bool = False,
    paper: Paper = Paper.A4,
    protected: Iterable[PathLike] = (),
    created: datetime | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> ExportResult:
    """Write the PDF summary into ``folder`` as ``MSCC_<patient>_<date>_S<series>.pdf``.

    Parameters
    ----------
    inputs
        From :func:`~.inputs.report_inputs` (the workflow gathers them from the store).
    folder
        The export folder the user chose (created when missing).
    deidentify
        Apply the PS3.15 Basic profile (pseudonym, no dates, no free text).
    paper
        A4 or Letter.
    protected
        More folders to refuse as targets (e.g. the folder the user opened); the series'
        own source folders are always refused.
    created
        Creation time printed on the report (now by default).
    progress, cancel
        Progress 0..1 with text; cancellation leaves no file behind.

    Raises
    ------
    ExportError
        Target inside a source folder, or not writable.
    Cancelled
        When ``cancel`` was set.
    """
    target, identity = _prepare(inputs, folder, deidentify, protected)
    buffer = io.BytesIO()
    pages = build_pdf(
        inputs,
        buffer,
        identity=identity,
        paper=paper,
        created=created,
        progress=sub_progress(progress, 0.0, 0.95),
        cancel=cancel,
    )
    check_cancel(cancel)
    path = write_bytes_atomic(
        unique_path(target, f"{export_stem(identity)}.pdf"), buffer.getvalue()
    )
    report(progress, 1.0, "PDF saved")
    logger.info("PDF report written (%d pages, de-identified=%s)", pages, deidentify)
    content_views = len(report_content(inputs, identity).key_views)
    return ExportResult(
        ExportKind.PDF, path, (path,), deidentify, pages=pages, n_key_images=content_views
    )


def export_key_images(
    inputs: ReportInputs,
    folder: PathLike,
    *,
    deidentify: bool = False,
    single_window: WindowPreset | None = WindowPreset.SPINE,
    protected: Iterable[PathLike] = (),
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> ExportResult:
    """Write the key images as PNG files into a new folder ``<stem>_key_images`` in ``folder``.

    See :func:`export_pdf` for the common parameters; ``single_window`` is the window of the
    full-resolution single images (``None``: strips only).
    """
    target, identity = _prepare(inputs, folder, deidentify, protected)
    content = report_content(inputs, identity)
    final = unique_path(target, f"{export_stem(identity)}_key_images")
    with atomic_folder(final) as temp:
        files = write_key_images(
            inputs,
            content,
            temp,
            identity=identity,
            single_window=single_window,
            progress=progress,
            cancel=cancel,
        )
        names = [f.name for f in files]
    logger.info("%d key image files written (de-identified=%s)", len(names), deidentify)
    return ExportResult(
        ExportKind.PNG,
        final,
        tuple(final / n for n in names),
        deidentify,
        n_key_images=len(content.key_views),
    )


def export_dicom(
    inputs: ReportInputs,
    folder: PathLike,
    *,
    deidentify: bool = False,
    paper: Paper = Paper.A4,
    protected: Iterable[PathLike] = (),
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> ExportResult:
    """Write the Secondary Capture series, KOS, SR and the PDF summary as Encapsulated PDF
    into a new folder ``<stem>_DICOM``.

    See :func:`export_pdf` for the parameters (``paper`` is the encapsulated PDF's).
    """
    target, identity = _prepare(inputs, folder, deidentify, protected)
    content = report_content(inputs, identity)
    final = unique_path(target, f"{export_stem(identity)}_DICOM")
    with atomic_folder(final) as temp:
        files = write_dicom_outputs(
            inputs,
            content,
            temp,
            identity=identity,
            paper=paper,
            progress=progress,
            cancel=cancel,
        )
        names = [f.name for f in files]
    logger.info("%d DICOM files written (de-identified=%s)", len(names), deidentify)
    return ExportResult(
        ExportKind.DICOM,
        final,
        tuple(final / n for n in names),
        deidentify,
        n_key_images=len(content.key_views),
    )


def export_all(
    inputs: ReportInputs,
    folder: PathLike,
    options: ExportOptions,
    *,
    protected: Iterable[PathLike] = (),
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> list[ExportResult]:
    """Every export ``options.kinds`` asks for, in the order PDF, PNG, DICOM."""
    chosen = [k for k in ExportKind if k in options.kinds]
    results: list[ExportResult] = []
    for n, kind in enumerate(chosen):
        part = sub_progress(progress, n / len(chosen), (n + 1) / len(chosen))
        if kind is ExportKind.PDF:
            results.append(
                export_pdf(
                    inputs,
                    folder,
                    deidentify=options.deidentify,
                    paper=options.paper,
                    protected=protected,
                    progress=part,
                    cancel=cancel,
                )
            )
        elif kind is ExportKind.PNG:
            results.append(
                export_key_images(
                    inputs,
                    folder,
                    deidentify=options.deidentify,
                    single_window=options.single_window,
                    protected=protected,
                    progress=part,
                    cancel=cancel,
                )
            )
        else:
            results.append(
                export_dicom(
                    inputs,
                    folder,
                    deidentify=options.deidentify,
                    paper=options.paper,
                    protected=protected,
                    progress=part,
                    cancel=cancel,
                )
            )
    return results


__all__ = [
    "ExportKind",
    "ExportOptions",
    "ExportResult",
    "export_all",
    "export_dicom",
    "export_key_images",
    "export_pdf",
]
