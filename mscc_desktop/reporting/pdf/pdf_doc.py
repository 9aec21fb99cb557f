"""The PDF's page template: styles, paper sizes, the table look and the furniture on every page.

Every PDF the program writes is built on it (the study report, the evaluation report), so they
share one look: one font family, one set of styles, one way of ruling a table.

Every page carries the patient/study identifier, the report title, "Page n of m" and the
intended-use line. "of m" needs the page count before the first page is final, so pages are
kept by :class:`_NumberedCanvas` until the document is complete and stamped on save (one
layout pass, no second build).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, BinaryIO

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, LETTER
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import BaseDocTemplate, Frame, PageTemplate

from mscc_desktop.reporting.fonts import BOLD, REGULAR, register_pdf_fonts

MARGIN_X = 14 * mm
MARGIN_TOP = 20 * mm
MARGIN_BOTTOM = 16 * mm
INK = colors.HexColor("#1A1A1A")
MUTED = colors.HexColor("#5A5A5A")
RULE = colors.HexColor("#B4B4B4")


class Paper(StrEnum):
    """Paper sizes a report can be printed on."""

    A4 = "a4"
    LETTER = "letter"

    @property
    def size(self) -> tuple[float, float]:
        size: tuple[float, float] = A4 if self is Paper.A4 else LETTER
        return size


@dataclass(frozen=True, slots=True)
class Furniture:
    """What the page furniture says (no patient data when de-identified)."""

    title: str
    identifier: str  # patient/study line
    footer: str  # software, intended use, creation time
    short_identifier: str = ""  # name and ID, repeated beside the page number at the foot


def styles() -> dict[str, ParagraphStyle]:
    """The report's paragraph styles (one font family, see :mod:`.fonts`)."""
    register_pdf_fonts()
    body = ParagraphStyle("body", fontName=REGULAR, fontSize=9, leading=11.5, textColor=INK)
    return {
        "body": body,
        "small": ParagraphStyle("small", parent=body, fontSize=7.5, leading=9.5),
        "muted": ParagraphStyle("muted", parent=body, fontSize=7.5, leading=9.5, textColor=MUTED),
        "cell": ParagraphStyle("cell", parent=body, fontSize=8.5, leading=10.5),
        "head": ParagraphStyle("head", parent=body, fontName=BOLD, fontSize=8, leading=10),
        "label": ParagraphStyle("label", parent=body, fontSize=8, leading=10, textColor=MUTED),
        "h1": ParagraphStyle("h1", parent=body, fontName=BOLD, fontSize=15, leading=19),
        "h2": ParagraphStyle(
            "h2",
            parent=body,
            fontName=BOLD,
            fontSize=11.5,
            leading=14,
            spaceBefore=8,
            spaceAfter=4,
        ),
        "name": ParagraphStyle("name", parent=body, fontName=BOLD, fontSize=12, leading=15),
        "headline": ParagraphStyle("headline", parent=body, fontName=BOLD, fontSize=21, leading=25),
        "result": ParagraphStyle("result", parent=body, fontSize=10.5, leading=14),
        "status": ParagraphStyle("status", parent=body, fontName=BOLD, fontSize=10.5, leading=14),
    }


def table_style(*, header_rows: int = 1) -> list[tuple[object, ...]]:
    """The reports' table look: a black rule under the header, thin grey rules between rows,
    cells aligned at the top with small padding (reportlab ``TableStyle`` commands)."""
    return [
        ("LINEBELOW", (0, 0), (-1, header_rows - 1), 0.8, colors.black),
        ("LINEBELOW", (0, header_rows), (-1, -1), 0.4, RULE),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
    ]


def escape(text: str) -> str:
    """Text for a reportlab Paragraph (which reads a little XML)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class _NumberedCanvas(Canvas):  # type: ignore[misc]  # reportlab is untyped
    """A canvas that holds its pages until the end, then stamps furniture with the total."""

    furniture: Furniture  # set on the subclass made by canvas_maker

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pages: list[dict[str, Any]] = []

    def showPage(self) -> None:  # reportlab's name
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        for number, state in enumerate(self._pages, start=1):
            self.__dict__.update(state)
            self._furniture(number, total)
            super().showPage()
        super().save()

    def _furniture(self, number: int, total: int) -> None:
        width, height = self._pagesize
        info = self.furniture
        self.saveState()
        top = height - 11 * mm
        self.setFillColor(INK)
        self.setFont(BOLD, 9)
        self.drawString(MARGIN_X, top, info.title)
        self.setFont(REGULAR, 8.5)
        self.drawRightString(width - MARGIN_X, top, f"Page {number} of {total}")
        self.setFont(REGULAR, 8)
        self.drawString(MARGIN_X, top - 10.5, info.identifier)
        self.setStrokeColor(RULE)
        self.setLineWidth(0.6)
        self.line(MARGIN_X, top - 14.5, width - MARGIN_X, top - 14.5)
        bottom = 9 * mm
        self.line(MARGIN_X, bottom + 9, width - MARGIN_X, bottom + 9)
        self.setFillColor(MUTED)
        self.setFont(REGULAR, 7)
        self.drawString(MARGIN_X, bottom, info.footer)
        self.drawRightString(
            width - MARGIN_X, bottom, f"{info.short_identifier} · page {number} of {total}"
        )
        self.restoreState()


def canvas_maker(furniture: Furniture) -> Callable[..., Canvas]:
    """A canvas class that draws ``furniture`` on every page."""
    return type("ReportCanvas", (_NumberedCanvas,), {"furniture": furniture})


def document(
    out: BinaryIO,
    paper: Paper,
    *,
    title: str,
    subject: str,
    invariant: bool,
    landscape: bool = False,
) -> BaseDocTemplate:
    """A one-frame document on ``paper`` writing to ``out``.

    ``invariant`` fixes the creation date and file id (used for de-identified reports, so
    the file carries no date at all). ``landscape`` turns the paper (wide tables).
    """
    width, height = paper.size
    if landscape:
        width, height = height, width
    doc = BaseDocTemplate(
        out,
        pagesize=(width, height),
        leftMargin=MARGIN_X,
        rightMargin=MARGIN_X,
        topMargin=MARGIN_TOP,
        bottomMargin=MARGIN_BOTTOM,
        title=title,
        author="mscc-desktop",
        subject=subject,
        creator="mscc-desktop",
        keywords="",
        invariant=1 if invariant else 0,
    )
    frame = Frame(
        MARGIN_X,
        MARGIN_BOTTOM,
        width - 2 * MARGIN_X,
        height - MARGIN_TOP - MARGIN_BOTTOM,
        id="body",
        leftPadding=0,
        rightPadding=0,
        topPadding=0,
        bottomPadding=0,
    )
    doc.addPageTemplates([PageTemplate(id="page", frames=[frame])])
    return doc


__all__ = ["Furniture", "Paper", "canvas_maker", "document", "escape", "styles", "table_style"]
