"""Writing the DICOM outputs of one report into an export folder.

Files (names never come from DICOM text)::

    SC_0001.dcm ...   Secondary Capture key images (annotated strips)
    KO_0001.dcm       Key Object Selection document
    SR_0001.dcm       Comprehensive SR measurement report (TID 1500)
    DOC_0001.dcm      the PDF summary as Encapsulated PDF

All belong to the source study (its Study Instance UID and patient module, or their
de-identified replacements), each kind in a new series. Every file passes dciodvfy
(dicom3tools) without errors as long as the source's own identity values are valid DICOM
(they are copied as read, so that the archive still matches them);
tests/reporting/test_dciodvfy.py checks it.
"""

from __future__ import annotations

import io
from pathlib import Path

from pydicom.dataset import Dataset

from mscc_desktop.core.tasks import CancelToken, ProgressFn, check_cancel, report, sub_progress
from mscc_desktop.reporting.deid import ExportIdentity
from mscc_desktop.reporting.dicom.dicom_common import SourceImage, source_image
from mscc_desktop.reporting.dicom.dicom_images import key_object_selection, secondary_captures
from mscc_desktop.reporting.dicom.dicom_pdf import encapsulated_pdf
from mscc_desktop.reporting.dicom.dicom_sr import measurement_report
from mscc_desktop.reporting.inputs import ReportInputs
from mscc_desktop.reporting.pdf.pdf_doc import Paper
from mscc_desktop.reporting.pdf.pdf_report import build_pdf
from mscc_desktop.reporting.summary import ReportContent


def _save(ds: Dataset, path: Path) -> Path:
    ds.save_as(path, enforce_file_format=True)
    return path


def write_dicom_outputs(
    inputs: ReportInputs,
    content: ReportContent,
    folder: Path,
    *,
    identity: ExportIdentity,
    paper: Paper = Paper.A4,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> list[Path]:
    """Write the SC series, the KOS, the SR and the Encapsulated PDF into ``folder`` (a fresh
    export folder); ``paper`` is the PDF's page size.

    Returns the files written: the captures, then the KOS (when there are key images), the
    SR, the Encapsulated PDF.
    """
    indices = {v.slice_index for v in content.key_views}
    indices |= {row.lesion.key_slice for row in content.rows}
    if not indices:  # nothing found: the SR still needs one source image of the study
        indices = {inputs.volume.n_slices // 2}
    sources: dict[int, SourceImage] = {
        i: source_image(inputs.volume, i, identity) for i in sorted(indices)
    }
    captures = secondary_captures(
        inputs,
        content,
        sources,
        identity,
        progress=sub_progress(progress, 0.0, 0.5),
        cancel=cancel,
    )
    written = [_save(sc, folder / f"SC_{n:04d}.dcm") for n, sc in enumerate(captures, start=1)]
    check_cancel(cancel)
    if content.key_views:
        kos = key_object_selection(inputs, content, sources, captures, identity)
        written.append(_save(kos, folder / "KO_0001.dcm"))
    report(progress, 0.55, "Writing the structured report")
    sr = measurement_report(inputs, content, sources, identity)
    written.append(_save(sr, folder / "SR_0001.dcm"))
    buffer = io.BytesIO()
    build_pdf(
        inputs,
        buffer,
        identity=identity,
        paper=paper,
        progress=sub_progress(progress, 0.6, 0.95),
        cancel=cancel,
    )
    check_cancel(cancel)
    shown = [sources[v.slice_index] for v in content.key_views]
    written.append(
        _save(encapsulated_pdf(buffer.getvalue(), shown, identity), folder / "DOC_0001.dcm")
    )
    report(progress, 1.0, "DICOM outputs written")
    return written


__all__ = ["write_dicom_outputs"]
