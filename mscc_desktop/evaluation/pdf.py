"""The evaluation as a PDF: summary, Tables 6-11, comparisons and ROC curves (reportlab).

ROC curves are drawn with reportlab's own graphics (no plotting library): one chart per
dichotomy at image level and one for the per-study analysis, every reader on each. Pages,
fonts, styles, table rules and colours are the study report's
(:mod:`mscc_desktop.reporting.pdf.pdf_doc`), so the program's PDFs have one look.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from reportlab.graphics.shapes import Circle, Drawing, Group, Line, PolyLine, Rect, String
from reportlab.lib import colors
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import KeepTogether, PageBreak, Paragraph, Spacer, Table, TableStyle
from reportlab.platypus.flowables import Flowable

from mscc_desktop import __version__
from mscc_desktop.core.errors import ExportError
from mscc_desktop.evaluation.auc import AucEstimate, RocCurve
from mscc_desktop.evaluation.report import EvaluationReport
from mscc_desktop.evaluation.schemes import Scheme
from mscc_desktop.evaluation.table_format import ReportTable
from mscc_desktop.evaluation.tables import report_tables
from mscc_desktop.evaluation.writers import summary_lines
from mscc_desktop.reporting.fonts import BOLD, REGULAR
from mscc_desktop.reporting.palette import INTENDED_USE_TEXT, LINE_COLOURS
from mscc_desktop.reporting.pdf.pdf_doc import (
    Furniture,
    Paper,
    canvas_maker,
    document,
    escape,
    styles,
    table_style,
)

PDF_FILE = "evaluation.pdf"
TITLE = "Evaluation against the reference standard"
_PALETTE = tuple(colors.HexColor(colour) for colour in LINE_COLOURS)
_CELL_FONT_SIZE = 7.5  # smaller than the study report's cells: up to ten columns per table
_CHART_SIZE = 235.0  # points, square drawing
_PLOT_MARGIN = 34.0


def _styles() -> dict[str, ParagraphStyle]:
    """The study report's styles, with smaller table cells."""
    st = styles()
    st["cell"] = ParagraphStyle("eval_cell", parent=st["cell"], fontSize=_CELL_FONT_SIZE, leading=9)
    st["head"] = ParagraphStyle("eval_head", parent=st["head"], fontSize=_CELL_FONT_SIZE, leading=9)
    return st


def _column_widths(table: ReportTable, width: float) -> list[float]:
    """Give every column at least its longest word, then share the rest by content length."""
    pad = 8.0  # the table style's 3 pt cell padding on each side, and 2 pt of slack

    def text_width(text: str, font: str) -> float:
        return float(stringWidth(text, font, _CELL_FONT_SIZE))

    natural, minimum = [], []
    for i, header in enumerate(table.headers):
        cells = [row[i] for row in table.rows]
        natural.append(
            pad + max([text_width(header, BOLD)] + [text_width(c, REGULAR) for c in cells])
        )
        words = [(w, BOLD) for w in header.split()]
        words += [(w, REGULAR) for c in cells for w in c.split()]
        minimum.append(pad + max((text_width(w, f) for w, f in words), default=0.0))
    if sum(natural) <= width:
        return [w * width / sum(natural) for w in natural]
    spare = max(0.0, width - sum(minimum))
    stretch = [n - m for n, m in zip(natural, minimum, strict=True)]
    total = sum(stretch) or 1.0
    return [m + spare * s / total for m, s in zip(minimum, stretch, strict=True)]


def _table_flowables(
    table: ReportTable, styles: dict[str, ParagraphStyle], width: float
) -> list[Flowable]:
    data = [[Paragraph(escape(h), styles["head"]) for h in table.headers]]
    data.extend([Paragraph(escape(c), styles["cell"]) for c in row] for row in table.rows)
    col_widths = _column_widths(table, width)
    grid = Table(data, colWidths=col_widths, repeatRows=1)
    grid.setStyle(TableStyle(table_style()))
    return [
        KeepTogether(
            [
                Paragraph(escape(table.title), styles["h2"]),
                Paragraph(escape(table.caption), styles["body"]),
                Spacer(1, 2 * mm),
                grid,
            ]
        ),
        Spacer(1, 5 * mm),
    ]


