"""The PDF summary for spine surgeons and oncologists: :func:`build_pdf`.

Page 1 answers the question: identity, then the result box (the verdict in large type, how
many high-grade slices and where, and whether a radiologist has verified it), the findings
table, the spine overview (:mod:`.pdf_spine`: a sagittal reformat with the findings and the
confirmed levels) and the grade strip chart. Key images follow, high grade first; method,
provenance, input-check warnings, intended use and the Bilsky scale close the report. Every page
carries the patient identifier and "Page n of m".
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import BinaryIO

from reportlab.platypus import CondPageBreak, Flowable, KeepTogether, Paragraph, Spacer

from mscc_desktop.core.tasks import CancelToken, ProgressFn, check_cancel, report
from mscc_desktop.reporting.deid import ExportIdentity
from mscc_desktop.reporting.inputs import ReportInputs
from mscc_desktop.reporting.palette import INTENDED_USE_TEXT
from mscc_desktop.reporting.pdf.pdf_chart import strip_chart
from mscc_desktop.reporting.pdf.pdf_doc import Furniture, Paper, canvas_maker, document, styles
from mscc_desktop.reporting.pdf.pdf_images import KeyImageRow, caption_text
from mscc_desktop.reporting.pdf.pdf_sections import (
    bilsky_table,
    findings_table,
    identity_block,
    method_section,
    result_box,
)
from mscc_desktop.reporting.pdf.pdf_spine import SpineOverview
from mscc_desktop.reporting.summary import ReportContent, report_content
from mscc_desktop.reporting.text import identity_line, local_time, short_identifier

SPINE_HEIGHT = 215.0  # points (76 mm): the spine overview on page 1
PDF_SUBJECT = "AI grading of metastatic epidural spinal cord compression (Bilsky) on CT"


class _Progress(Flowable):  # type: ignore[misc]  # reportlab is untyped
    """Zero-size marker that reports layout progress and honours cancellation."""

    def __init__(
        self, fraction: float, text: str, progress: ProgressFn | None, cancel: CancelToken | None
    ) -> None:
        super().__init__()
        self.fraction, self.text = fraction, text
        self.progress, self.cancel = progress, cancel

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        return (0.0, 0.0)

    def draw(self) -> None:
        check_cancel(self.cancel)
        report(self.progress, self.fraction, self.text)


def _story(
    inputs: ReportInputs,
    content: ReportContent,
    identity: ExportIdentity,
    created: datetime,
    width: float,
    progress: ProgressFn | None,
    cancel: CancelToken | None,
) -> list[Flowable]:
    st = styles()
    story: list[Flowable] = [
        *identity_block(inputs, identity, created, st, width),
        Spacer(1, 4),
        result_box(inputs, content, st, width),
    ]
    story += findings_table(content, st, width, inputs.result.thresholds)
    overview = SpineOverview(inputs, content.rows, identity, st, width, SPINE_HEIGHT)
    # The grade chart stands beside the spine, under its legend: page 1 keeps both.
    overview.beside = [
        Paragraph(
            'Grade along the spine <font size="7" color="#5A5A5A">model probability on every '
            "slice; bands: findings; triangles: key images</font>",
            st["head"],
        ),
        strip_chart(
            inputs.findings.slices,
            inputs.volume.n_slices,
            content.rows,
            content.key_views,
            inputs.result.thresholds,
            width=overview.column_width,
        ),
    ]
    story.append(
        KeepTogether(
            [
                Paragraph(
                    'The spine <font size="7.5" color="#5A5A5A">sagittal reformat with the '
                    "findings and the confirmed vertebral levels</font>",
                    st["h2"],
                ),
                overview,
            ]
        )
    )
    views = content.key_views
    decisions = {row.lesion.number: row.decision for row in content.rows}
    if views:
        heading: list[Flowable] = [
            Paragraph("Key images (high grade first)", st["h2"]),
            Paragraph(
                "Canal region in the bone, abdomen and spine windows; the box is the detected "
                "spinal canal, coloured by grade (vermillion high, orange low, green normal). "
                "R/L/A/P: patient right, left, anterior, posterior.",
                st["muted"],
            ),
            Spacer(1, 4),
        ]
        for n, view in enumerate(views):
            decision = decisions.get(view.lesion_number, "") if view.lesion_number else ""
            if decision == "Not reviewed":
                decision = ""
            caption = Paragraph(caption_text(inputs.volume, view, decision), st["cell"])
            story.append(
                _Progress(0.1 + 0.8 * n / len(views), "Laying out key images", progress, cancel)
            )
            row = [KeyImageRow(inputs.volume, view, caption, width), Spacer(1, 8)]
            # The heading stays with the first (most important) image, on page 1 if it fits.
            story.append(KeepTogether(heading + row) if n == 0 else KeepTogether(row))
    else:
        story.append(Paragraph("Key images", st["h2"]))
        story.append(
            Paragraph(
                "None: the model found no finding and the reader marked no key image.", st["body"]
            )
        )
    story.append(_Progress(0.92, "Method and provenance", progress, cancel))
    story.append(CondPageBreak(260))
    story += method_section(inputs, identity, st, width)
    story.append(bilsky_table(st, width))
    return story


def build_pdf(
    inputs: ReportInputs,
    out: BinaryIO,
    *,
    identity: ExportIdentity,
    paper: Paper = Paper.A4,
    created: datetime | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> int:
    """Write the PDF summary of one analysed series to ``out``.

    Parameters
    ----------
    inputs
        The series, its analysis and review (:func:`~.inputs.report_inputs`).
    out
        A binary file-like object (the caller makes it atomic, see :mod:`.safe_files`).
    identity
        Patient/study identity to print (de-identified or not, :func:`~.deid.export_identity`).
    paper
        A4 or Letter.
    created
        Report creation time (now by default).
    progress, cancel
        Called/checked while the key images are laid out.

    Returns
    -------
    int
        Number of pages.

    Raises
    ------
    Cancelled
        When ``cancel`` was set; ``out`` then holds an incomplete document.
    """
    report(progress, 0.0, "Preparing the report")
    moment = created or datetime.now(UTC)
    content = report_content(inputs, identity)
    label = identity.info.patient_name if identity.deidentified else identity.label
    title = f"MSCC CT summary - {label}"
    doc = document(out, paper, title=title, subject=PDF_SUBJECT, invariant=identity.deidentified)
    width = doc.width
    created_text = "" if identity.deidentified else f" · created {local_time(moment)}"
    furniture = Furniture(
        title=f"MSCC CT summary · {content.verdict.headline}",
        identifier=identity_line(identity),
        short_identifier=short_identifier(identity),
        footer=f"mscc-desktop {inputs.software_version}{created_text} · "
        + INTENDED_USE_TEXT.split(":")[0],
    )
    story = _story(inputs, content, identity, moment, width, progress, cancel)
    doc.build(story, canvasmaker=canvas_maker(furniture))
    report(progress, 1.0, "Report written")
    return int(doc.page)


__all__ = ["PDF_SUBJECT", "Paper", "build_pdf"]
