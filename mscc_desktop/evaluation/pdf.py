"""The evaluation as a PDF: summary, Tables 6-11, comparisons and ROC curves (reportlab).

ROC curves are drawn with reportlab's own graphics (no plotting library): one chart per
dichotomy at image level and one for the per-study analysis, every reader on each.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from reportlab.graphics.shapes import Circle, Drawing, Group, Line, PolyLine, Rect, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import (
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)
from reportlab.platypus.flowables import Flowable

from mscc_desktop.core.errors import ExportError
from mscc_desktop.evaluation.auc import AucEstimate, RocCurve
from mscc_desktop.evaluation.report import EvaluationReport
from mscc_desktop.evaluation.schemes import Scheme
from mscc_desktop.evaluation.table_format import ReportTable
from mscc_desktop.evaluation.tables import report_tables
from mscc_desktop.evaluation.writers import summary_lines

PDF_FILE = "evaluation.pdf"
_PALETTE = (
    colors.HexColor("#1f77b4"),
    colors.HexColor("#d62728"),
    colors.HexColor("#2ca02c"),
    colors.HexColor("#9467bd"),
    colors.HexColor("#ff7f0e"),
    colors.HexColor("#8c564b"),
    colors.HexColor("#e377c2"),
    colors.HexColor("#17becf"),
)
_CELL_FONT_SIZE = 7.5
_CHART_SIZE = 235.0  # points, square drawing
_PLOT_MARGIN = 34.0


def _styles() -> dict[str, ParagraphStyle]:
    base = getSampleStyleSheet()
    return {
        "title": base["Title"],
        "h2": ParagraphStyle("h2", parent=base["Heading2"], fontSize=12, spaceBefore=6),
        "body": ParagraphStyle("body", parent=base["BodyText"], fontSize=9, leading=11),
        "cell": ParagraphStyle(
            "cell", parent=base["BodyText"], fontSize=_CELL_FONT_SIZE, leading=9
        ),
        "head": ParagraphStyle(
            "head", parent=base["BodyText"], fontSize=7.5, leading=9, fontName="Helvetica-Bold"
        ),
    }


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _column_widths(table: ReportTable, width: float) -> list[float]:
    """Give every column at least its longest word, then share the rest by content length."""
    pad = 14.0  # reportlab's default 6 pt cell padding on each side, and 2 pt of slack

    def text_width(text: str, font: str) -> float:
        return float(stringWidth(text, font, _CELL_FONT_SIZE))

    natural, minimum = [], []
    for i, header in enumerate(table.headers):
        cells = [row[i] for row in table.rows]
        natural.append(
            pad
            + max(
                [text_width(header, "Helvetica-Bold")] + [text_width(c, "Helvetica") for c in cells]
            )
        )
        words = [(w, "Helvetica-Bold") for w in header.split()]
        words += [(w, "Helvetica") for c in cells for w in c.split()]
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
    data = [[Paragraph(_escape(h), styles["head"]) for h in table.headers]]
    data.extend([Paragraph(_escape(c), styles["cell"]) for c in row] for row in table.rows)
    col_widths = _column_widths(table, width)
    grid = Table(data, colWidths=col_widths, repeatRows=1)
    grid.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef4")),
                ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.black),
                ("LINEBELOW", (0, -1), (-1, -1), 0.6, colors.black),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f6f6f6")]),
            ]
        )
    )
    return [
        KeepTogether(
            [
                Paragraph(_escape(table.title), styles["h2"]),
                Paragraph(_escape(table.caption), styles["body"]),
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

    drawing.add(
        String(
            size / 2, size + 4, title, fontName="Helvetica-Bold", fontSize=9, textAnchor="middle"
        )
    )
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
        drawing.add(String(x, bottom - 11, f"{tick:.1f}", fontSize=6.5, textAnchor="middle"))
        drawing.add(String(left - 5, y - 2, f"{tick:.1f}", fontSize=6.5, textAnchor="end"))
    drawing.add(String(left + side / 2, 4, "1 - specificity", fontSize=7.5, textAnchor="middle"))
    # Rotate the y-axis title a quarter turn (reportlab strings have no angle of their own).
    rotated = Group(String(0, 0, "sensitivity", fontSize=7.5, textAnchor="middle"))
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
        drawing.add(String(left + side * 0.42 + 15, y, label, fontSize=6.8))
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
    """Write the evaluation PDF (landscape A4) to ``path``."""
    file = Path(path)
    styles = _styles()
    page = landscape(A4)
    margin = 14 * mm
    width = page[0] - 2 * margin
    story: list[Flowable] = [
        Paragraph("Evaluation against the reference standard", styles["title"]),
        Paragraph(
            _escape(
                f"mscc-desktop, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Statistics as in "
                "Hallinan et al., Front. Oncol. 2023 (Tables 6-11)."
            ),
            styles["body"],
        ),
        Spacer(1, 3 * mm),
    ]
    story.extend(Paragraph(_escape(line), styles["body"]) for line in summary_lines(report))
    story.append(Spacer(1, 4 * mm))
    story.append(Paragraph("ROC curves", styles["h2"]))
    story.append(_roc_row(report))
    story.append(
        Paragraph(
            "Readers known only by labels have a single operating point (dot); their AUC is "
            "(sensitivity + specificity) / 2.",
            styles["body"],
        )
    )
    story.append(PageBreak())
    for table in report_tables(report):
        story.extend(_table_flowables(table, styles, width))
    try:
        doc = SimpleDocTemplate(
            str(file),
            pagesize=page,
            leftMargin=margin,
            rightMargin=margin,
            topMargin=margin,
            bottomMargin=margin,
            title="MSCC evaluation",
            author="mscc-desktop",
        )
        doc.build(story)
    except OSError as error:
        raise ExportError(f"{file}: cannot write the evaluation PDF ({error.strerror})") from error
    return file