def roc_drawing(
    title: str, curves: list[tuple[str, RocCurve, AucEstimate]], *, size: float = _CHART_SIZE
) -> Drawing:
    """A square ROC chart: 1 - specificity across, sensitivity up, one line per reader.

    A reader known only by labels has a three-point curve; its operating point is marked.
    """
    drawing = Drawing(size, size + 16)
    left, bottom = _PLOT_MARGIN, _PLOT_MARGIN
    side = size - _PLOT_MARGIN - 8

    def xy(fpr: float, tpr: float) -> tuple[float, float]:
        return left + fpr * side, bottom + tpr * side

    drawing.add(String(size / 2, size + 4, title, fontName=BOLD, fontSize=9, textAnchor="middle"))
    drawing.add(
        Rect(left, bottom, side, side, strokeColor=colors.black, fillColor=None, strokeWidth=0.6)
    )
    drawing.add(
        Line(*xy(0, 0), *xy(1, 1), strokeColor=colors.grey, strokeDashArray=[3, 3], strokeWidth=0.5)
    )
    for i in range(6):
        tick = i / 5
        x, _ = xy(tick, 0)
        _, y = xy(0, tick)
        drawing.add(Line(x, bottom, x, bottom - 3, strokeWidth=0.5))
        drawing.add(Line(left, y, left - 3, y, strokeWidth=0.5))
        drawing.add(
            String(
                x, bottom - 11, f"{tick:.1f}", fontName=REGULAR, fontSize=6.5, textAnchor="middle"
            )
        )
        drawing.add(
            String(left - 5, y - 2, f"{tick:.1f}", fontName=REGULAR, fontSize=6.5, textAnchor="end")
        )
    drawing.add(
        String(
            left + side / 2,
            4,
            "1 - specificity",
            fontName=REGULAR,
            fontSize=7.5,
            textAnchor="middle",
        )
    )
    # Rotate the y-axis title a quarter turn (reportlab strings have no angle of their own).
    rotated = Group(
        String(0, 0, "sensitivity", fontName=REGULAR, fontSize=7.5, textAnchor="middle")
    )
    rotated.transform = (0, 1, -1, 0, 10, bottom + side / 2)
    drawing.add(rotated)

    legend_y = bottom + 6
    for index, (name, curve, auc) in enumerate(curves):
        colour = _PALETTE[index % len(_PALETTE)]
        if curve.false_positive_rate.size == 0:
            label = f"{name}: undefined"
        else:
            points: list[float] = []
            for fpr, tpr in zip(curve.false_positive_rate, curve.true_positive_rate, strict=True):
                points.extend(xy(float(fpr), float(tpr)))
            drawing.add(PolyLine(points, strokeColor=colour, strokeWidth=1.2))
            if curve.false_positive_rate.size == 3:  # labels only: mark the operating point
                cx, cy = xy(float(curve.false_positive_rate[1]), float(curve.true_positive_rate[1]))
                drawing.add(Circle(cx, cy, 2.2, fillColor=colour, strokeColor=colour))
            label = f"{name}: AUC {auc.value:.3f}" if auc.defined else f"{name}"
        y = legend_y + 10 * (len(curves) - 1 - index)
        drawing.add(
            Line(
                left + side * 0.42,
                y + 2.5,
                left + side * 0.42 + 12,
                y + 2.5,
                strokeColor=colour,
                strokeWidth=1.5,
            )
        )
        drawing.add(String(left + side * 0.42 + 15, y, label, fontName=REGULAR, fontSize=6.8))
    return drawing


def _roc_row(report: EvaluationReport) -> Table:
    panels = []
    for scheme in (Scheme.ANY_MSCC, Scheme.HIGH_GRADE):
        curves = [(r.name, r.roc[scheme], r.accuracy[scheme].auc) for r in report.readers]
        panels.append(roc_drawing(f"{scheme.display_name} (images)", curves))
    study_curves = [(r.name, r.per_study.roc, r.per_study.accuracy.auc) for r in report.readers]
    panels.append(roc_drawing("High-grade MSCC per study", study_curves))
    row = Table([panels])
    row.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    return row


def write_pdf(report: EvaluationReport, path: str | os.PathLike[str]) -> Path:
    """Write the evaluation PDF (landscape A4, the study report's page template) to ``path``."""
    file = Path(path)
    st = _styles()
    moment = datetime.now(UTC)
    story: list[Flowable] = [
        Paragraph(TITLE, st["h1"]),
        Paragraph(
            escape(
                f"mscc-desktop, {moment:%Y-%m-%d %H:%M} UTC. Statistics as in "
                "Hallinan et al., Front. Oncol. 2023 (Tables 6-11)."
            ),
            st["muted"],
        ),
        Spacer(1, 3 * mm),
    ]
    story.extend(Paragraph(escape(line), st["body"]) for line in summary_lines(report))
    story.append(Spacer(1, 4 * mm))
    story.append(Paragraph("ROC curves", st["h2"]))
    story.append(_roc_row(report))
    story.append(
        Paragraph(
            "Readers known only by labels have a single operating point (dot); their AUC is "
            "(sensitivity + specificity) / 2.",
            st["body"],
        )
    )
    story.append(PageBreak())
    furniture = Furniture(
        title=f"MSCC evaluation · {len(report.readers)} reader(s)",
        identifier=f"Reference standard: {report.reference_name} · {report.n_images} images in "
        f"{report.n_studies} studies",
        short_identifier="MSCC evaluation",
        footer=f"mscc-desktop {__version__} · created {moment:%Y-%m-%d %H:%M} UTC · "
        + INTENDED_USE_TEXT.split(":")[0],
    )
    try:
        with file.open("wb") as out:
            doc = document(
                out,
                Paper.A4,
                title="MSCC evaluation",
                subject=TITLE,
                invariant=False,
                landscape=True,
            )
            for table in report_tables(report):
                story.extend(_table_flowables(table, st, doc.width))
            doc.build(story, canvasmaker=canvas_maker(furniture))
    except OSError as error:
        raise ExportError(f"{file}: cannot write the evaluation PDF ({error.strerror})") from error
    return file
