"""Reports and exports for the people who are not at the workstation.

* a PDF summary for spine surgeons and oncologists (reportlab): result box, findings,
  key images, grade strip chart, method and provenance;
* key images as PNG files with burned-in annotations;
* DICOM outputs a PACS takes (highdicom): Secondary Capture key images, a Key Object
  Selection document, a Comprehensive SR (TID 1500) and the PDF summary as Encapsulated
  PDF, each passing dciodvfy without errors;
* optional de-identification of all of them (DICOM PS3.15 Basic profile).

A pure function of its inputs: it never reads the store. The workflow gathers the inputs
and records the export (``workflow.report_inputs``) on the thread that owns the store::

    inputs = load_report_inputs(db, volume, series_id=series.id)   # workflow, store thread
    result = export_pdf(inputs, folder, deidentify=False, paper=Paper.A4,
                        progress=progress, cancel=cancel)         # reporting, worker
    record_export(db, inputs, result, user=config.user_name)      # workflow, store thread
"""

from __future__ import annotations

from mscc_desktop.reporting.deid import ExportIdentity, export_identity, install_secret
from mscc_desktop.reporting.exports import (
    ExportKind,
    ExportOptions,
    ExportResult,
    export_all,
    export_dicom,
    export_key_images,
    export_pdf,
)
from mscc_desktop.reporting.inputs import (
    ReportInputs,
    SignOff,
    report_inputs,
)
from mscc_desktop.reporting.palette import GROUP_COLOURS
from mscc_desktop.reporting.pdf.pdf_doc import Paper
from mscc_desktop.reporting.pdf.pdf_report import build_pdf
from mscc_desktop.reporting.safe_files import check_export_target, safe_filename
from mscc_desktop.reporting.summary import ReportContent, report_content

__all__ = [
    "GROUP_COLOURS",
    "ExportIdentity",
    "ExportKind",
    "ExportOptions",
    "ExportResult",
    "Paper",
    "ReportContent",
    "ReportInputs",
    "SignOff",
    "build_pdf",
    "check_export_target",
    "export_all",
    "export_dicom",
    "export_identity",
    "export_key_images",
    "export_pdf",
    "install_secret",
    "report_content",
    "report_inputs",
    "safe_filename",
]
